package apiserver

import (
	"context"
	"errors"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/skiff/internal/storage"
)

// defaultEventTTL is upstream's --event-ttl: events live an hour after
// their last write.
const defaultEventTTL = time.Hour

// expireEvents deletes events an hour (Config.EventTTL) after they were
// last recorded, until ctx ends. Upstream gives each event write an etcd
// lease; the store contract here has no TTLs, so a sweep does the same
// from the event's own times (the newest of its creation, last, event and
// series times — each write of a recurring event moves one of them). A
// delete is conditional on the revision seen, so an event recorded again
// meanwhile stays.
func (s *Server) expireEvents(ctx context.Context, ttl, every time.Duration) {
	res := s.resources[coreV1]["events"]
	if res == nil {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cutoff := s.now().Add(-ttl)
		items, _ := res.cacheList(res.prefix, func(o runtime.Object) bool {
			ev, ok := o.(*corev1.Event)
			return ok && lastRecorded(ev).Before(cutoff)
		})
		for _, it := range items {
			m := objectMeta(it)
			_, err := s.cfg.Store.Delete(ctx, res.key(m.GetNamespace(), m.GetName()), parseRev(m.GetResourceVersion()))
			if err != nil && !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrConflict) && ctx.Err() == nil {
				slog.Warn("expire event", "namespace", m.GetNamespace(), "name", m.GetName(), "err", err)
			}
		}
	}
}

// lastRecorded is when an event was last written, as far as its fields
// tell.
func lastRecorded(ev *corev1.Event) time.Time {
	t := ev.CreationTimestamp.Time
	for _, c := range []time.Time{ev.LastTimestamp.Time, ev.EventTime.Time} {
		if c.After(t) {
			t = c
		}
	}
	if ev.Series != nil && ev.Series.LastObservedTime.After(t) {
		t = ev.Series.LastObservedTime.Time
	}
	return t
}
