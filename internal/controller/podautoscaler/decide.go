// Package podautoscaler is upstream's horizontal pod autoscaler
// controller for autoscaling/v2 HorizontalPodAutoscalers: every sync
// period it reads the target's scale subresource, keeps its replica count
// within spec.minReplicas..spec.maxReplicas, asks the metrics APIs for
// the metrics the HPA names, and reports what it saw in the HPA's status
// (currentReplicas, desiredReplicas, the AbleToScale and ScalingActive
// conditions) and in events, with upstream's reasons and messages.
//
// Skiff serves no metrics API (metrics.k8s.io, custom.metrics.k8s.io,
// external.metrics.k8s.io, which upstream gets from metrics-server or an
// adapter through API aggregation), so every metric fails as it does on an
// upstream cluster without them: ScalingActive=False with
// FailedGetResourceMetric, and the target's size moves only to respect
// the bounds.
package podautoscaler

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// bounds is the decision the HPA makes before looking at any metric,
// upstream's reconcileAutoscaler: a target scaled to zero is left alone
// (scaling disabled), one outside min..max is brought back inside; rescale
// false and reason "" mean the metrics decide.
type bounds struct {
	desired  int32
	rescale  bool
	reason   string
	disabled bool
}

func decideBounds(current, min, max int32) bounds {
	switch {
	case current == 0 && min != 0:
		return bounds{desired: 0, disabled: true}
	case current > max:
		return bounds{desired: max, rescale: true, reason: "Current number of replicas above Spec.MaxReplicas"}
	case current < min:
		return bounds{desired: min, rescale: true, reason: "Current number of replicas below Spec.MinReplicas"}
	}
	return bounds{desired: current}
}

// setCondition sets the condition typ on status, moving its transition
// time only when its status changes, as upstream's setConditionInList.
func setCondition(st *autoscalingv2.HorizontalPodAutoscalerStatus, typ autoscalingv2.HorizontalPodAutoscalerConditionType,
	status corev1.ConditionStatus, reason, message string, now metav1.Time) {
	for i := range st.Conditions {
		c := &st.Conditions[i]
		if c.Type != typ {
			continue
		}
		if c.Status != status {
			c.LastTransitionTime = now
		}
		c.Status, c.Reason, c.Message = status, reason, message
		return
	}
	st.Conditions = append(st.Conditions, autoscalingv2.HorizontalPodAutoscalerCondition{
		Type: typ, Status: status, Reason: reason, Message: message, LastTransitionTime: now})
}

// metricName is how upstream's events and errors name a metric spec.
func metricName(m autoscalingv2.MetricSpec) string {
	switch {
	case m.Resource != nil:
		return string(m.Resource.Name)
	case m.ContainerResource != nil:
		return string(m.ContainerResource.Name)
	case m.Pods != nil:
		return m.Pods.Metric.Name
	case m.Object != nil:
		return m.Object.Metric.Name
	case m.External != nil:
		return m.External.Metric.Name
	}
	return string(m.Type)
}
