package rbac

import (
	"context"
	"fmt"
	"reflect"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/auth/authz"
)

// EscalationGuard refuses writes of roles and bindings that would grant
// more than the writer holds, as upstream's RBAC registries: a role's rules
// must be covered by the writer's own rules (in the role's namespace)
// unless the writer may "escalate" the role; a binding needs "bind" on the
// role it refers to, or the writer must hold that role's rules.
type EscalationGuard struct {
	Resolver Resolver
	// Authorizer answers the escalate and bind checks; it is the API
	// server's whole authorizer, so system:masters and RBAC grants count.
	Authorizer authz.Authorizer
}

// fullAuthority is what a ClusterRole with an aggregationRule may grant:
// anything, so only holders of everything may write one.
var fullAuthority = []rbacv1.PolicyRule{
	{Verbs: []string{rbacv1.VerbAll}, APIGroups: []string{rbacv1.APIGroupAll}, Resources: []string{rbacv1.ResourceAll}},
	{Verbs: []string{rbacv1.VerbAll}, NonResourceURLs: []string{rbacv1.NonResourceAll}},
}

// AdmitWrite checks a create (old is nil) or an update of an RBAC object.
// Denials are Forbidden errors with upstream's text; a missing role
// referred to by a binding is NotFound. Writes without a user on ctx (the
// server's own) and by system:masters are always allowed.
func (g EscalationGuard) AdmitWrite(ctx context.Context, obj, old runtime.Object) error {
	user := authn.UserFrom(ctx)
	if user == nil || user.InGroup(authn.GroupMasters) {
		return nil
	}
	switch o := obj.(type) {
	case *rbacv1.Role:
		if prev, ok := old.(*rbacv1.Role); ok && reflect.DeepEqual(prev.Rules, o.Rules) {
			return nil
		}
		return g.checkRole(ctx, user, "roles", o.Namespace, o.Name, o.Rules)
	case *rbacv1.ClusterRole:
		rules := o.Rules
		if o.AggregationRule != nil && len(o.AggregationRule.ClusterRoleSelectors) > 0 {
			rules = fullAuthority
		} else if prev, ok := old.(*rbacv1.ClusterRole); ok && prev.AggregationRule == nil && reflect.DeepEqual(prev.Rules, o.Rules) {
			return nil
		}
		return g.checkRole(ctx, user, "clusterroles", "", o.Name, rules)
	case *rbacv1.RoleBinding:
		if prev, ok := old.(*rbacv1.RoleBinding); ok && prev.RoleRef == o.RoleRef && reflect.DeepEqual(prev.Subjects, o.Subjects) {
			return nil
		}
		return g.checkBinding(ctx, user, "rolebindings", o.Namespace, o.Name, o.RoleRef)
	case *rbacv1.ClusterRoleBinding:
		if prev, ok := old.(*rbacv1.ClusterRoleBinding); ok && prev.RoleRef == o.RoleRef && reflect.DeepEqual(prev.Subjects, o.Subjects) {
			return nil
		}
		return g.checkBinding(ctx, user, "clusterrolebindings", "", o.Name, o.RoleRef)
	}
	return nil
}

func (g EscalationGuard) allowed(ctx context.Context, user *authn.User, verb, resource, namespace, name string) (bool, error) {
	d, _, err := g.Authorizer.Authorize(ctx, authz.Attributes{
		User: user, Verb: verb, IsResourceRequest: true, APIGroup: rbacv1.GroupName, APIVersion: "*",
		Resource: resource, Namespace: namespace, Name: name,
	})
	return d == authz.Allow, err
}

func (g EscalationGuard) checkRole(ctx context.Context, user *authn.User, resource, namespace, name string, rules []rbacv1.PolicyRule) error {
	ok, err := g.allowed(ctx, user, "escalate", resource, namespace, name)
	if err != nil {
		return fmt.Errorf("authorize escalate on %s %q: %w", resource, name, err)
	}
	if ok {
		return nil
	}
	if err := g.confirmNoEscalation(user, namespace, rules); err != nil {
		return apierrors.NewForbidden(schema.GroupResource{Group: rbacv1.GroupName, Resource: resource}, name, err)
	}
	return nil
}

func (g EscalationGuard) checkBinding(ctx context.Context, user *authn.User, resource, namespace, name string, ref rbacv1.RoleRef) error {
	roleResource := "clusterroles"
	if ref.Kind == "Role" {
		roleResource = "roles"
	}
	ok, err := g.allowed(ctx, user, "bind", roleResource, namespace, ref.Name)
	if err != nil {
		return fmt.Errorf("authorize bind on %s %q: %w", roleResource, ref.Name, err)
	}
	if ok {
		return nil
	}
	rules, err := g.Resolver.RoleRefRules(ref, namespace)
	if apierrors.IsNotFound(err) {
		// The registry's own error, as upstream reads the role through it.
		return apierrors.NewNotFound(schema.GroupResource{Group: rbacv1.GroupName, Resource: roleResource}, ref.Name)
	}
	if err != nil {
		return err
	}
	if err := g.confirmNoEscalation(user, namespace, rules); err != nil {
		return apierrors.NewForbidden(schema.GroupResource{Group: rbacv1.GroupName, Resource: resource}, name, err)
	}
	return nil
}

// ConfirmNoEscalation returns upstream's error when user's rules in
// namespace do not cover rules:
//
//	user "alice" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:
//	{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}
func (g EscalationGuard) confirmNoEscalation(user *authn.User, namespace string, rules []rbacv1.PolicyRule) error {
	owner, errs := g.Resolver.RulesFor(user, namespace)
	ok, missing := Covers(owner, rules)
	if ok {
		return nil
	}
	msg := fmt.Sprintf("user %q (groups=%q) is attempting to grant RBAC permissions not currently held:\n%s", user.Name, user.Groups, describeMissing(missing))
	if len(errs) > 0 {
		msg += fmt.Sprintf("; resolution errors: %v", errs)
	}
	return escalationError(msg)
}

type escalationError string

func (e escalationError) Error() string { return string(e) }
