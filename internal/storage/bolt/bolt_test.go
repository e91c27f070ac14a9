package bolt

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"skiff.dev/skiff/internal/storage"
)

const waitTimeout = 10 * time.Second

func mustRev(t *testing.T, s *Store) int64 {
	t.Helper()
	rev, err := s.Revision(t.Context())
	if err != nil {
		t.Fatalf("Revision: %v", err)
	}
	return rev
}

// drain reads ch until it closes, failing after waitTimeout.
func drain(t *testing.T, ch <-chan storage.Event) []storage.Event {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	var evs []storage.Event
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return evs
			}
			evs = append(evs, ev)
		case <-timer.C:
			t.Fatalf("watch channel still open after %v (%d events read)", waitTimeout, len(evs))
		}
	}
}

func recv(t *testing.T, ch <-chan storage.Event) storage.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatalf("watch channel closed")
		}
		return ev
	case <-time.After(waitTimeout):
		t.Fatalf("no event within %v", waitTimeout)
	}
	return storage.Event{}
}

// checkConsecutive fails unless the events' revisions are first, first+1, ...
func checkConsecutive(t *testing.T, evs []storage.Event, first int64) {
	t.Helper()
	for i, ev := range evs {
		if ev.KV.ModRevision != first+int64(i) {
			t.Fatalf("event %d has revision %d, want %d", i, ev.KV.ModRevision, first+int64(i))
		}
	}
}

