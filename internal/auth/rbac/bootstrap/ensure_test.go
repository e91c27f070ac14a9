package bootstrap_test

import (
	"context"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/skiff/internal/auth/rbac/bootstrap"
	"skiff.dev/skiff/internal/testserver"
)

// TestEnsureCreatesThenReconciles runs Ensure on an empty cluster, changes
// what it wrote the way an operator or an older release might, and runs
// it again as the next start would.
func TestEnsureCreatesThenReconciles(t *testing.T) {
	srv := testserver.Start(t)
	cs := kubernetes.NewForConfigOrDie(srv.Config(t, "admin", "system:masters"))
	ctx := context.Background()
	if err := bootstrap.Ensure(ctx, cs); err != nil {
		t.Fatal(err)
	}
	api := cs.RbacV1()
	roles, err := api.ClusterRoles().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range bootstrap.ClusterRoles() {
		if !slices.ContainsFunc(roles.Items, func(r rbacv1.ClusterRole) bool { return r.Name == want.Name }) {
			t.Errorf("clusterrole %s not created", want.Name)
		}
	}
	bindings, err := api.ClusterRoleBindings().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(bindings.Items) < len(bootstrap.ClusterRoleBindings()) {
		t.Errorf("%d clusterrolebindings, want at least %d", len(bindings.Items), len(bootstrap.ClusterRoleBindings()))
	}

	// A rule taken away comes back; an added rule stays; a role marked
	// autoupdate=false is left alone; a binding to another role is
	// recreated with the bootstrap roleRef and keeps its extra subjects.
	edit := func(name string, f func(*rbacv1.ClusterRole)) {
		t.Helper()
		r, err := api.ClusterRoles().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		f(r)
		if _, err := api.ClusterRoles().Update(ctx, r, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	extra := rbacv1.PolicyRule{APIGroups: []string{"example.com"}, Resources: []string{"widgets"}, Verbs: []string{"get"}}
	edit("system:kube-scheduler", func(r *rbacv1.ClusterRole) { r.Rules = append(r.Rules[1:], extra) })
	edit("system:kube-controller-manager", func(r *rbacv1.ClusterRole) {
		r.Annotations[bootstrap.AutoUpdateAnnotation] = "false"
		r.Rules = r.Rules[1:]
	})
	b, err := api.ClusterRoleBindings().Get(ctx, "system:kube-scheduler", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := api.ClusterRoleBindings().Delete(ctx, b.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	other := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: b.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "someone"}},
	}
	if _, err := api.ClusterRoleBindings().Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	if err := bootstrap.Ensure(ctx, cs); err != nil {
		t.Fatal(err)
	}
	want := func(name string) rbacv1.ClusterRole {
		for _, r := range bootstrap.ClusterRoles() {
			if r.Name == name {
				return r
			}
		}
		t.Fatalf("no bootstrap role %s", name)
		return rbacv1.ClusterRole{}
	}
	sched, err := api.ClusterRoles().Get(ctx, "system:kube-scheduler", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(sched.Rules, func(r rbacv1.PolicyRule) bool { return equalRule(r, want("system:kube-scheduler").Rules[0]) }) {
		t.Errorf("system:kube-scheduler: removed rule not restored: %v", sched.Rules)
	}
	if !slices.ContainsFunc(sched.Rules, func(r rbacv1.PolicyRule) bool { return equalRule(r, extra) }) {
		t.Errorf("system:kube-scheduler: added rule dropped: %v", sched.Rules)
	}
	cm, err := api.ClusterRoles().Get(ctx, "system:kube-controller-manager", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cm.Rules) != len(want("system:kube-controller-manager").Rules)-1 {
		t.Errorf("system:kube-controller-manager with autoupdate=false was changed: %d rules", len(cm.Rules))
	}
	nb, err := api.ClusterRoleBindings().Get(ctx, "system:kube-scheduler", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if nb.RoleRef.Name != "system:kube-scheduler" {
		t.Errorf("binding's roleRef %q, want system:kube-scheduler", nb.RoleRef.Name)
	}
	if !slices.ContainsFunc(nb.Subjects, func(s rbacv1.Subject) bool { return s.Name == "someone" }) {
		t.Errorf("binding lost its extra subject: %v", nb.Subjects)
	}
}

func equalRule(a, b rbacv1.PolicyRule) bool {
	return slices.Equal(a.Verbs, b.Verbs) && slices.Equal(a.APIGroups, b.APIGroups) &&
		slices.Equal(a.Resources, b.Resources) && slices.Equal(a.ResourceNames, b.ResourceNames) &&
		slices.Equal(a.NonResourceURLs, b.NonResourceURLs)
}
