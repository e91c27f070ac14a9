// Package daemonset is the DaemonSet controller: one pod on every node
// the DaemonSet's node selector, required node affinity and taints
// (with the tolerations upstream adds to daemon pods) allow, pinned to
// its node by a matchFields metadata.name node affinity for the
// scheduler to bind; RollingUpdate (maxUnavailable, maxSurge) or
// OnDelete from ControllerRevisions; status counted per node as
// upstream's pkg/controller/daemon.
package daemonset

import (
	"context"
	"log/slog"
	"reflect"
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

// BurstReplicas caps the pods one sync creates or deletes (upstream's
// 250 for DaemonSets).
const BurstReplicas = 250

var controllerKind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// Controller is the DaemonSet controller.
type Controller struct {
	client    kubernetes.Interface
	sets      appslisters.DaemonSetLister
	nodes     corelisters.NodeLister
	pods      cache.Indexer
	revisions cache.Indexer
	history   history.Store
	recorder  record.EventRecorder
	exp       *reconcile.Expectations
	loop      *reconcile.Loop
	log       *slog.Logger
	now       func() time.Time
}

// New builds the controller on a factory not yet started. recorder
// should have source component "daemonset-controller".
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder, log *slog.Logger) (*Controller, error) {
	dsInf := factory.Apps().V1().DaemonSets()
	podInf := factory.Core().V1().Pods()
	revInf := factory.Apps().V1().ControllerRevisions()
	nodeInf := factory.Core().V1().Nodes()
	for _, inf := range []cache.SharedIndexInformer{podInf.Informer(), revInf.Informer()} {
		if err := ownerref.AddControllerIndex(inf); err != nil {
			return nil, err
		}
	}
	c := &Controller{
		client: client, sets: dsInf.Lister(), nodes: nodeInf.Lister(), pods: podInf.Informer().GetIndexer(),
		revisions: revInf.Informer().GetIndexer(), history: history.Store{Client: client},
		recorder: recorder, exp: reconcile.NewExpectations(), log: log, now: time.Now,
	}
	c.loop = reconcile.NewLoop("daemonset", reconcile.ReconcileFunc(c.Reconcile), log)
	c.loop.WaitFor(dsInf.Informer().HasSynced, podInf.Informer().HasSynced, revInf.Informer().HasSynced, nodeInf.Informer().HasSynced)
	if _, err := dsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.loop.Enqueue,
		UpdateFunc: func(_, cur any) { c.loop.Enqueue(cur) },
		DeleteFunc: func(obj any) {
			if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				c.exp.Delete(key)
				c.loop.Add(key)
			}
		},
	}); err != nil {
		return nil, err
	}
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			p := obj.(*corev1.Pod)
			if ds := c.owner(p); ds != nil {
				if p.DeletionTimestamp != nil {
					c.exp.DeletionObserved(dsKey(ds), ownerref.PodKey(p))
				} else {
					c.exp.CreationObserved(dsKey(ds))
				}
				c.loop.Enqueue(ds)
			}
		},
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	}); err != nil {
		return nil, err
	}
	if _, err := nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { c.enqueueAll() },
		UpdateFunc: func(old, cur any) {
			o, n := old.(*corev1.Node), cur.(*corev1.Node)
			if !reflect.DeepEqual(o.Labels, n.Labels) || !reflect.DeepEqual(o.Spec.Taints, n.Spec.Taints) || o.Spec.Unschedulable != n.Spec.Unschedulable {
				c.enqueueAll()
			}
		},
		DeleteFunc: func(any) { c.enqueueAll() },
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// Run reconciles with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) error { return c.loop.Run(ctx, workers) }

func dsKey(ds *appsv1.DaemonSet) string { return ds.Namespace + "/" + ds.Name }

func (c *Controller) enqueueAll() {
	all, _ := c.sets.List(labels.Everything())
	for _, ds := range all {
		c.loop.Enqueue(ds)
	}
}

func (c *Controller) owner(p *corev1.Pod) *appsv1.DaemonSet {
	ref := metav1.GetControllerOfNoCopy(p)
	if ref == nil || ref.Kind != controllerKind.Kind {
		return nil
	}
	ds, err := c.sets.DaemonSets(p.Namespace).Get(ref.Name)
	if err != nil || ds.UID != ref.UID {
		return nil
	}
	return ds
}

func (c *Controller) updatePod(old, cur any) {
	o, n := old.(*corev1.Pod), cur.(*corev1.Pod)
	if o.ResourceVersion == n.ResourceVersion {
		return
	}
	if n.DeletionTimestamp != nil {
		c.deletePod(n)
		return
	}
	if ds := c.owner(o); ds != nil {
		c.loop.Enqueue(ds)
	}
	ds := c.owner(n)
	if ds == nil {
		// An orphan whose labels changed may be adopted.
		if !reflect.DeepEqual(o.Labels, n.Labels) {
			c.enqueueAll()
		}
		return
	}
	c.loop.Enqueue(ds)
	if r, _ := isReady(n); r && ds.Spec.MinReadySeconds > 0 {
		c.loop.EnqueueAfter(ds, time.Duration(ds.Spec.MinReadySeconds)*time.Second)
	}
}

func (c *Controller) deletePod(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if ds := c.owner(p); ds != nil {
		c.exp.DeletionObserved(dsKey(ds), ownerref.PodKey(p))
		c.loop.Enqueue(ds)
	}
}
