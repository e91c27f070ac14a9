package storagetest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"skiff.dev/skiff/internal/storage"
)

func watchTests() []conformanceTest {
	return []conformanceTest{
		{"WatchFromNow", testWatchFromNow},
		{"WatchPrefix", testWatchPrefix},
		{"WatchReplayThenLive", testWatchReplayThenLive},
		{"WatchFromListRevision", testWatchFromListRevision},
		{"WatchFutureRevision", testWatchFutureRevision},
		{"WatchCancel", testWatchCancel},
		{"WatchClosedByClose", testWatchClosedByClose},
		{"WatchMany", testWatchMany},
	}
}

func mustWatch(t testing.TB, ctx context.Context, s storage.Store, prefix string, from int64) <-chan storage.Event {
	t.Helper()
	ch, err := s.Watch(ctx, prefix, from)
	if err != nil {
		t.Fatalf("Watch(%q, %d): %v", prefix, from, err)
	}
	return ch
}

// testWatchFromNow checks that fromRevision 0 sees only later changes,
// with the right types, values and previous values.
func testWatchFromNow(t *testing.T, s storage.Store) {
	mustCreate(t, s, "/w/old", "before the watch")
	ch := mustWatch(t, t.Context(), s, "/w/", 0)

	rc := mustCreate(t, s, "/w/k", "v1")
	ru := mustUpdate(t, s, "/w/k", "v2", rc)
	rd := mustDelete(t, s, "/w/k", ru).ModRevision

	checkEvent(t, "create", recvEvent(t, ch), storage.EventCreate, "/w/k", "v1", "", rc, rc)
	checkEvent(t, "update", recvEvent(t, ch), storage.EventUpdate, "/w/k", "v2", "v1", rc, ru)
	checkEvent(t, "delete", recvEvent(t, ch), storage.EventDelete, "/w/k", "v2", "v2", rc, rd)

	// Re-creating gives a create event with a fresh CreateRevision.
	rc2 := mustCreate(t, s, "/w/k", "v3")
	checkEvent(t, "re-create", recvEvent(t, ch), storage.EventCreate, "/w/k", "v3", "", rc2, rc2)
}

// testWatchPrefix checks byte-prefix filtering: "/w/a/" must not see
// "/w/ab/...". A final sentinel write proves nothing else was delivered.
func testWatchPrefix(t *testing.T, s storage.Store) {
	ch := mustWatch(t, t.Context(), s, "/w/a/", 0)
	r1 := mustCreate(t, s, "/w/a/1", "in")
	mustCreate(t, s, "/w/ab/1", "out")
	mustCreate(t, s, "/w/a", "out")
	mustCreate(t, s, "/x/a/1", "out")
	r2 := mustCreate(t, s, "/w/a/2", "in")
	checkEvent(t, "first", recvEvent(t, ch), storage.EventCreate, "/w/a/1", "in", "", r1, r1)
	checkEvent(t, "second", recvEvent(t, ch), storage.EventCreate, "/w/a/2", "in", "", r2, r2)
}

// testWatchReplayThenLive watches from a past revision while a writer keeps
// going, and checks that replayed and live events join with no gap and no
// duplicate: every write is under the prefix, so revisions must be
// consecutive.
func testWatchReplayThenLive(t *testing.T, s storage.Store) {
	type write struct {
		typ        storage.EventType
		key, value string
		prev       string
		createRev  int64
		rev        int64
	}
	var history []write
	created := map[string]int64{}
	values := map[string]string{}
	record := func(typ storage.EventType, key, value string, rev int64) {
		w := write{typ: typ, key: key, value: value, prev: values[key], createRev: created[key], rev: rev}
		switch typ {
		case storage.EventCreate:
			w.prev, w.createRev = "", rev
			created[key], values[key] = rev, value
		case storage.EventUpdate:
			values[key] = value
		case storage.EventDelete:
			w.value = w.prev
			delete(values, key)
			delete(created, key)
		}
		history = append(history, w)
	}
	for i := range 5 {
		key := fmt.Sprintf("/r/%d", i)
		record(storage.EventCreate, key, "c", mustCreate(t, s, key, "c"))
	}
	for i := range 5 {
		key := fmt.Sprintf("/r/%d", i)
		record(storage.EventUpdate, key, "u", mustUpdate(t, s, key, "u", 0))
	}
	record(storage.EventDelete, "/r/0", "", mustDelete(t, s, "/r/0", 0).ModRevision)
	record(storage.EventCreate, "/r/0", "again", mustCreate(t, s, "/r/0", "again"))

	from := history[3].rev
	ch := mustWatch(t, t.Context(), s, "/r/", from)

	const liveWrites = 200
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range liveWrites {
			if _, err := s.Create(context.Background(), fmt.Sprintf("/r/live/%03d", i), []byte("l")); err != nil {
				t.Errorf("live Create: %v", err)
				return
			}
		}
	})
	defer wg.Wait()

	for _, w := range history[4:] {
		ev := recvEvent(t, ch)
		checkEvent(t, fmt.Sprintf("replayed rev %d", w.rev), ev, w.typ, w.key, w.value, w.prev, w.createRev, w.rev)
	}
	next := history[len(history)-1].rev + 1
	for i := range liveWrites {
		ev := recvEvent(t, ch)
		if ev.KV.ModRevision != next {
			t.Fatalf("live event %d has revision %d, want %d (%s)", i, ev.KV.ModRevision, next, describeEvent(ev))
		}
		if want := fmt.Sprintf("/r/live/%03d", i); ev.Type != storage.EventCreate || ev.KV.Key != want {
			t.Fatalf("live event %d = %s, want CREATE %s", i, describeEvent(ev), want)
		}
		next++
	}
}

