package apps

import (
	"context"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry"
	"skiff.dev/skiff/internal/registry/core"
)

type replicaSetStrategy struct{ now func() time.Time }

var (
	_ registry.Strategy       = replicaSetStrategy{}
	_ registry.StatusStrategy = replicaSetStrategy{}
	_ registry.TableConvertor = replicaSetStrategy{}
	_ registry.FieldsFunc     = replicaSetStrategy{}
	_ registry.WarningsFunc   = replicaSetStrategy{}
)

func (replicaSetStrategy) Default(obj runtime.Object) {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return
	}
	if rs.Spec.Replicas == nil {
		rs.Spec.Replicas = ptrTo[int32](1)
	}
	core.DefaultPodTemplateSpec(&rs.Spec.Template)
}

func (replicaSetStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {}

func (replicaSetStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {}

func (replicaSetStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return wrongType(obj, "*v1.ReplicaSet")
	}
	return validateReplicaSetSpec(&rs.Spec, field.NewPath("spec"))
}

func (replicaSetStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	rs, ok1 := obj.(*appsv1.ReplicaSet)
	o, ok2 := old.(*appsv1.ReplicaSet)
	if !ok1 || !ok2 {
		return wrongType(obj, "*v1.ReplicaSet")
	}
	errs := validateReplicaSetSpec(&rs.Spec, field.NewPath("spec"))
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(rs.Spec.Selector, o.Spec.Selector, field.NewPath("spec", "selector"))...)
	return errs
}

func (replicaSetStrategy) ValidateStatusUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return wrongType(obj, "*v1.ReplicaSet")
	}
	return validateReplicaSetStatus(&rs.Status, field.NewPath("status"))
}

// Warnings: the name and the template on create; the template again
// when the spec changes.
func (replicaSetStrategy) Warnings(ctx context.Context, obj, old runtime.Object) []string {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return nil
	}
	tp := field.NewPath("spec", "template")
	if old == nil {
		return append(dnsLabelNameWarning(rs.Name), core.PodTemplateWarnings(tp, &rs.Spec.Template)...)
	}
	if o, ok := old.(*appsv1.ReplicaSet); !ok || apiequality.Semantic.DeepEqual(rs.Spec, o.Spec) {
		return nil
	}
	return core.PodTemplateWarnings(tp, &rs.Spec.Template)
}

// SelectableFields adds status.replicas, which the deployment controller
// of old clients filtered on.
func (replicaSetStrategy) SelectableFields(obj runtime.Object) fields.Set {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return nil
	}
	return fields.Set{"status.replicas": strconv.Itoa(int(rs.Status.Replicas))}
}

func validateReplicaSetSpec(spec *appsv1.ReplicaSetSpec, p *field.Path) field.ErrorList {
	errs := nonnegativePtr(spec.Replicas, p.Child("replicas"))
	errs = append(errs, nonnegative(int64(spec.MinReadySeconds), p.Child("minReadySeconds"))...)
	// Upstream names the kind "deployment" here too.
	sel, selErrs := validateSelector(spec.Selector, "deployment", p.Child("selector"))
	errs = append(errs, selErrs...)
	if sel == nil {
		errs = append(errs, field.Invalid(p.Child("selector"), spec.Selector, "invalid label selector"))
	} else {
		errs = append(errs, validateReplicaSetTemplate(&spec.Template, sel, p.Child("template"))...)
	}
	return errs
}

func validateReplicaSetStatus(s *appsv1.ReplicaSetStatus, p *field.Path) field.ErrorList {
	errs := nonnegative(int64(s.Replicas), p.Child("replicas"))
	errs = append(errs, nonnegative(int64(s.FullyLabeledReplicas), p.Child("fullyLabeledReplicas"))...)
	errs = append(errs, nonnegative(int64(s.ReadyReplicas), p.Child("readyReplicas"))...)
	errs = append(errs, nonnegative(int64(s.AvailableReplicas), p.Child("availableReplicas"))...)
	errs = append(errs, nonnegative(s.ObservedGeneration, p.Child("observedGeneration"))...)
	errs = append(errs, nonnegativePtr(s.TerminatingReplicas, p.Child("terminatingReplicas"))...)
	const msg = "cannot be greater than status.replicas"
	if s.FullyLabeledReplicas > s.Replicas {
		errs = append(errs, field.Invalid(p.Child("fullyLabeledReplicas"), s.FullyLabeledReplicas, msg))
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

func (replicaSetStrategy) ColumnDefinitions() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Desired", Type: "integer", Description: appsv1.ReplicaSetSpec{}.SwaggerDoc()["replicas"]},
		{Name: "Current", Type: "integer", Description: appsv1.ReplicaSetStatus{}.SwaggerDoc()["replicas"]},
		{Name: "Ready", Type: "integer", Description: appsv1.ReplicaSetStatus{}.SwaggerDoc()["readyReplicas"]},
		ageColumn,
		containersColumn,
		imagesColumn,
		{Name: "Selector", Type: "string", Priority: 1, Description: appsv1.ReplicaSetSpec{}.SwaggerDoc()["selector"]},
	}
}

func (s replicaSetStrategy) Row(obj runtime.Object) []interface{} {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return nil
	}
	names, images := containerCells(rs.Spec.Template.Spec.Containers)
	return []interface{}{
		rs.Name,
		int32Value(rs.Spec.Replicas),
		int64(rs.Status.Replicas),
		int64(rs.Status.ReadyReplicas),
		age(s.now(), rs.CreationTimestamp),
		names, images, metav1.FormatLabelSelector(rs.Spec.Selector),
	}
}

var replicaSetScale = &registry.ScaleAccessor{
	Get: func(obj runtime.Object) (int32, int32, string) {
		rs, ok := obj.(*appsv1.ReplicaSet)
		if !ok {
			return 0, 0, ""
		}
		return int32(int32Value(rs.Spec.Replicas)), rs.Status.Replicas, selectorString(rs.Spec.Selector)
	},
	Set: func(obj runtime.Object, replicas int32) {
		if rs, ok := obj.(*appsv1.ReplicaSet); ok {
			rs.Spec.Replicas = ptrTo(replicas)
		}
	},
}
