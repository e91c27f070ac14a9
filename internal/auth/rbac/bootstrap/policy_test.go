package bootstrap

import (
	"context"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/auth/authz"
	"skiff.dev/skiff/internal/auth/rbac"
	"skiff.dev/skiff/internal/auth/rbac/aggregation"
)

// aggregatedPolicy is the bootstrap policy with admin, edit and view
// aggregated as the controller would (view feeds edit feeds admin).
func aggregatedPolicy(t *testing.T) *rbac.StaticPolicy {
	t.Helper()
	p := &rbac.StaticPolicy{ClusterRolesList: ClusterRoles(), ClusterRoleBindingsList: ClusterRoleBindings()}
	for pass := 0; pass < 3; pass++ {
		ptrs := make([]*rbacv1.ClusterRole, len(p.ClusterRolesList))
		for i := range p.ClusterRolesList {
			ptrs[i] = p.ClusterRolesList[i].DeepCopy()
		}
		for i := range p.ClusterRolesList {
			if p.ClusterRolesList[i].AggregationRule == nil {
				continue
			}
			rules, err := aggregation.Rules(&p.ClusterRolesList[i], ptrs)
			if err != nil {
				t.Fatal(err)
			}
			p.ClusterRolesList[i].Rules = rules
		}
	}
	return p
}

func TestPolicyData(t *testing.T) {
	roles := map[string]rbacv1.ClusterRole{}
	for _, r := range ClusterRoles() {
		if _, dup := roles[r.Name]; dup {
			t.Errorf("clusterrole %s twice", r.Name)
		}
		roles[r.Name] = r
		if r.Labels[BootstrapLabel] != BootstrapLabelValue || r.Annotations[AutoUpdateAnnotation] != "true" {
			t.Errorf("clusterrole %s: labels %v annotations %v", r.Name, r.Labels, r.Annotations)
		}
		for _, rule := range r.Rules {
			if len(rule.Verbs) == 0 || (len(rule.Resources) == 0) == (len(rule.NonResourceURLs) == 0) {
				t.Errorf("clusterrole %s: malformed rule %+v", r.Name, rule)
			}
		}
	}
	for _, name := range []string{"cluster-admin", "admin", "edit", "view", "system:basic-user", "system:discovery",
		"system:public-info-viewer", "system:node", "system:kube-scheduler", "system:kube-controller-manager",
		"system:controller:deployment-controller", "system:controller:clusterrole-aggregation-controller"} {
		if _, ok := roles[name]; !ok {
			t.Errorf("missing clusterrole %s", name)
		}
	}
	for _, b := range ClusterRoleBindings() {
		if _, ok := roles[b.RoleRef.Name]; !ok || b.RoleRef.Kind != "ClusterRole" {
			t.Errorf("clusterrolebinding %s refers to %v, which is not a bootstrap role", b.Name, b.RoleRef)
		}
		if b.Labels[BootstrapLabel] != BootstrapLabelValue || b.Annotations[AutoUpdateAnnotation] != "true" {
			t.Errorf("clusterrolebinding %s: labels %v annotations %v", b.Name, b.Labels, b.Annotations)
		}
	}
}