// pollUntil calls cond until it is true or the deadline passes.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// createMany creates n keys under prefix from 16 goroutines.
func createMany(t *testing.T, s *Store, prefix string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				if _, err := s.Create(context.Background(), fmt.Sprintf("%s%06d", prefix, i), []byte("v")); err != nil {
					t.Errorf("Create: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// countBucket counts the entries of a bucket.
func countBucket(t *testing.T, s *Store, name []byte) int {
	t.Helper()
	n := 0
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(name).ForEach(func(k, v []byte) error { n++; return nil })
	})
	if err != nil {
		t.Fatalf("count %s: %v", name, err)
	}
	return n
}

func newOp(ctx context.Context, kind opKind, key, value string, expected int64) *writeOp {
	return &writeOp{ctx: ctx, kind: kind, key: key, value: []byte(value), expected: expected, result: make(chan writeResult, 1)}
}

// TestBatchIsolatesFailures commits one batch mixing successful and failing
// ops: a failed CAS or a cancelled caller must fail only its own op, and
// later ops in the batch see the effects of earlier ones.
func TestBatchIsolatesFailures(t *testing.T) {
	s := openTemp(t)
	start := mustRev(t, s)
	ch, err := s.Watch(t.Context(), "/", 0)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	ctx := t.Context()
	tests := []struct {
		op      *writeOp
		wantErr error
		wantRev int64
	}{
		{newOp(ctx, opCreate, "/a", "a1", 0), nil, start + 1},
		{newOp(ctx, opCreate, "/a", "dup", 0), storage.ErrKeyExists, 0},
		{newOp(ctx, opUpdate, "/missing", "x", 0), storage.ErrNotFound, 0},
		{newOp(ctx, opCreate, "/b", "b1", 0), nil, start + 2},
		{newOp(ctx, opUpdate, "/a", "stale", start), storage.ErrConflict, 0},
		{newOp(cancelled, opCreate, "/c", "c1", 0), context.Canceled, 0},
		{newOp(ctx, opUpdate, "/a", "a2", start+1), nil, start + 3},
		{newOp(ctx, opDelete, "/b", "", start+2), nil, start + 4},
		{newOp(ctx, opDelete, "/b", "", 0), storage.ErrNotFound, 0},
	}
	batch := make([]*writeOp, len(tests))
	for i, tc := range tests {
		batch[i] = tc.op
	}
	s.commit(batch)
	for i, tc := range tests {
		r := <-tc.op.result
		if !errors.Is(r.err, tc.wantErr) || (tc.wantErr == nil && r.rev != tc.wantRev) {
			t.Errorf("op %d (%v %s): rev=%d err=%v, want rev=%d err=%v", i, tc.op.kind, tc.op.key, r.rev, r.err, tc.wantRev, tc.wantErr)
		}
	}
	if got := mustRev(t, s); got != start+4 {
		t.Fatalf("Revision = %d, want %d", got, start+4)
	}
	kv, err := s.Get(t.Context(), "/a")
	if err != nil || string(kv.Value) != "a2" || kv.CreateRevision != start+1 || kv.ModRevision != start+3 {
		t.Fatalf("Get(/a) = %+v, %v", kv, err)
	}
	if _, err := s.Get(t.Context(), "/c"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("cancelled create was applied: %v", err)
	}
	wantTypes := []storage.EventType{storage.EventCreate, storage.EventCreate, storage.EventUpdate, storage.EventDelete}
	for i, typ := range wantTypes {
		ev := recv(t, ch)
		if ev.Type != typ || ev.KV.ModRevision != start+1+int64(i) {
			t.Fatalf("event %d = %v at %d, want %v at %d", i, ev.Type, ev.KV.ModRevision, typ, start+1+int64(i))
		}
	}
}

// TestSlowWatcherIsClosed checks the slow-consumer policy: writers never
// wait for a watcher; a watcher that falls a buffer behind gets a gap-free
// prefix of its events and then a closed channel, and can resume from the
// last revision it saw.
func TestSlowWatcherIsClosed(t *testing.T) {
	s := openTemp(t, WithWatchBuffer(4))
	start := mustRev(t, s)
	ch, err := s.Watch(t.Context(), "/", 0)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	const writes = 50
	for i := range writes {
		if _, err := s.Create(t.Context(), fmt.Sprintf("/k/%02d", i), []byte("v")); err != nil {
			t.Fatalf("Create: %v", err)
		}
	}
	got := drain(t, ch)
	if len(got) == 0 || len(got) >= writes {
		t.Fatalf("slow watcher got %d events before closing, want between 1 and %d", len(got), writes-1)
	}
	checkConsecutive(t, got, start+1)

	last := got[len(got)-1].KV.ModRevision
	resumed, err := s.Watch(t.Context(), "/", last)
	if err != nil {
		t.Fatalf("re-Watch: %v", err)
	}
	var rest []storage.Event
	for range writes - len(got) {
		rest = append(rest, recv(t, resumed))
	}
	checkConsecutive(t, rest, last+1)
}

// TestWatchSkipsDuplicatesOfReplay covers the window where a commit is
// visible to readers but not yet published: a watcher starting from such a
// revision must skip the live copies of events it has already covered.
func TestWatchSkipsDuplicatesOfReplay(t *testing.T) {
	s := openTemp(t)
	r1, _ := s.Create(t.Context(), "/k1", []byte("1"))
	r2, _ := s.Create(t.Context(), "/k2", []byte("2"))
	r3, err := s.Create(t.Context(), "/k3", []byte("3"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	// Pretend r2 and r3 are committed but not published yet.
	s.hub.mu.Lock()
	s.hub.published = r1
	s.hub.mu.Unlock()
	ch, err := s.Watch(t.Context(), "/", r2)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	s.hub.publish(r3, []storage.Event{
		{Type: storage.EventCreate, KV: storage.KeyValue{Key: "/k2", Value: []byte("2"), CreateRevision: r2, ModRevision: r2}},
		{Type: storage.EventCreate, KV: storage.KeyValue{Key: "/k3", Value: []byte("3"), CreateRevision: r3, ModRevision: r3}},
	})
	if ev := recv(t, ch); ev.KV.ModRevision != r3 {
		t.Fatalf("first event at %d, want %d (the event at %d is before the watch)", ev.KV.ModRevision, r3, r2)
	}
	r4, err := s.Create(t.Context(), "/k4", []byte("4"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if ev := recv(t, ch); ev.KV.ModRevision != r4 {
		t.Fatalf("second event at %d, want %d", ev.KV.ModRevision, r4)
	}
}

// TestCompactionPrunesHistory checks that compaction really frees the
// history it makes unreachable, tombstones included.
func TestCompactionPrunesHistory(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	for _, key := range []string{"/a", "/b", "/c"} {
		if _, err := s.Create(ctx, key, []byte("0")); err != nil {
			t.Fatalf("Create: %v", err)
		}
		for i := 1; i <= 4; i++ {
			if _, err := s.Update(ctx, key, []byte{byte('0' + i)}, 0); err != nil {
				t.Fatalf("Update: %v", err)
			}
		}
	}
	del, err := s.Delete(ctx, "/c", 0)
	if err != nil {
		t.Fatalf("Delete: %v", err)
	}
	counts := func() [3]int {
		return [3]int{countBucket(t, s, bucketIndex), countBucket(t, s, bucketHist), countBucket(t, s, bucketLog)}
	}
	if got, want := counts(), [3]int{2, 16, 16}; got != want {
		t.Fatalf("before compaction index/hist/log = %v, want %v", got, want)
	}

	if err := s.Compact(ctx, del.ModRevision); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	// Kept: the last version of /a and /b, and /c's last value plus its
	// deletion (the event at the compacted revision needs both).
	if got, want := counts(), [3]int{2, 4, 1}; got != want {
		t.Fatalf("after compaction index/hist/log = %v, want %v", got, want)
	}

	rd, err := s.Create(ctx, "/d", []byte("d"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := s.Compact(ctx, rd); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	// /c's tombstone is below the new horizon: /c is gone entirely.
	if got, want := counts(), [3]int{3, 3, 1}; got != want {
		t.Fatalf("after second compaction index/hist/log = %v, want %v", got, want)
	}
}

// TestOpenResumesPruning simulates a crash between recording a compaction
// and pruning: Open must finish the pruning.
func TestOpenResumesPruning(t *testing.T) {
	path := t.TempDir() + "/state.db"
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	createMany(t, s, "/k/", 100)
	for range 3 {
		if _, err := s.Update(t.Context(), "/k/000001", []byte("x"), 0); err != nil {
			t.Fatalf("Update: %v", err)
		}
	}
	cur := mustRev(t, s)
	err = s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(metaCompact, encodeRev(cur))
	})
	if err != nil {
		t.Fatalf("record compaction: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	// The update at cur and the version before it stay; 2 older versions go.
	if got, want := countBucket(t, s, bucketHist), 101; got != want {
		t.Fatalf("hist entries after reopen = %d, want %d", got, want)
	}
	if got, want := countBucket(t, s, bucketLog), 1; got != want {
		t.Fatalf("log entries after reopen = %d, want %d", got, want)
	}
}

// TestCompactionDuringReplayClosesWatch: a watcher replaying history that
// a compaction removes must not skip it silently.
func TestCompactionDuringReplayClosesWatch(t *testing.T) {
	s := openTemp(t)
	start := mustRev(t, s)
	const n = 3 * replayChunk
	createMany(t, s, "/k/", n)
	ch, err := s.Watch(t.Context(), "/", start)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	first := recv(t, ch) // the replay has read its first chunk
	if err := s.Compact(t.Context(), mustRev(t, s)); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	got := append([]storage.Event{first}, drain(t, ch)...)
	if len(got) >= n {
		t.Fatalf("watcher replayed all %d events across a compaction", len(got))
	}
	checkConsecutive(t, got, start+1)
	_, err = s.Watch(t.Context(), "/", got[len(got)-1].KV.ModRevision)
	if !errors.Is(err, storage.ErrCompacted) {
		t.Fatalf("re-Watch after compaction: %v, want ErrCompacted", err)
	}
}

func TestAutoCompaction(t *testing.T) {
	t.Run("retain revisions", func(t *testing.T) {
		s := openTemp(t, WithAutoCompaction(AutoCompaction{Interval: 10 * time.Millisecond, Retain: 5}))
		createMany(t, s, "/k/", 30)
		want := mustRev(t, s) - 5
		pollUntil(t, "compaction to current-5", func() bool {
			rev, err := s.CompactedRevision()
			return err == nil && rev == want
		})
	})
	t.Run("previous tick", func(t *testing.T) {
		s := openTemp(t, WithAutoCompaction(AutoCompaction{Interval: 10 * time.Millisecond}))
		createMany(t, s, "/k/", 30)
		// Two ticks after the last write, the compaction reaches it.
		want := mustRev(t, s)
		pollUntil(t, "compaction to the last write", func() bool {
			rev, err := s.CompactedRevision()
			return err == nil && rev == want
		})
		if _, err := s.Get(t.Context(), "/k/000029"); err != nil {
			t.Fatalf("Get after auto compaction: %v", err)
		}
	})
}

// TestBadInput checks that invalid arguments are errors, not panics, and
// change nothing.
func TestBadInput(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	before := mustRev(t, s)
	calls := []struct {
		name string
		call func() error
	}{
		{"create empty key", func() error { _, err := s.Create(ctx, "", []byte("v")); return err }},
		{"create huge key", func() error { _, err := s.Create(ctx, strings.Repeat("k", maxKeyLen+1), nil); return err }},
		{"update negative revision", func() error { _, err := s.Update(ctx, "/k", nil, -1); return err }},
		{"delete empty key", func() error { _, err := s.Delete(ctx, "", 0); return err }},
		{"list negative revision", func() error {
			_, err := s.List(ctx, "/", storage.ListOptions{Revision: -1})
			return err
		}},
		{"watch negative revision", func() error { _, err := s.Watch(ctx, "/", -5); return err }},
	}
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); err == nil {
				t.Fatalf("no error")
			}
		})
	}
	if got := mustRev(t, s); got != before {
		t.Fatalf("bad input moved the revision from %d to %d", before, got)
	}
	// A key of the maximum length, full of 0x00 (which escaping doubles),
	// still works.
	long := strings.Repeat("\x00", maxKeyLen)
	if _, err := s.Create(ctx, long, []byte("v")); err != nil {
		t.Fatalf("Create of a %d-byte key: %v", maxKeyLen, err)
	}
	res, err := s.List(ctx, "\x00", storage.ListOptions{Revision: before + 1})
	if err != nil || len(res.Items) != 1 {
		t.Fatalf("List of the long key = %d items, %v", len(res.Items), err)
	}
}

// TestSecondOpenWaitsForLock: two stores on one file would corrupt it;
// bbolt's file lock makes the second Open time out instead.
func TestSecondOpenWaitsForLock(t *testing.T) {
	path := t.TempDir() + "/state.db"
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if s2, err := Open(path, WithOpenTimeout(50*time.Millisecond)); err == nil {
		s2.Close()
		t.Fatalf("second Open of a locked file succeeded")
	}
}
