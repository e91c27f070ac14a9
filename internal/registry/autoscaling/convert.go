package autoscaling

import (
	"encoding/json"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Annotations in which autoscaling/v1 objects carry what v1 cannot
// express (upstream's names; the tolerance ones are only ever removed).
const (
	metricSpecsAnnotation    = "autoscaling.alpha.kubernetes.io/metrics"
	metricStatusesAnnotation = "autoscaling.alpha.kubernetes.io/current-metrics"
	conditionsAnnotation     = "autoscaling.alpha.kubernetes.io/conditions"
	behaviorAnnotation       = "autoscaling.alpha.kubernetes.io/behavior"
	toleranceDownAnnotation  = "autoscaling.alpha.kubernetes.io/scale-down-tolerance"
	toleranceUpAnnotation    = "autoscaling.alpha.kubernetes.io/scale-up-tolerance"

	// defaultCPUUtilization is the target of an HPA without metrics.
	defaultCPUUtilization = 80
)

var roundTripAnnotations = []string{
	metricSpecsAnnotation, metricStatusesAnnotation, conditionsAnnotation,
	behaviorAnnotation, toleranceDownAnnotation, toleranceUpAnnotation,
}

// withoutRoundTripAnnotations returns a copy of m without the v1 round-trip
// annotations (m itself when it holds none).
func withoutRoundTripAnnotations(m map[string]string) map[string]string {
	found := false
	for _, k := range roundTripAnnotations {
		_, has := m[k]
		found = found || has
	}
	if !found {
		return m
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	for _, k := range roundTripAnnotations {
		delete(out, k)
	}
	return out
}

// ConvertV1ToV2 converts an autoscaling/v1 HPA to autoscaling/v2: the CPU
// target becomes a Resource metric (80% when no metric is given at all),
// and the annotations v1 uses for other metrics, behavior, current metrics
// and conditions are decoded and removed. Malformed annotations are
// ignored, as upstream does. in is not modified.
func ConvertV1ToV2(in *autoscalingv1.HorizontalPodAutoscaler) *autoscalingv2.HorizontalPodAutoscaler {
	out := &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{Kind: "HorizontalPodAutoscaler", APIVersion: autoscalingv2.SchemeGroupVersion.String()},
		ObjectMeta: *in.ObjectMeta.DeepCopy(),
	}
	ref := in.Spec.ScaleTargetRef
	out.Spec.ScaleTargetRef = autoscalingv2.CrossVersionObjectReference{Kind: ref.Kind, Name: ref.Name, APIVersion: ref.APIVersion}
	if in.Spec.MinReplicas != nil {
		out.Spec.MinReplicas = ptrTo(*in.Spec.MinReplicas)
	}
	out.Spec.MaxReplicas = in.Spec.MaxReplicas

	if enc, ok := in.Annotations[metricSpecsAnnotation]; ok {
		var other []autoscalingv1.MetricSpec
		if json.Unmarshal([]byte(enc), &other) == nil {
			for i := range other {
				out.Spec.Metrics = append(out.Spec.Metrics, metricSpecFromV1(&other[i]))
			}
		}
	}
	if in.Spec.TargetCPUUtilizationPercentage != nil {
		out.Spec.Metrics = append(out.Spec.Metrics, cpuUtilizationMetric(*in.Spec.TargetCPUUtilizationPercentage))
	}
	if len(out.Spec.Metrics) == 0 {
		out.Spec.Metrics = []autoscalingv2.MetricSpec{cpuUtilizationMetric(defaultCPUUtilization)}
	}
	if enc, ok := in.Annotations[behaviorAnnotation]; ok {
		var b autoscalingv2.HorizontalPodAutoscalerBehavior
		if json.Unmarshal([]byte(enc), &b) == nil && (b.ScaleUp != nil || b.ScaleDown != nil) {
			out.Spec.Behavior = &b
		}
	}

	st := &in.Status
	out.Status = autoscalingv2.HorizontalPodAutoscalerStatus{
		ObservedGeneration: copyPtr(st.ObservedGeneration),
		LastScaleTime:      st.LastScaleTime.DeepCopy(),
		CurrentReplicas:    st.CurrentReplicas,
		DesiredReplicas:    st.DesiredReplicas,
	}
	if st.CurrentCPUUtilizationPercentage != nil {
		out.Status.CurrentMetrics = []autoscalingv2.MetricStatus{{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricStatus{
				Name:    corev1.ResourceCPU,
				Current: autoscalingv2.MetricValueStatus{AverageUtilization: ptrTo(*st.CurrentCPUUtilizationPercentage)},
			},
		}}
	}
	if enc, ok := in.Annotations[metricStatusesAnnotation]; ok {
		var current []autoscalingv1.MetricStatus
		if json.Unmarshal([]byte(enc), &current) == nil {
			out.Status.CurrentMetrics = make([]autoscalingv2.MetricStatus, len(current))
			for i := range current {
				out.Status.CurrentMetrics[i] = metricStatusFromV1(&current[i])
			}
		}
	}
	if enc, ok := in.Annotations[conditionsAnnotation]; ok {
		var conds []autoscalingv1.HorizontalPodAutoscalerCondition
		if json.Unmarshal([]byte(enc), &conds) == nil {
			out.Status.Conditions = make([]autoscalingv2.HorizontalPodAutoscalerCondition, len(conds))
			for i, c := range conds {
				out.Status.Conditions[i] = autoscalingv2.HorizontalPodAutoscalerCondition{
					Type: autoscalingv2.HorizontalPodAutoscalerConditionType(c.Type), Status: c.Status,
					LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message,
					ObservedGeneration: copyPtr(c.ObservedGeneration),
				}
			}
		}
	}
	out.Annotations = withoutRoundTripAnnotations(out.Annotations)
	return out
}

// ConvertV2ToV1 converts an autoscaling/v2 HPA to autoscaling/v1: the
// first CPU utilization metric becomes targetCPUUtilizationPercentage and
// the rest is kept in annotations, so that ConvertV1ToV2 restores it.
// in is not modified.
func ConvertV2ToV1(in *autoscalingv2.HorizontalPodAutoscaler) *autoscalingv1.HorizontalPodAutoscaler {
	out := &autoscalingv1.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{Kind: "HorizontalPodAutoscaler", APIVersion: autoscalingv1.SchemeGroupVersion.String()},
		ObjectMeta: *in.ObjectMeta.DeepCopy(),
	}
	// A copy: the input's annotations are never changed.
	annotations := copyMap(withoutRoundTripAnnotations(in.Annotations))
	set := func(k string, v interface{}) {
		enc, err := json.Marshal(v)
		if err != nil {
			return // unreachable: these types always encode
		}
		if annotations == nil {
			annotations = map[string]string{}
		}
		annotations[k] = string(enc)
	}

	ref := in.Spec.ScaleTargetRef
	out.Spec.ScaleTargetRef = autoscalingv1.CrossVersionObjectReference{Kind: ref.Kind, Name: ref.Name, APIVersion: ref.APIVersion}
	out.Spec.MinReplicas = copyPtr(in.Spec.MinReplicas)
	out.Spec.MaxReplicas = in.Spec.MaxReplicas

	var other []autoscalingv1.MetricSpec
	for i := range in.Spec.Metrics {
		m := &in.Spec.Metrics[i]
		if isCPUUtilization(m) {
			if out.Spec.TargetCPUUtilizationPercentage == nil {
				out.Spec.TargetCPUUtilizationPercentage = ptrTo(*m.Resource.Target.AverageUtilization)
			}
			continue
		}
		other = append(other, metricSpecToV1(m))
	}
	if len(other) > 0 {
		set(metricSpecsAnnotation, other)
	}
	if len(in.Status.CurrentMetrics) > 0 {
		current := make([]autoscalingv1.MetricStatus, len(in.Status.CurrentMetrics))
		for i := range in.Status.CurrentMetrics {
			current[i] = metricStatusToV1(&in.Status.CurrentMetrics[i])
		}
		set(metricStatusesAnnotation, current)
	}
	if in.Spec.Behavior != nil {
		set(behaviorAnnotation, behaviorForAnnotation(in.Spec.Behavior))
	}
	if len(in.Status.Conditions) > 0 {
		conds := make([]autoscalingv1.HorizontalPodAutoscalerCondition, len(in.Status.Conditions))
		for i, c := range in.Status.Conditions {
			conds[i] = autoscalingv1.HorizontalPodAutoscalerCondition{
				Type: autoscalingv1.HorizontalPodAutoscalerConditionType(c.Type), Status: c.Status,
				LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message,
				ObservedGeneration: copyPtr(c.ObservedGeneration),
			}
		}
		set(conditionsAnnotation, conds)
	}
	out.Annotations = annotations

	st := &in.Status
	out.Status = autoscalingv1.HorizontalPodAutoscalerStatus{
		ObservedGeneration: copyPtr(st.ObservedGeneration),
		LastScaleTime:      st.LastScaleTime.DeepCopy(),
		CurrentReplicas:    st.CurrentReplicas,
		DesiredReplicas:    st.DesiredReplicas,
	}
	for _, m := range st.CurrentMetrics {
		if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU && m.Resource.Current.AverageUtilization != nil {
			out.Status.CurrentCPUUtilizationPercentage = ptrTo(*m.Resource.Current.AverageUtilization)
		}
	}
	return out
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func copyPtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func copyQuantity(q *resource.Quantity) *resource.Quantity {
	if q == nil {
		return nil
	}
	c := q.DeepCopy()
	return &c
}

func isCPUUtilization(m *autoscalingv2.MetricSpec) bool {
	return m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU && m.Resource.Target.AverageUtilization != nil
}

func cpuUtilizationMetric(percent int32) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{
		Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{
			Name:   corev1.ResourceCPU,
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptrTo(percent)},
		},
	}
}

