package policy

import (
	"context"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func ptrTo[T any](v T) *T { return &v }

func keys(errs field.ErrorList) string {
	var out []string
	for _, e := range errs {
		out = append(out, string(e.Type)+" "+e.Field)
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

func TestValidate(t *testing.T) {
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	cases := []struct {
		name string
		spec policyv1.PodDisruptionBudgetSpec
		want string
	}{
		{"minAvailable count", policyv1.PodDisruptionBudgetSpec{MinAvailable: ptrTo(intstr.FromInt32(2)), Selector: sel}, ""},
		{"maxUnavailable percent", policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptrTo(intstr.FromString("30%")), Selector: sel}, ""},
		{"both set", policyv1.PodDisruptionBudgetSpec{MinAvailable: ptrTo(intstr.FromInt32(1)), MaxUnavailable: ptrTo(intstr.FromInt32(1))}, "FieldValueInvalid spec"},
		{"negative", policyv1.PodDisruptionBudgetSpec{MinAvailable: ptrTo(intstr.FromInt32(-1))}, "FieldValueInvalid spec.minAvailable"},
		{"over 100%", policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptrTo(intstr.FromString("120%"))}, "FieldValueInvalid spec.maxUnavailable"},
		{"bad percent", policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptrTo(intstr.FromString("half"))}, "FieldValueInvalid spec.maxUnavailable"},
		{"eviction policy", policyv1.PodDisruptionBudgetSpec{UnhealthyPodEvictionPolicy: ptrTo(policyv1.UnhealthyPodEvictionPolicyType("Never"))}, "FieldValueNotSupported spec.unhealthyPodEvictionPolicy"},
		{"selector", policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "-bad-"}}}, "FieldValueInvalid spec.selector.matchLabels"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := keys(pdbStrategy{}.Validate(context.Background(), &policyv1.PodDisruptionBudget{Spec: tc.spec}))
			if got != tc.want {
				t.Fatalf("errors = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestBothBoundsMessage: upstream renders its untagged internal spec in
// the error, and kubectl users see exactly that text.
func TestBothBoundsMessage(t *testing.T) {
	spec := policyv1.PodDisruptionBudgetSpec{
		MinAvailable:   ptrTo(intstr.FromInt32(1)),
		MaxUnavailable: ptrTo(intstr.FromString("10%")),
		Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": "a"}},
	}
	errs := pdbStrategy{}.Validate(context.Background(), &policyv1.PodDisruptionBudget{Spec: spec})
	want := `spec: Invalid value: {"MinAvailable":1,"Selector":{"matchLabels":{"app":"a"}},"MaxUnavailable":"10%","UnhealthyPodEvictionPolicy":null}: minAvailable and maxUnavailable cannot be both set`
	if len(errs) != 1 || errs[0].Error() != want {
		t.Fatalf("errors = %v\nwant %s", errs, want)
	}
}

func TestStatusAndRow(t *testing.T) {
	ctx := context.Background()
	pdb := &policyv1.PodDisruptionBudget{Status: policyv1.PodDisruptionBudgetStatus{
		DisruptionsAllowed: -1,
		Conditions:         []metav1.Condition{{Type: "DisruptionAllowed", Status: "Maybe"}},
	}}
	got := keys(pdbStrategy{}.ValidateStatusUpdate(ctx, pdb, pdb.DeepCopy()))
	for _, w := range []string{"FieldValueInvalid status.disruptionsAllowed", "FieldValueNotSupported status.conditions[0].status", "FieldValueRequired status.conditions[0].reason"} {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in %q", w, got)
		}
	}

	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := pdbStrategy{now: func() time.Time { return now }}
	pdb = &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web", CreationTimestamp: metav1.NewTime(now.Add(-3 * time.Hour))},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: ptrTo(intstr.FromString("50%"))},
		Status:     policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1},
	}
	if row := s.Row(pdb); !reflect.DeepEqual(row, []interface{}{"web", "50%", "N/A", int64(1), "3h"}) {
		t.Fatalf("row = %#v", row)
	}
}
