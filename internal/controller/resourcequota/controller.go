// Package resourcequota is the usage half of upstream's resource quota
// controller: it keeps each ResourceQuota's status.hard equal to its
// spec.hard and status.used equal to what the namespace's objects use of
// the resources it names — pods (count, cpu, memory and
// ephemeral-storage requests and limits, extended resources and
// hugepages, the quota's scopes applied), services (count, load
// balancers, node ports), configmaps, secrets, persistentvolumeclaims
// (count and requests.storage), replicationcontrollers, resourcequotas,
// and count/<resource>.<group> for the built-in workload types.
// Enforcement is admission's job (internal/admission/resourcequota);
// usage is pure and shared with it (internal/quota).
package resourcequota

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"skiff.dev/skiff/internal/controller/reconcile"
	"skiff.dev/skiff/internal/quota"
)

// countable are the resources whose objects count/<resource>[.<group>]
// counts, with the version to list them at.
var countable = []schema.GroupVersionResource{
	{Version: "v1", Resource: "pods"},
	{Version: "v1", Resource: "services"},
	{Version: "v1", Resource: "configmaps"},
	{Version: "v1", Resource: "secrets"},
	{Version: "v1", Resource: "persistentvolumeclaims"},
	{Version: "v1", Resource: "replicationcontrollers"},
	{Version: "v1", Resource: "resourcequotas"},
	{Group: "apps", Version: "v1", Resource: "deployments"},
	{Group: "apps", Version: "v1", Resource: "replicasets"},
	{Group: "apps", Version: "v1", Resource: "statefulsets"},
	{Group: "apps", Version: "v1", Resource: "daemonsets"},
	{Group: "batch", Version: "v1", Resource: "jobs"},
	{Group: "batch", Version: "v1", Resource: "cronjobs"},
}

// countName is the quota resource name counting gvr's objects.
func countName(gvr schema.GroupVersionResource) corev1.ResourceName {
	return quota.CountName(gvr.Group, gvr.Resource)
}

// shortNames are the legacy object-count names.
var shortNames = map[string]corev1.ResourceName{
	"configmaps": corev1.ResourceConfigMaps, "secrets": corev1.ResourceSecrets,
	"persistentvolumeclaims": corev1.ResourcePersistentVolumeClaims,
	"replicationcontrollers": corev1.ResourceReplicationControllers, "resourcequotas": corev1.ResourceQuotas,
}

// Controller is the resource quota usage controller.
type Controller struct {
	client   kubernetes.Interface
	quotas   corelisters.ResourceQuotaLister
	pods     corelisters.PodLister
	services corelisters.ServiceLister
	pvcs     corelisters.PersistentVolumeClaimLister
	counters map[corev1.ResourceName]cache.GenericLister
	loop     *reconcile.Loop
	now      func() time.Time
}

// New builds the controller on a factory not yet started.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) (*Controller, error) {
	qInf := factory.Core().V1().ResourceQuotas()
	c := &Controller{
		client: client, quotas: qInf.Lister(), pods: factory.Core().V1().Pods().Lister(),
		services: factory.Core().V1().Services().Lister(), pvcs: factory.Core().V1().PersistentVolumeClaims().Lister(),
		counters: map[corev1.ResourceName]cache.GenericLister{}, now: time.Now,
	}
	c.loop = reconcile.NewLoop("resourcequota", reconcile.ReconcileFunc(c.Reconcile), log)
	c.loop.WaitFor(qInf.Informer().HasSynced)
	if _, err := qInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.loop.Enqueue,
		UpdateFunc: func(old, cur any) {
			// Our own status writes come back here: only a spec change
			// (or a status someone else changed) needs a sync.
			o, n := old.(*corev1.ResourceQuota), cur.(*corev1.ResourceQuota)
			if !apiequality.Semantic.DeepEqual(o.Spec, n.Spec) || !apiequality.Semantic.DeepEqual(n.Spec.Hard, n.Status.Hard) {
				c.loop.Enqueue(cur)
			}
		},
	}); err != nil {
		return nil, err
	}
	for _, gvr := range countable {
		inf, err := factory.ForResource(gvr)
		if err != nil {
			return nil, fmt.Errorf("informer for %s: %w", gvr, err)
		}
		c.counters[countName(gvr)] = inf.Lister()
		if n, ok := shortNames[gvr.Resource]; ok && gvr.Group == "" {
			c.counters[n] = inf.Lister()
		}
		c.loop.WaitFor(inf.Informer().HasSynced)
		h := cache.ResourceEventHandlerFuncs{AddFunc: c.replenish, DeleteFunc: c.replenish}
		switch gvr.Resource {
		case "pods":
			h.UpdateFunc = func(old, cur any) {
				if c.podUsageChanged(old.(*corev1.Pod), cur.(*corev1.Pod)) {
					c.replenish(cur)
				}
			}
		case "services", "persistentvolumeclaims":
			h.UpdateFunc = func(old, cur any) {
				if !reflect.DeepEqual(specOf(old), specOf(cur)) {
					c.replenish(cur)
				}
			}
		}
		if _, err := inf.Informer().AddEventHandler(h); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func specOf(obj any) any {
	switch o := obj.(type) {
	case *corev1.Service:
		return o.Spec
	case *corev1.PersistentVolumeClaim:
		return o.Spec.Resources
	}
	return nil
}

func (c *Controller) podUsageChanged(o, n *corev1.Pod) bool {
	now := c.now()
	return quota.PodCounts(o, now) != quota.PodCounts(n, now) || !reflect.DeepEqual(o.Spec.Containers, n.Spec.Containers) ||
		(o.DeletionTimestamp == nil) != (n.DeletionTimestamp == nil)
}

// replenish queues the quotas of an object's namespace.
func (c *Controller) replenish(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return
	}
	qs, _ := c.quotas.ResourceQuotas(m.GetNamespace()).List(labels.Everything())
	for _, q := range qs {
		c.loop.Enqueue(q)
	}
}

