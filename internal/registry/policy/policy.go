// Package policy holds the registry strategy of policy/v1
// poddisruptionbudgets, with upstream's validation (minAvailable and
// maxUnavailable exclusive, counts or percentages), status validation and
// `kubectl get` columns. The eviction subresource of pods, which consults
// budgets, belongs to the pod registry.
package policy

import (
	"context"
	"fmt"
	"strconv"
	"time"

	policyv1 "k8s.io/api/policy/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry"
)

// Resources returns the policy/v1 resources.
func Resources() []registry.Resource {
	return resources(time.Now)
}

func resources(now func() time.Time) []registry.Resource {
	return []registry.Resource{{
		GroupVersion: policyv1.SchemeGroupVersion, Resource: "poddisruptionbudgets", Kind: "PodDisruptionBudget",
		SingularName: "poddisruptionbudget", Namespaced: true, ShortNames: []string{"pdb"},
		New:      func() runtime.Object { return &policyv1.PodDisruptionBudget{} },
		NewList:  func() runtime.Object { return &policyv1.PodDisruptionBudgetList{} },
		Strategy: pdbStrategy{now: now}, HasStatus: true, HasGeneration: true,
	}}
}

type pdbStrategy struct{ now func() time.Time }

var (
	_ registry.Strategy       = pdbStrategy{}
	_ registry.StatusStrategy = pdbStrategy{}
	_ registry.TableConvertor = pdbStrategy{}
)

func (pdbStrategy) Default(obj runtime.Object)                                    {}
func (pdbStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object)      {}
func (pdbStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {}

func wrongType(obj runtime.Object) field.ErrorList {
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("expected *v1.PodDisruptionBudget, got %T", obj))}
}

func (pdbStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	pdb, ok := obj.(*policyv1.PodDisruptionBudget)
	if !ok {
		return wrongType(obj)
	}
	return validateSpec(&pdb.Spec, field.NewPath("spec"), metav1validation.LabelSelectorValidationOptions{})
}

// ValidateUpdate allows every spec change (budgets are retuned in place);
// a stored selector with label values from before strict checks stays.
func (pdbStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	pdb, ok1 := obj.(*policyv1.PodDisruptionBudget)
	o, ok2 := old.(*policyv1.PodDisruptionBudget)
	if !ok1 || !ok2 {
		return wrongType(obj)
	}
	opts := metav1validation.LabelSelectorValidationOptions{
		AllowInvalidLabelValueInSelector: metav1validation.LabelSelectorHasInvalidLabelValue(o.Spec.Selector),
	}
	return validateSpec(&pdb.Spec, field.NewPath("spec"), opts)
}

// pdbSpecValue is the spec as upstream reports it when both bounds are
// set: its internal type has no JSON tags, so the message shows Go field
// names ({"MinAvailable":1,"Selector":{...},"MaxUnavailable":1,...}).
type pdbSpecValue struct {
	MinAvailable               *intstr.IntOrString
	Selector                   *metav1.LabelSelector
	MaxUnavailable             *intstr.IntOrString
	UnhealthyPodEvictionPolicy *policyv1.UnhealthyPodEvictionPolicyType
}

func validateSpec(spec *policyv1.PodDisruptionBudgetSpec, p *field.Path, selOpts metav1validation.LabelSelectorValidationOptions) field.ErrorList {
	var errs field.ErrorList
	if spec.MinAvailable != nil && spec.MaxUnavailable != nil {
		bad := pdbSpecValue{spec.MinAvailable, spec.Selector, spec.MaxUnavailable, spec.UnhealthyPodEvictionPolicy}
		errs = append(errs, field.Invalid(p, bad, "minAvailable and maxUnavailable cannot be both set"))
	}
	if spec.MinAvailable != nil {
		errs = append(errs, validateIntOrPercent(*spec.MinAvailable, p.Child("minAvailable"))...)
	}
	if spec.MaxUnavailable != nil {
		errs = append(errs, validateIntOrPercent(*spec.MaxUnavailable, p.Child("maxUnavailable"))...)
	}
	errs = append(errs, metav1validation.ValidateLabelSelector(spec.Selector, selOpts, p.Child("selector"))...)
	if pol := spec.UnhealthyPodEvictionPolicy; pol != nil && *pol != policyv1.IfHealthyBudget && *pol != policyv1.AlwaysAllow {
		errs = append(errs, field.NotSupported(p.Child("unhealthyPodEvictionPolicy"), *pol, []string{string(policyv1.AlwaysAllow), string(policyv1.IfHealthyBudget)}))
	}
	return errs
}

// validateIntOrPercent accepts a non-negative count or a percentage of at
// most 100%.
func validateIntOrPercent(v intstr.IntOrString, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch v.Type {
	case intstr.Int:
		errs = append(errs, apimachineryvalidation.ValidateNonnegativeField(int64(v.IntVal), p)...)
	case intstr.String:
		msgs := validation.IsValidPercent(v.StrVal)
		for _, msg := range msgs {
			errs = append(errs, field.Invalid(p, v, msg))
		}
		if len(msgs) == 0 {
			if n, err := strconv.Atoi(v.StrVal[:len(v.StrVal)-1]); err == nil && n > 100 {
				errs = append(errs, field.Invalid(p, v, "must not be greater than 100%"))
			}
		}
	default:
		errs = append(errs, field.Invalid(p, v, "must be an integer or percentage (e.g '5%%')"))
	}
	return errs
}

func (pdbStrategy) ValidateStatusUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	pdb, ok := obj.(*policyv1.PodDisruptionBudget)
	if !ok {
		return wrongType(obj)
	}
	p := field.NewPath("status")
	s := &pdb.Status
	errs := metav1validation.ValidateConditions(s.Conditions, p.Child("conditions"))
	errs = append(errs, apimachineryvalidation.ValidateNonnegativeField(int64(s.DisruptionsAllowed), p.Child("disruptionsAllowed"))...)
	errs = append(errs, apimachineryvalidation.ValidateNonnegativeField(int64(s.CurrentHealthy), p.Child("currentHealthy"))...)
	errs = append(errs, apimachineryvalidation.ValidateNonnegativeField(int64(s.DesiredHealthy), p.Child("desiredHealthy"))...)
	errs = append(errs, apimachineryvalidation.ValidateNonnegativeField(int64(s.ExpectedPods), p.Child("expectedPods"))...)
	return errs
}

func (pdbStrategy) ColumnDefinitions() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
		{Name: "Min Available", Type: "string", Description: "The minimum number of pods that must be available."},
		{Name: "Max Unavailable", Type: "string", Description: "The maximum number of pods that may be unavailable."},
		{Name: "Allowed Disruptions", Type: "integer", Description: "Calculated number of pods that may be disrupted at this time."},
		{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
	}
}

func (s pdbStrategy) Row(obj runtime.Object) []interface{} {
	pdb, ok := obj.(*policyv1.PodDisruptionBudget)
	if !ok {
		return nil
	}
	minAvailable, maxUnavailable := "N/A", "N/A"
	if pdb.Spec.MinAvailable != nil {
		minAvailable = pdb.Spec.MinAvailable.String()
	}
	if pdb.Spec.MaxUnavailable != nil {
		maxUnavailable = pdb.Spec.MaxUnavailable.String()
	}
	age := "<unknown>"
	if !pdb.CreationTimestamp.IsZero() {
		age = duration.HumanDuration(s.now().Sub(pdb.CreationTimestamp.Time))
	}
	return []interface{}{pdb.Name, minAvailable, maxUnavailable, int64(pdb.Status.DisruptionsAllowed), age}
}
