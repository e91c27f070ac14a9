package apps

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry"
	"skiff.dev/skiff/internal/registry/core"
)

type deploymentStrategy struct{ now func() time.Time }

var (
	_ registry.Strategy       = deploymentStrategy{}
	_ registry.StatusStrategy = deploymentStrategy{}
	_ registry.TableConvertor = deploymentStrategy{}
	_ registry.WarningsFunc   = deploymentStrategy{}
)

// Default applies SetDefaults_Deployment of apps/v1: one replica, a
// RollingUpdate strategy with 25% surge and unavailability, ten old
// ReplicaSets kept and a ten-minute progress deadline.
func (deploymentStrategy) Default(obj runtime.Object) {
	d, ok := obj.(*appsv1.Deployment)
	if !ok {
		return
	}
	if d.Spec.Replicas == nil {
		d.Spec.Replicas = ptrTo[int32](1)
	}
	s := &d.Spec.Strategy
	if s.Type == "" {
		s.Type = appsv1.RollingUpdateDeploymentStrategyType
	}
	if s.Type == appsv1.RollingUpdateDeploymentStrategyType {
		if s.RollingUpdate == nil {
			s.RollingUpdate = &appsv1.RollingUpdateDeployment{}
		}
		if s.RollingUpdate.MaxUnavailable == nil {
			s.RollingUpdate.MaxUnavailable = ptrTo(intstr.FromString("25%"))
		}
		if s.RollingUpdate.MaxSurge == nil {
			s.RollingUpdate.MaxSurge = ptrTo(intstr.FromString("25%"))
		}
	}
	if d.Spec.RevisionHistoryLimit == nil {
		d.Spec.RevisionHistoryLimit = ptrTo[int32](10)
	}
	if d.Spec.ProgressDeadlineSeconds == nil {
		d.Spec.ProgressDeadlineSeconds = ptrTo[int32](600)
	}
	core.DefaultPodTemplateSpec(&d.Spec.Template)
}

func (deploymentStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {}

// PrepareForUpdate bumps the generation on annotation changes too: upstream
// does so because `kubectl rollout` commands once drove the controller
// through annotations, and clients wait on observedGeneration.
func (deploymentStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	d, ok1 := obj.(*appsv1.Deployment)
	o, ok2 := old.(*appsv1.Deployment)
	if !ok1 || !ok2 {
		return
	}
	if !apiequality.Semantic.DeepEqual(d.Spec, o.Spec) || !apiequality.Semantic.DeepEqual(d.Annotations, o.Annotations) {
		d.Generation = o.Generation + 1
	}
}

func (deploymentStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	d, ok := obj.(*appsv1.Deployment)
	if !ok {
		return wrongType(obj, "*v1.Deployment")
	}
	return validateDeploymentSpec(&d.Spec, field.NewPath("spec"))
}

func (deploymentStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	d, ok1 := obj.(*appsv1.Deployment)
	o, ok2 := old.(*appsv1.Deployment)
	if !ok1 || !ok2 {
		return wrongType(obj, "*v1.Deployment")
	}
	specPath := field.NewPath("spec")
	errs := validateDeploymentSpec(&d.Spec, specPath)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(d.Spec.Selector, o.Spec.Selector, specPath.Child("selector"))...)
	return errs
}

// PrepareForStatusUpdate keeps the stored labels: as upstream, a status
// write may change a Deployment's annotations but not its labels.
func (deploymentStrategy) PrepareForStatusUpdate(obj, old runtime.Object) {
	obj.(*appsv1.Deployment).Labels = old.(*appsv1.Deployment).Labels
}

func (deploymentStrategy) ValidateStatusUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	d, ok1 := obj.(*appsv1.Deployment)
	o, ok2 := old.(*appsv1.Deployment)
	if !ok1 || !ok2 {
		return wrongType(obj, "*v1.Deployment")
	}
	p := field.NewPath("status")
	errs := validateDeploymentStatus(&d.Status, p)
	errs = append(errs, collisionCountDecremented(d.Status.CollisionCount, o.Status.CollisionCount, p.Child("collisionCount"))...)
	return errs
}

