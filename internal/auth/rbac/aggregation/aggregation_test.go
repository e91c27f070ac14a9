package aggregation

import (
	"reflect"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestRules(t *testing.T) {
	rule := func(res string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{res}}
	}
	role := func(name string, labels map[string]string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
		return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Rules: rules}
	}
	agg := role("agg", map[string]string{"x": "true"}, rule("stale"))
	agg.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{
		{MatchLabels: map[string]string{"x": "true"}}, {MatchLabels: map[string]string{"y": "true"}}}}
	roles := []*rbacv1.ClusterRole{
		agg,
		role("b", map[string]string{"x": "true"}, rule("pods"), rule("secrets")),
		role("a", map[string]string{"y": "true"}, rule("nodes"), rule("pods")),
		role("c", map[string]string{"x": "true", "y": "true"}, rule("services")),
		role("d", map[string]string{"z": "true"}, rule("configmaps")),
	}
	got, err := Rules(agg, roles)
	if err != nil {
		t.Fatal(err)
	}
	// Role-name order, duplicates once, the role itself and unmatched
	// roles left out.
	want := []rbacv1.PolicyRule{rule("nodes"), rule("pods"), rule("secrets"), rule("services")}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Rules = %v, want %v", got, want)
	}
	bad := agg.DeepCopy()
	bad.AggregationRule.ClusterRoleSelectors = []metav1.LabelSelector{{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "x", Operator: "Bogus"}}}}
	if _, err := Rules(bad, roles); err == nil {
		t.Error("invalid selector accepted")
	}
}
