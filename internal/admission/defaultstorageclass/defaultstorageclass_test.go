package defaultstorageclass

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/skiff/internal/admission"
)

type list []runtime.Object

func (l list) List(string) []runtime.Object { return l }

func class(name string, age time.Duration, isDefault string) *storagev1.StorageClass {
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{
		Name: name, CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(-age)),
	}}
	if isDefault != "" {
		sc.Annotations = map[string]string{"storageclass.kubernetes.io/is-default-class": isDefault}
	}
	return sc
}

func TestAdmit(t *testing.T) {
	empty, gold := "", "gold"
	for _, tc := range []struct {
		name    string
		classes list
		pvc     corev1.PersistentVolumeClaim
		op      admission.Operation
		want    *string
	}{
		{name: "no default", classes: list{class("a", 0, "")}, op: admission.Create},
		{name: "the default", classes: list{class("a", 0, ""), class("b", time.Hour, "true")}, op: admission.Create, want: ptr("b")},
		{name: "newest default wins", classes: list{class("old", time.Hour, "true"), class("new", time.Minute, "true")}, op: admission.Create, want: ptr("new")},
		{name: "same age: first by name", classes: list{class("z", 0, "true"), class("m", 0, "true")}, op: admission.Create, want: ptr("m")},
		{name: "annotation false", classes: list{class("a", 0, "false")}, op: admission.Create},
		{name: "explicit class kept", classes: list{class("b", 0, "true")}, op: admission.Create, pvc: corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &gold}}, want: ptr("gold")},
		{name: "explicit empty kept", classes: list{class("b", 0, "true")}, op: admission.Create, pvc: corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &empty}}, want: ptr("")},
		{name: "beta annotation kept", classes: list{class("b", 0, "true")}, op: admission.Create, pvc: corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{betaClassAnnotation: "x"}}}},
		{name: "update untouched", classes: list{class("b", 0, "true")}, op: admission.Update},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pvc := tc.pvc.DeepCopy()
			a := &admission.Attributes{Operation: tc.op, Resource: corev1.SchemeGroupVersion.WithResource("persistentvolumeclaims"), Object: pvc}
			if err := (Plugin{StorageClasses: tc.classes}).Admit(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			got := pvc.Spec.StorageClassName
			if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
				t.Errorf("storageClassName = %v, want %v", deref(got), deref(tc.want))
			}
		})
	}
}

func ptr(s string) *string { return &s }

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
