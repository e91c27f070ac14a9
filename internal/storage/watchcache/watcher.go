package watchcache

import (
	"sort"
	"strings"
	"sync"
)

// Watcher receives one cache's events. A consumer first takes Backlog
// (events it missed since the revision it asked for, or the synthetic
// initial state), then reads C until it is closed. C is closed when the
// consumer falls more than its buffer behind (it must then re-watch or
// re-list, as after any broken watch) or after Stop.
type Watcher struct {
	cache   *Cache
	backlog []*Event
	ch      chan *Event
	once    sync.Once
	// StartRevision is the revision the backlog brings the consumer to.
	StartRevision int64
}

// Backlog returns the events to deliver before those of C.
func (w *Watcher) Backlog() []*Event { return w.backlog }

// C is the live event channel.
func (w *Watcher) C() <-chan *Event { return w.ch }

// Stop unregisters the watcher and closes C. Safe to call more than once.
func (w *Watcher) Stop() {
	w.cache.mu.Lock()
	delete(w.cache.watchers, w)
	w.cache.mu.Unlock()
	w.stop()
}

func (w *Watcher) stop() { w.once.Do(func() { close(w.ch) }) }

// send delivers without blocking; false means the watcher was too slow and
// has been closed. Called with cache.mu held.
func (w *Watcher) send(e *Event) bool {
	select {
	case w.ch <- e:
		return true
	default:
		w.stop()
		return false
	}
}

// WatchOptions choose where a watch starts.
type WatchOptions struct {
	// KeyPrefix restricts the backlog to keys under it (a namespace);
	// live events are not filtered here: consumers filter anyway.
	KeyPrefix string
	// FromRevision: deliver events after it. Ignored with InitialState.
	FromRevision int64
	// InitialState: deliver the current objects as Added events first,
	// then changes after the current revision.
	InitialState bool
	// Buffer is the live channel's capacity.
	Buffer int
}

// Watch registers a watcher. ErrTooOld when FromRevision is older than the
// history held.
func (c *Cache) Watch(opts WatchOptions) (*Watcher, error) {
	if opts.Buffer <= 0 {
		opts.Buffer = 100
	}
	w := &Watcher{cache: c, ch: make(chan *Event, opts.Buffer)}
	c.mu.Lock()
	defer c.mu.Unlock()
	rev := c.hub.rev.Load()
	switch {
	case opts.InitialState:
		keys := make([]string, 0, len(c.items))
		for k := range c.items {
			if strings.HasPrefix(k, opts.KeyPrefix) {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			it := c.items[k]
			w.backlog = append(w.backlog, &Event{Type: "ADDED", Key: k, Object: it.obj, Revision: it.rev})
		}
	case opts.FromRevision > 0:
		if opts.FromRevision < c.historyStart {
			return nil, ErrTooOld
		}
		i := sort.Search(len(c.history), func(i int) bool { return c.history[i].Revision > opts.FromRevision })
		for _, e := range c.history[i:] {
			if strings.HasPrefix(e.Key, opts.KeyPrefix) {
				w.backlog = append(w.backlog, e)
			}
		}
		if opts.FromRevision > rev {
			rev = opts.FromRevision
		}
	}
	w.StartRevision = rev
	c.watchers[w] = struct{}{}
	return w, nil
}

// OldestRevision is the oldest revision a watch may start from.
func (c *Cache) OldestRevision() int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.historyStart
}
