package apps

import (
	"context"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry"
	"skiff.dev/skiff/internal/registry/core"
)

type daemonSetStrategy struct{ now func() time.Time }

var (
	_ registry.Strategy       = daemonSetStrategy{}
	_ registry.StatusStrategy = daemonSetStrategy{}
	_ registry.TableConvertor = daemonSetStrategy{}
	_ registry.WarningsFunc   = daemonSetStrategy{}
)

// Warnings: the template's PodWarnings on create and when the template
// changes (upstream: when templateGeneration moves). Unlike the other
// workloads, upstream gives no warning about the name.
func (daemonSetStrategy) Warnings(ctx context.Context, obj, old runtime.Object) []string {
	ds, ok := obj.(*appsv1.DaemonSet)
	if !ok {
		return nil
	}
	if o, ok := old.(*appsv1.DaemonSet); ok && apiequality.Semantic.DeepEqual(ds.Spec.Template, o.Spec.Template) {
		return nil
	}
	return core.PodTemplateWarnings(field.NewPath("spec", "template"), &ds.Spec.Template)
}

func (daemonSetStrategy) Default(obj runtime.Object) {
	ds, ok := obj.(*appsv1.DaemonSet)
	if !ok {
		return
	}
	s := &ds.Spec.UpdateStrategy
	if s.Type == "" {
		s.Type = appsv1.RollingUpdateDaemonSetStrategyType
	}
	if s.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		if s.RollingUpdate == nil {
			s.RollingUpdate = &appsv1.RollingUpdateDaemonSet{}
		}
		if s.RollingUpdate.MaxUnavailable == nil {
			s.RollingUpdate.MaxUnavailable = ptrTo(intstr.FromInt32(1))
		}
		if s.RollingUpdate.MaxSurge == nil {
			s.RollingUpdate.MaxSurge = ptrTo(intstr.FromInt32(0))
		}
	}
	if ds.Spec.RevisionHistoryLimit == nil {
		ds.Spec.RevisionHistoryLimit = ptrTo[int32](10)
	}
	core.DefaultPodTemplateSpec(&ds.Spec.Template)
}

// The template generation lives in an annotation in apps/v1 (upstream's
// internal type has a spec field for it). The server owns it: 1 on create,
// incremented whenever the pod template changes.

func templateGeneration(ds *appsv1.DaemonSet) int64 {
	v, err := strconv.ParseInt(ds.Annotations[appsv1.DeprecatedTemplateGeneration], 10, 64)
	if err != nil {
		return 0
	}
	return v
}

func setTemplateGeneration(ds *appsv1.DaemonSet, gen int64) {
	if ds.Annotations == nil {
		ds.Annotations = map[string]string{}
	}
	ds.Annotations[appsv1.DeprecatedTemplateGeneration] = strconv.FormatInt(gen, 10)
}

func (daemonSetStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	ds, ok := obj.(*appsv1.DaemonSet)
	if !ok {
		return
	}
	if templateGeneration(ds) < 1 {
		setTemplateGeneration(ds, 1)
	}
}

func (daemonSetStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	ds, ok1 := obj.(*appsv1.DaemonSet)
	o, ok2 := old.(*appsv1.DaemonSet)
	if !ok1 || !ok2 {
		return
	}
	gen := templateGeneration(o)
	if !apiequality.Semantic.DeepEqual(ds.Spec.Template, o.Spec.Template) {
		gen++
	}
	setTemplateGeneration(ds, gen)
}

func (daemonSetStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	ds, ok := obj.(*appsv1.DaemonSet)
	if !ok {
		return wrongType(obj, "*v1.DaemonSet")
	}
	return validateDaemonSetSpec(&ds.Spec, field.NewPath("spec"), metav1validation.LabelSelectorValidationOptions{})
}

