package podautoscaler

import (
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/controller/controllertest"
)

func TestDecideBounds(t *testing.T) {
	for _, tc := range []struct {
		current, min, max int32
		want              bounds
	}{
		{0, 1, 5, bounds{desired: 0, disabled: true}},
		{0, 0, 5, bounds{desired: 0}},
		{1, 2, 5, bounds{desired: 2, rescale: true, reason: "Current number of replicas below Spec.MinReplicas"}},
		{7, 2, 5, bounds{desired: 5, rescale: true, reason: "Current number of replicas above Spec.MaxReplicas"}},
		{3, 2, 5, bounds{desired: 3}},
	} {
		if got := decideBounds(tc.current, tc.min, tc.max); got != tc.want {
			t.Errorf("decideBounds(%d, %d, %d) = %+v, want %+v", tc.current, tc.min, tc.max, got, tc.want)
		}
	}
}

// The controller keeps a target within the HPA's bounds and, with no
// metrics API on the server, reports upstream's conditions and events
// (what kubectl describe hpa shows on a cluster without metrics-server).
func TestAutoscalerBoundsAndMissingMetrics(t *testing.T) {
	env := controllertest.Start(t)
	c, err := New(env.Client, env.Factory, env.Recorder("horizontal-pod-autoscaler"), env.Log, 50*time.Millisecond, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	env.StartInformers(t)
	go c.Run(env.Ctx, 1)

	deploy := func(name string, replicas int32) {
		t.Helper()
		labels := map[string]string{"app": name}
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: appsv1.DeploymentSpec{
			Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}}
		if _, err := env.Client.AppsV1().Deployments("default").Create(env.Ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	autoscale := func(name, target string) {
		t.Helper()
		min, util := int32(2), int32(80)
		h := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: target},
			MinReplicas:    &min, MaxReplicas: 5,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &util}}}},
		}}
		if _, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers("default").Create(env.Ctx, h, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	condition := func(name string, typ autoscalingv2.HorizontalPodAutoscalerConditionType) (*autoscalingv2.HorizontalPodAutoscaler, *autoscalingv2.HorizontalPodAutoscalerCondition, error) {
		h, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers("default").Get(env.Ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, nil, err
		}
		for i := range h.Status.Conditions {
			if h.Status.Conditions[i].Type == typ {
				return h, &h.Status.Conditions[i], nil
			}
		}
		return h, nil, fmt.Errorf("hpa %s has no %s condition: %+v", name, typ, h.Status)
	}
	hasEvent := func(name, want string) error {
		msgs, err := controllertest.EventMessages(env.Ctx, env.Client, "default", name)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if strings.HasPrefix(m, want) {
				return nil
			}
		}
		return fmt.Errorf("no event %q about %s in %q", want, name, msgs)
	}

	t.Run("below min: scaled up to min", func(t *testing.T) {
		deploy("small", 1)
		autoscale("small", "small")
		controllertest.Eventually(t, 10*time.Second, func() error {
			d, err := env.Client.AppsV1().Deployments("default").Get(env.Ctx, "small", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if *d.Spec.Replicas != 2 {
				return fmt.Errorf("replicas %d, want 2", *d.Spec.Replicas)
			}
			return hasEvent("small", "SuccessfulRescale: New size: 2; reason: Current number of replicas below Spec.MinReplicas")
		})
	})
	t.Run("within bounds, no metrics API", func(t *testing.T) {
		deploy("mid", 3)
		autoscale("mid", "mid")
		controllertest.Eventually(t, 10*time.Second, func() error {
			h, active, err := condition("mid", autoscalingv2.ScalingActive)
			if err != nil {
				return err
			}
			if h.Status.CurrentReplicas != 3 {
				return fmt.Errorf("currentReplicas %d, want 3", h.Status.CurrentReplicas)
			}
			if active.Status != corev1.ConditionFalse || active.Reason != "FailedGetResourceMetric" ||
				!strings.HasPrefix(active.Message, "the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource cpu: unable to fetch metrics from resource metrics API:") {
				return fmt.Errorf("ScalingActive %+v", active)
			}
			if _, able, err := condition("mid", autoscalingv2.AbleToScale); err != nil || able.Status != corev1.ConditionTrue || able.Reason != "SucceededGetScale" {
				return fmt.Errorf("AbleToScale %+v (%v)", able, err)
			}
			if err := hasEvent("mid", "FailedGetResourceMetric: failed to get cpu utilization"); err != nil {
				return err
			}
			return hasEvent("mid", "FailedComputeMetricsReplicas: invalid metrics (1 invalid out of 1), first error is: failed to get cpu resource metric value: failed to get cpu utilization")
		})
		d, err := env.Client.AppsV1().Deployments("default").Get(env.Ctx, "mid", metav1.GetOptions{})
		if err != nil || *d.Spec.Replicas != 3 {
			t.Errorf("target rescaled without metrics: %v %v", d.Spec.Replicas, err)
		}
	})
	t.Run("missing target", func(t *testing.T) {
		autoscale("orphan", "nope")
		controllertest.Eventually(t, 10*time.Second, func() error {
			_, able, err := condition("orphan", autoscalingv2.AbleToScale)
			if err != nil {
				return err
			}
			if able.Status != corev1.ConditionFalse || able.Reason != "FailedGetScale" || !strings.Contains(able.Message, `deployments.apps "nope" not found`) {
				return fmt.Errorf("AbleToScale %+v", able)
			}
			return hasEvent("orphan", `FailedGetScale: deployments.apps "nope" not found`)
		})
	})
}
