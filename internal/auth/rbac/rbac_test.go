package rbac

import (
	"context"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/auth/authz"
)

func rule(verbs, groups, resources []string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, APIGroups: groups, Resources: resources}
}

func l(s ...string) []string { return s }

func TestRuleAllows(t *testing.T) {
	res := func(verb, group, resource, sub, name string) authz.Attributes {
		return authz.Attributes{IsResourceRequest: true, Verb: verb, APIGroup: group, Resource: resource, Subresource: sub, Name: name}
	}
	path := func(verb, p string) authz.Attributes { return authz.Attributes{Verb: verb, Path: p} }
	tests := []struct {
		name string
		rule rbacv1.PolicyRule
		a    authz.Attributes
		want bool
	}{
		{"exact", rule(l("get"), l(""), l("pods")), res("get", "", "pods", "", "x"), true},
		{"other verb", rule(l("get"), l(""), l("pods")), res("list", "", "pods", "", ""), false},
		{"verb star", rule(l("*"), l(""), l("pods")), res("delete", "", "pods", "", "x"), true},
		{"other group", rule(l("get"), l(""), l("deployments")), res("get", "apps", "deployments", "", "x"), false},
		{"group star", rule(l("get"), l("*"), l("deployments")), res("get", "apps", "deployments", "", "x"), true},
		{"resource star covers subresource", rule(l("get"), l(""), l("*")), res("get", "", "pods", "log", "x"), true},
		{"resource does not cover subresource", rule(l("get"), l(""), l("pods")), res("get", "", "pods", "log", "x"), false},
		{"subresource", rule(l("get"), l(""), l("pods/log")), res("get", "", "pods", "log", "x"), true},
		{"subresource rule not the resource", rule(l("get"), l(""), l("pods/log")), res("get", "", "pods", "", "x"), false},
		{"star slash subresource", rule(l("get"), l(""), l("*/status")), res("get", "", "nodes", "status", "n"), true},
		{"star slash other subresource", rule(l("get"), l(""), l("*/status")), res("get", "", "nodes", "proxy", "n"), false},
		{"resource name", rbacv1.PolicyRule{Verbs: l("get"), APIGroups: l(""), Resources: l("secrets"), ResourceNames: l("a")}, res("get", "", "secrets", "", "a"), true},
		{"other resource name", rbacv1.PolicyRule{Verbs: l("get"), APIGroups: l(""), Resources: l("secrets"), ResourceNames: l("a")}, res("get", "", "secrets", "", "b"), false},
		{"resource names never match list", rbacv1.PolicyRule{Verbs: l("list"), APIGroups: l(""), Resources: l("secrets"), ResourceNames: l("a")}, res("list", "", "secrets", "", ""), false},
		{"url exact", rbacv1.PolicyRule{Verbs: l("get"), NonResourceURLs: l("/healthz")}, path("get", "/healthz"), true},
		{"url prefix star", rbacv1.PolicyRule{Verbs: l("get"), NonResourceURLs: l("/apis/*")}, path("get", "/apis/apps/v1"), true},
		{"url without star is exact", rbacv1.PolicyRule{Verbs: l("get"), NonResourceURLs: l("/api")}, path("get", "/api/v1"), false},
		{"url star", rbacv1.PolicyRule{Verbs: l("*"), NonResourceURLs: l("*")}, path("post", "/anything"), true},
		{"resource rule does not match a path", rule(l("*"), l("*"), l("*")), path("get", "/healthz"), false},
		{"url rule does not match a resource", rbacv1.PolicyRule{Verbs: l("*"), NonResourceURLs: l("*")}, res("get", "", "pods", "", ""), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RuleAllows(tt.a, &tt.rule); got != tt.want {
				t.Errorf("RuleAllows = %v, want %v", got, tt.want)
			}
		})
	}
}

func meta(ns, name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: ns, Name: name} }

