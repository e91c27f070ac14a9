// Package autoscaling holds the registry strategies of
// horizontalpodautoscalers in autoscaling/v1 and autoscaling/v2, with
// upstream's defaults, validation and `kubectl get` columns.
//
// Upstream stores one HorizontalPodAutoscaler (as autoscaling/v2) and
// serves v1 by conversion: v1 carries only a CPU utilization target and
// keeps everything else in autoscaling.alpha.kubernetes.io/* annotations.
// ConvertV1ToV2 and ConvertV2ToV1 do that conversion so the API server can
// share one storage between both versions. The v1 strategy validates the
// converted object, so errors name v2 field paths, as upstream.
package autoscaling

import (
	"fmt"
	"strings"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry"
)

// Resources returns horizontalpodautoscalers in autoscaling/v2 and
// autoscaling/v1 (v2 first: it is the storage version).
func Resources() []registry.Resource {
	return resources(time.Now)
}

func resources(now func() time.Time) []registry.Resource {
	base := registry.Resource{
		Resource: "horizontalpodautoscalers", Kind: "HorizontalPodAutoscaler", SingularName: "horizontalpodautoscaler",
		Namespaced: true, ShortNames: []string{"hpa"}, Categories: []string{"all"},
		// HPAGeneration is beta (on) in 1.37.
		HasStatus: true, HasGeneration: true,
	}
	v2, v1 := base, base
	v2.GroupVersion = autoscalingv2.SchemeGroupVersion
	v2.New = func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscaler{} }
	v2.NewList = func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscalerList{} }
	v2.Strategy = v2Strategy{now: now}
	v1.GroupVersion = autoscalingv1.SchemeGroupVersion
	v1.New = func() runtime.Object { return &autoscalingv1.HorizontalPodAutoscaler{} }
	v1.NewList = func() runtime.Object { return &autoscalingv1.HorizontalPodAutoscalerList{} }
	v1.Strategy = v1Strategy{now: now}
	// One stored copy, in v2, as upstream.
	v1.StoredAs = &registry.StorageView{
		Resource: autoscalingv2.SchemeGroupVersion.WithResource("horizontalpodautoscalers"),
		ToStored: func(obj runtime.Object) (runtime.Object, error) {
			in, ok := obj.(*autoscalingv1.HorizontalPodAutoscaler)
			if !ok {
				return nil, fmt.Errorf("expected autoscaling/v1 HorizontalPodAutoscaler, got %T", obj)
			}
			out := ConvertV1ToV2(in)
			DefaultV2(out)
			return out, nil
		},
		FromStored: func(obj runtime.Object) (runtime.Object, error) {
			in, ok := obj.(*autoscalingv2.HorizontalPodAutoscaler)
			if !ok {
				return nil, fmt.Errorf("expected autoscaling/v2 HorizontalPodAutoscaler, got %T", obj)
			}
			return ConvertV2ToV1(in), nil
		},
	}
	return []registry.Resource{v2, v1}
}

func wrongType(obj runtime.Object, want string) field.ErrorList {
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("expected %s, got %T", want, obj))}
}

func ptrTo[T any](v T) *T { return &v }

func columns() []metav1.TableColumnDefinition {
	spec, status := autoscalingv2.HorizontalPodAutoscalerSpec{}.SwaggerDoc(), autoscalingv2.HorizontalPodAutoscalerStatus{}.SwaggerDoc()
	return []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
		{Name: "Reference", Type: "string", Description: spec["scaleTargetRef"]},
		{Name: "Targets", Type: "string", Description: spec["metrics"]},
		{Name: "MinPods", Type: "string", Description: spec["minReplicas"]},
		{Name: "MaxPods", Type: "string", Description: spec["maxReplicas"]},
		{Name: "Replicas", Type: "string", Description: status["currentReplicas"]},
		{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
	}
}