// behaviorAnnotationForm mirrors upstream's internal behavior type, which
// has no JSON tags: the annotation holds Go field names and explicit nulls.
type behaviorAnnotationForm struct {
	ScaleUp   *rulesAnnotationForm
	ScaleDown *rulesAnnotationForm
}

type rulesAnnotationForm struct {
	StabilizationWindowSeconds *int32
	SelectPolicy               *autoscalingv2.ScalingPolicySelect
	Policies                   []policyAnnotationForm
	Tolerance                  *resource.Quantity
}

type policyAnnotationForm struct {
	Type          autoscalingv2.HPAScalingPolicyType
	Value         int32
	PeriodSeconds int32
}

func behaviorForAnnotation(b *autoscalingv2.HorizontalPodAutoscalerBehavior) behaviorAnnotationForm {
	rules := func(r *autoscalingv2.HPAScalingRules) *rulesAnnotationForm {
		if r == nil {
			return nil
		}
		out := &rulesAnnotationForm{StabilizationWindowSeconds: r.StabilizationWindowSeconds, SelectPolicy: r.SelectPolicy, Tolerance: r.Tolerance}
		if r.Policies != nil {
			out.Policies = make([]policyAnnotationForm, len(r.Policies))
			for i, p := range r.Policies {
				out.Policies[i] = policyAnnotationForm{Type: p.Type, Value: p.Value, PeriodSeconds: p.PeriodSeconds}
			}
		}
		return out
	}
	return behaviorAnnotationForm{ScaleUp: rules(b.ScaleUp), ScaleDown: rules(b.ScaleDown)}
}
