package core

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Shared field-level checks, each producing upstream's error for one value.

func validateDNS1123Label(value string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Label(value) {
		errs = append(errs, field.Invalid(fldPath, value, msg))
	}
	return errs
}

func validateDNS1123Subdomain(value string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Subdomain(value) {
		errs = append(errs, field.Invalid(fldPath, value, msg))
	}
	return errs
}

func validateQualifiedName(value string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsQualifiedName(value) {
		errs = append(errs, field.Invalid(fldPath, value, msg))
	}
	return errs
}

// validateObjectName reports a reference to another object whose name
// breaks that object's naming rule.
func validateObjectName(name string, nameFn apivalidation.ValidateNameFunc, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range nameFn(name, false) {
		errs = append(errs, field.Invalid(fldPath, name, msg))
	}
	return errs
}

func validateNonnegative(value int64, fldPath *field.Path) field.ErrorList {
	return apivalidation.ValidateNonnegativeField(value, fldPath)
}

func validatePositive(value int64, fldPath *field.Path) field.ErrorList {
	if value <= 0 {
		return field.ErrorList{field.Invalid(fldPath, value, "must be greater than zero")}
	}
	return nil
}

func validateUserID(id *int64, fldPath *field.Path) field.ErrorList {
	if id == nil {
		return nil
	}
	var errs field.ErrorList
	for _, msg := range validation.IsValidUserID(*id) {
		errs = append(errs, field.Invalid(fldPath, *id, msg))
	}
	return errs
}

func validateGroupID(id *int64, fldPath *field.Path) field.ErrorList {
	if id == nil {
		return nil
	}
	var errs field.ErrorList
	for _, msg := range validation.IsValidGroupID(*id) {
		errs = append(errs, field.Invalid(fldPath, *id, msg))
	}
	return errs
}

// metaValidator implements registry.MetaValidator for resources whose
// names follow another rule than DNS-1123 subdomains (namespaces and
// services are DNS labels, service names DNS-1035 labels).
type metaValidator struct {
	namespaced bool
	nameFn     apivalidation.ValidateNameFunc
}

func (m metaValidator) ValidateMeta(_ context.Context, obj, old runtime.Object) field.ErrorList {
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("metadata"), err)}
	}
	errs := apivalidation.ValidateObjectMetaAccessor(accessor, m.namespaced, m.nameFn, field.NewPath("metadata"))
	if old != nil {
		oldAccessor, err := meta.Accessor(old)
		if err != nil {
			return append(errs, field.InternalError(field.NewPath("metadata"), err))
		}
		errs = append(errs, apivalidation.ValidateObjectMetaAccessorUpdate(accessor, oldAccessor, field.NewPath("metadata"))...)
	}
	return errs
}

// wrongType reports a wiring bug: the generic handler always hands a
// strategy objects of its own resource's Go type.
func wrongType(obj runtime.Object, want string) field.ErrorList {
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("expected %s, got %T", want, obj))}
}
