// Package reconcile is the loop every Skiff controller runs on, as
// upstream's controllers do: shared-informer event handlers turn changes
// into keys ("namespace/name"), a rate-limited work queue de-duplicates
// them, and workers call Reconcile(ctx, key) until it succeeds. A key is
// never reconciled by two workers at once; a failed key comes back with
// exponential back-off. See docs/controllers.md.
//
// Expectations (expectations.go) complement the loop for controllers
// that create or delete many objects per sync: they stop a controller
// from acting again on a cache that has not yet seen its own writes.
package reconcile

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Reconciler brings the object named by key ("namespace/name", or "name"
// for cluster-scoped objects) to its desired state. It is called with one
// key at a time per key, possibly concurrently for different keys. A
// non-nil error puts the key back on the queue with back-off; the object
// may have been deleted, which Reconcile must treat as normal.
type Reconciler interface {
	Reconcile(ctx context.Context, key string) error
}

// ReconcileFunc adapts a function to Reconciler.
type ReconcileFunc func(ctx context.Context, key string) error

// Reconcile calls f.
func (f ReconcileFunc) Reconcile(ctx context.Context, key string) error { return f(ctx, key) }

// Loop is one controller's queue and workers.
type Loop struct {
	name   string
	queue  workqueue.TypedRateLimitingInterface[string]
	r      Reconciler
	log    *slog.Logger
	synced []cache.InformerSynced
}

// NewLoop builds a loop named name (the queue's name in metrics and
// logs) that hands keys to r. Its back-off is upstream's controller
// default: per key 5 ms doubling to 1000 s, overall 10 qps with a burst
// of 100.
func NewLoop(name string, r Reconciler, log *slog.Logger) *Loop {
	return &Loop{
		name: name, r: r, log: log,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: name}),
	}
}

// WaitFor adds informers whose caches must be synced before any worker
// starts: a controller acting on a partial cache would, say, create pods
// that already exist.
func (l *Loop) WaitFor(synced ...cache.InformerSynced) { l.synced = append(l.synced, synced...) }

// Add queues key now.
func (l *Loop) Add(key string) { l.queue.Add(key) }

// AddAfter queues key after d.
func (l *Loop) AddAfter(key string, d time.Duration) { l.queue.AddAfter(key, d) }

// AddRateLimited queues key after its back-off.
func (l *Loop) AddRateLimited(key string) { l.queue.AddRateLimited(key) }

// Enqueue queues the key of obj, which may be a tombstone
// (cache.DeletedFinalStateUnknown) from a delete handler.
func (l *Loop) Enqueue(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		l.log.Warn("cannot compute key", "err", err)
		return
	}
	l.queue.Add(key)
}

// EnqueueAfter queues the key of obj after d.
func (l *Loop) EnqueueAfter(obj any, d time.Duration) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		l.log.Warn("cannot compute key", "err", err)
		return
	}
	l.queue.AddAfter(key, d)
}

// Len is the number of keys waiting (for tests and metrics).
func (l *Loop) Len() int { return l.queue.Len() }

// Run waits for the informers' caches, then runs workers until ctx ends,
// then shuts the queue down and waits for the workers to return.
func (l *Loop) Run(ctx context.Context, workers int) error {
	defer l.queue.ShutDown()
	if !cache.WaitForNamedCacheSync(l.name, ctx.Done(), l.synced...) {
		return fmt.Errorf("%s: caches not synced: %w", l.name, ctx.Err())
	}
	l.log.Info("controller started", "workers", workers)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wait.UntilWithContext(ctx, l.work, time.Second)
		}()
	}
	<-ctx.Done()
	l.queue.ShutDown()
	wg.Wait()
	return nil
}

func (l *Loop) work(ctx context.Context) {
	for l.next(ctx) {
	}
}

func (l *Loop) next(ctx context.Context) bool {
	key, quit := l.queue.Get()
	if quit {
		return false
	}
	defer l.queue.Done(key)
	err := l.r.Reconcile(ctx, key)
	if err == nil {
		l.queue.Forget(key)
		return true
	}
	if ctx.Err() != nil {
		return false
	}
	l.log.Warn("sync failed", "key", key, "retries", l.queue.NumRequeues(key), "err", err)
	l.queue.AddRateLimited(key)
	return true
}
