// Package nodelifecycle is upstream's node lifecycle controller with its
// taint-based eviction: a node whose kubelet has not renewed its Lease
// (kube-node-lease) nor posted status within the grace period gets its
// Ready, MemoryPressure, DiskPressure and PIDPressure conditions set to
// Unknown; node.kubernetes.io/unreachable or not-ready taints (NoExecute
// and NoSchedule) follow the Ready condition; the pods on a node turning
// not ready are marked not ready; and pods on a node with NoExecute
// taints they do not tolerate are evicted — at once, or after the
// smallest tolerationSeconds of the tolerations they use — with the
// DisruptionTarget condition and upstream's events.
//
// The decisions are pure (decide.go); this file reads informers and
// writes the API. Upstream's per-zone rate limits and full-disruption
// mode are not implemented: every node is handled as soon as it goes
// quiet.
package nodelifecycle

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	coordinationlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"skiff.dev/skiff/internal/controller/reconcile"
)

// Config holds the controller's timings; zero fields take upstream's
// defaults.
type Config struct {
	// MonitorGracePeriod is how long a node may go without a Lease
	// renewal or status heartbeat before it is Unknown
	// (--node-monitor-grace-period: 50 s since Kubernetes 1.32, 40 s
	// before; kubernetes#121793).
	MonitorGracePeriod time.Duration
	// StartupGracePeriod replaces it for a node that never posted a
	// Ready condition (--node-startup-grace-period, 60 s).
	StartupGracePeriod time.Duration
	// MonitorPeriod is how often every node is looked at even without
	// events (--node-monitor-period, 5 s).
	MonitorPeriod time.Duration
}

func (c Config) withDefaults() Config {
	if c.MonitorGracePeriod == 0 {
		c.MonitorGracePeriod = 50 * time.Second
	}
	if c.StartupGracePeriod == 0 {
		c.StartupGracePeriod = 60 * time.Second
	}
	if c.MonitorPeriod == 0 {
		c.MonitorPeriod = 5 * time.Second
	}
	return c
}

const podsByNode = "nodelifecycle.nodeName"

// Controller is the node lifecycle controller.
type Controller struct {
	cfg      Config
	client   kubernetes.Interface
	nodes    corelisters.NodeLister
	leases   coordinationlisters.LeaseLister
	pods     cache.Indexer
	recorder record.EventRecorder
	log      *slog.Logger
	now      func() time.Time

	nodeLoop *reconcile.Loop
	podLoop  *reconcile.Loop

	mu     sync.Mutex
	health map[string]*nodeHealth
	// evictFrom is when the taint manager first found each pod (key)
	// evictable; its eviction is due tolerationSeconds later.
	evictFrom map[string]time.Time
}

// nodeHealth is what the controller last saw of a node's kubelet.
type nodeHealth struct {
	probe     time.Time // our clock, when a sign of life was last seen
	heartbeat time.Time // the Ready condition's lastHeartbeatTime
	renew     time.Time // the Lease's renewTime
	ready     corev1.ConditionStatus
}

// New builds the controller on a factory not yet started. recorder
// should have source component "node-controller".
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder, cfg Config, log *slog.Logger) (*Controller, error) {
	nodeInf := factory.Core().V1().Nodes()
	leaseInf := factory.Coordination().V1().Leases()
	podInf := factory.Core().V1().Pods()
	if err := podInf.Informer().AddIndexers(cache.Indexers{podsByNode: func(obj any) ([]string, error) {
		p, ok := obj.(*corev1.Pod)
		if !ok || p.Spec.NodeName == "" {
			return nil, nil
		}
		return []string{p.Spec.NodeName}, nil
	}}); err != nil {
		return nil, fmt.Errorf("pod index: %w", err)
	}
	c := &Controller{
		cfg: cfg.withDefaults(), client: client, nodes: nodeInf.Lister(), leases: leaseInf.Lister(),
		pods: podInf.Informer().GetIndexer(), recorder: recorder, log: log, now: time.Now,
		health: map[string]*nodeHealth{}, evictFrom: map[string]time.Time{},
	}
	c.nodeLoop = reconcile.NewLoop("node_lifecycle", reconcile.ReconcileFunc(c.reconcileNode), log)
	c.nodeLoop.WaitFor(nodeInf.Informer().HasSynced, leaseInf.Informer().HasSynced, podInf.Informer().HasSynced)
	c.podLoop = reconcile.NewLoop("taint_eviction", reconcile.ReconcileFunc(c.reconcilePod), log)
	c.podLoop.WaitFor(nodeInf.Informer().HasSynced, podInf.Informer().HasSynced)

	if _, err := nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.nodeLoop.Enqueue,
		UpdateFunc: func(old, cur any) {
			c.nodeLoop.Enqueue(cur)
			o, n := old.(*corev1.Node), cur.(*corev1.Node)
			if !sameTaints(noExecuteTaints(o), noExecuteTaints(n)) {
				c.enqueuePodsOn(n.Name)
			}
		},
		DeleteFunc: c.nodeLoop.Enqueue,
	}); err != nil {
		return nil, err
	}
	if _, err := leaseInf.Informer().AddEventHandler(cache.FilteringResourceEventHandler{
		FilterFunc: func(obj any) bool {
			l, ok := obj.(*coordinationv1.Lease)
			return ok && l.Namespace == corev1.NamespaceNodeLease
		},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { c.nodeLoop.Add(obj.(*coordinationv1.Lease).Name) },
			UpdateFunc: func(_, cur any) { c.nodeLoop.Add(cur.(*coordinationv1.Lease).Name) },
		},
	}); err != nil {
		return nil, err
	}
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueuePod,
		UpdateFunc: func(old, cur any) {
			o, n := old.(*corev1.Pod), cur.(*corev1.Pod)
			if o.Spec.NodeName != n.Spec.NodeName || !sameTolerations(o, n) {
				c.enqueuePod(n)
			}
		},
		DeleteFunc: c.podLoop.Enqueue,
	}); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Controller) enqueuePod(obj any) {
	if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
		c.podLoop.Enqueue(p)
	}
}

