package core

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry"
)

// limitRangeStrategy: LimitRanges list per-type min/max/default bounds.
// Upstream has no printer for them, so kubectl shows NAME and CREATED AT.
type limitRangeStrategy struct{}

var _ registry.Strategy = limitRangeStrategy{}

func (limitRangeStrategy) Default(obj runtime.Object) {
	lr, ok := obj.(*corev1.LimitRange)
	if !ok {
		return
	}
	for i := range lr.Spec.Limits {
		item := &lr.Spec.Limits[i]
		if item.Type == corev1.LimitTypeContainer {
			if item.Default == nil {
				item.Default = corev1.ResourceList{}
			}
			if item.DefaultRequest == nil {
				item.DefaultRequest = corev1.ResourceList{}
			}
			// The default limit falls back to max, the default request
			// to the default limit, then to min.
			for k, v := range item.Max {
				if _, ok := item.Default[k]; !ok {
					item.Default[k] = v.DeepCopy()
				}
			}
			for k, v := range item.Default {
				if _, ok := item.DefaultRequest[k]; !ok {
					item.DefaultRequest[k] = v.DeepCopy()
				}
			}
			for k, v := range item.Min {
				if _, ok := item.DefaultRequest[k]; !ok {
					item.DefaultRequest[k] = v.DeepCopy()
				}
			}
		}
		for _, rl := range []corev1.ResourceList{item.Max, item.Min, item.Default, item.DefaultRequest, item.MaxLimitRequestRatio} {
			roundResourceList(rl)
		}
	}
}

func (limitRangeStrategy) PrepareForCreate(context.Context, runtime.Object)                 {}
func (limitRangeStrategy) PrepareForUpdate(context.Context, runtime.Object, runtime.Object) {}

func (limitRangeStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	lr, ok := obj.(*corev1.LimitRange)
	if !ok {
		return wrongType(obj, "*v1.LimitRange")
	}
	var errs field.ErrorList
	types := sets.New[corev1.LimitType]()
	p := field.NewPath("spec", "limits")
	for i := range lr.Spec.Limits {
		item := &lr.Spec.Limits[i]
		ip := p.Index(i)
		tp := ip.Child("type")
		if tErrs := validateQualifiedName(string(item.Type), tp); len(tErrs) > 0 {
			errs = append(errs, tErrs...)
		} else if !strings.Contains(string(item.Type), "/") &&
			!containsValue([]corev1.LimitType{corev1.LimitTypePod, corev1.LimitTypeContainer, corev1.LimitTypePersistentVolumeClaim}, item.Type) {
			errs = append(errs, field.Invalid(tp, item.Type, "must be a standard limit type or fully qualified"))
		}
		if types.Has(item.Type) {
			errs = append(errs, field.Duplicate(tp, item.Type))
		}
		types.Insert(item.Type)
		names := func(rl corev1.ResourceList, child string) {
			for _, k := range sortedResourceNames(rl) {
				errs = append(errs, validateResourceName(k, ip.Child(child).Key(string(k)))...)
			}
		}
		names(item.Max, "max")
		names(item.Min, "min")
		if item.Type == corev1.LimitTypePod {
			if len(item.Default) > 0 {
				errs = append(errs, field.Forbidden(ip.Child("default"), "may not be specified when `type` is 'Pod'"))
			}
			if len(item.DefaultRequest) > 0 {
				errs = append(errs, field.Forbidden(ip.Child("defaultRequest"), "may not be specified when `type` is 'Pod'"))
			}
		} else {
			names(item.Default, "default")
			names(item.DefaultRequest, "defaultRequest")
		}
		if item.Type == corev1.LimitTypePersistentVolumeClaim {
			_, hasMin := item.Min[corev1.ResourceStorage]
			_, hasMax := item.Max[corev1.ResourceStorage]
			if !hasMin && !hasMax {
				errs = append(errs, field.Required(ip.Child("limits"), "either minimum or maximum storage value is required, but neither was provided"))
			}
		}
		names(item.MaxLimitRequestRatio, "maxLimitRequestRatio")
		errs = append(errs, validateLimitBounds(item, ip)...)
	}
	return errs
}