func testPolicy() *StaticPolicy {
	return &StaticPolicy{
		ClusterRolesList: []rbacv1.ClusterRole{
			{ObjectMeta: meta("", "view"), Rules: []rbacv1.PolicyRule{rule(l("get", "list", "watch"), l("", "apps"), l("pods", "deployments", "pods/log"))}},
			{ObjectMeta: meta("", "discovery"), Rules: []rbacv1.PolicyRule{{Verbs: l("get"), NonResourceURLs: l("/api", "/api/*")}}},
			{ObjectMeta: meta("", "node-reader"), Rules: []rbacv1.PolicyRule{rule(l("get", "list"), l(""), l("nodes"))}},
		},
		ClusterRoleBindingsList: []rbacv1.ClusterRoleBinding{
			{ObjectMeta: meta("", "discovery"), RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "discovery"}, Subjects: []rbacv1.Subject{{Kind: "Group", Name: "system:authenticated"}}},
			{ObjectMeta: meta("", "sa-nodes"), RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "node-reader"}, Subjects: []rbacv1.Subject{{Kind: "Group", Name: "system:serviceaccounts:kube-system"}}},
			{ObjectMeta: meta("", "broken"), RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "missing"}, Subjects: []rbacv1.Subject{{Kind: "User", Name: "carol"}}},
		},
		RolesList: []rbacv1.Role{
			{ObjectMeta: meta("default", "pod-reader"), Rules: []rbacv1.PolicyRule{rule(l("get", "list", "watch"), l(""), l("pods"))}},
		},
		RoleBindingsList: []rbacv1.RoleBinding{
			{ObjectMeta: meta("default", "alice-pods"), RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "pod-reader"}, Subjects: []rbacv1.Subject{{Kind: "User", Name: "alice"}}},
			{ObjectMeta: meta("team", "bob-view"), RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"}, Subjects: []rbacv1.Subject{{Kind: "Group", Name: "devs"}}},
			{ObjectMeta: meta("team", "builder"), RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"}, Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "builder"}}},
		},
	}
}

func TestAuthorizer(t *testing.T) {
	z := NewAuthorizer(testPolicy())
	user := func(name string, groups ...string) *authn.User {
		return &authn.User{Name: name, Groups: append(groups, "system:authenticated")}
	}
	res := func(u *authn.User, verb, ns, resource string) authz.Attributes {
		return authz.Attributes{User: u, IsResourceRequest: true, Verb: verb, Namespace: ns, Resource: resource}
	}
	alice, bob, carol := user("alice"), user("bob", "devs"), user("carol")
	builder := user("system:serviceaccount:team:builder", "system:serviceaccounts", "system:serviceaccounts:team")
	ksa := user("system:serviceaccount:kube-system:x", "system:serviceaccounts", "system:serviceaccounts:kube-system")
	tests := []struct {
		name       string
		a          authz.Attributes
		want       authz.Decision
		wantReason string
	}{
		{"role in its namespace", res(alice, "list", "default", "pods"), authz.Allow, `RBAC: allowed by RoleBinding "alice-pods/default" of Role "pod-reader" to User "alice"`},
		{"not secrets", res(alice, "list", "default", "secrets"), authz.NoOpinion, ""},
		{"not other namespaces", res(alice, "list", "team", "pods"), authz.NoOpinion, ""},
		{"not all namespaces", res(alice, "list", "", "pods"), authz.NoOpinion, ""},
		{"cluster role scoped by rolebinding", res(bob, "get", "team", "pods"), authz.Allow, `RBAC: allowed by RoleBinding "bob-view/team" of ClusterRole "view" to Group "devs"`},
		{"cluster role via rolebinding not elsewhere", res(bob, "get", "default", "pods"), authz.NoOpinion, ""},
		{"service account defaults to binding namespace", res(builder, "list", "team", "pods"), authz.Allow, `RBAC: allowed by RoleBinding "builder/team" of ClusterRole "view" to ServiceAccount "builder/team"`},
		{"service account group", res(ksa, "list", "", "nodes"), authz.Allow, `RBAC: allowed by ClusterRoleBinding "sa-nodes" of ClusterRole "node-reader" to Group "system:serviceaccounts:kube-system"`},
		{"non-resource", authz.Attributes{User: alice, Verb: "get", Path: "/api/v1"}, authz.Allow, `RBAC: allowed by ClusterRoleBinding "discovery" of ClusterRole "discovery" to Group "system:authenticated"`},
		{"missing role is the reason", res(carol, "get", "", "nodes"), authz.NoOpinion, `RBAC: clusterrole.rbac.authorization.k8s.io "missing" not found`},
		{"no user", authz.Attributes{Verb: "get", Path: "/api"}, authz.NoOpinion, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, reason, err := z.Authorize(context.Background(), tt.a)
			if err != nil {
				t.Fatal(err)
			}
			if d != tt.want || reason != tt.wantReason {
				t.Errorf("Authorize = %v %q, want %v %q", d, reason, tt.want, tt.wantReason)
			}
		})
	}
}

