package denyserviceexternalips

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"skiff.dev/skiff/internal/admission"
)

func TestValidate(t *testing.T) {
	svc := func(ips ...string) *corev1.Service {
		return &corev1.Service{Spec: corev1.ServiceSpec{ExternalIPs: ips}}
	}
	const denied = `services "web" is forbidden: use of external IPs is denied by admission control`
	for _, tc := range []struct {
		name     string
		op       admission.Operation
		obj, old *corev1.Service
		want     string
	}{
		{name: "create without", op: admission.Create, obj: svc()},
		{name: "create with", op: admission.Create, obj: svc("192.0.2.1"), want: denied},
		{name: "update adds", op: admission.Update, obj: svc("192.0.2.1", "192.0.2.2"), old: svc("192.0.2.1"), want: denied},
		{name: "update changes", op: admission.Update, obj: svc("192.0.2.2"), old: svc("192.0.2.1"), want: denied},
		{name: "update keeps", op: admission.Update, obj: svc("192.0.2.1"), old: svc("192.0.2.1", "192.0.2.2")},
		{name: "update drops all", op: admission.Update, obj: svc(), old: svc("192.0.2.1")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &admission.Attributes{Operation: tc.op, Resource: corev1.SchemeGroupVersion.WithResource("services"), Name: "web", Namespace: "default", Object: tc.obj}
			if tc.old != nil {
				a.OldObject = tc.old
			}
			err := Plugin{}.Validate(context.Background(), a)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("err = %q, want %q", got, tc.want)
			}
		})
	}
}
