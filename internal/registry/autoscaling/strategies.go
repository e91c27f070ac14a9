package autoscaling

import (
	"context"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry"
)

// Default scaling rules of autoscaling/v2, applied to whichever direction
// a behavior leaves unset: scale up by at most 4 pods or 100% per 15s,
// scale down by at most 100% per 15s.
func defaultScaleUpRules() *autoscalingv2.HPAScalingRules {
	return &autoscalingv2.HPAScalingRules{
		StabilizationWindowSeconds: ptrTo[int32](0),
		SelectPolicy:               ptrTo(autoscalingv2.MaxChangePolicySelect),
		Policies: []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
			{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
		},
	}
}

// defaultScaleDownRules leaves the stabilization window unset: the
// controller's flag decides it.
func defaultScaleDownRules() *autoscalingv2.HPAScalingRules {
	return &autoscalingv2.HPAScalingRules{
		SelectPolicy: ptrTo(autoscalingv2.MaxChangePolicySelect),
		Policies:     []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}},
	}
}

// fillRules returns def with the fields set in r copied over.
func fillRules(r, def *autoscalingv2.HPAScalingRules) *autoscalingv2.HPAScalingRules {
	if r == nil {
		return def
	}
	if r.SelectPolicy != nil {
		def.SelectPolicy = r.SelectPolicy
	}
	if r.StabilizationWindowSeconds != nil {
		def.StabilizationWindowSeconds = r.StabilizationWindowSeconds
	}
	if r.Policies != nil {
		def.Policies = r.Policies
	}
	if r.Tolerance != nil {
		def.Tolerance = r.Tolerance
	}
	return def
}

// DefaultV2 applies autoscaling/v2's defaults: minReplicas 1, a CPU
// utilization target of 80% when no metric is given, and complete scaling
// rules once a behavior is given.
func DefaultV2(hpa *autoscalingv2.HorizontalPodAutoscaler) {
	if hpa.Spec.MinReplicas == nil {
		hpa.Spec.MinReplicas = ptrTo[int32](1)
	}
	if len(hpa.Spec.Metrics) == 0 {
		hpa.Spec.Metrics = []autoscalingv2.MetricSpec{cpuUtilizationMetric(defaultCPUUtilization)}
	}
	if b := hpa.Spec.Behavior; b != nil {
		b.ScaleUp = fillRules(b.ScaleUp, defaultScaleUpRules())
		b.ScaleDown = fillRules(b.ScaleDown, defaultScaleDownRules())
	}
}

type v2Strategy struct{ now func() time.Time }

var (
	_ registry.Strategy       = v2Strategy{}
	_ registry.StatusStrategy = v2Strategy{}
	_ registry.TableConvertor = v2Strategy{}
)

func (v2Strategy) Default(obj runtime.Object) {
	if hpa, ok := obj.(*autoscalingv2.HorizontalPodAutoscaler); ok {
		DefaultV2(hpa)
	}
}

func (v2Strategy) PrepareForCreate(ctx context.Context, obj runtime.Object)      {}
func (v2Strategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {}

func (v2Strategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	hpa, ok := obj.(*autoscalingv2.HorizontalPodAutoscaler)
	if !ok {
		return wrongType(obj, "*v2.HorizontalPodAutoscaler")
	}
	return validateSpec(&hpa.Spec, field.NewPath("spec"), optionsFor(hpa, nil))
}

func (v2Strategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	hpa, ok1 := obj.(*autoscalingv2.HorizontalPodAutoscaler)
	o, ok2 := old.(*autoscalingv2.HorizontalPodAutoscaler)
	if !ok1 || !ok2 {
		return wrongType(obj, "*v2.HorizontalPodAutoscaler")
	}
	return validateSpec(&hpa.Spec, field.NewPath("spec"), optionsFor(hpa, o))
}

func (v2Strategy) ValidateStatusUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	hpa, ok := obj.(*autoscalingv2.HorizontalPodAutoscaler)
	if !ok {
		return wrongType(obj, "*v2.HorizontalPodAutoscaler")
	}
	return validateStatus(&hpa.Status)
}

func (v2Strategy) ColumnDefinitions() []metav1.TableColumnDefinition { return columns() }

func (s v2Strategy) Row(obj runtime.Object) []interface{} {
	hpa, ok := obj.(*autoscalingv2.HorizontalPodAutoscaler)
	if !ok {
		return nil
	}
	return row(s.now(), hpa)
}

// v1Strategy serves autoscaling/v1 objects. Validation runs on the v2
// form, as upstream validates its internal (v2-shaped) type.
type v1Strategy struct{ now func() time.Time }

var (
	_ registry.Strategy       = v1Strategy{}
	_ registry.StatusStrategy = v1Strategy{}
	_ registry.TableConvertor = v1Strategy{}
)

// Default applies autoscaling/v1's only default, minReplicas 1; the CPU
// target default comes with the conversion to v2.
func (v1Strategy) Default(obj runtime.Object) {
	if hpa, ok := obj.(*autoscalingv1.HorizontalPodAutoscaler); ok && hpa.Spec.MinReplicas == nil {
		hpa.Spec.MinReplicas = ptrTo[int32](1)
	}
}

func (v1Strategy) PrepareForCreate(ctx context.Context, obj runtime.Object)      {}
func (v1Strategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {}

func (v1Strategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	hpa, ok := obj.(*autoscalingv1.HorizontalPodAutoscaler)
	if !ok {
		return wrongType(obj, "*v1.HorizontalPodAutoscaler")
	}
	v2 := ConvertV1ToV2(hpa)
	return validateSpec(&v2.Spec, field.NewPath("spec"), optionsFor(v2, nil))
}

func (v1Strategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	hpa, ok1 := obj.(*autoscalingv1.HorizontalPodAutoscaler)
	o, ok2 := old.(*autoscalingv1.HorizontalPodAutoscaler)
	if !ok1 || !ok2 {
		return wrongType(obj, "*v1.HorizontalPodAutoscaler")
	}
	v2 := ConvertV1ToV2(hpa)
	return validateSpec(&v2.Spec, field.NewPath("spec"), optionsFor(v2, ConvertV1ToV2(o)))
}

func (v1Strategy) ValidateStatusUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	hpa, ok := obj.(*autoscalingv1.HorizontalPodAutoscaler)
	if !ok {
		return wrongType(obj, "*v1.HorizontalPodAutoscaler")
	}
	return validateStatus(&ConvertV1ToV2(hpa).Status)
}

func (v1Strategy) ColumnDefinitions() []metav1.TableColumnDefinition { return columns() }

func (s v1Strategy) Row(obj runtime.Object) []interface{} {
	hpa, ok := obj.(*autoscalingv1.HorizontalPodAutoscaler)
	if !ok {
		return nil
	}
	return row(s.now(), ConvertV1ToV2(hpa))
}