func (daemonSetStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	ds, ok1 := obj.(*appsv1.DaemonSet)
	o, ok2 := old.(*appsv1.DaemonSet)
	if !ok1 || !ok2 {
		return wrongType(obj, "*v1.DaemonSet")
	}
	p := field.NewPath("spec")
	errs := apimachineryvalidation.ValidateImmutableField(ds.Spec.Selector, o.Spec.Selector, p.Child("selector"))
	// A selector stored before label values were validated strictly stays
	// acceptable, as upstream allows.
	opts := metav1validation.LabelSelectorValidationOptions{
		AllowInvalidLabelValueInSelector: metav1validation.LabelSelectorHasInvalidLabelValue(o.Spec.Selector),
	}
	errs = append(errs, validateDaemonSetSpec(&ds.Spec, p, opts)...)
	return errs
}

func (daemonSetStrategy) ValidateStatusUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	ds, ok1 := obj.(*appsv1.DaemonSet)
	o, ok2 := old.(*appsv1.DaemonSet)
	if !ok1 || !ok2 {
		return wrongType(obj, "*v1.DaemonSet")
	}
	p := field.NewPath("status")
	s := &ds.Status
	errs := nonnegative(int64(s.CurrentNumberScheduled), p.Child("currentNumberScheduled"))
	errs = append(errs, nonnegative(int64(s.NumberMisscheduled), p.Child("numberMisscheduled"))...)
	errs = append(errs, nonnegative(int64(s.DesiredNumberScheduled), p.Child("desiredNumberScheduled"))...)
	errs = append(errs, nonnegative(int64(s.NumberReady), p.Child("numberReady"))...)
	errs = append(errs, nonnegative(s.ObservedGeneration, p.Child("observedGeneration"))...)
	errs = append(errs, nonnegative(int64(s.UpdatedNumberScheduled), p.Child("updatedNumberScheduled"))...)
	errs = append(errs, nonnegative(int64(s.NumberAvailable), p.Child("numberAvailable"))...)
	errs = append(errs, nonnegative(int64(s.NumberUnavailable), p.Child("numberUnavailable"))...)
	errs = append(errs, nonnegativePtr(s.CollisionCount, p.Child("collisionCount"))...)
	errs = append(errs, collisionCountDecremented(s.CollisionCount, o.Status.CollisionCount, p.Child("collisionCount"))...)
	return errs
}

func validateDaemonSetSpec(spec *appsv1.DaemonSetSpec, p *field.Path, selOpts metav1validation.LabelSelectorValidationOptions) field.ErrorList {
	// Unlike the other workloads, a nil selector is not reported as
	// required: it parses to "nothing", which then fails to match the
	// template labels.
	errs := metav1validation.ValidateLabelSelector(spec.Selector, selOpts, p.Child("selector"))
	if sel, err := metav1.LabelSelectorAsSelector(spec.Selector); err == nil && !sel.Matches(labels.Set(spec.Template.Labels)) {
		errs = append(errs, field.Invalid(p.Child("template", "metadata", "labels"), spec.Template.Labels, "`selector` does not match template `labels`"))
	}
	if spec.Selector != nil && len(spec.Selector.MatchLabels)+len(spec.Selector.MatchExpressions) == 0 {
		errs = append(errs, field.Invalid(p.Child("selector"), spec.Selector, "empty selector is invalid for daemonset"))
	}
	errs = append(errs, core.ValidatePodTemplateSpec(&spec.Template, p.Child("template"))...)
	errs = append(errs, validateAlwaysRestartTemplate(&spec.Template, "DaemonSet", p.Child("template"))...)
	errs = append(errs, nonnegative(int64(spec.MinReadySeconds), p.Child("minReadySeconds"))...)
	errs = append(errs, validateDaemonSetUpdateStrategy(&spec.UpdateStrategy, p.Child("updateStrategy"))...)
	errs = append(errs, nonnegativePtr(spec.RevisionHistoryLimit, p.Child("revisionHistoryLimit"))...)
	return errs
}

