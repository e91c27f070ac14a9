// Package rbac holds the registry strategies of rbac.authorization.k8s.io/v1:
// roles, rolebindings, clusterroles and clusterrolebindings, with upstream's
// defaults, validation and `kubectl get` columns.
//
// RBAC names are URL path segments, not DNS names (a role may be called
// "system:controller:foo"), so every strategy validates its own metadata.
// Privilege-escalation checks (a user may only grant what they hold, unless
// they have the escalate or bind verb) need the authorizer and belong to
// the API server's RBAC wiring, not to these strategies.
package rbac

import (
	"fmt"
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry"
)

// Resources returns the rbac.authorization.k8s.io/v1 resources.
func Resources() []registry.Resource {
	return resources(time.Now)
}

// resources: RBAC objects may be created by PUT (AllowCreateOnUpdate), as
// upstream, so that bootstrap and `kubectl auth reconcile` can apply them.
func resources(now func() time.Time) []registry.Resource {
	gv := rbacv1.SchemeGroupVersion
	return []registry.Resource{
		{
			GroupVersion: gv, Resource: "roles", Kind: "Role", SingularName: "role", Namespaced: true,
			New:      func() runtime.Object { return &rbacv1.Role{} },
			NewList:  func() runtime.Object { return &rbacv1.RoleList{} },
			Strategy: roleStrategy{}, AllowCreateOnUpdate: true,
		},
		{
			GroupVersion: gv, Resource: "rolebindings", Kind: "RoleBinding", SingularName: "rolebinding", Namespaced: true,
			New:      func() runtime.Object { return &rbacv1.RoleBinding{} },
			NewList:  func() runtime.Object { return &rbacv1.RoleBindingList{} },
			Strategy: roleBindingStrategy{now: now}, AllowCreateOnUpdate: true,
		},
		{
			GroupVersion: gv, Resource: "clusterroles", Kind: "ClusterRole", SingularName: "clusterrole",
			New:      func() runtime.Object { return &rbacv1.ClusterRole{} },
			NewList:  func() runtime.Object { return &rbacv1.ClusterRoleList{} },
			Strategy: clusterRoleStrategy{}, AllowCreateOnUpdate: true,
		},
		{
			GroupVersion: gv, Resource: "clusterrolebindings", Kind: "ClusterRoleBinding", SingularName: "clusterrolebinding",
			New:      func() runtime.Object { return &rbacv1.ClusterRoleBinding{} },
			NewList:  func() runtime.Object { return &rbacv1.ClusterRoleBindingList{} },
			Strategy: clusterRoleBindingStrategy{now: now}, AllowCreateOnUpdate: true,
		},
	}
}

func wrongType(obj runtime.Object, want string) field.ErrorList {
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("expected %s, got %T", want, obj))}
}

// validateName is upstream's ValidateRBACName: any path segment, prefix
// or not.
func validateName(name string, prefix bool) []string {
	return content.IsPathSegmentName(name)
}

// validateMeta validates metadata with RBAC names. Unlike most kinds, the
// name rule is re-checked on update, as upstream.
func validateMeta(obj, old runtime.Object, namespaced bool) field.ErrorList {
	m, ok := obj.(metav1.Object)
	if !ok {
		return wrongType(obj, "an object with metadata")
	}
	p := field.NewPath("metadata")
	errs := apimachineryvalidation.ValidateObjectMetaAccessor(m, namespaced, validateName, p)
	if old != nil {
		om, ok := old.(metav1.Object)
		if !ok {
			return wrongType(old, "an object with metadata")
		}
		errs = append(errs, apimachineryvalidation.ValidateObjectMetaAccessorUpdate(m, om, p)...)
	}
	return errs
}

// validatePolicyRule: a rule names resources (with API groups) or
// non-resource URLs (cluster roles only), never both.
func validatePolicyRule(rule rbacv1.PolicyRule, namespaced bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(rule.Verbs) == 0 {
		errs = append(errs, field.Required(p.Child("verbs"), "verbs must contain at least one value"))
	}
	if len(rule.NonResourceURLs) > 0 {
		if namespaced {
			errs = append(errs, field.Invalid(p.Child("nonResourceURLs"), rule.NonResourceURLs, "namespaced rules cannot apply to non-resource URLs"))
		}
		if len(rule.APIGroups) > 0 || len(rule.Resources) > 0 || len(rule.ResourceNames) > 0 {
			errs = append(errs, field.Invalid(p.Child("nonResourceURLs"), rule.NonResourceURLs, "rules cannot apply to both regular resources and non-resource URLs"))
		}
		return errs
	}
	if len(rule.APIGroups) == 0 {
		errs = append(errs, field.Required(p.Child("apiGroups"), "resource rules must supply at least one api group"))
	}
	if len(rule.Resources) == 0 {
		errs = append(errs, field.Required(p.Child("resources"), "resource rules must supply at least one resource"))
	}
	return errs
}

func validateRules(rules []rbacv1.PolicyRule, namespaced bool) field.ErrorList {
	var errs field.ErrorList
	for i, r := range rules {
		errs = append(errs, validatePolicyRule(r, namespaced, field.NewPath("rules").Index(i))...)
	}
	return errs
}

