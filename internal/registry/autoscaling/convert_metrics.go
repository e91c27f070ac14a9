package autoscaling

import (
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Metric conversions between autoscaling/v2 and the v2beta1-shaped metric
// types of autoscaling/v1 (used only inside v1's annotations). Targets
// map as upstream: which v1 fields are set decides the v2 target type.

func metricSpecFromV1(in *autoscalingv1.MetricSpec) autoscalingv2.MetricSpec {
	out := autoscalingv2.MetricSpec{Type: autoscalingv2.MetricSourceType(in.Type)}
	if o := in.Object; o != nil {
		t := autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: copyQuantity(&o.TargetValue), AverageValue: copyQuantity(o.AverageValue)}
		if o.AverageValue != nil {
			t.Type = autoscalingv2.AverageValueMetricType
			if o.TargetValue.IsZero() {
				t.Value = nil
			}
		}
		out.Object = &autoscalingv2.ObjectMetricSource{
			DescribedObject: autoscalingv2.CrossVersionObjectReference{Kind: o.Target.Kind, Name: o.Target.Name, APIVersion: o.Target.APIVersion},
			Target:          t,
			Metric:          autoscalingv2.MetricIdentifier{Name: o.MetricName, Selector: o.Selector.DeepCopy()},
		}
	}
	if p := in.Pods; p != nil {
		out.Pods = &autoscalingv2.PodsMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: p.MetricName, Selector: p.Selector.DeepCopy()},
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: copyQuantity(&p.TargetAverageValue)},
		}
	}
	if r := in.Resource; r != nil {
		out.Resource = &autoscalingv2.ResourceMetricSource{Name: r.Name, Target: resourceTargetFromV1(r.TargetAverageUtilization, r.TargetAverageValue)}
	}
	if r := in.ContainerResource; r != nil {
		out.ContainerResource = &autoscalingv2.ContainerResourceMetricSource{
			Name: r.Name, Container: r.Container, Target: resourceTargetFromV1(r.TargetAverageUtilization, r.TargetAverageValue),
		}
	}
	if e := in.External; e != nil {
		t := autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, Value: copyQuantity(e.TargetValue), AverageValue: copyQuantity(e.TargetAverageValue)}
		if e.TargetValue != nil {
			t.Type = autoscalingv2.ValueMetricType
		}
		out.External = &autoscalingv2.ExternalMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: e.MetricName, Selector: e.MetricSelector.DeepCopy()},
			Target: t,
		}
	}
	return out
}

func resourceTargetFromV1(utilization *int32, averageValue *resource.Quantity) autoscalingv2.MetricTarget {
	t := autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: copyPtr(utilization), AverageValue: copyQuantity(averageValue)}
	if utilization == nil {
		t.Type = autoscalingv2.AverageValueMetricType
	}
	return t
}

func metricSpecToV1(in *autoscalingv2.MetricSpec) autoscalingv1.MetricSpec {
	out := autoscalingv1.MetricSpec{Type: autoscalingv1.MetricSourceType(in.Type)}
	if o := in.Object; o != nil {
		v := &autoscalingv1.ObjectMetricSource{
			Target:       autoscalingv1.CrossVersionObjectReference{Kind: o.DescribedObject.Kind, Name: o.DescribedObject.Name, APIVersion: o.DescribedObject.APIVersion},
			MetricName:   o.Metric.Name,
			Selector:     o.Metric.Selector.DeepCopy(),
			AverageValue: copyQuantity(o.Target.AverageValue),
		}
		if o.Target.Value != nil {
			v.TargetValue = o.Target.Value.DeepCopy()
		}
		out.Object = v
	}
	if p := in.Pods; p != nil {
		v := &autoscalingv1.PodsMetricSource{MetricName: p.Metric.Name, Selector: p.Metric.Selector.DeepCopy()}
		if p.Target.AverageValue != nil {
			v.TargetAverageValue = p.Target.AverageValue.DeepCopy()
		}
		out.Pods = v
	}
	if r := in.Resource; r != nil {
		out.Resource = &autoscalingv1.ResourceMetricSource{
			Name: r.Name, TargetAverageUtilization: copyPtr(r.Target.AverageUtilization), TargetAverageValue: copyQuantity(r.Target.AverageValue),
		}
	}
	if r := in.ContainerResource; r != nil {
		out.ContainerResource = &autoscalingv1.ContainerResourceMetricSource{
			Name: r.Name, Container: r.Container,
			TargetAverageUtilization: copyPtr(r.Target.AverageUtilization), TargetAverageValue: copyQuantity(r.Target.AverageValue),
		}
	}
	if e := in.External; e != nil {
		out.External = &autoscalingv1.ExternalMetricSource{
			MetricName: e.Metric.Name, MetricSelector: e.Metric.Selector.DeepCopy(),
			TargetValue: copyQuantity(e.Target.Value), TargetAverageValue: copyQuantity(e.Target.AverageValue),
		}
	}
	return out
}

