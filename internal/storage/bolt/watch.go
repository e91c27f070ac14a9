package bolt

import (
	"context"
	"fmt"
	"strings"
	"sync"

	bbolt "go.etcd.io/bbolt"

	"skiff.dev/skiff/internal/storage"
)

// replayChunk is how many log entries one read transaction replays. Short
// transactions matter: bbolt must wait for every open read transaction
// before it can grow its mmap, so a watcher must never hold one while it
// waits for its consumer.
const replayChunk = 512

// hub fans committed events out to watchers. The writer goroutine calls
// publish after each commit; publish never blocks: a watcher whose buffer
// is full is dropped (its live channel closed) and its consumer must
// re-watch from the last revision it saw.
type hub struct {
	mu        sync.Mutex
	published int64 // every event up to this revision has been published
	watchers  map[*watcher]struct{}
	closed    bool
}

// watcher is one Watch call. live is written only by the hub, under its
// mutex, and closed by the hub when the watcher is dropped.
type watcher struct {
	prefix string
	live   chan storage.Event
}

func newHub(rev int64) *hub {
	return &hub{published: rev, watchers: map[*watcher]struct{}{}}
}

// add registers w and returns the revision up to which events were
// already published: later ones will arrive on w.live. register runs under
// the hub's lock (so that Close cannot miss the new watcher).
func (h *hub) add(w *watcher, register func()) (int64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return 0, ErrClosed
	}
	h.watchers[w] = struct{}{}
	register()
	return h.published, nil
}

// remove drops w if it is still registered.
func (h *hub) remove(w *watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropLocked(w)
}

func (h *hub) dropLocked(w *watcher) {
	if _, ok := h.watchers[w]; ok {
		delete(h.watchers, w)
		close(w.live)
	}
}

// publish delivers the events of one commit, which end at rev.
func (h *hub) publish(rev int64, events []storage.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watchers {
	deliver:
		for _, ev := range events {
			if !strings.HasPrefix(ev.KV.Key, w.prefix) {
				continue
			}
			select {
			case w.live <- ev:
			default:
				h.dropLocked(w) // slow consumer
				break deliver
			}
		}
	}
	h.published = rev
}

// close drops every watcher and refuses new ones.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for w := range h.watchers {
		h.dropLocked(w)
	}
}

// Watch implements storage.Store. Events are shared between watchers of
// overlapping prefixes: consumers must not modify their values.
func (s *Store) Watch(ctx context.Context, prefix string, fromRevision int64) (<-chan storage.Event, error) {
	if fromRevision < 0 {
		return nil, fmt.Errorf("bolt: watch from negative revision %d", fromRevision)
	}
	err := s.view(func(tx *bbolt.Tx) error {
		current, compacted, err := revisions(tx)
		switch {
		case err != nil:
			return err
		case fromRevision > current:
			return fmt.Errorf("watch from %d, current %d: %w", fromRevision, current, storage.ErrFutureRevision)
		case fromRevision != 0 && fromRevision+1 < compacted:
			return fmt.Errorf("watch from %d, compacted %d: %w", fromRevision, compacted, storage.ErrCompacted)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	w := &watcher{prefix: prefix, live: make(chan storage.Event, s.cfg.watchBuffer)}
	published, err := s.hub.add(w, func() { s.watchWG.Add(1) })
	if err != nil {
		return nil, err
	}
	if fromRevision == 0 {
		fromRevision = published
	}
	out := make(chan storage.Event)
	go s.runWatcher(ctx, w, out, fromRevision, published)
	return out, nil
}

// runWatcher replays (from, published] from the log, then forwards live
// events. Live events queue in w.live during the replay; those at or below
// the last revision sent are duplicates of the replay and skipped (a
// commit is readable before it is published, so from may exceed published).
func (s *Store) runWatcher(ctx context.Context, w *watcher, out chan<- storage.Event, from, published int64) {
	defer s.watchWG.Done()
	defer close(out)
	defer s.hub.remove(w)

	send := func(ev storage.Event) bool {
		select {
		case out <- ev:
			return true
		case <-ctx.Done():
		case <-s.done:
		}
		return false
	}
	last := from
	for last < published {
		if ctx.Err() != nil || s.closed() {
			return
		}
		events, scanned, err := s.replay(w.prefix, last, published)
		if err != nil {
			// Compacted while replaying, or closed: the consumer sees the
			// channel close and re-watches, getting the error then.
			return
		}
		for _, ev := range events {
			if !send(ev) {
				return
			}
		}
		last = scanned
	}
	for {
		select {
		case ev, ok := <-w.live:
			if !ok {
				return
			}
			if ev.KV.ModRevision <= last {
				continue
			}
			if !send(ev) {
				return
			}
			last = ev.KV.ModRevision
		case <-ctx.Done():
			return
		case <-s.done:
			return
		}
	}
}

// replay reads up to replayChunk revisions after `after` (and at most up
// to `until`) in one short read transaction, and returns the events under
// prefix and the last revision scanned.
func (s *Store) replay(prefix string, after, until int64) ([]storage.Event, int64, error) {
	var events []storage.Event
	scanned := after
	err := s.view(func(tx *bbolt.Tx) error {
		_, compacted, err := revisions(tx)
		if err != nil {
			return err
		}
		if after+1 < compacted {
			return storage.ErrCompacted
		}
		hist := tx.Bucket(bucketHist).Cursor()
		c := tx.Bucket(bucketLog).Cursor()
		n := 0
		for k, v := c.Seek(encodeRev(after + 1)); k != nil && n < replayChunk; k, v = c.Next() {
			rev, err := decodeRev(k)
			if err != nil {
				return err
			}
			if rev > until {
				break
			}
			n++
			scanned = rev
			if !strings.HasPrefix(string(v), prefix) {
				continue
			}
			ev, err := eventAt(hist, string(v), rev)
			if err != nil {
				return err
			}
			events = append(events, ev)
		}
		if scanned < until && n < replayChunk {
			return fmt.Errorf("%w: log ends at %d, want %d", errCorrupt, scanned, until)
		}
		return nil
	})
	return events, scanned, err
}

// eventAt rebuilds the event of key's write at rev from its version and
// the version before it.
func eventAt(hist *bbolt.Cursor, key string, rev int64) (storage.Event, error) {
	k, raw := hist.Seek(histKey(key, rev))
	if k == nil || string(k) != string(histKey(key, rev)) {
		return storage.Event{}, fmt.Errorf("%w: %q has no version at %d", errCorrupt, key, rev)
	}
	cur, err := decodeVersion(raw)
	if err != nil {
		return storage.Event{}, err
	}
	ev := storage.Event{KV: storage.KeyValue{Key: key, Value: cur.value, CreateRevision: cur.createRev, ModRevision: rev}}
	if cur.createRev != rev {
		// An update or a delete: the previous version is the one before,
		// unless compaction removed it (only for the event at exactly the
		// compacted revision).
		if pk, praw := hist.Prev(); pk != nil {
			pkey, _, err := parseHistKey(pk)
			if err != nil {
				return storage.Event{}, err
			}
			if pkey == key && !isTombstone(praw) {
				prev, err := decodeVersion(praw)
				if err != nil {
					return storage.Event{}, err
				}
				ev.PrevValue = prev.value
			}
		}
	}
	switch {
	case cur.tombstone:
		ev.Type = storage.EventDelete
		ev.KV.Value = ev.PrevValue
	case cur.createRev == rev:
		ev.Type = storage.EventCreate
	default:
		ev.Type = storage.EventUpdate
	}
	return ev, nil
}
