// Package watchcache keeps every resource's objects in memory, fed by one
// watch on the store, and serves lists and watches from there so that
// clients never wait on the disk for them (upstream's "cacher").
//
// One Hub reads one storage watch over the whole key space, in revision
// order, and routes each event to the Cache registered for the key's
// resource prefix. Because the single stream is ordered, after the Hub has
// applied the event at revision R every Cache is complete up to R, even one
// that got no event there; that is what makes consistent reads possible:
// a reader asks the store for its current revision and waits until the Hub
// has reached it. See docs/watchcache.md for the goroutines and buffers.
package watchcache

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"skiff.dev/skiff/internal/storage"
)

// ErrTooOld: a watch asked for history the cache no longer holds; the API
// answers 410 Gone and the client re-lists.
var ErrTooOld = errors.New("watchcache: resource version too old")

// DecodeFunc turns a stored value into an object with its resourceVersion
// set to rev. It must not retain data.
type DecodeFunc func(data []byte, rev int64) (runtime.Object, error)

// Event is one change of one object. Objects are shared by every reader
// and must never be mutated. Events live in a cache's bounded history (and
// in the queues of the watchers they were sent to), never in its current
// state: an object's previous version and the event's encodings are only
// needed while the event can still be delivered.
type Event struct {
	Type       watch.EventType
	Key        string
	Object     runtime.Object
	PrevObject runtime.Object
	Revision   int64

	// encoded caches one serialization per encoder (watch fan-out encodes
	// an event once, not once per watcher). Dropped once the event is
	// encodedKeep events old (see Hub.apply).
	encMu   sync.Mutex
	encoded map[string][]byte
}

// encodedKeep is how many of a cache's latest events keep their encodings.
// Watchers read their events within moments of the fan-out; a watcher
// further behind, or a watch resumed from older history, encodes for
// itself. With 10,000 pods the encodings of every pod's latest event were
// 18 MB of live heap that nothing would read again.
const encodedKeep = 256

func (e *Event) dropEncoded() {
	e.encMu.Lock()
	e.encoded = nil
	e.encMu.Unlock()
}

// item is an object as lists and gets need it: the current version and
// the revision it was written at. Keeping the latest Event instead would
// keep its previous object (a second copy of every object ever updated)
// and its encodings alive for as long as the object exists.
type item struct {
	obj runtime.Object
	rev int64
}

// Encoded returns the cached encoding of the event under id, computing it
// with enc on first use.
func (e *Event) Encoded(id string, enc func() ([]byte, error)) ([]byte, error) {
	e.encMu.Lock()
	defer e.encMu.Unlock()
	if b, ok := e.encoded[id]; ok {
		return b, nil
	}
	b, err := enc()
	if err != nil {
		return nil, err
	}
	if e.encoded == nil {
		e.encoded = make(map[string][]byte, 1)
	}
	e.encoded[id] = b
	return b, nil
}

// Cache holds the objects of one resource (one key prefix).
type Cache struct {
	hub    *Hub
	prefix string
	decode DecodeFunc

	// gen counts changes to items, for consumers that derive data from
	// the whole cache (an index) and rebuild it only when it changed.
	gen atomic.Uint64

	mu      sync.RWMutex
	items   map[string]item // key → current object
	history []*Event        // the latest events (4/5 to all of historySize), oldest first
	// historyStart: every event with revision > historyStart is in history.
	historyStart int64
	watchers     map[*Watcher]struct{}

	// sorted holds every key of items in order once a List needed it; a
	// create or delete drops it (nil) and the next List sorts again, so
	// lists between changes of the key set do not sort 10,000 keys each.
	sorted atomic.Pointer[[]string]
}

// Hub owns the single store watch and the per-resource caches.
type Hub struct {
	store       storage.Store
	root        string
	historySize int

	mu     sync.Mutex
	caches map[string]*Cache // by prefix

	rev     atomic.Int64
	notifyM sync.Mutex
	notify  chan struct{} // closed and replaced when rev advances
	ready   chan struct{}
	started atomic.Bool
}

// NewHub creates a hub over every key under root (e.g. "/registry/").
// historySize bounds each cache's event history (upstream's default is
// 100 events per resource scaled with load; we keep more, it is cheap).
func NewHub(store storage.Store, root string, historySize int) *Hub {
	if historySize <= 0 {
		historySize = 1000
	}
	return &Hub{
		store: store, root: root, historySize: historySize,
		caches: map[string]*Cache{},
		notify: make(chan struct{}),
		ready:  make(chan struct{}),
	}
}