func metricStatusFromV1(in *autoscalingv1.MetricStatus) autoscalingv2.MetricStatus {
	out := autoscalingv2.MetricStatus{Type: autoscalingv2.MetricSourceType(in.Type)}
	if o := in.Object; o != nil {
		out.Object = &autoscalingv2.ObjectMetricStatus{
			DescribedObject: autoscalingv2.CrossVersionObjectReference{Kind: o.Target.Kind, Name: o.Target.Name, APIVersion: o.Target.APIVersion},
			Metric:          autoscalingv2.MetricIdentifier{Name: o.MetricName, Selector: o.Selector.DeepCopy()},
			Current:         autoscalingv2.MetricValueStatus{Value: copyQuantity(&o.CurrentValue), AverageValue: copyQuantity(o.AverageValue)},
		}
	}
	if p := in.Pods; p != nil {
		out.Pods = &autoscalingv2.PodsMetricStatus{
			Metric:  autoscalingv2.MetricIdentifier{Name: p.MetricName, Selector: p.Selector.DeepCopy()},
			Current: autoscalingv2.MetricValueStatus{AverageValue: copyQuantity(&p.CurrentAverageValue)},
		}
	}
	if r := in.Resource; r != nil {
		out.Resource = &autoscalingv2.ResourceMetricStatus{
			Name:    r.Name,
			Current: autoscalingv2.MetricValueStatus{AverageValue: copyQuantity(&r.CurrentAverageValue), AverageUtilization: copyPtr(r.CurrentAverageUtilization)},
		}
	}
	if r := in.ContainerResource; r != nil {
		out.ContainerResource = &autoscalingv2.ContainerResourceMetricStatus{
			Name: r.Name, Container: r.Container,
			Current: autoscalingv2.MetricValueStatus{AverageValue: copyQuantity(&r.CurrentAverageValue), AverageUtilization: copyPtr(r.CurrentAverageUtilization)},
		}
	}
	if e := in.External; e != nil {
		out.External = &autoscalingv2.ExternalMetricStatus{
			Metric:  autoscalingv2.MetricIdentifier{Name: e.MetricName, Selector: e.MetricSelector.DeepCopy()},
			Current: autoscalingv2.MetricValueStatus{Value: copyQuantity(&e.CurrentValue), AverageValue: copyQuantity(e.CurrentAverageValue)},
		}
	}
	return out
}

func metricStatusToV1(in *autoscalingv2.MetricStatus) autoscalingv1.MetricStatus {
	out := autoscalingv1.MetricStatus{Type: autoscalingv1.MetricSourceType(in.Type)}
	if o := in.Object; o != nil {
		v := &autoscalingv1.ObjectMetricStatus{
			Target:       autoscalingv1.CrossVersionObjectReference{Kind: o.DescribedObject.Kind, Name: o.DescribedObject.Name, APIVersion: o.DescribedObject.APIVersion},
			MetricName:   o.Metric.Name,
			Selector:     o.Metric.Selector.DeepCopy(),
			AverageValue: copyQuantity(o.Current.AverageValue),
		}
		if o.Current.Value != nil {
			v.CurrentValue = o.Current.Value.DeepCopy()
		}
		out.Object = v
	}
	if p := in.Pods; p != nil {
		v := &autoscalingv1.PodsMetricStatus{MetricName: p.Metric.Name, Selector: p.Metric.Selector.DeepCopy()}
		if p.Current.AverageValue != nil {
			v.CurrentAverageValue = p.Current.AverageValue.DeepCopy()
		}
		out.Pods = v
	}
	if r := in.Resource; r != nil {
		v := &autoscalingv1.ResourceMetricStatus{Name: r.Name, CurrentAverageUtilization: copyPtr(r.Current.AverageUtilization)}
		if r.Current.AverageValue != nil {
			v.CurrentAverageValue = r.Current.AverageValue.DeepCopy()
		}
		out.Resource = v
	}
	if r := in.ContainerResource; r != nil {
		v := &autoscalingv1.ContainerResourceMetricStatus{Name: r.Name, Container: r.Container, CurrentAverageUtilization: copyPtr(r.Current.AverageUtilization)}
		if r.Current.AverageValue != nil {
			v.CurrentAverageValue = r.Current.AverageValue.DeepCopy()
		}
		out.ContainerResource = v
	}
	if e := in.External; e != nil {
		v := &autoscalingv1.ExternalMetricStatus{MetricName: e.Metric.Name, MetricSelector: e.Metric.Selector.DeepCopy(), CurrentAverageValue: copyQuantity(e.Current.AverageValue)}
		if e.Current.Value != nil {
			v.CurrentValue = e.Current.Value.DeepCopy()
		}
		out.External = v
	}
	return out
}