func validateDaemonSetUpdateStrategy(s *appsv1.DaemonSetUpdateStrategy, p *field.Path) field.ErrorList {
	switch s.Type {
	case appsv1.OnDeleteDaemonSetStrategyType:
		return nil
	case appsv1.RollingUpdateDaemonSetStrategyType:
		if s.RollingUpdate == nil {
			return field.ErrorList{field.Required(p.Child("rollingUpdate"), "")}
		}
		return validateRollingUpdateDaemonSet(s.RollingUpdate, p.Child("rollingUpdate"))
	}
	return field.ErrorList{field.NotSupported(p, s, []string{string(appsv1.RollingUpdateDaemonSetStrategyType), string(appsv1.OnDeleteDaemonSetStrategyType)})}
}

// validateRollingUpdateDaemonSet: exactly one of maxSurge and
// maxUnavailable is non-zero, since a node runs at most one surge pod.
func validateRollingUpdateDaemonSet(ru *appsv1.RollingUpdateDaemonSet, p *field.Path) field.ErrorList {
	var maxUnavailable, maxSurge intstr.IntOrString
	if ru.MaxUnavailable != nil {
		maxUnavailable = *ru.MaxUnavailable
	}
	if ru.MaxSurge != nil {
		maxSurge = *ru.MaxSurge
	}
	errs := validatePositiveIntOrPercent(maxUnavailable, p.Child("maxUnavailable"))
	errs = append(errs, validatePositiveIntOrPercent(maxSurge, p.Child("maxSurge"))...)
	errs = append(errs, notMoreThan100Percent(maxUnavailable, p.Child("maxUnavailable"))...)
	errs = append(errs, notMoreThan100Percent(maxSurge, p.Child("maxSurge"))...)
	hasUnavailable := intOrPercentValue(maxUnavailable) != 0
	hasSurge := intOrPercentValue(maxSurge) != 0
	switch {
	case hasUnavailable && hasSurge:
		errs = append(errs, field.Invalid(p.Child("maxSurge"), maxSurge, "may not be set when maxUnavailable is non-zero"))
	case !hasUnavailable && !hasSurge:
		errs = append(errs, field.Required(p.Child("maxUnavailable"), "cannot be 0 when maxSurge is 0"))
	}
	return errs
}

func (daemonSetStrategy) ColumnDefinitions() []metav1.TableColumnDefinition {
	st := appsv1.DaemonSetStatus{}.SwaggerDoc()
	return []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Desired", Type: "integer", Description: st["desiredNumberScheduled"]},
		{Name: "Current", Type: "integer", Description: st["currentNumberScheduled"]},
		{Name: "Ready", Type: "integer", Description: st["numberReady"]},
		{Name: "Up-to-date", Type: "integer", Description: st["updatedNumberScheduled"]},
		{Name: "Available", Type: "integer", Description: st["numberAvailable"]},
		{Name: "Node Selector", Type: "string", Description: corev1.PodSpec{}.SwaggerDoc()["nodeSelector"]},
		ageColumn,
		containersColumn,
		imagesColumn,
		{Name: "Selector", Type: "string", Priority: 1, Description: appsv1.DaemonSetSpec{}.SwaggerDoc()["selector"]},
	}
}

func (s daemonSetStrategy) Row(obj runtime.Object) []interface{} {
	ds, ok := obj.(*appsv1.DaemonSet)
	if !ok {
		return nil
	}
	st := ds.Status
	names, images := containerCells(ds.Spec.Template.Spec.Containers)
	return []interface{}{
		ds.Name,
		int64(st.DesiredNumberScheduled), int64(st.CurrentNumberScheduled), int64(st.NumberReady),
		int64(st.UpdatedNumberScheduled), int64(st.NumberAvailable),
		labels.FormatLabels(ds.Spec.Template.Spec.NodeSelector),
		age(s.now(), ds.CreationTimestamp),
		names, images, metav1.FormatLabelSelector(ds.Spec.Selector),
	}
}
