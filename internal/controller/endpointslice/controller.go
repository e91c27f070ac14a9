// Package endpointslice is the EndpointSlice controller: for every
// service with a selector it keeps discovery.k8s.io/v1 EndpointSlices
// (at most 100 endpoints each) listing the selected pods with their
// ready, serving and terminating conditions, as upstream's controller
// does — its labels (kubernetes.io/service-name,
// endpointslice.kubernetes.io/managed-by), owner reference, placeholder
// slice, last-change-trigger-time annotation and events. The planning is
// pure (plan.go); this file is the informer and API side.
package endpointslice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"skiff.dev/skiff/internal/controller/endpoints"
	"skiff.dev/skiff/internal/controller/podendpoints"
	"skiff.dev/skiff/internal/controller/reconcile"
)

// errStaleCache: the slice informer has not yet seen this controller's
// last writes for a service; syncing now would create duplicates.
var errStaleCache = errors.New("EndpointSlice informer cache is out of date")

// deletedSlice marks a slice the cache must no longer hold.
const deletedSlice = -1

// Controller is the EndpointSlice controller.
type Controller struct {
	client   kubernetes.Interface
	services corelisters.ServiceLister
	pods     corelisters.PodLister
	nodes    corelisters.NodeLister
	slices   discoverylisters.EndpointSliceLister
	recorder record.EventRecorder
	triggers *podendpoints.TriggerTimeTracker
	loop     *reconcile.Loop
	log      *slog.Logger
	max      int

	mu sync.Mutex
	// written holds, per service key, the slices last written and the
	// generation each must reach in the cache (or deletedSlice), like
	// upstream's EndpointSliceTracker.
	written map[string]map[string]int64
}

// New builds the controller on a factory not yet started. recorder
// should have source component "endpoint-slice-controller".
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder, log *slog.Logger) (*Controller, error) {
	svcInf := factory.Core().V1().Services()
	podInf := factory.Core().V1().Pods()
	nodeInf := factory.Core().V1().Nodes()
	sliceInf := factory.Discovery().V1().EndpointSlices()
	c := &Controller{
		client: client, services: svcInf.Lister(), pods: podInf.Lister(), nodes: nodeInf.Lister(),
		slices: sliceInf.Lister(), recorder: recorder, triggers: podendpoints.NewTriggerTimeTracker(),
		log: log, max: MaxEndpointsPerSlice, written: map[string]map[string]int64{},
	}
	c.loop = reconcile.NewLoop("endpoint_slice", reconcile.ReconcileFunc(c.Reconcile), log)
	c.loop.WaitFor(svcInf.Informer().HasSynced, podInf.Informer().HasSynced, nodeInf.Informer().HasSynced, sliceInf.Informer().HasSynced)
	if _, err := svcInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.loop.Enqueue,
		UpdateFunc: func(_, cur any) { c.loop.Enqueue(cur) },
		DeleteFunc: c.loop.Enqueue,
	}); err != nil {
		return nil, err
	}
	if _, err := podInf.Informer().AddEventHandler(endpoints.PodHandler(c.services, c.loop.Add)); err != nil {
		return nil, err
	}
	onSlice := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		s, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok || s.Labels[discoveryv1.LabelManagedBy] != ControllerName || s.Labels[discoveryv1.LabelServiceName] == "" {
			return
		}
		c.loop.Add(s.Namespace + "/" + s.Labels[discoveryv1.LabelServiceName])
	}
	if _, err := sliceInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onSlice, UpdateFunc: func(_, cur any) { onSlice(cur) },
		DeleteFunc: func(obj any) {
			// Once the cache has seen a slice go, no write of ours to it
			// can still be on its way: stop waiting for one.
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if s, ok := obj.(*discoveryv1.EndpointSlice); ok {
				c.mu.Lock()
				delete(c.written[s.Namespace+"/"+s.Labels[discoveryv1.LabelServiceName]], s.Name)
				c.mu.Unlock()
			}
			onSlice(obj)
		},
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// Run reconciles with workers goroutines until ctx ends (upstream runs 5).
func (c *Controller) Run(ctx context.Context, workers int) error { return c.loop.Run(ctx, workers) }