func row(now time.Time, hpa *autoscalingv2.HorizontalPodAutoscaler) []interface{} {
	minPods := "<unset>"
	if hpa.Spec.MinReplicas != nil {
		minPods = fmt.Sprintf("%d", *hpa.Spec.MinReplicas)
	}
	age := "<unknown>"
	if !hpa.CreationTimestamp.IsZero() {
		age = duration.HumanDuration(now.Sub(hpa.CreationTimestamp.Time))
	}
	ref := hpa.Spec.ScaleTargetRef
	return []interface{}{
		hpa.Name, ref.Kind + "/" + ref.Name, formatMetrics(hpa.Spec.Metrics, hpa.Status.CurrentMetrics),
		minPods, int64(hpa.Spec.MaxReplicas), int64(hpa.Status.CurrentReplicas), age,
	}
}

// formatMetrics renders "current/target" for the first two metrics, as
// kubectl shows them; statuses are matched to specs by index.
func formatMetrics(specs []autoscalingv2.MetricSpec, statuses []autoscalingv2.MetricStatus) string {
	const max = 2
	if len(specs) == 0 {
		return "<none>"
	}
	var list []string
	for i, spec := range specs {
		if len(list) == max {
			break
		}
		var st *autoscalingv2.MetricStatus
		if i < len(statuses) {
			st = &statuses[i]
		}
		list = append(list, formatMetric(spec, st))
	}
	out := strings.Join(list, ", ")
	if len(specs) > max {
		out = fmt.Sprintf("%s + %d more...", out, len(specs)-max)
	}
	return out
}

func formatMetric(spec autoscalingv2.MetricSpec, st *autoscalingv2.MetricStatus) string {
	const unknown = "<unknown>"
	current := unknown
	switch {
	case spec.Type == autoscalingv2.ExternalMetricSourceType && spec.External != nil:
		t := spec.External.Target
		if t.AverageValue != nil {
			if st != nil && st.External != nil && st.External.Current.AverageValue != nil {
				current = st.External.Current.AverageValue.String()
			}
			return fmt.Sprintf("%s/%s (avg)", current, t.AverageValue.String())
		}
		if st != nil && st.External != nil {
			current = st.External.Current.Value.String()
		}
		return fmt.Sprintf("%s/%s", current, t.Value.String())
	case spec.Type == autoscalingv2.PodsMetricSourceType && spec.Pods != nil:
		if st != nil && st.Pods != nil {
			current = st.Pods.Current.AverageValue.String()
		}
		return fmt.Sprintf("%s/%s", current, spec.Pods.Target.AverageValue.String())
	case spec.Type == autoscalingv2.ObjectMetricSourceType && spec.Object != nil:
		t := spec.Object.Target
		if t.AverageValue != nil {
			if st != nil && st.Object != nil && st.Object.Current.AverageValue != nil {
				current = st.Object.Current.AverageValue.String()
			}
			return fmt.Sprintf("%s/%s (avg)", current, t.AverageValue.String())
		}
		if st != nil && st.Object != nil {
			current = st.Object.Current.Value.String()
		}
		return fmt.Sprintf("%s/%s", current, t.Value.String())
	case spec.Type == autoscalingv2.ResourceMetricSourceType && spec.Resource != nil:
		var cur *autoscalingv2.MetricValueStatus
		if st != nil && st.Resource != nil {
			cur = &st.Resource.Current
		}
		return formatResourceMetric(string(spec.Resource.Name), spec.Resource.Target, cur)
	case spec.Type == autoscalingv2.ContainerResourceMetricSourceType && spec.ContainerResource != nil:
		var cur *autoscalingv2.MetricValueStatus
		if st != nil && st.ContainerResource != nil {
			cur = &st.ContainerResource.Current
		}
		return formatResourceMetric(string(spec.ContainerResource.Name), spec.ContainerResource.Target, cur)
	}
	return "<unknown type>"
}

func formatResourceMetric(name string, target autoscalingv2.MetricTarget, cur *autoscalingv2.MetricValueStatus) string {
	current := "<unknown>"
	if target.AverageValue != nil {
		if cur != nil {
			current = cur.AverageValue.String()
		}
		return fmt.Sprintf("%s: %s/%s", name, current, target.AverageValue.String())
	}
	if cur != nil && cur.AverageUtilization != nil {
		current = fmt.Sprintf("%d%%", *cur.AverageUtilization)
	}
	want := "<auto>"
	if target.AverageUtilization != nil {
		want = fmt.Sprintf("%d%%", *target.AverageUtilization)
	}
	return fmt.Sprintf("%s: %s/%s", name, current, want)
}
