// Package garbagecollector is the garbage collector: it deletes objects
// whose owners are gone, as upstream's. It watches every resource the API
// serves (metadata only), builds a graph of ownerReferences, and
//
//   - background: when an owner disappears, deletes its dependents (each
//     with the propagation its own finalizers ask for);
//   - foreground: when an owner carries the foregroundDeletion finalizer
//     and a deletionTimestamp, deletes its dependents and removes the
//     finalizer once no dependent with blockOwnerDeletion=true is left;
//   - orphan: when an owner carries the orphan finalizer and a
//     deletionTimestamp, removes the references to it from its dependents,
//     then the finalizer.
//
// The API server's part (upstream's registry): a delete with
// propagationPolicy=Foreground or Orphan adds the matching finalizer and
// sets deletionTimestamp instead of deleting.
package garbagecollector

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Collector is the garbage collector.
type Collector struct {
	meta      metadata.Interface
	discovery discovery.DiscoveryInterface
	mapper    *restmapper.DeferredDiscoveryRESTMapper
	log       *slog.Logger

	graph    *graph
	changes  workqueue.TypedInterface[*event]
	toDelete workqueue.TypedRateLimitingInterface[objectRef]
	toOrphan workqueue.TypedRateLimitingInterface[objectRef]

	mu       sync.Mutex
	monitors map[schema.GroupVersionResource]cache.SharedIndexInformer
	synced   bool

	// rediscover is how often new resources are looked for.
	rediscover time.Duration
}

type eventType int

const (
	addEvent eventType = iota
	updateEvent
	deleteEvent
)

// event is an informer change; virtual events come from the workers
// when an object the graph holds turns out not to exist.
type event struct {
	typ     eventType
	virtual bool
	gvk     schema.GroupVersionKind
	obj     *metav1.PartialObjectMetadata
	old     *metav1.PartialObjectMetadata
	ref     objectRef // for virtual deletes
}

// New builds a collector. d is used for discovery (which resources to
// watch, and the kinds of ownerReferences).
func New(meta metadata.Interface, d discovery.DiscoveryInterface, log *slog.Logger) *Collector {
	rl := workqueue.DefaultTypedControllerRateLimiter[objectRef]()
	return &Collector{
		meta: meta, discovery: d, log: log,
		mapper:     restmapper.NewDeferredDiscoveryRESTMapper(newCachedDiscovery(d)),
		graph:      newGraph(),
		changes:    workqueue.NewTyped[*event](),
		toDelete:   workqueue.NewTypedRateLimitingQueueWithConfig(rl, workqueue.TypedRateLimitingQueueConfig[objectRef]{Name: "garbage_collector_attempt_to_delete"}),
		toOrphan:   workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[objectRef](), workqueue.TypedRateLimitingQueueConfig[objectRef]{Name: "garbage_collector_attempt_to_orphan"}),
		monitors:   map[schema.GroupVersionResource]cache.SharedIndexInformer{},
		rediscover: 30 * time.Second,
	}
}

// Run watches, builds the graph and collects with workers goroutines
// until ctx ends.
func (c *Collector) Run(ctx context.Context, workers int) error {
	defer c.changes.ShutDown()
	defer c.toDelete.ShutDown()
	defer c.toOrphan.ShutDown()
	if err := c.syncMonitors(ctx); err != nil {
		c.log.Warn("garbage collector discovery", "err", err)
	}
	go c.buildGraph()
	// Act only once the graph holds every object, or owners that are
	// merely not listed yet would look absent.
	for !c.monitorsSynced() {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(50 * time.Millisecond):
		}
	}
	c.log.Info("garbage collector synced", "resources", c.monitorCount())
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(2)
		go func() { defer wg.Done(); c.deleteWorker(ctx) }()
		go func() { defer wg.Done(); c.orphanWorker(ctx) }()
	}
	t := time.NewTicker(c.rediscover)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			c.toDelete.ShutDown()
			c.toOrphan.ShutDown()
			wg.Wait()
			return nil
		case <-t.C:
			c.mapper.Reset()
			if err := c.syncMonitors(ctx); err != nil {
				c.log.Warn("garbage collector discovery", "err", err)
			}
		}
	}
}

