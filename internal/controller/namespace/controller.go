// Package namespace is the namespace lifecycle controller: when a
// namespace is being deleted it deletes every object in it, then removes
// the "kubernetes" finalizer so the API server can delete the namespace —
// upstream's namespace controller, as a client of the API like any other.
package namespace

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// finalizerName is the spec.finalizers entry this controller owns.
const finalizerName = corev1.FinalizerKubernetes

// Controller empties and finalizes namespaces being deleted.
type Controller struct {
	client    kubernetes.Interface
	dynamic   dynamic.Interface
	discovery discovery.DiscoveryInterface
	queue     workqueue.TypedRateLimitingInterface[string]
	lister    cache.Indexer
	log       *slog.Logger
}

// New builds a controller over a shared informer factory.
func New(client kubernetes.Interface, dyn dynamic.Interface, factory informers.SharedInformerFactory, log *slog.Logger) *Controller {
	c := &Controller{
		client: client, dynamic: dyn, discovery: client.Discovery(), log: log,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](100*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "namespace"}),
	}
	inf := factory.Core().V1().Namespaces().Informer()
	c.lister = inf.GetIndexer()
	enqueue := func(obj interface{}) {
		if ns, ok := obj.(*corev1.Namespace); ok && ns.DeletionTimestamp != nil {
			c.queue.Add(ns.Name)
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj interface{}) { enqueue(obj) },
	})
	return c
}

// Run processes namespaces with the given number of workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	for i := 0; i < workers; i++ {
		go wait.UntilWithContext(ctx, c.worker, time.Second)
	}
	<-ctx.Done()
}

func (c *Controller) worker(ctx context.Context) {
	for {
		name, quit := c.queue.Get()
		if quit {
			return
		}
		remaining, err := c.sync(ctx, name)
		switch {
		case err != nil:
			c.log.Warn("namespace cleanup failed", "namespace", name, "err", err)
			c.queue.AddRateLimited(name)
		case remaining:
			// Objects with finalizers or grace periods are still going
			// away; look again shortly.
			c.queue.AddAfter(name, time.Second)
			c.queue.Forget(name)
		default:
			c.queue.Forget(name)
		}
		c.queue.Done(name)
	}
}

// sync deletes the content of a terminating namespace and finalizes it
// once empty. remaining reports objects still present.
func (c *Controller) sync(ctx context.Context, name string) (remaining bool, err error) {
	obj, exists, err := c.lister.GetByKey(name)
	if err != nil || !exists {
		return false, err
	}
	ns := obj.(*corev1.Namespace)
	if ns.DeletionTimestamp == nil || !hasFinalizer(ns) {
		return false, nil
	}
	resources, err := deletableResources(c.discovery)
	if err != nil {
		return false, err
	}
	for _, gvr := range resources {
		left, err := c.deleteAll(ctx, gvr, name)
		if err != nil {
			return false, err
		}
		remaining = remaining || left
	}
	if remaining {
		return true, nil
	}
	fresh, err := c.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	fresh.Spec.Finalizers = withoutFinalizer(fresh.Spec.Finalizers)
	if _, err := c.client.CoreV1().Namespaces().Finalize(ctx, fresh, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("finalize namespace %s: %w", name, err)
	}
	c.log.Info("namespace deleted", "namespace", name)
	return false, nil
}

func (c *Controller) deleteAll(ctx context.Context, gvr schema.GroupVersionResource, ns string) (bool, error) {
	ri := c.dynamic.Resource(gvr).Namespace(ns)
	bg := metav1.DeletePropagationBackground
	err := ri.DeleteCollection(ctx, metav1.DeleteOptions{PropagationPolicy: &bg}, metav1.ListOptions{})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsMethodNotSupported(err) {
		return false, fmt.Errorf("delete %s in %s: %w", gvr.Resource, ns, err)
	}
	list, err := ri.List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("list %s in %s: %w", gvr.Resource, ns, err)
	}
	return len(list.Items) > 0, nil
}

// deletableResources are the namespaced resources that support list and
// deletecollection, in their preferred versions.
func deletableResources(d discovery.DiscoveryInterface) ([]schema.GroupVersionResource, error) {
	lists, err := d.ServerPreferredNamespacedResources()
	if err != nil && len(lists) == 0 {
		return nil, fmt.Errorf("discover resources: %w", err)
	}
	return selectDeletable(lists), nil
}

func selectDeletable(lists []*metav1.APIResourceList) []schema.GroupVersionResource {
	var out []schema.GroupVersionResource
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			if !r.Namespaced || containsString(r.Name, '/') || !has(r.Verbs, "deletecollection") || !has(r.Verbs, "list") {
				continue
			}
			out = append(out, gv.WithResource(r.Name))
		}
	}
	return out
}

func hasFinalizer(ns *corev1.Namespace) bool {
	for _, f := range ns.Spec.Finalizers {
		if f == finalizerName {
			return true
		}
	}
	return false
}

func withoutFinalizer(in []corev1.FinalizerName) []corev1.FinalizerName {
	var out []corev1.FinalizerName
	for _, f := range in {
		if f != finalizerName {
			out = append(out, f)
		}
	}
	return out
}

func has(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func containsString(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return true
		}
	}
	return false
}