func TestCovers(t *testing.T) {
	tests := []struct {
		name        string
		owner, req  []rbacv1.PolicyRule
		wantMissing []string
	}{
		{"equal", []rbacv1.PolicyRule{rule(l("get", "list"), l(""), l("pods"))}, []rbacv1.PolicyRule{rule(l("get"), l(""), l("pods"))}, nil},
		{"split across owner rules", []rbacv1.PolicyRule{rule(l("get"), l(""), l("pods")), rule(l("list"), l(""), l("pods"))}, []rbacv1.PolicyRule{rule(l("get", "list"), l(""), l("pods"))}, nil},
		{"star covers", []rbacv1.PolicyRule{rule(l("*"), l("*"), l("*"))}, []rbacv1.PolicyRule{rule(l("delete"), l("apps"), l("deployments/scale"))}, nil},
		{"star subresource covers", []rbacv1.PolicyRule{rule(l("get"), l(""), l("*/log"))}, []rbacv1.PolicyRule{rule(l("get"), l(""), l("pods/log"))}, nil},
		{"missing verbs compacted", []rbacv1.PolicyRule{rule(l("get"), l(""), l("pods"))}, []rbacv1.PolicyRule{rule(l("get", "list", "watch"), l(""), l("pods", "secrets"))},
			[]string{`{APIGroups:[""], Resources:["pods"], Verbs:["list" "watch"]}`, `{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list" "watch"]}`}},
		{"named owner does not cover all names", []rbacv1.PolicyRule{{Verbs: l("get"), APIGroups: l(""), Resources: l("secrets"), ResourceNames: l("a")}}, []rbacv1.PolicyRule{rule(l("get"), l(""), l("secrets"))},
			[]string{`{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}`}},
		{"named owner covers the name", []rbacv1.PolicyRule{{Verbs: l("get"), APIGroups: l(""), Resources: l("secrets"), ResourceNames: l("a")}}, []rbacv1.PolicyRule{{Verbs: l("get"), APIGroups: l(""), Resources: l("secrets"), ResourceNames: l("a")}}, nil},
		{"urls", []rbacv1.PolicyRule{{Verbs: l("get"), NonResourceURLs: l("/apis/*")}}, []rbacv1.PolicyRule{{Verbs: l("get", "post"), NonResourceURLs: l("/apis/x", "/healthz")}},
			[]string{`{NonResourceURLs:["/apis/x"], Verbs:["post"]}`, `{NonResourceURLs:["/healthz"], Verbs:["get"]}`, `{NonResourceURLs:["/healthz"], Verbs:["post"]}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, missing := Covers(tt.owner, tt.req)
			got := describeMissing(missing)
			want := strings.Join(tt.wantMissing, "\n")
			if ok != (len(tt.wantMissing) == 0) || got != want {
				t.Errorf("Covers = %v, missing:\n%s\nwant:\n%s", ok, got, want)
			}
		})
	}
}

func TestEscalationGuard(t *testing.T) {
	p := testPolicy()
	p.ClusterRolesList = append(p.ClusterRolesList, rbacv1.ClusterRole{ObjectMeta: meta("", "binder"), Rules: []rbacv1.PolicyRule{
		{Verbs: l("bind"), APIGroups: l("rbac.authorization.k8s.io"), Resources: l("clusterroles"), ResourceNames: l("node-reader")},
		{Verbs: l("escalate"), APIGroups: l("rbac.authorization.k8s.io"), Resources: l("roles")},
	}})
	p.RoleBindingsList = append(p.RoleBindingsList, rbacv1.RoleBinding{ObjectMeta: meta("default", "dave-binder"),
		RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "binder"}, Subjects: []rbacv1.Subject{{Kind: "User", Name: "dave"}}})
	res := Resolver{Source: p}
	g := EscalationGuard{Resolver: res, Authorizer: authz.Union{authz.Superusers{Group: authn.GroupMasters}, Authorizer{Resolver: res}}}
	alice := &authn.User{Name: "alice", Groups: l("system:authenticated")}
	dave := &authn.User{Name: "dave", Groups: l("system:authenticated")}
	admin := &authn.User{Name: "admin", Groups: l("system:masters")}
	role := func(ns string, rules ...rbacv1.PolicyRule) *rbacv1.Role {
		return &rbacv1.Role{ObjectMeta: meta(ns, "r"), Rules: rules}
	}
	binding := func(ns, kind, name string) *rbacv1.RoleBinding {
		return &rbacv1.RoleBinding{ObjectMeta: meta(ns, "b"), RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: name},
			Subjects: []rbacv1.Subject{{Kind: "User", Name: "eve"}}}
	}
	tests := []struct {
		name    string
		user    *authn.User
		obj     runtime.Object
		wantErr string
	}{
		{"role within own rules", alice, role("default", rule(l("get"), l(""), l("pods"))), ""},
		{"role beyond own rules", alice, role("default", rule(l("get", "list"), l(""), l("secrets"))),
			`roles.rbac.authorization.k8s.io "r" is forbidden: user "alice" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:` + "\n" +
				`{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list"]}`},
		{"role in another namespace", alice, role("team", rule(l("get"), l(""), l("pods"))), "is attempting to grant"},
		{"escalate verb", dave, role("default", rule(l("*"), l("*"), l("*"))), ""},
		{"masters", admin, role("default", rule(l("*"), l("*"), l("*"))), ""},
		{"aggregated cluster role needs everything", alice, &rbacv1.ClusterRole{ObjectMeta: meta("", "agg"),
			AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"a": "b"}}}}}, "is attempting to grant"},
		{"binding to held role", alice, binding("default", "Role", "pod-reader"), ""},
		{"binding to role not held", alice, binding("default", "ClusterRole", "node-reader"),
			`rolebindings.rbac.authorization.k8s.io "b" is forbidden: user "alice" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:` + "\n" +
				`{APIGroups:[""], Resources:["nodes"], Verbs:["get" "list"]}`},
		{"bind verb", dave, binding("default", "ClusterRole", "node-reader"), ""},
		{"bind verb is per role", dave, binding("default", "ClusterRole", "view"), "is attempting to grant"},
		{"binding to missing role", alice, binding("default", "Role", "nope"), `roles.rbac.authorization.k8s.io "nope" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := authn.WithUser(context.Background(), tt.user)
			err := g.AdmitWrite(ctx, tt.obj, nil)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("AdmitWrite: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("AdmitWrite = %v, want %q", err, tt.wantErr)
			}
			if strings.Contains(tt.wantErr, "forbidden") && !apierrors.IsForbidden(err) {
				t.Errorf("want a Forbidden error, got %#v", err)
			}
		})
	}
}
