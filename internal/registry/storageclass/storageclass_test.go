package storageclass

import (
	"context"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func ptrTo[T any](v T) *T { return &v }

func errorKeys(errs field.ErrorList) string {
	var out []string
	for _, e := range errs {
		out = append(out, string(e.Type)+" "+e.Field)
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

func newClass() *storagev1.StorageClass {
	sc := &storagev1.StorageClass{
		ObjectMeta:  metav1.ObjectMeta{Name: "local-path"},
		Provisioner: "rancher.io/local-path",
		Parameters:  map[string]string{"nodePath": "/var/lib/skiff/storage"},
	}
	storageClassStrategy{}.Default(sc)
	return sc
}

func TestDefault(t *testing.T) {
	sc := newClass()
	if *sc.ReclaimPolicy != corev1.PersistentVolumeReclaimDelete || *sc.VolumeBindingMode != storagev1.VolumeBindingImmediate {
		t.Fatalf("defaults: %+v", sc)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*storagev1.StorageClass)
		want   string
	}{
		{"valid", func(*storagev1.StorageClass) {}, ""},
		{"provisioner required", func(sc *storagev1.StorageClass) { sc.Provisioner = "" }, "FieldValueRequired provisioner"},
		{"provisioner qualified name", func(sc *storagev1.StorageClass) { sc.Provisioner = "a/b/c" }, "FieldValueInvalid provisioner"},
		{"upper-case provisioner is fine", func(sc *storagev1.StorageClass) { sc.Provisioner = "Example.com/Disk" }, ""},
		{"empty parameter key", func(sc *storagev1.StorageClass) { sc.Parameters[""] = "x" }, "FieldValueInvalid parameters"},
		{"reclaim Recycle", func(sc *storagev1.StorageClass) { sc.ReclaimPolicy = ptrTo(corev1.PersistentVolumeReclaimRecycle) }, "FieldValueNotSupported reclaimPolicy"},
		{"binding mode", func(sc *storagev1.StorageClass) { sc.VolumeBindingMode = ptrTo(storagev1.VolumeBindingMode("Later")) }, "FieldValueNotSupported volumeBindingMode"},
		{"binding mode unset", func(sc *storagev1.StorageClass) { sc.VolumeBindingMode = nil }, "FieldValueRequired volumeBindingMode"},
		{"topologies", func(sc *storagev1.StorageClass) {
			term := corev1.TopologySelectorTerm{MatchLabelExpressions: []corev1.TopologySelectorLabelRequirement{
				{Key: "topology.kubernetes.io/zone", Values: []string{"a", "a"}},
				{Key: "topology.kubernetes.io/zone", Values: []string{"b"}},
				{Key: "bad key!"},
			}}
			sc.AllowedTopologies = []corev1.TopologySelectorTerm{term, term}
		}, strings.Join([]string{
			"FieldValueDuplicate allowedTopologies[0].matchLabelExpressions[0].values[1]",
			"FieldValueDuplicate allowedTopologies[0].matchLabelExpressions[1].key",
			"FieldValueDuplicate allowedTopologies[1].matchLabelExpressions",
			"FieldValueDuplicate allowedTopologies[1].matchLabelExpressions[0].values[1]",
			"FieldValueDuplicate allowedTopologies[1].matchLabelExpressions[1].key",
			"FieldValueInvalid allowedTopologies[0].matchLabelExpressions[2].key",
			"FieldValueInvalid allowedTopologies[1].matchLabelExpressions[2].key",
			"FieldValueRequired allowedTopologies[0].matchLabelExpressions[2].values",
			"FieldValueRequired allowedTopologies[1].matchLabelExpressions[2].values",
		}, "; ")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := newClass()
			tc.mutate(sc)
			if got := errorKeys(storageClassStrategy{}.Validate(context.Background(), sc)); got != tc.want {
				t.Fatalf("errors:\n got  %s\n want %s", got, tc.want)
			}
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	old := newClass()
	sc := old.DeepCopy()
	sc.AllowVolumeExpansion = ptrTo(true)
	sc.MountOptions = []string{"noatime"}
	if errs := (storageClassStrategy{}).ValidateUpdate(context.Background(), sc, old); len(errs) != 0 {
		t.Fatalf("expansion and mount options are mutable: %v", errs)
	}
	sc.Parameters = nil
	sc.ReclaimPolicy = ptrTo(corev1.PersistentVolumeReclaimRetain)
	sc.VolumeBindingMode = ptrTo(storagev1.VolumeBindingWaitForFirstConsumer)
	sc.Provisioner = "example.com/other"
	want := "FieldValueInvalid parameters; FieldValueInvalid provisioner; FieldValueInvalid reclaimPolicy; FieldValueInvalid volumeBindingMode"
	if got := errorKeys(storageClassStrategy{}.ValidateUpdate(context.Background(), sc, old)); got != want {
		t.Fatalf("errors = %s", got)
	}
}

func TestTableAndWarnings(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := storageClassStrategy{now: func() time.Time { return now }}
	sc := newClass()
	sc.CreationTimestamp = metav1.NewTime(now.Add(-90 * time.Second))
	sc.Annotations = map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}
	sc.VolumeBindingMode = ptrTo(storagev1.VolumeBindingWaitForFirstConsumer)
	want := []interface{}{"local-path (default)", "rancher.io/local-path", "Delete", "WaitForFirstConsumer", false, "90s"}
	if row := s.Row(sc); !reflect.DeepEqual(row, want) {
		t.Fatalf("row = %#v", row)
	}
	sc.AllowedTopologies = []corev1.TopologySelectorTerm{{MatchLabelExpressions: []corev1.TopologySelectorLabelRequirement{
		{Key: "failure-domain.beta.kubernetes.io/zone", Values: []string{"a"}},
	}}}
	w := s.Warnings(context.Background(), sc, nil)
	if len(w) != 1 || !strings.HasPrefix(w[0], "allowedTopologies[0].matchLabelExpressions[0].key: deprecated since v1.17") {
		t.Fatalf("warnings = %v", w)
	}
}