// validateLimitBounds: min ≤ defaultRequest ≤ default ≤ max, ratio ≥ 1.
func validateLimitBounds(item *corev1.LimitRangeItem, ip *field.Path) field.ErrorList {
	var errs field.ErrorList
	keys := sets.New[corev1.ResourceName]()
	for _, rl := range []corev1.ResourceList{item.Max, item.Min, item.Default, item.DefaultRequest, item.MaxLimitRequestRatio} {
		for k := range rl {
			keys.Insert(k)
		}
	}
	for _, k := range sets.List(keys) {
		key := string(k)
		minQ, hasMin := item.Min[k]
		maxQ, hasMax := item.Max[k]
		def, hasDef := item.Default[k]
		defReq, hasDefReq := item.DefaultRequest[k]
		ratio, hasRatio := item.MaxLimitRequestRatio[k]
		if item.Type == corev1.LimitTypePod {
			hasDef, hasDefReq = false, false
		}
		if hasMin && hasMax && minQ.Cmp(maxQ) > 0 {
			errs = append(errs, field.Invalid(ip.Child("min").Key(key), minQ, fmt.Sprintf("min value %s is greater than max value %s", minQ.String(), maxQ.String())))
		}
		if hasDefReq && hasMin && minQ.Cmp(defReq) > 0 {
			errs = append(errs, field.Invalid(ip.Child("defaultRequest").Key(key), defReq, fmt.Sprintf("min value %s is greater than default request value %s", minQ.String(), defReq.String())))
		}
		if hasDefReq && hasMax && defReq.Cmp(maxQ) > 0 {
			errs = append(errs, field.Invalid(ip.Child("defaultRequest").Key(key), defReq, fmt.Sprintf("default request value %s is greater than max value %s", defReq.String(), maxQ.String())))
		}
		if hasDefReq && hasDef && defReq.Cmp(def) > 0 {
			errs = append(errs, field.Invalid(ip.Child("defaultRequest").Key(key), defReq, fmt.Sprintf("default request value %s is greater than default limit value %s", defReq.String(), def.String())))
		}
		if hasDef && hasMin && minQ.Cmp(def) > 0 {
			errs = append(errs, field.Invalid(ip.Child("default").Key(key), minQ, fmt.Sprintf("min value %s is greater than default value %s", minQ.String(), def.String())))
		}
		if hasDef && hasMax && def.Cmp(maxQ) > 0 {
			errs = append(errs, field.Invalid(ip.Child("default").Key(key), maxQ, fmt.Sprintf("default value %s is greater than max value %s", def.String(), maxQ.String())))
		}
		if hasRatio && ratio.Cmp(*resource.NewQuantity(1, resource.DecimalSI)) < 0 {
			errs = append(errs, field.Invalid(ip.Child("maxLimitRequestRatio").Key(key), ratio, fmt.Sprintf("ratio %s is less than 1", ratio.String())))
		}
		if !isOvercommitAllowed(k) && hasDef && hasDefReq && def.Cmp(defReq) != 0 {
			errs = append(errs, field.Invalid(ip.Child("defaultRequest").Key(key), defReq, fmt.Sprintf("default value %s must equal to defaultRequest value %s in %s", def.String(), defReq.String(), key)))
		}
	}
	return errs
}

func (s limitRangeStrategy) ValidateUpdate(ctx context.Context, obj, _ runtime.Object) field.ErrorList {
	return s.Validate(ctx, obj)
}

// resourceQuotaStrategy: hard limits of known resources; scopes fixed
// after creation.
type resourceQuotaStrategy struct{ clock }

var (
	_ registry.Strategy       = resourceQuotaStrategy{}
	_ registry.StatusStrategy = resourceQuotaStrategy{}
	_ registry.TableConvertor = resourceQuotaStrategy{}
)

var standardQuotaScopes = []corev1.ResourceQuotaScope{
	corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating,
	corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort,
	corev1.ResourceQuotaScopePriorityClass, corev1.ResourceQuotaScopeCrossNamespacePodAffinity,
	corev1.ResourceQuotaScopeVolumeAttributesClass,
}

func (resourceQuotaStrategy) Default(obj runtime.Object) {
	if rq, ok := obj.(*corev1.ResourceQuota); ok {
		roundResourceList(rq.Spec.Hard)
		roundResourceList(rq.Status.Hard)
		roundResourceList(rq.Status.Used)
	}
}

func (resourceQuotaStrategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	if rq, ok := obj.(*corev1.ResourceQuota); ok {
		rq.Status = corev1.ResourceQuotaStatus{}
	}
}

func (resourceQuotaStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	rq, ok1 := obj.(*corev1.ResourceQuota)
	oldRQ, ok2 := old.(*corev1.ResourceQuota)
	if ok1 && ok2 {
		rq.Status = oldRQ.Status
	}
}

func (resourceQuotaStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	rq, ok := obj.(*corev1.ResourceQuota)
	if !ok {
		return wrongType(obj, "*v1.ResourceQuota")
	}
	return append(validateQuotaSpec(&rq.Spec), validateQuotaStatus(&rq.Status)...)
}

func validateQuotaList(rl corev1.ResourceList, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, k := range sortedResourceNames(rl) {
		rp := p.Key(string(k))
		errs = append(errs, validateResourceName(k, rp)...)
		if !strings.Contains(string(k), "/") && !isStandardQuotaResource(k) {
			errs = append(errs, field.Invalid(rp, k, "must be a standard resource for quota"))
		}
		errs = append(errs, validateResourceQuantity(k, rl[k], rp)...)
	}
	return errs
}

