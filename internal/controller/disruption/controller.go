// Package disruption is upstream's disruption controller: it keeps each
// PodDisruptionBudget's status — expectedPods, desiredHealthy,
// currentHealthy, disruptionsAllowed, disruptedPods, observedGeneration
// and the DisruptionAllowed condition — so that the API server's
// eviction subresource, which reads them, lets `kubectl drain` evict
// exactly as many pods as the budget allows. The counting is pure
// (status.go).
package disruption

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"skiff.dev/skiff/internal/controller/reconcile"
)

// Controller is the disruption controller.
type Controller struct {
	client       kubernetes.Interface
	pdbs         policylisters.PodDisruptionBudgetLister
	pods         corelisters.PodLister
	replicaSets  appslisters.ReplicaSetLister
	deployments  appslisters.DeploymentLister
	statefulSets appslisters.StatefulSetLister
	rcs          corelisters.ReplicationControllerLister
	recorder     record.EventRecorder
	loop         *reconcile.Loop
	now          func() time.Time
}

// New builds the controller on a factory not yet started. recorder
// should have source component "controllermanager" (upstream's source
// for disruption events).
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder, log *slog.Logger) (*Controller, error) {
	pdbInf := factory.Policy().V1().PodDisruptionBudgets()
	podInf := factory.Core().V1().Pods()
	rsInf := factory.Apps().V1().ReplicaSets()
	dInf := factory.Apps().V1().Deployments()
	ssInf := factory.Apps().V1().StatefulSets()
	rcInf := factory.Core().V1().ReplicationControllers()
	c := &Controller{
		client: client, pdbs: pdbInf.Lister(), pods: podInf.Lister(), replicaSets: rsInf.Lister(),
		deployments: dInf.Lister(), statefulSets: ssInf.Lister(), rcs: rcInf.Lister(), recorder: recorder, now: time.Now,
	}
	c.loop = reconcile.NewLoop("disruption", reconcile.ReconcileFunc(c.Reconcile), log)
	c.loop.WaitFor(pdbInf.Informer().HasSynced, podInf.Informer().HasSynced, rsInf.Informer().HasSynced,
		dInf.Informer().HasSynced, ssInf.Informer().HasSynced, rcInf.Informer().HasSynced)
	if _, err := pdbInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.loop.Enqueue,
		UpdateFunc: func(_, cur any) { c.loop.Enqueue(cur) },
	}); err != nil {
		return nil, err
	}
	onPod := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		if p, ok := obj.(*corev1.Pod); ok {
			c.enqueueFor(p.Namespace, p.Labels)
		}
	}
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onPod, DeleteFunc: onPod,
		UpdateFunc: func(old, cur any) {
			onPod(cur)
			if o, n := old.(*corev1.Pod), cur.(*corev1.Pod); !labels.Equals(o.Labels, n.Labels) {
				onPod(old)
			}
		},
	}); err != nil {
		return nil, err
	}
	// A controller's scale is a budget's expected pods: look again at the
	// namespace's budgets when one changes.
	onScale := func(_, cur any) {
		if m, ok := cur.(metav1.Object); ok {
			c.enqueueNamespace(m.GetNamespace())
		}
	}
	for _, inf := range []cache.SharedIndexInformer{rsInf.Informer(), dInf.Informer(), ssInf.Informer(), rcInf.Informer()} {
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{UpdateFunc: onScale}); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Run reconciles with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) error { return c.loop.Run(ctx, workers) }

func (c *Controller) enqueueFor(ns string, podLabels map[string]string) {
	pdbs, err := c.pdbs.PodDisruptionBudgets(ns).List(labels.Everything())
	if err != nil {
		return
	}
	for _, pdb := range pdbs {
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err == nil && sel.Matches(labels.Set(podLabels)) {
			c.loop.Enqueue(pdb)
		}
	}
}

func (c *Controller) enqueueNamespace(ns string) {
	pdbs, _ := c.pdbs.PodDisruptionBudgets(ns).List(labels.Everything())
	for _, pdb := range pdbs {
		c.loop.Enqueue(pdb)
	}
}

