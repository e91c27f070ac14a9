package rbac

import (
	"context"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	rbacv1beta1 "k8s.io/api/rbac/v1beta1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry"
)

// roleStrategy: roles have no defaults and no table (kubectl shows NAME
// and CREATED AT).
type roleStrategy struct{}

var (
	_ registry.Strategy      = roleStrategy{}
	_ registry.MetaValidator = roleStrategy{}
)

func (roleStrategy) Default(obj runtime.Object)                                    {}
func (roleStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object)      {}
func (roleStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {}
func (roleStrategy) ValidateMeta(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return validateMeta(obj, old, true)
}

func (roleStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	r, ok := obj.(*rbacv1.Role)
	if !ok {
		return wrongType(obj, "*v1.Role")
	}
	return validateRules(r.Rules, true)
}

func (s roleStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return s.Validate(ctx, obj)
}

type clusterRoleStrategy struct{}

var (
	_ registry.Strategy      = clusterRoleStrategy{}
	_ registry.MetaValidator = clusterRoleStrategy{}
)

func (clusterRoleStrategy) Default(obj runtime.Object)                                    {}
func (clusterRoleStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object)      {}
func (clusterRoleStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {}
func (clusterRoleStrategy) ValidateMeta(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return validateMeta(obj, old, false)
}

func (clusterRoleStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	r, ok := obj.(*rbacv1.ClusterRole)
	if !ok {
		return wrongType(obj, "*v1.ClusterRole")
	}
	errs := validateRules(r.Rules, false)
	return append(errs, validateAggregationRule(r.AggregationRule, false)...)
}

func (clusterRoleStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	r, ok1 := obj.(*rbacv1.ClusterRole)
	o, ok2 := old.(*rbacv1.ClusterRole)
	if !ok1 || !ok2 {
		return wrongType(obj, "*v1.ClusterRole")
	}
	errs := validateRules(r.Rules, false)
	return append(errs, validateAggregationRule(r.AggregationRule, hasInvalidSelectorValues(o.AggregationRule))...)
}

type roleBindingStrategy struct{ now func() time.Time }

var (
	_ registry.Strategy       = roleBindingStrategy{}
	_ registry.MetaValidator  = roleBindingStrategy{}
	_ registry.TableConvertor = roleBindingStrategy{}
)

func (roleBindingStrategy) Default(obj runtime.Object) {
	if b, ok := obj.(*rbacv1.RoleBinding); ok {
		defaultBinding(&b.RoleRef, b.Subjects)
	}
}
func (roleBindingStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object)      {}
func (roleBindingStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {}
func (roleBindingStrategy) ValidateMeta(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return validateMeta(obj, old, true)
}

func (roleBindingStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	b, ok := obj.(*rbacv1.RoleBinding)
	if !ok {
		return wrongType(obj, "*v1.RoleBinding")
	}
	errs := validateRoleRef(b.RoleRef, []string{"Role", "ClusterRole"})
	return append(errs, validateSubjects(b.Subjects, true)...)
}

// ValidateUpdate keeps roleRef immutable: rebinding to another role would
// silently change what every subject may do; delete and recreate instead.
func (s roleBindingStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	b, ok1 := obj.(*rbacv1.RoleBinding)
	o, ok2 := old.(*rbacv1.RoleBinding)
	if !ok1 || !ok2 {
		return wrongType(obj, "*v1.RoleBinding")
	}
	errs := s.Validate(ctx, obj)
	return append(errs, apimachineryvalidation.ValidateImmutableField(b.RoleRef, o.RoleRef, field.NewPath("roleRef"))...)
}

func (roleBindingStrategy) ColumnDefinitions() []metav1.TableColumnDefinition {
	return bindingColumns("roleBinding", rbacv1beta1.RoleBinding{}.SwaggerDoc()["roleRef"])
}

func (s roleBindingStrategy) Row(obj runtime.Object) []interface{} {
	b, ok := obj.(*rbacv1.RoleBinding)
	if !ok {
		return nil
	}
	return bindingRow(s.now(), &b.ObjectMeta, b.RoleRef, b.Subjects)
}

type clusterRoleBindingStrategy struct{ now func() time.Time }

var (
	_ registry.Strategy       = clusterRoleBindingStrategy{}
	_ registry.MetaValidator  = clusterRoleBindingStrategy{}
	_ registry.TableConvertor = clusterRoleBindingStrategy{}
)

func (clusterRoleBindingStrategy) Default(obj runtime.Object) {
	if b, ok := obj.(*rbacv1.ClusterRoleBinding); ok {
		defaultBinding(&b.RoleRef, b.Subjects)
	}
}
func (clusterRoleBindingStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object)      {}
func (clusterRoleBindingStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {}
func (clusterRoleBindingStrategy) ValidateMeta(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return validateMeta(obj, old, false)
}

func (clusterRoleBindingStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	b, ok := obj.(*rbacv1.ClusterRoleBinding)
	if !ok {
		return wrongType(obj, "*v1.ClusterRoleBinding")
	}
	errs := validateRoleRef(b.RoleRef, []string{"ClusterRole"})
	return append(errs, validateSubjects(b.Subjects, false)...)
}

func (s clusterRoleBindingStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	b, ok1 := obj.(*rbacv1.ClusterRoleBinding)
	o, ok2 := old.(*rbacv1.ClusterRoleBinding)
	if !ok1 || !ok2 {
		return wrongType(obj, "*v1.ClusterRoleBinding")
	}
	errs := s.Validate(ctx, obj)
	return append(errs, apimachineryvalidation.ValidateImmutableField(b.RoleRef, o.RoleRef, field.NewPath("roleRef"))...)
}

func (clusterRoleBindingStrategy) ColumnDefinitions() []metav1.TableColumnDefinition {
	return bindingColumns("clusterRoleBinding", rbacv1beta1.ClusterRoleBinding{}.SwaggerDoc()["roleRef"])
}

func (s clusterRoleBindingStrategy) Row(obj runtime.Object) []interface{} {
	b, ok := obj.(*rbacv1.ClusterRoleBinding)
	if !ok {
		return nil
	}
	return bindingRow(s.now(), &b.ObjectMeta, b.RoleRef, b.Subjects)
}