func (c *Controller) enqueuePodsOn(node string) {
	objs, _ := c.pods.ByIndex(podsByNode, node)
	for _, o := range objs {
		c.podLoop.Enqueue(o)
	}
}

func sameTaints(a, b []corev1.Taint) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].MatchTaint(&b[i]) || a[i].Value != b[i].Value {
			return false
		}
	}
	return true
}

func sameTolerations(a, b *corev1.Pod) bool {
	return fmt.Sprint(a.Spec.Tolerations) == fmt.Sprint(b.Spec.Tolerations)
}

// Run monitors nodes and evicts pods until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) error {
	go func() {
		t := time.NewTicker(c.cfg.MonitorPeriod)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				nodes, _ := c.nodes.List(labels.Everything())
				for _, n := range nodes {
					c.nodeLoop.Add(n.Name)
				}
			}
		}
	}()
	go func() { _ = c.podLoop.Run(ctx, workers) }()
	return c.nodeLoop.Run(ctx, workers)
}

// observe records the signs of life in node and its lease and returns the
// node's health record, and whether this is the controller's first sight
// of the node.
func (c *Controller) observe(n *corev1.Node, now time.Time) (*nodeHealth, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.health[n.Name]
	first := h == nil
	if first {
		// First sight: the grace period starts now, as upstream.
		h = &nodeHealth{probe: now, ready: readyStatus(n)}
		c.health[n.Name] = h
	}
	if i := indexOf(n.Status.Conditions, corev1.NodeReady); i >= 0 {
		hb := n.Status.Conditions[i].LastHeartbeatTime.Time
		if !hb.Equal(h.heartbeat) {
			h.heartbeat, h.probe = hb, now
		}
	}
	if l, err := c.leases.Leases(corev1.NamespaceNodeLease).Get(n.Name); err == nil && l.Spec.RenewTime != nil {
		if rt := l.Spec.RenewTime.Time; rt.After(h.renew) {
			h.renew, h.probe = rt, now
		}
	}
	return h, first
}

// reconcileNode is one look at a node: Unknown after the grace period,
// taints in step with its conditions, pods marked not ready on the
// transition out of Ready.
func (c *Controller) reconcileNode(ctx context.Context, name string) error {
	n, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		c.mu.Lock()
		delete(c.health, name)
		c.mu.Unlock()
		return nil
	}
	if err != nil {
		return err
	}
	now := c.now()
	h, first := c.observe(n, now)
	if first {
		// Upstream's controller says so of every node it starts
		// watching (kubectl describe node: "Registered Node n in
		// Controller").
		ref := &corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: n.Name, UID: n.UID}
		c.recorder.Eventf(ref, corev1.EventTypeNormal, "RegisteredNode", "Node %s event: Registered Node %s in Controller", n.Name, n.Name)
	}
	grace := c.cfg.MonitorGracePeriod
	if indexOf(n.Status.Conditions, corev1.NodeReady) < 0 {
		grace = c.cfg.StartupGracePeriod
	}
	if deadline := h.probe.Add(grace); now.After(deadline) {
		if n, err = c.markUnknown(ctx, n, now); err != nil {
			return err
		}
	} else {
		c.nodeLoop.AddAfter(name, deadline.Sub(now)+time.Millisecond)
	}

	cur := readyStatus(n)
	c.mu.Lock()
	wasReady := h.ready == corev1.ConditionTrue
	h.ready = cur
	c.mu.Unlock()
	if wasReady && cur != corev1.ConditionTrue {
		ref := &corev1.ObjectReference{Kind: "Node", Name: n.Name, UID: n.UID}
		c.recorder.Eventf(ref, corev1.EventTypeNormal, "NodeNotReady", "Node %s status is now: %s", n.Name, "NodeNotReady")
		if err := c.markPodsNotReady(ctx, n.Name); err != nil {
			return err
		}
	}
	return c.syncTaints(ctx, n, now)
}

