package rbac

import (
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"

	"skiff.dev/skiff/internal/auth/authn"
)

// SubjectIndexed is optional on a PolicySource: it returns only the
// bindings with a subject that names the user, one of its groups or its
// service account, in the order of ClusterRoleBindings and RoleBindings.
// The Resolver then looks at a handful of bindings per request instead of
// all of them, which keeps a decision within microseconds with thousands
// of bindings.
type SubjectIndexed interface {
	ClusterRoleBindingsFor(user *authn.User) []*rbacv1.ClusterRoleBinding
	RoleBindingsFor(user *authn.User, namespace string) []*rbacv1.RoleBinding
}

// BindingIndex finds the bindings whose subjects can match a user. Build
// it once per change of the bindings; it is read-only afterwards and safe
// for concurrent use.
type BindingIndex[B any] struct {
	all []B
	// byKey maps "u:<user name>" (users and service accounts, by the user
	// name they authenticate as) and "g:<group>" to positions in all,
	// ascending.
	byKey map[string][]int
}

// NewClusterRoleBindingIndex indexes cluster role bindings.
func NewClusterRoleBindingIndex(bindings []*rbacv1.ClusterRoleBinding) *BindingIndex[*rbacv1.ClusterRoleBinding] {
	return newBindingIndex(bindings, func(b *rbacv1.ClusterRoleBinding) ([]rbacv1.Subject, string) { return b.Subjects, "" })
}

// NewRoleBindingIndex indexes the role bindings of one namespace.
func NewRoleBindingIndex(bindings []*rbacv1.RoleBinding) *BindingIndex[*rbacv1.RoleBinding] {
	return newBindingIndex(bindings, func(b *rbacv1.RoleBinding) ([]rbacv1.Subject, string) { return b.Subjects, b.Namespace })
}

func newBindingIndex[B any](all []B, subjects func(B) ([]rbacv1.Subject, string)) *BindingIndex[B] {
	ix := &BindingIndex[B]{all: all, byKey: map[string][]int{}}
	for i, b := range all {
		subs, ns := subjects(b)
		for j := range subs {
			key, ok := subjectKey(&subs[j], ns)
			if !ok {
				continue
			}
			if pos := ix.byKey[key]; len(pos) == 0 || pos[len(pos)-1] != i {
				ix.byKey[key] = append(pos, i)
			}
		}
	}
	return ix
}

// subjectKey is the index key of a subject, as subjectMatches reads it; a
// subject that can match nobody has none.
func subjectKey(s *rbacv1.Subject, bindingNamespace string) (string, bool) {
	switch s.Kind {
	case rbacv1.UserKind:
		return "u:" + s.Name, true
	case rbacv1.GroupKind:
		return "g:" + s.Name, true
	case rbacv1.ServiceAccountKind:
		ns := bindingNamespace
		if s.Namespace != "" {
			ns = s.Namespace
		}
		if ns == "" {
			return "", false
		}
		return "u:" + ServiceAccountUsernamePrefix + ns + ":" + s.Name, true
	}
	return "", false
}

// For returns the bindings that may apply to user, in index order. The
// caller still matches subjects (appliesTo) to find which one applies.
func (ix *BindingIndex[B]) For(user *authn.User) []B {
	if ix == nil || user == nil {
		return nil
	}
	var pos []int
	add := func(key string) {
		if p := ix.byKey[key]; len(p) > 0 {
			pos = append(pos, p...)
		}
	}
	add("u:" + user.Name)
	for _, g := range user.Groups {
		add("g:" + g)
	}
	if len(pos) == 0 {
		return nil
	}
	slices.Sort(pos)
	pos = slices.Compact(pos)
	out := make([]B, len(pos))
	for i, p := range pos {
		out[i] = ix.all[p]
	}
	return out
}

// clusterRoleBindingsFor and roleBindingsFor use the source's index when
// it has one.
func (r Resolver) clusterRoleBindingsFor(user *authn.User) []*rbacv1.ClusterRoleBinding {
	if ix, ok := r.Source.(SubjectIndexed); ok {
		return ix.ClusterRoleBindingsFor(user)
	}
	return r.Source.ClusterRoleBindings()
}

func (r Resolver) roleBindingsFor(user *authn.User, namespace string) []*rbacv1.RoleBinding {
	if ix, ok := r.Source.(SubjectIndexed); ok {
		return ix.RoleBindingsFor(user, namespace)
	}
	return r.Source.RoleBindings(namespace)
}
