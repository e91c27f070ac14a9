package rbac

import (
	"context"
	"fmt"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/auth/authz"
)

// PolicySource reads RBAC objects. Returned objects are shared and must
// not be modified. Implementations must be safe for concurrent use.
type PolicySource interface {
	ClusterRoleBindings() []*rbacv1.ClusterRoleBinding
	// RoleBindings lists the RoleBindings of one namespace.
	RoleBindings(namespace string) []*rbacv1.RoleBinding
	// ClusterRole and Role return false when the role does not exist.
	ClusterRole(name string) (*rbacv1.ClusterRole, bool)
	Role(namespace, name string) (*rbacv1.Role, bool)
}

// Resolver finds the rules that apply to a user, as upstream's
// DefaultRuleResolver.
type Resolver struct{ Source PolicySource }

// RuleSource names the binding (and subject) a rule came from, for the
// "allowed by" reason.
type RuleSource struct {
	ClusterRoleBinding *rbacv1.ClusterRoleBinding
	RoleBinding        *rbacv1.RoleBinding
	Subject            *rbacv1.Subject
}

// String is upstream's description of a binding, e.g.
// `ClusterRoleBinding "cluster-admin" of ClusterRole "cluster-admin" to Group "system:masters"`.
func (s RuleSource) String() string {
	if b := s.ClusterRoleBinding; b != nil {
		return fmt.Sprintf("ClusterRoleBinding %q of %s %q to %s", b.Name, b.RoleRef.Kind, b.RoleRef.Name, describeSubject(s.Subject, ""))
	}
	b := s.RoleBinding
	return fmt.Sprintf("RoleBinding %q of %s %q to %s", b.Name+"/"+b.Namespace, b.RoleRef.Kind, b.RoleRef.Name, describeSubject(s.Subject, b.Namespace))
}

// Visitor sees each rule that applies, or an error resolving a binding's
// role (rule is then nil). It returns false to stop.
type Visitor func(src RuleSource, rule *rbacv1.PolicyRule, err error) bool

// VisitRulesFor calls visit for every rule granted to user by the cluster
// role bindings and, when namespace is set, by the role bindings of that
// namespace (a RoleBinding to a ClusterRole grants its rules in the
// binding's namespace only).
func (r Resolver) VisitRulesFor(user *authn.User, namespace string, visit Visitor) {
	if user == nil {
		return
	}
	for _, b := range r.clusterRoleBindingsFor(user) {
		i, ok := appliesTo(user, b.Subjects, "")
		if !ok {
			continue
		}
		rules, err := r.RoleRefRules(b.RoleRef, "")
		src := RuleSource{ClusterRoleBinding: b, Subject: &b.Subjects[i]}
		if err != nil {
			if !visit(src, nil, err) {
				return
			}
			continue
		}
		for j := range rules {
			if !visit(src, &rules[j], nil) {
				return
			}
		}
	}
	if namespace == "" {
		return
	}
	for _, b := range r.roleBindingsFor(user, namespace) {
		i, ok := appliesTo(user, b.Subjects, namespace)
		if !ok {
			continue
		}
		rules, err := r.RoleRefRules(b.RoleRef, namespace)
		src := RuleSource{RoleBinding: b, Subject: &b.Subjects[i]}
		if err != nil {
			if !visit(src, nil, err) {
				return
			}
			continue
		}
		for j := range rules {
			if !visit(src, &rules[j], nil) {
				return
			}
		}
	}
}

// RulesFor returns every rule that applies to user in namespace, and the
// errors met resolving roles (the list is then incomplete, as upstream).
func (r Resolver) RulesFor(user *authn.User, namespace string) ([]rbacv1.PolicyRule, []error) {
	var rules []rbacv1.PolicyRule
	var errs []error
	r.VisitRulesFor(user, namespace, func(_ RuleSource, rule *rbacv1.PolicyRule, err error) bool {
		if err != nil {
			errs = append(errs, err)
		} else {
			rules = append(rules, *rule)
		}
		return true
	})
	return rules, errs
}

// RoleRefRules returns the rules of the role a binding in namespace refers
// to. A missing role is a NotFound error with upstream's lister text,
// `clusterrole.rbac.authorization.k8s.io "x" not found`.
func (r Resolver) RoleRefRules(ref rbacv1.RoleRef, namespace string) ([]rbacv1.PolicyRule, error) {
	switch ref.Kind {
	case "Role":
		role, ok := r.Source.Role(namespace, ref.Name)
		if !ok {
			return nil, apierrors.NewNotFound(rbacv1.Resource("role"), ref.Name)
		}
		return role.Rules, nil
	case "ClusterRole":
		role, ok := r.Source.ClusterRole(ref.Name)
		if !ok {
			return nil, apierrors.NewNotFound(rbacv1.Resource("clusterrole"), ref.Name)
		}
		return role.Rules, nil
	}
	return nil, fmt.Errorf("unsupported role reference kind: %q", ref.Kind)
}

// Authorizer is the RBAC authorizer: it allows a request some applicable
// rule allows and otherwise has no opinion, so that a later authorizer
// may decide.
type Authorizer struct{ Resolver Resolver }

var _ authz.Authorizer = Authorizer{}

// NewAuthorizer returns an Authorizer over src.
func NewAuthorizer(src PolicySource) Authorizer {
	return Authorizer{Resolver: Resolver{Source: src}}
}

// Authorize implements authz.Authorizer. The reason of an Allow is
// `RBAC: allowed by <binding>`; a NoOpinion carries the role resolution
// errors met, as upstream (`RBAC: clusterrole.rbac.authorization.k8s.io
// "x" not found`), or nothing.
func (z Authorizer) Authorize(_ context.Context, a authz.Attributes) (authz.Decision, string, error) {
	var (
		allowed bool
		reason  string
		errs    []error
	)
	z.Resolver.VisitRulesFor(a.User, a.Namespace, func(src RuleSource, rule *rbacv1.PolicyRule, err error) bool {
		if err != nil {
			errs = append(errs, err)
			return true
		}
		if RuleAllows(a, rule) {
			allowed = true
			reason = "RBAC: allowed by " + src.String()
			return false
		}
		return true
	})
	if allowed {
		return authz.Allow, reason, nil
	}
	if len(errs) > 0 {
		return authz.NoOpinion, "RBAC: " + aggregate(errs), nil
	}
	return authz.NoOpinion, "", nil
}

// aggregate formats errors as upstream's utilerrors.Aggregate: one error
// alone, several as "[a, b]".
func aggregate(errs []error) string {
	if len(errs) == 1 {
		return errs[0].Error()
	}
	msgs := make([]string, 0, len(errs))
	seen := map[string]bool{}
	for _, e := range errs {
		if m := e.Error(); !seen[m] {
			seen[m] = true
			msgs = append(msgs, m)
		}
	}
	if len(msgs) == 1 {
		return msgs[0]
	}
	return "[" + strings.Join(msgs, ", ") + "]"
}