// Register adds a cache for keys under prefix (which must be under root and
// end in "/"). All caches must be registered before Start.
func (h *Hub) Register(prefix string, decode DecodeFunc) *Cache {
	c := &Cache{hub: h, prefix: prefix, decode: decode, items: map[string]item{}, watchers: map[*Watcher]struct{}{}}
	h.mu.Lock()
	h.caches[prefix] = c
	h.mu.Unlock()
	return c
}

// Start loads every cache at one revision and then follows the store until
// ctx ends. It returns once the initial load is done.
func (h *Hub) Start(ctx context.Context) error {
	rev, err := h.load(ctx)
	if err != nil {
		return err
	}
	h.setRev(rev)
	h.started.Store(true)
	close(h.ready)
	go h.follow(ctx, rev)
	return nil
}

func (h *Hub) load(ctx context.Context) (int64, error) {
	rev, err := h.store.Revision(ctx)
	if err != nil {
		return 0, fmt.Errorf("watchcache: read revision: %w", err)
	}
	opts := storage.ListOptions{Revision: rev}
	res, err := h.store.List(ctx, h.root, opts)
	if err != nil {
		return 0, fmt.Errorf("watchcache: initial list: %w", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.caches {
		c.mu.Lock()
		c.items = map[string]item{}
		c.sorted.Store(nil)
		c.history = nil
		c.historyStart = rev
		c.mu.Unlock()
	}
	for _, kv := range res.Items {
		c := h.cacheForLocked(kv.Key)
		if c == nil {
			continue
		}
		obj, err := c.decode(kv.Value, kv.ModRevision)
		if err != nil {
			return 0, fmt.Errorf("watchcache: decode %s: %w", kv.Key, err)
		}
		c.items[kv.Key] = item{obj: obj, rev: kv.ModRevision}
	}
	for _, c := range h.caches {
		c.gen.Add(1)
	}
	return rev, nil
}

// follow applies store events until ctx ends. When the store closes the
// watch (slow consumer, backend restart) it resumes from the last revision;
// if that history is gone it reloads everything and ends every watcher so
// that clients re-list.
func (h *Hub) follow(ctx context.Context, rev int64) {
	for ctx.Err() == nil {
		ch, err := h.store.Watch(ctx, h.root, rev)
		if errors.Is(err, storage.ErrCompacted) {
			newRev, lerr := h.load(ctx)
			if lerr != nil {
				continue
			}
			h.closeAllWatchers()
			rev = newRev
			h.setRev(rev)
			continue
		}
		if err != nil {
			continue
		}
		for ev := range ch {
			h.apply(ev)
			rev = ev.KV.ModRevision
		}
	}
}

func (h *Hub) closeAllWatchers() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.caches {
		c.mu.Lock()
		for w := range c.watchers {
			delete(c.watchers, w)
			w.stop()
		}
		c.mu.Unlock()
	}
}

func (h *Hub) cacheForLocked(key string) *Cache {
	// Keys look like <root><group>/<resource>/...; the prefix is the
	// first two segments after root.
	rest := strings.TrimPrefix(key, h.root)
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return nil
	}
	j := strings.IndexByte(rest[i+1:], '/')
	if j < 0 {
		return nil
	}
	return h.caches[key[:len(h.root)+i+1+j+1]]
}

