package namespacelifecycle

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"skiff.dev/skiff/internal/admission"
)

func TestValidate(t *testing.T) {
	ns := corev1.SchemeGroupVersion.WithResource("namespaces")
	cm := corev1.SchemeGroupVersion.WithResource("configmaps")
	for _, tc := range []struct {
		name string
		a    admission.Attributes
		want string
	}{
		{name: "delete default", a: admission.Attributes{Operation: admission.Delete, Resource: ns, Name: "default"},
			want: `namespaces "default" is forbidden: this namespace may not be deleted`},
		{name: "delete kube-system", a: admission.Attributes{Operation: admission.Delete, Resource: ns, Name: "kube-system"},
			want: `namespaces "kube-system" is forbidden: this namespace may not be deleted`},
		{name: "delete kube-public", a: admission.Attributes{Operation: admission.Delete, Resource: ns, Name: "kube-public"},
			want: `namespaces "kube-public" is forbidden: this namespace may not be deleted`},
		{name: "delete another", a: admission.Attributes{Operation: admission.Delete, Resource: ns, Name: "team-a"}},
		{name: "update default", a: admission.Attributes{Operation: admission.Update, Resource: ns, Name: "default"}},
		{name: "delete a configmap named default", a: admission.Attributes{Operation: admission.Delete, Resource: cm, Namespace: "x", Name: "default"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Plugin{}.Validate(context.Background(), &tc.a)
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
