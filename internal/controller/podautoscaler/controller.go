package podautoscaler

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	autoscalinglisters "k8s.io/client-go/listers/autoscaling/v2"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"skiff.dev/skiff/internal/controller/reconcile"
)

// SyncPeriod is how often every HPA is reconciled (upstream's
// --horizontal-pod-autoscaler-sync-period default).
const SyncPeriod = 15 * time.Second

// Controller is the horizontal pod autoscaler controller.
type Controller struct {
	client   kubernetes.Interface
	hpas     autoscalinglisters.HorizontalPodAutoscalerLister
	metrics  metricsAPI
	recorder record.EventRecorder
	loop     *reconcile.Loop
	now      func() time.Time
	period   time.Duration
}

// New builds the controller on a factory not yet started. recorder
// writes its events (upstream's component "horizontal-pod-autoscaler");
// period is the sync period (SyncPeriod in production); now is its clock.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder, log *slog.Logger,
	period time.Duration, now func() time.Time) (*Controller, error) {
	inf := factory.Autoscaling().V2().HorizontalPodAutoscalers()
	c := &Controller{
		client: client, hpas: inf.Lister(), recorder: recorder, now: now, period: period,
		metrics: metricsAPI{rest: client.Discovery().RESTClient()},
	}
	c.loop = reconcile.NewLoop("horizontalpodautoscaler", reconcile.ReconcileFunc(c.Reconcile), log)
	c.loop.WaitFor(inf.Informer().HasSynced)
	enqueue := func(obj any) {
		if h, ok := obj.(*autoscalingv2.HorizontalPodAutoscaler); ok {
			c.loop.Enqueue(h)
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue,
		UpdateFunc: func(old, cur any) {
			// Our own status writes come back as updates: only a spec
			// change needs a sync before the next period.
			o, ok1 := old.(*autoscalingv2.HorizontalPodAutoscaler)
			n, ok2 := cur.(*autoscalingv2.HorizontalPodAutoscaler)
			if ok1 && ok2 && o.Generation != n.Generation {
				enqueue(cur)
			}
		},
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// Run reconciles with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) error { return c.loop.Run(ctx, workers) }

// Reconcile syncs the HPA named by key once and queues it again for the
// next period, as upstream's controller resyncs every HPA.
func (c *Controller) Reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.hpas.HorizontalPodAutoscalers(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer c.loop.AddAfter(key, c.period)
	hpa := cached.DeepCopy()
	if err := c.sync(ctx, hpa); err != nil {
		return err
	}
	if equality.Semantic.DeepEqual(cached.Status, hpa.Status) {
		return nil
	}
	if _, err := c.client.AutoscalingV2().HorizontalPodAutoscalers(ns).UpdateStatus(ctx, hpa, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update status of hpa %s: %w", key, err)
	}
	return nil
}

// sync is upstream's reconcileAutoscaler: it fills hpa.Status and
// rescales the target if it must. Errors it reports in the status and
// events are not returned: the next period tries again.
func (c *Controller) sync(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler) error {
	now := metav1.NewTime(c.now())
	ref := hpa.Spec.ScaleTargetRef
	target, err := c.scaleTarget(hpa.Namespace, ref)
	var scale *autoscalingv1.Scale
	if err == nil {
		scale, err = target.get(ctx)
	}
	if err != nil {
		c.recorder.Event(hpa, corev1.EventTypeWarning, "FailedGetScale", err.Error())
		setCondition(&hpa.Status, autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedGetScale",
			fmt.Sprintf("the HPA controller was unable to get the target's current scale: %v", err), now)
		return nil
	}
	setCondition(&hpa.Status, autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededGetScale",
		"the HPA controller was able to get the target's current scale", now)
	current := scale.Spec.Replicas
	hpa.Status.ObservedGeneration = &hpa.Generation
	min := int32(1)
	if hpa.Spec.MinReplicas != nil {
		min = *hpa.Spec.MinReplicas
	}
	b := decideBounds(current, min, hpa.Spec.MaxReplicas)
	switch {
	case b.disabled:
		setCondition(&hpa.Status, autoscalingv2.ScalingActive, corev1.ConditionFalse, "ScalingDisabled",
			"scaling is disabled since the replica count of the target is zero", now)
	case !b.rescale:
		if msg := c.checkMetrics(ctx, hpa, scale.Status.Selector, now); msg != "" {
			// Upstream keeps the last desired count when the metrics fail.
			hpa.Status.CurrentReplicas = current
			c.recorder.Event(hpa, corev1.EventTypeWarning, "FailedComputeMetricsReplicas", msg)
			return nil
		}
	}
	if b.rescale {
		scale.Spec.Replicas = b.desired
		if err := target.update(ctx, scale); err != nil {
			c.recorder.Eventf(hpa, corev1.EventTypeWarning, "FailedRescale", "New size: %d; reason: %s; error: %v", b.desired, b.reason, err)
			setCondition(&hpa.Status, autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedUpdateScale",
				fmt.Sprintf("the HPA controller was unable to update the target scale: %v", err), now)
			hpa.Status.CurrentReplicas = current
			return nil
		}
		setCondition(&hpa.Status, autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededRescale",
			fmt.Sprintf("the HPA controller was able to update the target scale to %d", b.desired), now)
		c.recorder.Eventf(hpa, corev1.EventTypeNormal, "SuccessfulRescale", "New size: %d; reason: %s", b.desired, b.reason)
		hpa.Status.LastScaleTime = &now
	}
	hpa.Status.CurrentReplicas, hpa.Status.DesiredReplicas = current, b.desired
	return nil
}

// checkMetrics asks for every metric the HPA names; it returns the
// FailedComputeMetricsReplicas message if none could be had, having set
// ScalingActive=False with the first failure and recorded an event per
// failure, as upstream.
func (c *Controller) checkMetrics(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler, selector string, now metav1.Time) string {
	if selector == "" {
		c.recorder.Event(hpa, corev1.EventTypeWarning, "SelectorRequired", "selector is required")
		setCondition(&hpa.Status, autoscalingv2.ScalingActive, corev1.ConditionFalse, "InvalidSelector",
			"the HPA target's scale is missing a selector", now)
		return "selector is required"
	}
	var first error
	var firstReason, firstOuter string
	for _, m := range hpa.Spec.Metrics {
		reason, outer, err := c.metrics.fetch(ctx, hpa.Namespace, selector, m)
		c.recorder.Event(hpa, corev1.EventTypeWarning, reason, err.Error())
		if first == nil {
			first, firstReason, firstOuter = err, reason, outer
		}
	}
	if first == nil {
		return ""
	}
	setCondition(&hpa.Status, autoscalingv2.ScalingActive, corev1.ConditionFalse, firstReason,
		fmt.Sprintf("the HPA was unable to compute the replica count: %v", first), now)
	return fmt.Sprintf("invalid metrics (%d invalid out of %d), first error is: %s: %v", len(hpa.Spec.Metrics), len(hpa.Spec.Metrics), firstOuter, first)
}

// scaleTarget is the scale subresource of an HPA's target.
type scaleTarget struct {
	get    func(context.Context) (*autoscalingv1.Scale, error)
	update func(context.Context, *autoscalingv1.Scale) error
}

// scaleTarget finds the scale subresource of ref in ns among the
// resources Skiff serves with one (upstream asks a RESTMapper, which also
// knows custom resources). An unknown kind is upstream's mapping error.
func (c *Controller) scaleTarget(ns string, ref autoscalingv2.CrossVersionObjectReference) (scaleTarget, error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return scaleTarget{}, fmt.Errorf("invalid API version in scale target reference: %w", err)
	}
	name := ref.Name
	opts := metav1.GetOptions{}
	upd := func(f func(context.Context, string, *autoscalingv1.Scale, metav1.UpdateOptions) (*autoscalingv1.Scale, error)) func(context.Context, *autoscalingv1.Scale) error {
		return func(ctx context.Context, s *autoscalingv1.Scale) error {
			_, err := f(ctx, name, s, metav1.UpdateOptions{})
			return err
		}
	}
	switch {
	case gv.Group == "apps" && ref.Kind == "Deployment":
		d := c.client.AppsV1().Deployments(ns)
		return scaleTarget{func(ctx context.Context) (*autoscalingv1.Scale, error) { return d.GetScale(ctx, name, opts) }, upd(d.UpdateScale)}, nil
	case gv.Group == "apps" && ref.Kind == "ReplicaSet":
		r := c.client.AppsV1().ReplicaSets(ns)
		return scaleTarget{func(ctx context.Context) (*autoscalingv1.Scale, error) { return r.GetScale(ctx, name, opts) }, upd(r.UpdateScale)}, nil
	case gv.Group == "apps" && ref.Kind == "StatefulSet":
		s := c.client.AppsV1().StatefulSets(ns)
		return scaleTarget{func(ctx context.Context) (*autoscalingv1.Scale, error) { return s.GetScale(ctx, name, opts) }, upd(s.UpdateScale)}, nil
	case gv.Group == "" && ref.Kind == "ReplicationController":
		r := c.client.CoreV1().ReplicationControllers(ns)
		return scaleTarget{func(ctx context.Context) (*autoscalingv1.Scale, error) { return r.GetScale(ctx, name, opts) }, upd(r.UpdateScale)}, nil
	}
	return scaleTarget{}, fmt.Errorf("unable to determine resource for scale target reference: no matches for kind %q in group %q", ref.Kind, gv.Group)
}
