// Package deployment is the Deployment controller: it rolls a
// Deployment's pod template out through ReplicaSets (one per template,
// named and labelled with the template's pod-template-hash), by the
// RollingUpdate (maxSurge, maxUnavailable) or Recreate strategy, keeps
// revisions and history, scales proportionally in mid-rollout, pauses,
// rolls back, and reports status and the Progressing, Available and
// ReplicaFailure conditions — upstream's semantics, reasons and events,
// so kubectl rollout status/history/undo and describe read as upstream.
package deployment

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

var controllerKind = appsv1.SchemeGroupVersion.WithKind("Deployment")

// Controller is the Deployment controller.
type Controller struct {
	client   kubernetes.Interface
	dLister  appslisters.DeploymentLister
	rsLister appslisters.ReplicaSetLister
	pods     cache.Indexer
	recorder record.EventRecorder
	loop     *reconcile.Loop
	log      *slog.Logger
	now      func() time.Time
}

// New builds the controller on a shared informer factory that has not
// been started. recorder should have source "deployment-controller".
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder, log *slog.Logger) (*Controller, error) {
	dInf := factory.Apps().V1().Deployments()
	rsInf := factory.Apps().V1().ReplicaSets()
	podInf := factory.Core().V1().Pods()
	if err := ownerref.AddControllerIndex(podInf.Informer()); err != nil {
		return nil, err
	}
	c := &Controller{
		client: client, dLister: dInf.Lister(), rsLister: rsInf.Lister(),
		pods: podInf.Informer().GetIndexer(), recorder: recorder, log: log, now: time.Now,
	}
	c.loop = reconcile.NewLoop("deployment", reconcile.ReconcileFunc(c.Reconcile), log)
	c.loop.WaitFor(dInf.Informer().HasSynced, rsInf.Informer().HasSynced, podInf.Informer().HasSynced)
	if _, err := dInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.loop.Enqueue,
		UpdateFunc: func(_, cur any) { c.loop.Enqueue(cur) },
		DeleteFunc: c.loop.Enqueue,
	}); err != nil {
		return nil, err
	}
	if _, err := rsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addReplicaSet,
		UpdateFunc: c.updateReplicaSet,
		DeleteFunc: c.deleteReplicaSet,
	}); err != nil {
		return nil, err
	}
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: c.deletePod}); err != nil {
		return nil, err
	}
	return c, nil
}

// Run reconciles with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) error { return c.loop.Run(ctx, workers) }

func (c *Controller) resolve(ns string, ref *metav1.OwnerReference) *appsv1.Deployment {
	if ref.Kind != controllerKind.Kind {
		return nil
	}
	d, err := c.dLister.Deployments(ns).Get(ref.Name)
	if err != nil || d.UID != ref.UID {
		return nil
	}
	return d
}

// selecting lists the Deployments whose selector matches an orphan
// ReplicaSet's labels.
func (c *Controller) selecting(rs *appsv1.ReplicaSet) []*appsv1.Deployment {
	if len(rs.Labels) == 0 {
		return nil
	}
	all, err := c.dLister.Deployments(rs.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*appsv1.Deployment
	for _, d := range all {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(rs.Labels)) {
			continue
		}
		out = append(out, d)
	}
	return out
}

func (c *Controller) addReplicaSet(obj any) {
	rs := obj.(*appsv1.ReplicaSet)
	if rs.DeletionTimestamp != nil {
		c.deleteReplicaSet(rs)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(rs); ref != nil {
		if d := c.resolve(rs.Namespace, ref); d != nil {
			c.loop.Enqueue(d)
		}
		return
	}
	for _, d := range c.selecting(rs) {
		c.loop.Enqueue(d)
	}
}

func (c *Controller) updateReplicaSet(old, cur any) {
	o, n := old.(*appsv1.ReplicaSet), cur.(*appsv1.ReplicaSet)
	if o.ResourceVersion == n.ResourceVersion {
		return
	}
	oref, nref := metav1.GetControllerOfNoCopy(o), metav1.GetControllerOfNoCopy(n)
	refChanged := !reflect.DeepEqual(oref, nref)
	if refChanged && oref != nil {
		if d := c.resolve(o.Namespace, oref); d != nil {
			c.loop.Enqueue(d)
		}
	}
	if nref != nil {
		if d := c.resolve(n.Namespace, nref); d != nil {
			c.loop.Enqueue(d)
		}
		return
	}
	if refChanged || !reflect.DeepEqual(o.Labels, n.Labels) {
		for _, d := range c.selecting(n) {
			c.loop.Enqueue(d)
		}
	}
}

func (c *Controller) deleteReplicaSet(obj any) {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		t, ok := obj.(cache.DeletedFinalStateUnknown)
		if !ok {
			return
		}
		if rs, ok = t.Obj.(*appsv1.ReplicaSet); !ok {
			return
		}
	}
	if ref := metav1.GetControllerOfNoCopy(rs); ref != nil {
		if d := c.resolve(rs.Namespace, ref); d != nil {
			c.loop.Enqueue(d)
		}
	}
}

// deletePod wakes a Recreate Deployment waiting for its old pods to go.
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
	if ref == nil || ref.Kind != "ReplicaSet" {
		return
	}
	rs, err := c.rsLister.ReplicaSets(p.Namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return
	}
	dref := metav1.GetControllerOfNoCopy(rs)
	if dref == nil {
		return
	}
	if d := c.resolve(rs.Namespace, dref); d != nil && d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		c.loop.Enqueue(d)
	}
}
