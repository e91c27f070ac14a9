package rbac

import (
	"context"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	fixedNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	clock    = func() time.Time { return fixedNow }
)

type want struct {
	typ  field.ErrorType
	path string
}

func checkErrors(t *testing.T, got field.ErrorList, wants []want) {
	t.Helper()
	var g, w []string
	for _, e := range got {
		g = append(g, string(e.Type)+" "+e.Field)
	}
	for _, e := range wants {
		w = append(w, string(e.typ)+" "+e.path)
	}
	sort.Strings(g)
	sort.Strings(w)
	if strings.Join(g, "\n") != strings.Join(w, "\n") {
		t.Fatalf("errors:\n got  %v\n want %v\n full: %v", g, w, got.ToAggregate())
	}
}

func TestRoleRules(t *testing.T) {
	cases := []struct {
		name string
		rule rbacv1.PolicyRule
		want []want
	}{
		{"resource rule", rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}, nil},
		{"no verbs", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}}, []want{{field.ErrorTypeRequired, "rules[0].verbs"}}},
		{"no groups or resources", rbacv1.PolicyRule{Verbs: []string{"get"}}, []want{
			{field.ErrorTypeRequired, "rules[0].apiGroups"}, {field.ErrorTypeRequired, "rules[0].resources"},
		}},
		{"non-resource URL in a namespaced role", rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}, []want{
			{field.ErrorTypeInvalid, "rules[0].nonResourceURLs"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &rbacv1.Role{Rules: []rbacv1.PolicyRule{tc.rule}}
			checkErrors(t, roleStrategy{}.Validate(context.Background(), r), tc.want)
		})
	}
}

func TestClusterRole(t *testing.T) {
	ctx := context.Background()
	s := clusterRoleStrategy{}
	ok := &rbacv1.ClusterRole{Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/metrics"}}}}
	checkErrors(t, s.Validate(ctx, ok), nil)
	mixed := &rbacv1.ClusterRole{Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/metrics"}, Resources: []string{"pods"}}}}
	checkErrors(t, s.Validate(ctx, mixed), []want{{field.ErrorTypeInvalid, "rules[0].nonResourceURLs"}})

	agg := &rbacv1.ClusterRole{AggregationRule: &rbacv1.AggregationRule{}}
	checkErrors(t, s.Validate(ctx, agg), []want{{field.ErrorTypeRequired, "aggregationRule.clusterRoleSelectors"}})
	agg.AggregationRule.ClusterRoleSelectors = []metav1.LabelSelector{
		{MatchLabels: map[string]string{"rbac.example.com/aggregate-to-view": "true"}},
		{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "x", Operator: "Bogus"}}},
	}
	checkErrors(t, s.Validate(ctx, agg), []want{
		{field.ErrorTypeInvalid, "aggregationRule.clusterRoleSelectors[1].matchExpressions[0].operator"},
		{field.ErrorTypeInvalid, "aggregationRule.clusterRoleSelectors[1]"},
	})
}

func TestMeta(t *testing.T) {
	ctx := context.Background()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "system:controller:job", Namespace: "kube-system"}}
	checkErrors(t, roleStrategy{}.ValidateMeta(ctx, role, nil), nil)
	role.Name = "a/b"
	checkErrors(t, roleStrategy{}.ValidateMeta(ctx, role, nil), []want{{field.ErrorTypeInvalid, "metadata.name"}})
	cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "..", Namespace: "x"}}
	checkErrors(t, clusterRoleStrategy{}.ValidateMeta(ctx, cr, nil), []want{
		{field.ErrorTypeInvalid, "metadata.name"}, {field.ErrorTypeForbidden, "metadata.namespace"},
	})
	old := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "view", ResourceVersion: "3"}}
	next := old.DeepCopy()
	next.Name = "edit"
	checkErrors(t, clusterRoleStrategy{}.ValidateMeta(ctx, next, old), []want{{field.ErrorTypeInvalid, "metadata.name"}})
}