// ignoredResources are not watched, as upstream: events own nothing and
// are many.
var ignoredResources = map[schema.GroupResource]bool{
	{Group: "", Resource: "events"}:                 true,
	{Group: "events.k8s.io", Resource: "events"}:    true,
	{Group: "authentication.k8s.io", Resource: ""}:  true,
	{Group: "authorization.k8s.io", Resource: ""}:   true,
	{Group: "apiregistration.k8s.io", Resource: ""}: true,
}

// deletableResources: the preferred version of every resource that can
// be listed, watched and deleted.
func deletableResources(d discovery.DiscoveryInterface) (map[schema.GroupVersionResource]schema.GroupVersionKind, error) {
	lists, err := d.ServerPreferredResources()
	if err != nil && len(lists) == 0 {
		return nil, err
	}
	out := map[schema.GroupVersionResource]schema.GroupVersionKind{}
	for _, l := range lists {
		gv, perr := schema.ParseGroupVersion(l.GroupVersion)
		if perr != nil {
			continue
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || !slices.Contains(r.Verbs, "list") || !slices.Contains(r.Verbs, "watch") || !slices.Contains(r.Verbs, "delete") {
				continue
			}
			gr := schema.GroupResource{Group: gv.Group, Resource: r.Name}
			if ignoredResources[gr] || ignoredResources[schema.GroupResource{Group: gv.Group}] {
				continue
			}
			out[gv.WithResource(r.Name)] = gv.WithKind(r.Kind)
		}
	}
	return out, err
}

// syncMonitors starts an informer for each deletable resource not yet
// watched. (Resources that disappear keep their informer: it fails its
// watch quietly; the API server's built-in resources do not go away.)
func (c *Collector) syncMonitors(ctx context.Context) error {
	res, err := deletableResources(c.discovery)
	c.mu.Lock()
	defer c.mu.Unlock()
	for gvr, gvk := range res {
		if _, ok := c.monitors[gvr]; ok {
			continue
		}
		inf := metadatainformer.NewFilteredMetadataInformer(c.meta, gvr, metav1.NamespaceAll, 0, nil, nil).Informer()
		_ = inf.SetTransform(dropManagedFields) // cannot fail before Run
		gvk := gvk
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: func(obj any) {
				if m, ok := obj.(*metav1.PartialObjectMetadata); ok {
					c.changes.Add(&event{typ: addEvent, gvk: gvk, obj: m})
				}
			},
			UpdateFunc: func(old, obj any) {
				m, ok1 := obj.(*metav1.PartialObjectMetadata)
				o, ok2 := old.(*metav1.PartialObjectMetadata)
				if ok1 && ok2 {
					c.changes.Add(&event{typ: updateEvent, gvk: gvk, obj: m, old: o})
				}
			},
			DeleteFunc: func(obj any) {
				if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
					obj = t.Obj
				}
				if m, ok := obj.(*metav1.PartialObjectMetadata); ok {
					c.changes.Add(&event{typ: deleteEvent, gvk: gvk, obj: m})
				}
			},
		})
		c.monitors[gvr] = inf
		go inf.RunWithContext(ctx)
	}
	return err
}

// dropManagedFields keeps managedFields out of the monitors' caches, as
// the other in-process informers do: the collector reads owners,
// finalizers and deletion state, never field ownership, which was about
// half of each cached object (~25 MB with 10,000 pods).
func dropManagedFields(obj any) (any, error) {
	if m, ok := obj.(*metav1.PartialObjectMetadata); ok {
		m.ManagedFields = nil
	}
	return obj, nil
}

func (c *Collector) monitorsSynced() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, inf := range c.monitors {
		if !inf.HasSynced() {
			return false
		}
	}
	return len(c.monitors) > 0
}

func (c *Collector) monitorCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.monitors)
}