// testWatchFromListRevision is the list-then-watch handover every
// informer does: the first event is the first write after the list.
func testWatchFromListRevision(t *testing.T, s storage.Store) {
	mustCreate(t, s, "/h/a", "a")
	res := mustList(t, s, "/h/", storage.ListOptions{})
	ch := mustWatch(t, t.Context(), s, "/h/", res.Revision)
	rev := mustCreate(t, s, "/h/b", "b")
	if rev != res.Revision+1 {
		t.Fatalf("create revision %d, want %d", rev, res.Revision+1)
	}
	checkEvent(t, "first event", recvEvent(t, ch), storage.EventCreate, "/h/b", "b", "", rev, rev)
}

func testWatchFutureRevision(t *testing.T, s storage.Store) {
	mustCreate(t, s, "/k", "v")
	cur := currentRevision(t, s)
	_, err := s.Watch(t.Context(), "/", cur+1)
	wantErr(t, fmt.Sprintf("Watch from %d (current %d)", cur+1, cur), err, storage.ErrFutureRevision)
	// Watching from the current revision itself is fine.
	ch := mustWatch(t, t.Context(), s, "/", cur)
	rev := mustCreate(t, s, "/k2", "v")
	checkEvent(t, "event after current", recvEvent(t, ch), storage.EventCreate, "/k2", "v", "", rev, rev)
}

func testWatchCancel(t *testing.T, s storage.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	ch := mustWatch(t, ctx, s, "/", 0)
	rev := mustCreate(t, s, "/k", "v")
	checkEvent(t, "before cancel", recvEvent(t, ch), storage.EventCreate, "/k", "v", "", rev, rev)
	cancel()
	waitClosed(t, ch)
	// The store keeps working for others.
	ch2 := mustWatch(t, t.Context(), s, "/", 0)
	rev = mustCreate(t, s, "/k2", "v")
	checkEvent(t, "new watcher", recvEvent(t, ch2), storage.EventCreate, "/k2", "v", "", rev, rev)
}

func testWatchClosedByClose(t *testing.T, s storage.Store) {
	live := mustWatch(t, t.Context(), s, "/", 0)
	mustCreate(t, s, "/k", "v")
	// A watcher that never reads must not keep Close from returning.
	mustWatch(t, t.Context(), s, "/", currentRevision(t, s)-1)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	waitClosed(t, live)
}

// testWatchMany checks that watchers on overlapping prefixes each see their
// own complete stream.
func testWatchMany(t *testing.T, s storage.Store) {
	const watchers = 5
	chans := make([]<-chan storage.Event, watchers)
	for i := range chans {
		chans[i] = mustWatch(t, t.Context(), s, "/m/", 0)
	}
	other := mustWatch(t, t.Context(), s, "/m/odd/", 0)
	var revs []int64
	for i := range 20 {
		key := fmt.Sprintf("/m/even/%d", i)
		if i%2 == 1 {
			key = fmt.Sprintf("/m/odd/%d", i)
		}
		revs = append(revs, mustCreate(t, s, key, "v"))
	}
	for i, ch := range chans {
		for _, rev := range revs {
			if ev := recvEvent(t, ch); ev.KV.ModRevision != rev {
				t.Fatalf("watcher %d: event %s, want revision %d", i, describeEvent(ev), rev)
			}
		}
	}
	for i := 1; i < len(revs); i += 2 {
		if ev := recvEvent(t, other); ev.KV.ModRevision != revs[i] {
			t.Fatalf("odd watcher: event %s, want revision %d", describeEvent(ev), revs[i])
		}
	}
}