// Warnings: the name and the template on create; the template again
// whenever the generation moves (spec or annotation changes).
func (deploymentStrategy) Warnings(ctx context.Context, obj, old runtime.Object) []string {
	d, ok := obj.(*appsv1.Deployment)
	if !ok {
		return nil
	}
	tp := field.NewPath("spec", "template")
	if old == nil {
		return append(dnsLabelNameWarning(d.Name), core.PodTemplateWarnings(tp, &d.Spec.Template)...)
	}
	o, ok := old.(*appsv1.Deployment)
	if !ok || apiequality.Semantic.DeepEqual(d.Spec, o.Spec) && apiequality.Semantic.DeepEqual(d.Annotations, o.Annotations) {
		return nil
	}
	return core.PodTemplateWarnings(tp, &d.Spec.Template)
}

func validateDeploymentSpec(spec *appsv1.DeploymentSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, nonnegativePtr(spec.Replicas, p.Child("replicas"))...)
	sel, selErrs := validateSelector(spec.Selector, "deployment", p.Child("selector"))
	errs = append(errs, selErrs...)
	if sel == nil {
		errs = append(errs, field.Invalid(p.Child("selector"), spec.Selector, "invalid label selector"))
	} else {
		errs = append(errs, validateReplicaSetTemplate(&spec.Template, sel, p.Child("template"))...)
	}
	errs = append(errs, validateDeploymentStrategy(&spec.Strategy, p.Child("strategy"))...)
	errs = append(errs, nonnegative(int64(spec.MinReadySeconds), p.Child("minReadySeconds"))...)
	errs = append(errs, nonnegativePtr(spec.RevisionHistoryLimit, p.Child("revisionHistoryLimit"))...)
	if spec.ProgressDeadlineSeconds != nil {
		errs = append(errs, nonnegativePtr(spec.ProgressDeadlineSeconds, p.Child("progressDeadlineSeconds"))...)
		if *spec.ProgressDeadlineSeconds <= spec.MinReadySeconds {
			errs = append(errs, field.Invalid(p.Child("progressDeadlineSeconds"), spec.ProgressDeadlineSeconds, "must be greater than minReadySeconds"))
		}
	}
	return errs
}

