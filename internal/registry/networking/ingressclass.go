package networking

import (
	"context"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry"
)

const maxControllerLength = 250

type ingressClassStrategy struct{ now func() time.Time }

var (
	_ registry.Strategy       = ingressClassStrategy{}
	_ registry.TableConvertor = ingressClassStrategy{}
)

// Default: parameters without a scope refer to a cluster-scoped object.
func (ingressClassStrategy) Default(obj runtime.Object) {
	ic, ok := obj.(*networkingv1.IngressClass)
	if ok && ic.Spec.Parameters != nil && ic.Spec.Parameters.Scope == nil {
		scope := networkingv1.IngressClassParametersReferenceScopeCluster
		ic.Spec.Parameters.Scope = &scope
	}
}

func (ingressClassStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object)      {}
func (ingressClassStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {}

func (ingressClassStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	ic, ok := obj.(*networkingv1.IngressClass)
	if !ok {
		return wrongType(obj, "*v1.IngressClass")
	}
	return validateIngressClassSpec(&ic.Spec, field.NewPath("spec"))
}

// ValidateUpdate: the controller is immutable, since ingresses of the
// class would silently move to another implementation.
func (s ingressClassStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	ic, ok1 := obj.(*networkingv1.IngressClass)
	o, ok2 := old.(*networkingv1.IngressClass)
	if !ok1 || !ok2 {
		return wrongType(obj, "*v1.IngressClass")
	}
	p := field.NewPath("spec")
	errs := apimachineryvalidation.ValidateImmutableField(ic.Spec.Controller, o.Spec.Controller, p.Child("controller"))
	return append(errs, validateIngressClassSpec(&ic.Spec, p)...)
}

func validateIngressClassSpec(spec *networkingv1.IngressClassSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(spec.Controller) > maxControllerLength {
		errs = append(errs, field.TooLong(p.Child("controller"), "", maxControllerLength))
	}
	errs = append(errs, validation.IsDomainPrefixedPath(p.Child("controller"), spec.Controller)...)
	if params := spec.Parameters; params != nil {
		pp := p.Child("parameters")
		errs = append(errs, validateTypedLocalObjectReference(params.APIGroup, params.Kind, params.Name, pp)...)
		errs = append(errs, validateParametersScope(params, pp)...)
	}
	return errs
}

func validateParametersScope(params *networkingv1.IngressClassParametersReference, p *field.Path) field.ErrorList {
	if params.Scope == nil {
		return field.ErrorList{field.Required(p.Child("scope"), "")}
	}
	switch *params.Scope {
	case networkingv1.IngressClassParametersReferenceScopeNamespace:
		if params.Namespace == nil {
			return field.ErrorList{field.Required(p.Child("namespace"), "`parameters.scope` is set to 'Namespace'")}
		}
		var errs field.ErrorList
		for _, msg := range apimachineryvalidation.NameIsDNSLabel(*params.Namespace, false) {
			errs = append(errs, field.Invalid(p.Child("namespace"), *params.Namespace, msg))
		}
		return errs
	case networkingv1.IngressClassParametersReferenceScopeCluster:
		if params.Namespace != nil {
			return field.ErrorList{field.Forbidden(p.Child("namespace"), "`parameters.scope` is set to 'Cluster'")}
		}
		return nil
	}
	return field.ErrorList{field.NotSupported(p.Child("scope"), *params.Scope, []string{
		networkingv1.IngressClassParametersReferenceScopeCluster, networkingv1.IngressClassParametersReferenceScopeNamespace,
	})}
}

func (ingressClassStrategy) ColumnDefinitions() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Controller", Type: "string", Description: "Controller that is responsible for handling this class"},
		{Name: "Parameters", Type: "string", Description: "A reference to a resource with additional parameters"},
		ageColumn,
	}
}

func (s ingressClassStrategy) Row(obj runtime.Object) []interface{} {
	ic, ok := obj.(*networkingv1.IngressClass)
	if !ok {
		return nil
	}
	name := ic.Name
	if ic.Annotations[networkingv1.AnnotationIsDefaultIngressClass] == "true" {
		name += " (default)"
	}
	params := "<none>"
	if p := ic.Spec.Parameters; p != nil {
		params = p.Kind
		if p.APIGroup != nil {
			params += "." + *p.APIGroup
		}
		params += "/" + p.Name
	}
	return []interface{}{name, ic.Spec.Controller, params, age(s.now(), ic.CreationTimestamp)}
}