func (c *Controller) zoneOf(node string) string {
	n, err := c.nodes.Get(node)
	if err != nil {
		return ""
	}
	return n.Labels[corev1.LabelTopologyZone]
}

// Reconcile syncs the slices of the service named key.
func (c *Controller) Reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		// The garbage collector deletes the slices the service owned.
		c.triggers.Delete(key)
		c.mu.Lock()
		delete(c.written, key)
		c.mu.Unlock()
		return nil
	}
	if err != nil {
		return err
	}
	if svc.Spec.Selector == nil || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: ControllerName})
	existing, err := c.slices.EndpointSlices(ns).List(sel)
	if err != nil {
		return err
	}
	if c.stale(key, existing) {
		return fmt.Errorf("service %s: %w", key, errStaleCache)
	}
	pods, err := c.pods.Pods(ns).List(labels.SelectorFromValidatedSet(svc.Spec.Selector))
	if err != nil {
		return err
	}
	var owned []*discoveryv1.EndpointSlice
	for _, s := range existing {
		if ref := metav1.GetControllerOfNoCopy(s); ref == nil || ref.UID == svc.UID {
			owned = append(owned, s)
		}
	}
	plan := Reconcile(owned, Desired(svc, pods, c.zoneOf), c.max, sliceMeta(svc))
	trigger, commit := c.triggers.Compute(key, svc, pods)
	if len(plan.Create)+len(plan.Update)+len(plan.Delete) == 0 {
		commit()
		return nil
	}
	for _, s := range append(append([]*discoveryv1.EndpointSlice{}, plan.Create...), plan.Update...) {
		if !trigger.IsZero() {
			if s.Annotations == nil {
				s.Annotations = map[string]string{}
			}
			s.Annotations[corev1.EndpointsLastChangeTriggerTime] = podendpoints.FormatTriggerTime(trigger)
		} else {
			delete(s.Annotations, corev1.EndpointsLastChangeTriggerTime)
		}
	}
	if err := c.apply(ctx, key, ns, plan); err != nil {
		if !apierrors.IsConflict(err) && !apierrors.IsForbidden(err) {
			c.recorder.Eventf(svc, corev1.EventTypeWarning, "FailedToUpdateEndpointSlices",
				"Error updating Endpoint Slices for Service %s/%s: %v", ns, name, err)
		}
		if apierrors.IsForbidden(err) {
			return nil // a terminating namespace takes no new objects
		}
		return err
	}
	commit()
	return nil
}

func (c *Controller) apply(ctx context.Context, key, ns string, plan Plan) error {
	api := c.client.DiscoveryV1().EndpointSlices(ns)
	record := func(name string, gen int64) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.written[key] == nil {
			c.written[key] = map[string]int64{}
		}
		c.written[key][name] = gen
	}
	for _, s := range plan.Create {
		got, err := api.Create(ctx, s, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create endpoint slice for %s: %w", key, err)
		}
		record(got.Name, got.Generation)
	}
	for _, s := range plan.Update {
		got, err := api.Update(ctx, s, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("update endpoint slice %s/%s: %w", ns, s.Name, err)
		}
		record(got.Name, got.Generation)
	}
	for _, s := range plan.Delete {
		err := api.Delete(ctx, s.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &s.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete endpoint slice %s/%s: %w", ns, s.Name, err)
		}
		record(s.Name, deletedSlice)
	}
	return nil
}

// stale reports whether the cache lacks one of this controller's writes
// for the service; once it has them all they are forgotten.
func (c *Controller) stale(key string, cached []*discoveryv1.EndpointSlice) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	want := c.written[key]
	if len(want) == 0 {
		return false
	}
	have := make(map[string]int64, len(cached))
	for _, s := range cached {
		have[s.Name] = s.Generation
	}
	for name, gen := range want {
		g, ok := have[name]
		if gen == deletedSlice && ok || gen != deletedSlice && (!ok || g < gen) {
			return true
		}
	}
	delete(c.written, key)
	return false
}