// Reconcile writes the status of the budget named key.
func (c *Controller) Reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pdb, err := c.pdbs.PodDisruptionBudgets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	// A nil selector selects nothing; an empty one every pod (policy/v1).
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil {
		return c.write(ctx, pdb, FailSafe(pdb, err))
	}
	var pods []*corev1.Pod
	if pdb.Spec.Selector != nil {
		if pods, err = c.pods.Pods(ns).List(sel); err != nil {
			return err
		}
	}
	if len(pods) == 0 {
		c.recorder.Event(pdb, corev1.EventTypeNormal, "NoPods", "No matching pods found")
	}
	now := c.now()
	b, err := Compute(pdb, pods, c.expectedScale, now)
	if err != nil {
		c.recorder.Eventf(pdb, corev1.EventTypeWarning, "CalculateExpectedPodCountFailed", "Failed to calculate the number of expected pods: %v", err)
		return c.write(ctx, pdb, FailSafe(pdb, err))
	}
	if !b.RecheckAt.IsZero() {
		c.loop.AddAfter(key, b.RecheckAt.Sub(now))
	}
	return c.write(ctx, pdb, Status(pdb, b))
}

func (c *Controller) write(ctx context.Context, pdb *policyv1.PodDisruptionBudget, st policyv1.PodDisruptionBudgetStatus) error {
	if apiequality.Semantic.DeepEqual(pdb.Status, st) {
		return nil
	}
	next := pdb.DeepCopy()
	next.Status = st
	if _, err := c.client.PolicyV1().PodDisruptionBudgets(pdb.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("update status of pdb %s/%s: %w", pdb.Namespace, pdb.Name, err)
	}
	return nil
}

// expectedScale sums the replicas of the pods' controllers, each counted
// once: a ReplicaSet a Deployment controls counts as the Deployment.
func (c *Controller) expectedScale(pods []*corev1.Pod) (int32, error) {
	scales := map[types.UID]int32{}
	for _, p := range pods {
		ref := metav1.GetControllerOfNoCopy(p)
		if ref == nil {
			return 0, fmt.Errorf("found no controller ref for pod %q", p.Name)
		}
		uid, n, ok := c.scaleOf(p.Namespace, ref)
		if !ok {
			return 0, fmt.Errorf("found no controllers for pod %q", p.Name)
		}
		scales[uid] = n
	}
	var sum int32
	for _, n := range scales {
		sum += n
	}
	return sum, nil
}

func (c *Controller) scaleOf(ns string, ref *metav1.OwnerReference) (types.UID, int32, bool) {
	replicas := func(r *int32) int32 {
		if r == nil {
			return 1
		}
		return *r
	}
	switch ref.Kind {
	case "ReplicaSet":
		rs, err := c.replicaSets.ReplicaSets(ns).Get(ref.Name)
		if err != nil || rs.UID != ref.UID {
			return "", 0, false
		}
		if dref := metav1.GetControllerOfNoCopy(rs); dref != nil && dref.Kind == "Deployment" {
			d, err := c.deployments.Deployments(ns).Get(dref.Name)
			if err != nil || d.UID != dref.UID {
				return "", 0, false
			}
			return d.UID, replicas(d.Spec.Replicas), true
		}
		return rs.UID, replicas(rs.Spec.Replicas), true
	case "StatefulSet":
		ss, err := c.statefulSets.StatefulSets(ns).Get(ref.Name)
		if err != nil || ss.UID != ref.UID {
			return "", 0, false
		}
		return ss.UID, replicas(ss.Spec.Replicas), true
	case "ReplicationController":
		rc, err := c.rcs.ReplicationControllers(ns).Get(ref.Name)
		if err != nil || rc.UID != ref.UID {
			return "", 0, false
		}
		return rc.UID, replicas(rc.Spec.Replicas), true
	}
	return "", 0, false
}