func isStandardQuotaResource(k corev1.ResourceName) bool {
	return k != corev1.ResourceStorage && isStandardResource(k)
}

func validateQuotaSpec(spec *corev1.ResourceQuotaSpec) field.ErrorList {
	p := field.NewPath("spec")
	errs := validateQuotaList(spec.Hard, p.Child("hard"))
	scopes := sets.New[corev1.ResourceQuotaScope]()
	for _, s := range spec.Scopes {
		if !containsValue(standardQuotaScopes, s) {
			errs = append(errs, field.Invalid(p.Child("scopes"), spec.Scopes, "unsupported scope"))
		}
		scopes.Insert(s)
	}
	if sel := spec.ScopeSelector; sel != nil {
		mp := p.Child("scopeSelector", "matchExpressions")
		for _, r := range sel.MatchExpressions {
			if !containsValue(standardQuotaScopes, r.ScopeName) {
				errs = append(errs, field.Invalid(mp.Child("scopeName"), r.ScopeName, "unsupported scope"))
			}
			switch r.Operator {
			case corev1.ScopeSelectorOpIn, corev1.ScopeSelectorOpNotIn:
				if len(r.Values) == 0 {
					errs = append(errs, field.Required(mp.Child("values"), "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector"))
				}
			case corev1.ScopeSelectorOpExists, corev1.ScopeSelectorOpDoesNotExist:
				if len(r.Values) != 0 {
					errs = append(errs, field.Invalid(mp.Child("values"), r.Values, "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector"))
				}
			default:
				errs = append(errs, field.Invalid(mp.Child("operator"), r.Operator, "not a valid selector operator"))
			}
		}
	}
	if (scopes.Has(corev1.ResourceQuotaScopeBestEffort) && scopes.Has(corev1.ResourceQuotaScopeNotBestEffort)) ||
		(scopes.Has(corev1.ResourceQuotaScopeTerminating) && scopes.Has(corev1.ResourceQuotaScopeNotTerminating)) {
		errs = append(errs, field.Invalid(p.Child("scopes"), spec.Scopes, "conflicting scopes"))
	}
	return errs
}

func validateQuotaStatus(st *corev1.ResourceQuotaStatus) field.ErrorList {
	p := field.NewPath("status")
	return append(validateQuotaList(st.Hard, p.Child("hard")), validateQuotaList(st.Used, p.Child("used"))...)
}

func (resourceQuotaStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	rq, ok1 := obj.(*corev1.ResourceQuota)
	oldRQ, ok2 := old.(*corev1.ResourceQuota)
	if !ok1 || !ok2 {
		return wrongType(obj, "*v1.ResourceQuota")
	}
	errs := validateQuotaSpec(&rq.Spec)
	if !sets.New(rq.Spec.Scopes...).Equal(sets.New(oldRQ.Spec.Scopes...)) {
		errs = append(errs, field.Invalid(field.NewPath("spec", "scopes"), rq.Spec.Scopes, "field is immutable"))
	}
	return errs
}

func (resourceQuotaStrategy) ValidateStatusUpdate(_ context.Context, obj, _ runtime.Object) field.ErrorList {
	rq, ok := obj.(*corev1.ResourceQuota)
	if !ok {
		return wrongType(obj, "*v1.ResourceQuota")
	}
	return validateQuotaStatus(&rq.Status)
}

var resourceQuotaColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Request", "string", "Request represents a minimum amount of cpu/memory that a container may consume."),
	column("Limit", "string", "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node."),
	ageColumn,
}

func (resourceQuotaStrategy) ColumnDefinitions() []metav1.TableColumnDefinition {
	return resourceQuotaColumns
}

// Row lists "resource: used/hard" pairs, limits.* in the LIMIT column and
// everything else in REQUEST, sorted by name.
func (s resourceQuotaStrategy) Row(obj runtime.Object) []interface{} {
	rq, ok := obj.(*corev1.ResourceQuota)
	if !ok {
		return nil
	}
	var requests, limits []string
	for _, k := range sortedResourceNames(rq.Status.Hard) {
		used, hard := rq.Status.Used[k], rq.Status.Hard[k]
		cell := fmt.Sprintf("%s: %s/%s", k, used.String(), hard.String())
		if strings.HasPrefix(string(k), "limits.") {
			limits = append(limits, cell)
		} else {
			requests = append(requests, cell)
		}
	}
	return []interface{}{rq.Name, strings.Join(requests, ", "), strings.Join(limits, ", "), s.since(rq.CreationTimestamp)}
}
