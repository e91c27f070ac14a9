package rbac

import (
	"fmt"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/auth/authn"
)

// indexedStatic is a StaticPolicy with the subject index, as the app's
// cache-backed source has.
type indexedStatic struct {
	*StaticPolicy
}

func (p indexedStatic) ClusterRoleBindingsFor(u *authn.User) []*rbacv1.ClusterRoleBinding {
	return NewClusterRoleBindingIndex(p.ClusterRoleBindings()).For(u)
}

func (p indexedStatic) RoleBindingsFor(u *authn.User, ns string) []*rbacv1.RoleBinding {
	return NewRoleBindingIndex(p.RoleBindings(ns)).For(u)
}

func TestIndexedResolverVisitsWhatTheFullScanVisits(t *testing.T) {
	subj := func(kind, name, ns string) rbacv1.Subject {
		return rbacv1.Subject{Kind: kind, Name: name, Namespace: ns}
	}
	rule := func(verb string) []rbacv1.PolicyRule {
		return []rbacv1.PolicyRule{{Verbs: []string{verb}, APIGroups: []string{""}, Resources: []string{"pods"}}}
	}
	p := &StaticPolicy{
		ClusterRolesList: []rbacv1.ClusterRole{
			{ObjectMeta: metav1.ObjectMeta{Name: "get"}, Rules: rule("get")},
			{ObjectMeta: metav1.ObjectMeta{Name: "list"}, Rules: rule("list")},
		},
		RolesList: []rbacv1.Role{{ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: "watch"}, Rules: rule("watch")}},
		ClusterRoleBindingsList: []rbacv1.ClusterRoleBinding{
			{ObjectMeta: metav1.ObjectMeta{Name: "a"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "get"},
				Subjects: []rbacv1.Subject{subj("User", "alice", ""), subj("Group", "devs", "")}},
			{ObjectMeta: metav1.ObjectMeta{Name: "b"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "list"},
				Subjects: []rbacv1.Subject{subj("Group", "system:authenticated", "")}},
			{ObjectMeta: metav1.ObjectMeta{Name: "c"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "missing"},
				Subjects: []rbacv1.Subject{subj("ServiceAccount", "robot", "ns1")}},
			// A service account without a namespace in a cluster binding
			// matches nobody.
			{ObjectMeta: metav1.ObjectMeta{Name: "d"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "get"},
				Subjects: []rbacv1.Subject{subj("ServiceAccount", "robot", "")}},
			{ObjectMeta: metav1.ObjectMeta{Name: "e"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "get"},
				Subjects: []rbacv1.Subject{subj("User", "system:serviceaccount:ns1:robot", "")}},
		},
		RoleBindingsList: []rbacv1.RoleBinding{
			{ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: "r1"}, RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "watch"},
				Subjects: []rbacv1.Subject{subj("ServiceAccount", "robot", "")}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: "r2"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "list"},
				Subjects: []rbacv1.Subject{subj("User", "bob", ""), subj("Group", "devs", "")}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "ns2", Name: "r3"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "get"},
				Subjects: []rbacv1.Subject{subj("ServiceAccount", "robot", "ns1"), subj("Kind", "odd", "")}},
		},
	}
	users := []*authn.User{
		{Name: "alice", Groups: []string{"system:authenticated"}},
		{Name: "bob", Groups: []string{"devs", "system:authenticated"}},
		{Name: "carol", Groups: []string{"devs"}},
		{Name: "system:serviceaccount:ns1:robot", Groups: []string{"system:serviceaccounts", "system:serviceaccounts:ns1", "system:authenticated"}},
		{Name: "nobody"},
	}
	visits := func(r Resolver, u *authn.User, ns string) []string {
		var out []string
		r.VisitRulesFor(u, ns, func(src RuleSource, rule *rbacv1.PolicyRule, err error) bool {
			out = append(out, fmt.Sprintf("%s %v %v", src, rule, err))
			return true
		})
		return out
	}
	for _, u := range users {
		for _, ns := range []string{"", "ns1", "ns2", "ns3"} {
			full := visits(Resolver{Source: p}, u, ns)
			indexed := visits(Resolver{Source: indexedStatic{p}}, u, ns)
			if !slices.Equal(full, indexed) {
				t.Errorf("%s in %q:\nfull scan %q\nindexed   %q", u.Name, ns, full, indexed)
			}
		}
	}
}
