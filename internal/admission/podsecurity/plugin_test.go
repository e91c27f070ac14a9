package podsecurity

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/internal/admission"
	"skiff.dev/skiff/internal/auth/authn"
)

// fixedObjects is Objects over fixed lists.
type fixedObjects struct {
	namespaces map[string]*corev1.Namespace
	pods       []*corev1.Pod
}

func (f fixedObjects) Namespace(name string) (*corev1.Namespace, bool) {
	ns, ok := f.namespaces[name]
	return ns, ok
}

func (f fixedObjects) Pods(string) []*corev1.Pod { return f.pods }

func TestExemptionsAndAudit(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Defaults.Audit = cfg.Defaults.Warn // audit=restricted
	cfg.Exemptions = Exemptions{Usernames: []string{"ops"}, Namespaces: []string{"kube-system"}, RuntimeClasses: []string{"kata"}}
	objs := fixedObjects{namespaces: map[string]*corev1.Namespace{
		"apps":        {ObjectMeta: metav1.ObjectMeta{Name: "apps"}},
		"kube-system": {ObjectMeta: metav1.ObjectMeta{Name: "kube-system"}},
	}}
	p := New(cfg, objs)
	privileged := func(rc string) *corev1.Pod {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "apps"}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "c", Image: "i", SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}}}}
		if rc != "" {
			pod.Spec.RuntimeClassName = &rc
		}
		return pod
	}
	tests := []struct {
		name, ns, user, runtimeClass string
		refused                      bool
		annotations                  string
	}{
		{name: "enforced", ns: "apps", user: "dev", refused: true,
			annotations: `pod-security.kubernetes.io/enforce-policy=baseline:latest;pod-security.kubernetes.io/audit-violations=would violate PodSecurity "restricted:latest": privileged (container "c" must not set securityContext.privileged=true), allowPrivilegeEscalation != false`},
		{name: "exempt user", ns: "apps", user: "ops", annotations: "pod-security.kubernetes.io/exempt=user"},
		{name: "exempt namespace", ns: "kube-system", user: "dev", annotations: "pod-security.kubernetes.io/exempt=namespace"},
		{name: "exempt runtime class", ns: "apps", user: "dev", runtimeClass: "kata", annotations: "pod-security.kubernetes.io/exempt=runtimeClass"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var annotations []string
			pod := privileged(tc.runtimeClass)
			a := &admission.Attributes{
				Operation: admission.Create, Resource: corev1.SchemeGroupVersion.WithResource("pods"),
				Namespace: tc.ns, Name: "x", Object: pod, User: &authn.User{Name: tc.user},
				Annotate: func(k, v string) { annotations = append(annotations, k+"="+v) },
			}
			err := p.Validate(context.Background(), a)
			if got := apierrors.IsForbidden(err); got != tc.refused {
				t.Errorf("refused = %v (%v), want %v", got, err, tc.refused)
			}
			if got := strings.Join(annotations, ";"); !strings.HasPrefix(got, tc.annotations) {
				t.Errorf("annotations %q\nwant prefix %q", got, tc.annotations)
			}
		})
	}
}

func TestExemptNamespaceWarning(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Exemptions.Namespaces = []string{"infra"}
	p := New(cfg, fixedObjects{})
	var warnings []string
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "infra", Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}}
	err := p.Validate(context.Background(), &admission.Attributes{
		Operation: admission.Create, Resource: corev1.SchemeGroupVersion.WithResource("namespaces"),
		Name: "infra", Object: ns, User: &authn.User{Name: "admin"},
		Warn: func(m string) { warnings = append(warnings, m) },
	})
	want := `namespace "infra" is exempt from Pod Security, and the policy (enforce=restricted:latest) will be ignored`
	if err != nil || len(warnings) != 1 || warnings[0] != want {
		t.Errorf("err %v, warnings %q, want %q", err, warnings, want)
	}
}