func (h *Hub) apply(ev storage.Event) {
	rev := ev.KV.ModRevision
	h.mu.Lock()
	c := h.cacheForLocked(ev.KV.Key)
	h.mu.Unlock()
	if c == nil {
		h.setRev(rev)
		return
	}
	var obj, prev runtime.Object
	var err error
	obj, err = c.decode(ev.KV.Value, rev)
	if err != nil {
		// A value we cannot decode was written behind the API server's
		// back; skip it rather than stall every watcher.
		h.setRev(rev)
		return
	}
	c.mu.Lock()
	if old, ok := c.items[ev.KV.Key]; ok {
		prev = old.obj
	}
	e := &Event{Key: ev.KV.Key, Object: obj, PrevObject: prev, Revision: rev}
	switch ev.Type {
	case storage.EventCreate:
		e.Type = watch.Added
		c.items[ev.KV.Key] = item{obj: obj, rev: rev}
		c.sorted.Store(nil)
	case storage.EventUpdate:
		e.Type = watch.Modified
		c.items[ev.KV.Key] = item{obj: obj, rev: rev}
	case storage.EventDelete:
		e.Type = watch.Deleted
		delete(c.items, ev.KV.Key)
		c.sorted.Store(nil)
	}
	c.gen.Add(1)
	c.history = append(c.history, e)
	if n := len(c.history); n > encodedKeep {
		c.history[n-1-encodedKeep].dropEncoded()
	}
	// Trim in batches, down to four fifths: copying the whole ring at
	// every event once it was full made 5% of the server's allocations in
	// a 10,000-pod run.
	if n := len(c.history); n > h.historySize {
		drop := n - (h.historySize - h.historySize/5)
		c.historyStart = c.history[drop-1].Revision
		c.history = append(make([]*Event, 0, h.historySize+1), c.history[drop:]...)
	}
	h.setRev(rev)
	for w := range c.watchers {
		if !w.send(e) {
			delete(c.watchers, w)
		}
	}
	c.mu.Unlock()
}

func (h *Hub) setRev(rev int64) {
	if rev <= h.rev.Load() {
		return
	}
	h.rev.Store(rev)
	h.notifyM.Lock()
	close(h.notify)
	h.notify = make(chan struct{})
	h.notifyM.Unlock()
}

// Revision is the revision up to which every cache is complete.
func (h *Hub) Revision() int64 { return h.rev.Load() }

// WaitForRevision blocks until every cache is complete up to rev, or ctx
// ends (its error is returned).
func (h *Hub) WaitForRevision(ctx context.Context, rev int64) error {
	select {
	case <-h.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	for {
		h.notifyM.Lock()
		ch := h.notify
		h.notifyM.Unlock()
		if h.rev.Load() >= rev {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// WaitFresh waits until the caches reflect every write the store has
// acknowledged so far: a consistent read.
func (h *Hub) WaitFresh(ctx context.Context) error {
	rev, err := h.store.Revision(ctx)
	if err != nil {
		return err
	}
	return h.WaitForRevision(ctx, rev)
}

// Ready reports whether the initial load is done.
func (h *Hub) Ready() bool { return h.started.Load() }

// Hub returns the hub the cache belongs to.
func (c *Cache) Hub() *Hub { return c.hub }

// List returns the current objects under keyPrefix (the cache's prefix or a
// namespace within it) that pass filter, in key order, and the revision
// they reflect. filter may be nil.
func (c *Cache) List(keyPrefix string, filter func(obj runtime.Object) bool) ([]runtime.Object, int64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	rev := c.hub.rev.Load()
	keys := c.sortedKeysRLocked()
	// The keys under keyPrefix are one run of the sorted keys.
	from := sort.SearchStrings(keys, keyPrefix)
	keys = keys[from:]
	keys = keys[:sort.Search(len(keys), func(i int) bool { return !strings.HasPrefix(keys[i], keyPrefix) })]
	out := make([]runtime.Object, 0, len(keys))
	for _, k := range keys {
		o := c.items[k].obj
		if filter == nil || filter(o) {
			out = append(out, o)
		}
	}
	return out, rev
}

// sortedKeysRLocked returns the keys of items in order, sorting them if a
// create or delete happened since the last call. c.mu is held for reading
// (writers, who drop the sorted keys, are excluded; two readers may both
// sort, and store the same keys).
func (c *Cache) sortedKeysRLocked() []string {
	if p := c.sorted.Load(); p != nil {
		return *p
	}
	keys := make([]string, 0, len(c.items))
	for k := range c.items {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	c.sorted.Store(&keys)
	return keys
}

// Get returns the cached object under key.
func (c *Cache) Get(key string) (runtime.Object, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	it, ok := c.items[key]
	if !ok {
		return nil, false
	}
	return it.obj, true
}

// Generation changes whenever the cached objects change (it only grows).
// A consumer that derives data from List can keep it until Generation
// moves; read Generation before List, so a change in between is seen as
// a change next time.
func (c *Cache) Generation() uint64 { return c.gen.Load() }

// Count returns the number of cached objects.
func (c *Cache) Count() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.items)
}
