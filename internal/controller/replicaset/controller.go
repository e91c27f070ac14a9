// Package replicaset is the ReplicaSet controller: it keeps
// spec.replicas pods matching a ReplicaSet's selector alive, adopting
// matching orphans and releasing pods that stop matching, and reports
// status (replicas, fullyLabeledReplicas, readyReplicas,
// availableReplicas, terminatingReplicas, the ReplicaFailure condition),
// with upstream's semantics and events.
package replicaset

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
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"skiff.dev/skiff/internal/controller/ownerref"
	"skiff.dev/skiff/internal/controller/reconcile"
)

// BurstReplicas caps the pods one sync creates or deletes; the next sync
// waits until the informer has seen them all (upstream's 500).
const BurstReplicas = 500

// controllerKind is what the controller writes in ownerReferences.
var controllerKind = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")

// Controller is the ReplicaSet controller.
type Controller struct {
	client   kubernetes.Interface
	rsLister appslisters.ReplicaSetLister
	rsIndex  cache.Indexer
	pods     cache.Indexer
	recorder record.EventRecorder
	exp      *reconcile.Expectations
	loop     *reconcile.Loop
	log      *slog.Logger
	now      func() time.Time
	burst    int
}

// New builds the controller on a shared informer factory that has not
// been started yet (it adds an index to the pod informer). recorder
// should have source component "replicaset-controller".
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder, log *slog.Logger) (*Controller, error) {
	rsInf := factory.Apps().V1().ReplicaSets()
	podInf := factory.Core().V1().Pods()
	if err := ownerref.AddControllerIndex(podInf.Informer()); err != nil {
		return nil, err
	}
	if err := ownerref.AddControllerIndex(rsInf.Informer()); err != nil {
		return nil, err
	}
	c := &Controller{
		client: client, rsLister: rsInf.Lister(), rsIndex: rsInf.Informer().GetIndexer(),
		pods: podInf.Informer().GetIndexer(), recorder: recorder,
		exp: reconcile.NewExpectations(), log: log, now: time.Now, burst: BurstReplicas,
	}
	c.loop = reconcile.NewLoop("replicaset", reconcile.ReconcileFunc(c.Reconcile), log)
	c.loop.WaitFor(rsInf.Informer().HasSynced, podInf.Informer().HasSynced)
	_, err := rsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.loop.Enqueue,
		UpdateFunc: c.updateRS,
		DeleteFunc: c.deleteRS,
	})
	if err != nil {
		return nil, err
	}
	_, err = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Run reconciles with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) error { return c.loop.Run(ctx, workers) }

func (c *Controller) updateRS(old, cur any) {
	o, n := old.(*appsv1.ReplicaSet), cur.(*appsv1.ReplicaSet)
	if o.UID != n.UID {
		key, _ := cache.MetaNamespaceKeyFunc(o)
		c.deleteRS(cache.DeletedFinalStateUnknown{Key: key, Obj: o})
	}
	c.loop.Enqueue(n)
}

func (c *Controller) deleteRS(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	c.exp.Delete(key)
	c.loop.Add(key)
}

// resolve returns the ReplicaSet a controller reference names, if the
// cache holds it with the same UID.
func (c *Controller) resolve(ns string, ref *metav1.OwnerReference) *appsv1.ReplicaSet {
	if ref.Kind != controllerKind.Kind {
		return nil
	}
	rs, err := c.rsLister.ReplicaSets(ns).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return nil
	}
	return rs
}

// selecting returns the ReplicaSets whose selector matches an orphan pod:
// they may want to adopt it.
func (c *Controller) selecting(p *corev1.Pod) []*appsv1.ReplicaSet {
	all, err := c.rsLister.ReplicaSets(p.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*appsv1.ReplicaSet
	for _, rs := range all {
		sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		out = append(out, rs)
	}
	return out
}

func key(rs *appsv1.ReplicaSet) string { return rs.Namespace + "/" + rs.Name }

func (c *Controller) addPod(obj any) {
	p := obj.(*corev1.Pod)
	if p.DeletionTimestamp != nil {
		// Seen for the first time already terminating (a restart of the
		// controller): count it as a deletion.
		c.deletePod(p)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(p); ref != nil {
		if rs := c.resolve(p.Namespace, ref); rs != nil {
			c.exp.CreationObserved(key(rs))
			c.loop.Add(key(rs))
		}
		return
	}
	for _, rs := range c.selecting(p) {
		c.loop.Add(key(rs))
	}
}

func (c *Controller) updatePod(old, cur any) {
	o, n := old.(*corev1.Pod), cur.(*corev1.Pod)
	if o.ResourceVersion == n.ResourceVersion {
		return // a resync: nothing changed
	}
	labelsChanged := !reflect.DeepEqual(o.Labels, n.Labels)
	if n.DeletionTimestamp != nil {
		// Graceful deletion: the pod is as good as gone for the
		// controller, which may replace it now rather than after the
		// grace period.
		c.deletePod(n)
		if labelsChanged {
			c.deletePod(o)
		}
		return
	}
	oref, nref := metav1.GetControllerOfNoCopy(o), metav1.GetControllerOfNoCopy(n)
	refChanged := !reflect.DeepEqual(oref, nref)
	if refChanged && oref != nil {
		if rs := c.resolve(o.Namespace, oref); rs != nil {
			c.loop.Add(key(rs))
		}
	}
	if nref != nil {
		rs := c.resolve(n.Namespace, nref)
		if rs == nil {
			return
		}
		c.loop.Add(key(rs))
		// A pod that just became ready becomes available minReadySeconds
		// later: look again then.
		if !IsPodReady(o) && IsPodReady(n) && rs.Spec.MinReadySeconds > 0 {
			c.loop.AddAfter(key(rs), time.Duration(rs.Spec.MinReadySeconds)*time.Second)
		}
		return
	}
	if labelsChanged || refChanged {
		for _, rs := range c.selecting(n) {
			c.loop.Add(key(rs))
		}
	}
}

func (c *Controller) deletePod(obj any) {
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
	ref := metav1.GetControllerOfNoCopy(p)
	if ref == nil {
		return
	}
	rs := c.resolve(p.Namespace, ref)
	if rs == nil {
		return
	}
	c.exp.DeletionObserved(key(rs), ownerref.PodKey(p))
	c.loop.Add(key(rs))
}