func TestPolicyDecisions(t *testing.T) {
	p := aggregatedPolicy(t)
	// Namespaced grants of admin, edit and view, as `kubectl create rolebinding --clusterrole`.
	for _, role := range []string{"admin", "edit", "view"} {
		p.RoleBindingsList = append(p.RoleBindingsList, rbacv1.RoleBinding{})
		b := &p.RoleBindingsList[len(p.RoleBindingsList)-1]
		b.Name, b.Namespace = role, "ns"
		b.RoleRef = rbacv1.RoleRef{Kind: "ClusterRole", Name: role}
		b.Subjects = []rbacv1.Subject{{Kind: "User", Name: role + "-user"}}
	}
	z := rbac.NewAuthorizer(p)
	u := func(name string, groups ...string) *authn.User {
		return &authn.User{Name: name, Groups: append(groups, authn.GroupAuthenticated)}
	}
	res := func(user *authn.User, verb, group, resource, sub, ns string) authz.Attributes {
		return authz.Attributes{User: user, Verb: verb, IsResourceRequest: true, APIGroup: group, Resource: resource, Subresource: sub, Namespace: ns}
	}
	tests := []struct {
		name string
		a    authz.Attributes
		want bool
	}{
		{"masters are cluster-admin", res(u("root", "system:masters"), "delete", "", "nodes", "", ""), true},
		{"discovery", authz.Attributes{User: u("x"), Verb: "get", Path: "/apis/apps/v1"}, true},
		{"version", authz.Attributes{User: u("x"), Verb: "get", Path: "/version"}, true},
		{"not metrics", authz.Attributes{User: u("x"), Verb: "get", Path: "/metrics"}, false},
		{"basic user may review itself", res(u("x"), "create", "authorization.k8s.io", "selfsubjectaccessreviews", "", ""), true},
		{"whoami", res(u("x"), "create", "authentication.k8s.io", "selfsubjectreviews", "", ""), true},
		{"no pods for anyone", res(u("x"), "list", "", "pods", "", "ns"), false},
		{"view lists pods", res(u("view-user"), "list", "", "pods", "", "ns"), true},
		{"view reads logs", res(u("view-user"), "get", "", "pods", "log", "ns"), true},
		{"view no secrets", res(u("view-user"), "get", "", "secrets", "", "ns"), false},
		{"view no writes", res(u("view-user"), "create", "apps", "deployments", "", "ns"), false},
		{"view only in its namespace", res(u("view-user"), "list", "", "pods", "", "other"), false},
		{"edit writes deployments", res(u("edit-user"), "create", "apps", "deployments", "", "ns"), true},
		{"edit reads secrets", res(u("edit-user"), "get", "", "secrets", "", "ns"), true},
		{"edit execs", res(u("edit-user"), "create", "", "pods", "exec", "ns"), true},
		{"edit no roles", res(u("edit-user"), "create", "rbac.authorization.k8s.io", "roles", "", "ns"), false},
		{"admin writes roles", res(u("admin-user"), "create", "rbac.authorization.k8s.io", "rolebindings", "", "ns"), true},
		{"admin lists pods (via edit via view)", res(u("admin-user"), "list", "", "pods", "", "ns"), true},
		{"scheduler binds", res(u("system:kube-scheduler"), "create", "", "pods", "binding", "ns"), true},
		{"scheduler no secrets", res(u("system:kube-scheduler"), "get", "", "secrets", "", "ns"), false},
		{"controller-manager watches everything", res(u("system:kube-controller-manager"), "watch", "apps", "deployments", "", ""), true},
		{"deployment controller", res(u("system:serviceaccount:kube-system:deployment-controller", "system:serviceaccounts"), "create", "apps", "replicasets", "", "ns"), true},
		// The Node authorizer, not RBAC, grants nodes their rights.
		{"RBAC gives nodes no secrets", res(u("system:node:n1", "system:nodes"), "get", "", "secrets", "", "ns"), false},
		{"RBAC gives nodes no pods", res(u("system:node:n1", "system:nodes"), "list", "", "pods", "", ""), false},
		{"nodes renew their own certificates", res(u("system:node:n1", "system:nodes"), "create", "certificates.k8s.io", "certificatesigningrequests", "selfnodeclient", ""), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _, err := z.Authorize(context.Background(), tt.a)
			if err != nil {
				t.Fatal(err)
			}
			if (d == authz.Allow) != tt.want {
				t.Errorf("allowed = %v, want %v", d == authz.Allow, tt.want)
			}
		})
	}
}

func TestRevokedSubjects(t *testing.T) {
	nodes := group("system:nodes")
	alice := user("alice")
	got := withoutRevoked("system:node", []rbacv1.Subject{nodes, alice})
	if len(got) != 1 || got[0] != alice {
		t.Errorf("system:node keeps %v, want only alice", got)
	}
	if got := withoutRevoked("other", []rbacv1.Subject{nodes}); len(got) != 1 {
		t.Errorf("other binding lost its subjects: %v", got)
	}
	if got := withoutRevoked("system:node", nil); got != nil {
		t.Errorf("nil subjects became %#v", got)
	}
}