func validateDeploymentStrategy(s *appsv1.DeploymentStrategy, p *field.Path) field.ErrorList {
	switch s.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if s.RollingUpdate != nil {
			return field.ErrorList{field.Forbidden(p.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'")}
		}
	case appsv1.RollingUpdateDeploymentStrategyType:
		if s.RollingUpdate == nil {
			return field.ErrorList{field.Required(p.Child("rollingUpdate"), "this should be defaulted and never be nil")}
		}
		return validateRollingUpdateDeployment(s.RollingUpdate, p.Child("rollingUpdate"))
	default:
		return field.ErrorList{field.NotSupported(p, s, []string{string(appsv1.RecreateDeploymentStrategyType), string(appsv1.RollingUpdateDeploymentStrategyType)})}
	}
	return nil
}

func validateRollingUpdateDeployment(ru *appsv1.RollingUpdateDeployment, p *field.Path) field.ErrorList {
	// Defaulting fills both; a nil here only comes from a client that
	// bypassed defaults, and counts as zero as upstream's internal type does.
	var maxUnavailable, maxSurge intstr.IntOrString
	if ru.MaxUnavailable != nil {
		maxUnavailable = *ru.MaxUnavailable
	}
	if ru.MaxSurge != nil {
		maxSurge = *ru.MaxSurge
	}
	errs := validatePositiveIntOrPercent(maxUnavailable, p.Child("maxUnavailable"))
	errs = append(errs, validatePositiveIntOrPercent(maxSurge, p.Child("maxSurge"))...)
	if intOrPercentValue(maxUnavailable) == 0 && intOrPercentValue(maxSurge) == 0 {
		errs = append(errs, field.Invalid(p.Child("maxUnavailable"), maxUnavailable, "may not be 0 when `maxSurge` is 0"))
	}
	errs = append(errs, notMoreThan100Percent(maxUnavailable, p.Child("maxUnavailable"))...)
	return errs
}

func validateDeploymentStatus(s *appsv1.DeploymentStatus, p *field.Path) field.ErrorList {
	errs := nonnegative(s.ObservedGeneration, p.Child("observedGeneration"))
	errs = append(errs, nonnegative(int64(s.Replicas), p.Child("replicas"))...)
	errs = append(errs, nonnegative(int64(s.UpdatedReplicas), p.Child("updatedReplicas"))...)
	errs = append(errs, nonnegative(int64(s.ReadyReplicas), p.Child("readyReplicas"))...)
	errs = append(errs, nonnegative(int64(s.AvailableReplicas), p.Child("availableReplicas"))...)
	errs = append(errs, nonnegative(int64(s.UnavailableReplicas), p.Child("unavailableReplicas"))...)
	errs = append(errs, nonnegativePtr(s.TerminatingReplicas, p.Child("terminatingReplicas"))...)
	errs = append(errs, nonnegativePtr(s.CollisionCount, p.Child("collisionCount"))...)
	const msg = "cannot be greater than status.replicas"
	if s.UpdatedReplicas > s.Replicas {
		errs = append(errs, field.Invalid(p.Child("updatedReplicas"), s.UpdatedReplicas, msg))
	}
	if s.ReadyReplicas > s.Replicas {
		errs = append(errs, field.Invalid(p.Child("readyReplicas"), s.ReadyReplicas, msg))
	}
	if s.AvailableReplicas > s.Replicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), s.AvailableReplicas, msg))
	}
	if s.AvailableReplicas > s.ReadyReplicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), s.AvailableReplicas, "cannot be greater than readyReplicas"))
	}
	return errs
}

func (deploymentStrategy) ColumnDefinitions() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Ready", Type: "string", Description: "Number of the pod with ready state"},
		{Name: "Up-to-date", Type: "string", Description: appsv1.DeploymentStatus{}.SwaggerDoc()["updatedReplicas"]},
		{Name: "Available", Type: "string", Description: appsv1.DeploymentStatus{}.SwaggerDoc()["availableReplicas"]},
		ageColumn,
		containersColumn,
		imagesColumn,
		{Name: "Selector", Type: "string", Priority: 1, Description: appsv1.DeploymentSpec{}.SwaggerDoc()["selector"]},
	}
}

func (s deploymentStrategy) Row(obj runtime.Object) []interface{} {
	d, ok := obj.(*appsv1.Deployment)
	if !ok {
		return nil
	}
	selector := "<invalid>"
	if sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil {
		selector = sel.String()
	}
	names, images := containerCells(d.Spec.Template.Spec.Containers)
	return []interface{}{
		d.Name,
		fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, int32Value(d.Spec.Replicas)),
		int64(d.Status.UpdatedReplicas),
		int64(d.Status.AvailableReplicas),
		age(s.now(), d.CreationTimestamp),
		names, images, selector,
	}
}

// deploymentScale backs /scale, with the selector rendered as upstream's
// Scale.status.selector.
var deploymentScale = &registry.ScaleAccessor{
	Get: func(obj runtime.Object) (int32, int32, string) {
		d, ok := obj.(*appsv1.Deployment)
		if !ok {
			return 0, 0, ""
		}
		return int32(int32Value(d.Spec.Replicas)), d.Status.Replicas, selectorString(d.Spec.Selector)
	},
	Set: func(obj runtime.Object, replicas int32) {
		if d, ok := obj.(*appsv1.Deployment); ok {
			d.Spec.Replicas = ptrTo(replicas)
		}
	},
}

// selectorString renders a label selector in its string form, "" when it
// cannot be parsed (validation keeps such selectors out of the store).
func selectorString(sel *metav1.LabelSelector) string {
	parsed, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return ""
	}
	return parsed.String()
}

func ptrTo[T any](v T) *T { return &v }