// Run reconciles with workers goroutines until ctx ends (upstream's
// --concurrent-resource-quota-syncs is 5).
func (c *Controller) Run(ctx context.Context, workers int) error { return c.loop.Run(ctx, workers) }

// tracked reports the resources this controller computes.
func (c *Controller) tracked(name corev1.ResourceName) bool {
	if _, ok := c.counters[name]; ok {
		return true
	}
	switch name {
	case corev1.ResourcePods, corev1.ResourceServices, corev1.ResourceServicesLoadBalancers, corev1.ResourceServicesNodePorts,
		corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage, corev1.ResourceRequestsStorage:
		return true
	}
	s := string(name)
	return strings.HasPrefix(s, "requests.") || strings.HasPrefix(s, "limits.") || quota.IsStorageClassResource(name)
}

func hasStorageClassResource(hard corev1.ResourceList) bool {
	for name := range hard {
		if quota.IsStorageClassResource(name) {
			return true
		}
	}
	return false
}

// Reconcile writes the status of the quota named key.
func (c *Controller) Reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	q, err := c.quotas.ResourceQuotas(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	used, err := c.usage(q)
	if err != nil {
		return err
	}
	st := corev1.ResourceQuotaStatus{Hard: q.Spec.Hard.DeepCopy(), Used: quota.Mask(used, q.Spec.Hard, c.tracked)}
	if apiequality.Semantic.DeepEqual(q.Status, st) {
		return nil
	}
	next := q.DeepCopy()
	next.Status = st
	if _, err := c.client.CoreV1().ResourceQuotas(ns).UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update status of quota %s: %w", key, err)
	}
	return nil
}

// usage sums what the namespace's objects use, for the resources q names.
func (c *Controller) usage(q *corev1.ResourceQuota) (corev1.ResourceList, error) {
	ns := q.Namespace
	used := corev1.ResourceList{}
	wants := func(prefixes ...string) bool {
		for name := range q.Spec.Hard {
			for _, p := range prefixes {
				if string(name) == p || strings.HasPrefix(string(name), p) {
					return true
				}
			}
		}
		return false
	}
	if wants("pods", "count/pods", "cpu", "memory", "ephemeral-storage", "requests.", "limits.") {
		pods, err := c.pods.Pods(ns).List(labels.Everything())
		if err != nil {
			return nil, err
		}
		now := c.now()
		for _, p := range pods {
			if quota.PodCounts(p, now) && quota.PodMatchesScopes(p, q) {
				quota.Add(used, quota.PodUsage(p))
			}
		}
	}
	if quota.Scoped(q) {
		// Only pods can be in a scope; other objects use nothing.
		return used, nil
	}
	delete(used, "count/pods") // counted below with every other count/
	if wants("services") {
		svcs, err := c.services.Services(ns).List(labels.Everything())
		if err != nil {
			return nil, err
		}
		for _, s := range svcs {
			quota.Add(used, quota.ServiceUsage(s))
		}
	}
	if wants("requests.storage") || wants("persistentvolumeclaims") || hasStorageClassResource(q.Spec.Hard) {
		pvcs, err := c.pvcs.PersistentVolumeClaims(ns).List(labels.Everything())
		if err != nil {
			return nil, err
		}
		for _, p := range pvcs {
			u := quota.PVCUsage(p)
			// The plain counts come from the counters below.
			delete(u, corev1.ResourcePersistentVolumeClaims)
			delete(u, "count/persistentvolumeclaims")
			quota.Add(used, u)
		}
	}
	for name := range q.Spec.Hard {
		l, ok := c.counters[name]
		if !ok {
			continue
		}
		objs, err := l.ByNamespace(ns).List(labels.Everything())
		if err != nil {
			return nil, err
		}
		n := int64(len(objs))
		if name == "count/pods" || name == corev1.ResourcePods {
			n = 0
			now := c.now()
			for _, o := range objs {
				if quota.PodCounts(o.(*corev1.Pod), now) {
					n++
				}
			}
		}
		if name == corev1.ResourcePods || name == corev1.ResourceServices {
			continue // from the evaluators above
		}
		used[name] = *resource.NewQuantity(n, resource.DecimalSI)
	}
	return used, nil
}
