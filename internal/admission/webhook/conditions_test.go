package webhook

import (
	"context"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/admission"
)

func TestMatchConditions(t *testing.T) {
	a := attrs(admission.Create, corev1.SchemeGroupVersion.WithResource("configmaps"), "", "team", "c")
	a.Kind = corev1.SchemeGroupVersion.WithKind("ConfigMap")
	a.Object = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Labels: map[string]string{"tier": "web"}}}
	mc := func(exprs ...string) []admissionregistrationv1.MatchCondition {
		var out []admissionregistrationv1.MatchCondition
		for i, e := range exprs {
			out = append(out, admissionregistrationv1.MatchCondition{Name: string(rune('a' + i)), Expression: e})
		}
		return out
	}
	cases := []struct {
		name  string
		conds []admissionregistrationv1.MatchCondition
		want  bool
		err   string
	}{
		{"none", nil, true, ""},
		{"all true", mc("request.namespace == 'team'", "object.metadata.labels.tier == 'web'", "request.userInfo.username == 'u'", "oldObject == null"), true, ""},
		{"one false", mc("true", "object.kind == 'Secret'"), false, ""},
		{"false wins over an error", mc("object.metadata.labels.missing == 'x'", "false"), false, ""},
		{"error without false", mc("object.metadata.labels.missing == 'x'", "true"), false, `failed to evaluate matchCondition "a": no such key: missing`},
		{"does not compile", mc("object.metadata.name =="), false, `failed to evaluate matchCondition "a": compilation failed`},
	}
	var c conditions
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.match(context.Background(), tc.conds, a)
			if got != tc.want || (tc.err == "") != (err == nil) || (err != nil && !strings.HasPrefix(err.Error(), tc.err)) {
				t.Fatalf("match = %v, %v; want %v, %q", got, err, tc.want, tc.err)
			}
		})
	}
}