func (c *Controller) markUnknown(ctx context.Context, n *corev1.Node, now time.Time) (*corev1.Node, error) {
	conds, changed := MarkUnknown(n.Status.Conditions, now)
	if !changed {
		return n, nil
	}
	next := n.DeepCopy()
	next.Status.Conditions = conds
	updated, err := c.client.CoreV1().Nodes().UpdateStatus(ctx, next, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("mark node %s unknown: %w", n.Name, err)
	}
	c.log.Info("node stopped posting status", "node", n.Name)
	return updated, nil
}

func (c *Controller) syncTaints(ctx context.Context, n *corev1.Node, now time.Time) error {
	taints, changed := DesiredTaints(n, now)
	if !changed {
		return nil
	}
	next := n.DeepCopy()
	next.Spec.Taints = taints
	if _, err := c.client.CoreV1().Nodes().Update(ctx, next, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("taint node %s: %w", n.Name, err)
	}
	return nil
}

// markPodsNotReady sets Ready=False on the pods of a node that stopped
// being ready, so that endpoints drop them before the kubelet is back.
func (c *Controller) markPodsNotReady(ctx context.Context, node string) error {
	objs, err := c.pods.ByIndex(podsByNode, node)
	if err != nil {
		return err
	}
	for _, o := range objs {
		p := o.(*corev1.Pod)
		i := -1
		for j := range p.Status.Conditions {
			if p.Status.Conditions[j].Type == corev1.PodReady {
				i = j
			}
		}
		if i < 0 || p.Status.Conditions[i].Status == corev1.ConditionFalse {
			continue
		}
		next := p.DeepCopy()
		next.Status.Conditions[i].Status = corev1.ConditionFalse
		next.Status.Conditions[i].LastTransitionTime = metav1.NewTime(c.now())
		if _, err := c.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return fmt.Errorf("mark pod %s/%s not ready: %w", p.Namespace, p.Name, err)
		}
		c.recorder.Event(next, corev1.EventTypeWarning, "NodeNotReady", "Node is not ready")
	}
	return nil
}

// reconcilePod is the taint manager's look at one pod.
func (c *Controller) reconcilePod(ctx context.Context, key string) error {
	obj, exists, err := c.pods.GetByKey(key)
	if err != nil {
		return err
	}
	if !exists {
		c.forget(key)
		return nil
	}
	p := obj.(*corev1.Pod)
	if p.DeletionTimestamp != nil || p.Spec.NodeName == "" {
		c.forget(key)
		return nil
	}
	n, err := c.nodes.Get(p.Spec.NodeName)
	if err != nil {
		c.forget(key)
		return nil // an unknown node is the pod garbage collector's business
	}
	delay, forever := EvictionDelay(p.Spec.Tolerations, noExecuteTaints(n))
	if len(noExecuteTaints(n)) == 0 || forever {
		if c.forget(key) {
			c.recorder.Eventf(p, corev1.EventTypeNormal, "TaintManagerEviction", "Cancelling deletion of Pod %s", key)
		}
		return nil
	}
	now := c.now()
	c.mu.Lock()
	from, ok := c.evictFrom[key]
	if !ok {
		from = now
		c.evictFrom[key] = now
	}
	c.mu.Unlock()
	if due := from.Add(delay); now.Before(due) {
		c.podLoop.AddAfter(key, due.Sub(now))
		return nil
	}
	return c.evict(ctx, p, key)
}

// forget drops a scheduled eviction, reporting whether there was one.
func (c *Controller) forget(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.evictFrom[key]
	delete(c.evictFrom, key)
	return ok
}

// Upstream's DisruptionTarget condition for taint evictions.
const (
	disruptionReason  = "DeletionByTaintManager"
	disruptionMessage = "Taint manager: deleting due to NoExecute taint"
)

// evict marks the pod with the DisruptionTarget condition and deletes
// it, as upstream's taint manager does.
func (c *Controller) evict(ctx context.Context, p *corev1.Pod, key string) error {
	c.recorder.Eventf(p, corev1.EventTypeNormal, "TaintManagerEviction", "Marking for deletion Pod %s", key)
	next := p.DeepCopy()
	has := false
	for _, cond := range next.Status.Conditions {
		if cond.Type == corev1.DisruptionTarget {
			has = true
		}
	}
	if !has {
		next.Status.Conditions = append(next.Status.Conditions, corev1.PodCondition{
			Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: disruptionReason,
			Message: disruptionMessage, LastTransitionTime: metav1.NewTime(c.now()),
		})
		if _, err := c.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				c.forget(key)
				return nil
			}
			return fmt.Errorf("mark pod %s disrupted: %w", key, err)
		}
	}
	uid := p.UID
	err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("evict pod %s: %w", key, err)
	}
	c.forget(key)
	return nil
}