func TestBindings(t *testing.T) {
	ctx := context.Background()
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "read", Namespace: "dev", CreationTimestamp: metav1.NewTime(fixedNow.Add(-2 * time.Minute))},
		RoleRef:    rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"},
		Subjects: []rbacv1.Subject{
			{Kind: "User", Name: "alice"},
			{Kind: "Group", Name: "devs"},
			{Kind: "ServiceAccount", Name: "ci"},
			{Kind: "ServiceAccount", Name: "bot", Namespace: "tools"},
		},
	}
	s := roleBindingStrategy{now: clock}
	s.Default(rb)
	if rb.RoleRef.APIGroup != rbacv1.GroupName || rb.Subjects[0].APIGroup != rbacv1.GroupName || rb.Subjects[2].APIGroup != "" {
		t.Fatalf("defaults: %+v", rb)
	}
	checkErrors(t, s.Validate(ctx, rb), nil)
	wantRow := []interface{}{"read", "ClusterRole/view", "2m", "alice", "devs", "/ci, tools/bot"}
	if row := s.Row(rb); !reflect.DeepEqual(row, wantRow) {
		t.Fatalf("row = %#v", row)
	}

	t.Run("roleRef immutable", func(t *testing.T) {
		next := rb.DeepCopy()
		next.RoleRef.Name = "edit"
		checkErrors(t, s.ValidateUpdate(ctx, next, rb), []want{{field.ErrorTypeInvalid, "roleRef"}})
	})
	t.Run("subjects may change", func(t *testing.T) {
		next := rb.DeepCopy()
		next.Subjects = next.Subjects[:1]
		checkErrors(t, s.ValidateUpdate(ctx, next, rb), nil)
	})
	t.Run("bad refs and subjects", func(t *testing.T) {
		bad := &rbacv1.RoleBinding{
			RoleRef: rbacv1.RoleRef{APIGroup: "example.com", Kind: "Pod"},
			Subjects: []rbacv1.Subject{
				{Kind: "ServiceAccount", Name: "Bad_Name", APIGroup: "rbac.authorization.k8s.io"},
				{Kind: "User", Name: "bob", APIGroup: ""},
				{Kind: "Robot"},
			},
		}
		checkErrors(t, s.Validate(ctx, bad), []want{
			{field.ErrorTypeNotSupported, "roleRef.apiGroup"},
			{field.ErrorTypeNotSupported, "roleRef.kind"},
			{field.ErrorTypeRequired, "roleRef.name"},
			{field.ErrorTypeInvalid, "subjects[0].name"},
			{field.ErrorTypeNotSupported, "subjects[0].apiGroup"},
			{field.ErrorTypeNotSupported, "subjects[1].apiGroup"},
			{field.ErrorTypeRequired, "subjects[2].name"},
			{field.ErrorTypeNotSupported, "subjects[2].kind"},
		})
	})
	t.Run("cluster binding", func(t *testing.T) {
		crb := &rbacv1.ClusterRoleBinding{
			RoleRef:  rbacv1.RoleRef{Kind: "Role", Name: "x"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "ci"}},
		}
		cs := clusterRoleBindingStrategy{now: clock}
		cs.Default(crb)
		checkErrors(t, cs.Validate(ctx, crb), []want{
			{field.ErrorTypeNotSupported, "roleRef.kind"},
			{field.ErrorTypeRequired, "subjects[0].namespace"},
		})
		if len(cs.ColumnDefinitions()) != len(cs.Row(crb)) {
			t.Fatal("column count")
		}
	})
}

func TestWrongType(t *testing.T) {
	for _, r := range resources(clock) {
		if errs := r.Strategy.Validate(context.Background(), &corev1.Pod{}); len(errs) != 1 || errs[0].Type != field.ErrorTypeInternal {
			t.Errorf("%s: %v", r.Resource, errs)
		}
	}
}
