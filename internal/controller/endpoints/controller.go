// Package endpoints is the Endpoints controller: for every service with
// a selector it keeps an Endpoints object of the same name listing the
// selected pods' addresses and ports, ready or not ready, as upstream's
// endpoint controller does (labels copied from the service plus
// service.kubernetes.io/headless, the last-change-trigger-time and
// over-capacity annotations). Services without a selector are left to
// their users.
package endpoints

import (
	"context"
	"fmt"
	"log/slog"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"skiff.dev/skiff/internal/controller/podendpoints"
	"skiff.dev/skiff/internal/controller/reconcile"
)

// Upstream's annotation and label names.
const (
	overCapacityAnnotation = "endpoints.kubernetes.io/over-capacity"
	headlessLabel          = corev1.IsHeadlessService // service.kubernetes.io/headless
)

// Controller is the Endpoints controller.
type Controller struct {
	client    kubernetes.Interface
	services  corelisters.ServiceLister
	pods      corelisters.PodLister
	endpoints corelisters.EndpointsLister
	recorder  record.EventRecorder
	triggers  *podendpoints.TriggerTimeTracker
	loop      *reconcile.Loop
	log       *slog.Logger
}

// New builds the controller on a factory not yet started. recorder
// should have source component "endpoint-controller".
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder, log *slog.Logger) (*Controller, error) {
	svcInf := factory.Core().V1().Services()
	podInf := factory.Core().V1().Pods()
	epInf := factory.Core().V1().Endpoints()
	c := &Controller{
		client: client, services: svcInf.Lister(), pods: podInf.Lister(), endpoints: epInf.Lister(),
		recorder: recorder, triggers: podendpoints.NewTriggerTimeTracker(), log: log,
	}
	c.loop = reconcile.NewLoop("endpoint", reconcile.ReconcileFunc(c.Reconcile), log)
	c.loop.WaitFor(svcInf.Informer().HasSynced, podInf.Informer().HasSynced, epInf.Informer().HasSynced)
	if _, err := svcInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.loop.Enqueue,
		UpdateFunc: func(_, cur any) { c.loop.Enqueue(cur) },
		DeleteFunc: c.loop.Enqueue,
	}); err != nil {
		return nil, err
	}
	if _, err := podInf.Informer().AddEventHandler(PodHandler(c.services, c.loop.Add)); err != nil {
		return nil, err
	}
	// An Endpoints object deleted behind our back is recreated.
	if _, err := epInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: c.loop.Enqueue}); err != nil {
		return nil, err
	}
	return c, nil
}

// Run reconciles with workers goroutines until ctx ends (upstream runs 5).
func (c *Controller) Run(ctx context.Context, workers int) error { return c.loop.Run(ctx, workers) }

// PodHandler queues, by key, the services that select a pod before and
// after a change. Shared with the EndpointSlice controller.
func PodHandler(services corelisters.ServiceLister, add func(key string)) cache.ResourceEventHandler {
	queue := func(p *corev1.Pod) {
		svcs, err := services.Services(p.Namespace).List(labels.Everything())
		if err != nil {
			return
		}
		for _, s := range svcs {
			if podendpoints.Selects(s, p) {
				add(s.Namespace + "/" + s.Name)
			}
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { queue(obj.(*corev1.Pod)) },
		UpdateFunc: func(old, cur any) {
			o, n := old.(*corev1.Pod), cur.(*corev1.Pod)
			if o.ResourceVersion == n.ResourceVersion {
				return
			}
			queue(n)
			if !maps.Equal(o.Labels, n.Labels) {
				queue(o)
			}
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				queue(p)
			}
		},
	}
}

// Reconcile syncs the Endpoints of the service named key.
func (c *Controller) Reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.triggers.Delete(key)
		err := c.client.CoreV1().Endpoints(ns).Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete endpoints %s: %w", key, err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if svc.Spec.Selector == nil {
		return nil // the user manages this service's endpoints
	}
	pods, err := c.pods.Pods(ns).List(labels.SelectorFromValidatedSet(svc.Spec.Selector))
	if err != nil {
		return err
	}
	subsets, truncated := Truncate(Subsets(svc, pods), MaxCapacity)
	trigger, commit := c.triggers.Compute(key, svc, pods)

	cur, err := c.endpoints.Endpoints(ns).Get(name)
	create := apierrors.IsNotFound(err)
	if err != nil && !create {
		return err
	}
	if create {
		cur = &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	}
	wantLabels := endpointsLabels(svc)
	if !create && apiequality.Semantic.DeepEqual(cur.Subsets, subsets) &&
		maps.Equal(cur.Labels, wantLabels) && (cur.Annotations[overCapacityAnnotation] == "truncated") == truncated {
		commit()
		return nil
	}
	next := cur.DeepCopy()
	next.Subsets = subsets
	next.Labels = wantLabels
	if next.Annotations == nil {
		next.Annotations = map[string]string{}
	}
	if !trigger.IsZero() {
		next.Annotations[corev1.EndpointsLastChangeTriggerTime] = podendpoints.FormatTriggerTime(trigger)
	} else {
		delete(next.Annotations, corev1.EndpointsLastChangeTriggerTime)
	}
	if truncated {
		next.Annotations[overCapacityAnnotation] = "truncated"
	} else {
		delete(next.Annotations, overCapacityAnnotation)
	}
	if create {
		_, err = c.client.CoreV1().Endpoints(ns).Create(ctx, next, metav1.CreateOptions{})
	} else {
		_, err = c.client.CoreV1().Endpoints(ns).Update(ctx, next, metav1.UpdateOptions{})
	}
	if err == nil {
		commit()
		return nil
	}
	if create && apierrors.IsForbidden(err) {
		// The namespace is terminating: nothing may be created in it.
		return nil
	}
	if create && apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err) {
		return fmt.Errorf("endpoints %s: %w", key, err) // the cache is behind; retry
	}
	if create {
		c.recorder.Eventf(next, corev1.EventTypeWarning, "FailedToCreateEndpoint", "Failed to create endpoint for service %v/%v: %v", ns, name, err)
	} else {
		c.recorder.Eventf(next, corev1.EventTypeWarning, "FailedToUpdateEndpoint", "Failed to update endpoint %v/%v: %v", ns, name, err)
	}
	return fmt.Errorf("write endpoints %s: %w", key, err)
}

// endpointsLabels are the service's labels, with the headless label set
// exactly when the service has no cluster IP.
func endpointsLabels(svc *corev1.Service) map[string]string {
	out := maps.Clone(svc.Labels)
	if out == nil {
		out = map[string]string{}
	}
	if ip := svc.Spec.ClusterIP; ip == "" || ip == corev1.ClusterIPNone {
		out[headlessLabel] = ""
	} else {
		delete(out, headlessLabel)
	}
	return out
}