// validateRoleRef checks a binding's roleRef; kinds lists what the binding
// may reference (a RoleBinding may reference a ClusterRole, not the other
// way round).
func validateRoleRef(ref rbacv1.RoleRef, kinds []string) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("roleRef")
	if ref.APIGroup != rbacv1.GroupName {
		errs = append(errs, field.NotSupported(p.Child("apiGroup"), ref.APIGroup, []string{rbacv1.GroupName}))
	}
	known := false
	for _, k := range kinds {
		known = known || ref.Kind == k
	}
	if !known {
		errs = append(errs, field.NotSupported(p.Child("kind"), ref.Kind, kinds))
	}
	if ref.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	} else {
		for _, msg := range validateName(ref.Name, false) {
			errs = append(errs, field.Invalid(p.Child("name"), ref.Name, msg))
		}
	}
	return errs
}

func validateSubjects(subjects []rbacv1.Subject, namespaced bool) field.ErrorList {
	var errs field.ErrorList
	for i, s := range subjects {
		errs = append(errs, validateSubject(s, namespaced, field.NewPath("subjects").Index(i))...)
	}
	return errs
}

func validateSubject(s rbacv1.Subject, namespaced bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	}
	switch s.Kind {
	case rbacv1.ServiceAccountKind:
		if s.Name != "" {
			for _, msg := range apimachineryvalidation.NameIsDNSSubdomain(s.Name, false) {
				errs = append(errs, field.Invalid(p.Child("name"), s.Name, msg))
			}
		}
		if s.APIGroup != "" {
			errs = append(errs, field.NotSupported(p.Child("apiGroup"), s.APIGroup, []string{""}))
		}
		// In a RoleBinding the namespace defaults to the binding's own.
		if !namespaced && s.Namespace == "" {
			errs = append(errs, field.Required(p.Child("namespace"), ""))
		}
	case rbacv1.UserKind, rbacv1.GroupKind:
		if s.APIGroup != rbacv1.GroupName {
			errs = append(errs, field.NotSupported(p.Child("apiGroup"), s.APIGroup, []string{rbacv1.GroupName}))
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("kind"), s.Kind, []string{rbacv1.ServiceAccountKind, rbacv1.UserKind, rbacv1.GroupKind}))
	}
	return errs
}

// defaultBinding fills roleRef.apiGroup and each subject's apiGroup.
func defaultBinding(ref *rbacv1.RoleRef, subjects []rbacv1.Subject) {
	if ref.APIGroup == "" {
		ref.APIGroup = rbacv1.GroupName
	}
	for i := range subjects {
		s := &subjects[i]
		if s.APIGroup == "" && (s.Kind == rbacv1.UserKind || s.Kind == rbacv1.GroupKind) {
			s.APIGroup = rbacv1.GroupName
		}
	}
}

// bindingColumns are the columns of both binding kinds; roleRefDoc is the
// Role column's description (upstream takes it from v1beta1's types).
func bindingColumns(kind, roleRefDoc string) []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
		{Name: "Role", Type: "string", Description: roleRefDoc},
		{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
		{Name: "Users", Type: "string", Priority: 1, Description: "Users in the " + kind},
		{Name: "Groups", Type: "string", Priority: 1, Description: "Groups in the " + kind},
		{Name: "ServiceAccounts", Type: "string", Priority: 1, Description: "ServiceAccounts in the " + kind},
	}
}

func bindingRow(now time.Time, m *metav1.ObjectMeta, ref rbacv1.RoleRef, subjects []rbacv1.Subject) []interface{} {
	var users, groups, sas []string
	for _, s := range subjects {
		switch s.Kind {
		case rbacv1.ServiceAccountKind:
			sas = append(sas, s.Namespace+"/"+s.Name)
		case rbacv1.UserKind:
			users = append(users, s.Name)
		case rbacv1.GroupKind:
			groups = append(groups, s.Name)
		}
	}
	return []interface{}{
		m.Name, ref.Kind + "/" + ref.Name, age(now, m.CreationTimestamp),
		strings.Join(users, ", "), strings.Join(groups, ", "), strings.Join(sas, ", "),
	}
}

func age(now time.Time, t metav1.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// validateAggregationRule: an aggregated cluster role needs at least one
// selector; the aggregation controller fills its rules.
func validateAggregationRule(rule *rbacv1.AggregationRule, allowInvalidValues bool) field.ErrorList {
	if rule == nil {
		return nil
	}
	p := field.NewPath("aggregationRule", "clusterRoleSelectors")
	var errs field.ErrorList
	if len(rule.ClusterRoleSelectors) == 0 {
		errs = append(errs, field.Required(p, "at least one clusterRoleSelector required if aggregationRule is non-nil"))
	}
	opts := metav1validation.LabelSelectorValidationOptions{AllowInvalidLabelValueInSelector: allowInvalidValues}
	for i := range rule.ClusterRoleSelectors {
		sel := &rule.ClusterRoleSelectors[i]
		errs = append(errs, metav1validation.ValidateLabelSelector(sel, opts, p.Index(i))...)
		if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
			errs = append(errs, field.Invalid(p.Index(i), sel, "invalid label selector."))
		}
	}
	return errs
}

// hasInvalidSelectorValues reports stored selectors that predate strict
// label value checks; such objects stay updatable.
func hasInvalidSelectorValues(rule *rbacv1.AggregationRule) bool {
	if rule == nil {
		return false
	}
	for i := range rule.ClusterRoleSelectors {
		if len(metav1validation.ValidateLabelSelector(&rule.ClusterRoleSelectors[i], metav1validation.LabelSelectorValidationOptions{}, nil)) > 0 {
			return true
		}
	}
	return false
}
