// Package statefulset is the StatefulSet controller: pods with stable
// names "<set>-<ordinal>", hostnames in the governing service's
// subdomain, and per-ordinal PersistentVolumeClaims from the claim
// templates; created in order and each Running and Ready before the next
// (OrderedReady) or all at once (Parallel); deleted in reverse; updated
// from ControllerRevisions by RollingUpdate (highest ordinal first, down
// to the partition) or OnDelete. Semantics and events are upstream's
// pkg/controller/statefulset.
package statefulset

import (
	"context"
	"log/slog"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"skiff.dev/skiff/internal/controller/history"
	"skiff.dev/skiff/internal/controller/ownerref"
	"skiff.dev/skiff/internal/controller/reconcile"
)

var controllerKind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")

// Controller is the StatefulSet controller.
type Controller struct {
	client    kubernetes.Interface
	sets      appslisters.StatefulSetLister
	pods      cache.Indexer
	revisions cache.Indexer
	pvcs      corelisters.PersistentVolumeClaimLister
	history   history.Store
	recorder  record.EventRecorder
	loop      *reconcile.Loop
	log       *slog.Logger
	now       func() time.Time
}

// New builds the controller on a factory not yet started. recorder
// should have source component "statefulset-controller".
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder, log *slog.Logger) (*Controller, error) {
	setInf := factory.Apps().V1().StatefulSets()
	podInf := factory.Core().V1().Pods()
	revInf := factory.Apps().V1().ControllerRevisions()
	pvcInf := factory.Core().V1().PersistentVolumeClaims()
	for _, inf := range []cache.SharedIndexInformer{podInf.Informer(), revInf.Informer()} {
		if err := ownerref.AddControllerIndex(inf); err != nil {
			return nil, err
		}
	}
	c := &Controller{
		client: client, sets: setInf.Lister(), pods: podInf.Informer().GetIndexer(),
		revisions: revInf.Informer().GetIndexer(), pvcs: pvcInf.Lister(),
		history: history.Store{Client: client}, recorder: recorder, log: log, now: time.Now,
	}
	c.loop = reconcile.NewLoop("statefulset", reconcile.ReconcileFunc(c.Reconcile), log)
	c.loop.WaitFor(setInf.Informer().HasSynced, podInf.Informer().HasSynced, revInf.Informer().HasSynced, pvcInf.Informer().HasSynced)
	if _, err := setInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.loop.Enqueue,
		UpdateFunc: func(_, cur any) { c.loop.Enqueue(cur) },
		DeleteFunc: c.loop.Enqueue,
	}); err != nil {
		return nil, err
	}
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.podChanged,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.podChanged,
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// Run reconciles with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) error { return c.loop.Run(ctx, workers) }

func (c *Controller) updatePod(old, cur any) {
	o, n := old.(*corev1.Pod), cur.(*corev1.Pod)
	if o.ResourceVersion == n.ResourceVersion {
		return
	}
	if ref := metav1.GetControllerOfNoCopy(o); ref != nil {
		if n := metav1.GetControllerOfNoCopy(n); n == nil || n.UID != ref.UID {
			c.podChanged(o)
		}
	}
	c.podChanged(n)
}

// podChanged queues the set controlling the pod, or the sets that may
// adopt it.
func (c *Controller) podChanged(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		t, ok := obj.(cache.DeletedFinalStateUnknown)
		if !ok {
			return
		}
		if p, ok = t.Obj.(*corev1.Pod); !ok {
			return
		}
	}
	if ref := metav1.GetControllerOfNoCopy(p); ref != nil {
		if ref.Kind != controllerKind.Kind {
			return
		}
		if set, err := c.sets.StatefulSets(p.Namespace).Get(ref.Name); err == nil && set.UID == ref.UID {
			c.loop.Enqueue(set)
			c.requeueForAvailability(set, p)
		}
		return
	}
	sets, _ := c.sets.StatefulSets(p.Namespace).List(labels.Everything())
	for _, set := range sets {
		sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(p.Labels)) && isMemberOf(set, p) {
			c.loop.Enqueue(set)
		}
	}
}

// requeueForAvailability looks at set again when a ready pod becomes
// available (minReadySeconds later).
func (c *Controller) requeueForAvailability(set *appsv1.StatefulSet, p *corev1.Pod) {
	if set.Spec.MinReadySeconds > 0 && isRunningAndReady(p) {
		c.loop.EnqueueAfter(set, time.Duration(set.Spec.MinReadySeconds)*time.Second+time.Second)
	}
}
