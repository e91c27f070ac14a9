package storagetest

import (
	"fmt"
	"testing"

	"skiff.dev/skiff/internal/storage"
)

func compactTests() []conformanceTest {
	return []conformanceTest{
		{"Compact", testCompact},
		{"CompactAtCurrent", testCompactAtCurrent},
		{"CompactBounds", testCompactBounds},
	}
}

// testCompact compacts in the middle of a history and checks what is gone
// (old revisions) and what stays (every key's latest value, later history).
func testCompact(t *testing.T, s storage.Store) {
	rOld := mustCreate(t, s, "/c/old", "never touched again")
	ra := mustCreate(t, s, "/c/a", "a1")
	ra2 := mustUpdate(t, s, "/c/a", "a2", ra)
	rb := mustCreate(t, s, "/c/b", "b1")
	mustDelete(t, s, "/c/b", rb)
	rz := mustCreate(t, s, "/c/z", "z1")
	compactAt := mustUpdate(t, s, "/c/z", "z2", rz)
	ra3 := mustUpdate(t, s, "/c/a", "a3", ra2)
	rc := mustCreate(t, s, "/c/c", "c1")

	if err := s.Compact(t.Context(), compactAt); err != nil {
		t.Fatalf("Compact(%d): %v", compactAt, err)
	}

	_, err := s.List(t.Context(), "/c/", storage.ListOptions{Revision: compactAt - 1})
	wantErr(t, "List below the compacted revision", err, storage.ErrCompacted)
	_, err = s.List(t.Context(), "/c/", storage.ListOptions{Revision: rOld})
	wantErr(t, "List far below the compacted revision", err, storage.ErrCompacted)
	_, err = s.Watch(t.Context(), "/c/", compactAt-2)
	wantErr(t, "Watch from below the compacted revision", err, storage.ErrCompacted)

	at := mustList(t, s, "/c/", storage.ListOptions{Revision: compactAt})
	if got, want := keysOf(at.Items), []string{"/c/a", "/c/old", "/c/z"}; !equalStrings(got, want) {
		t.Fatalf("keys at the compacted revision = %q, want %q", got, want)
	}
	checkKV(t, "/c/a at compacted revision", at.Items[0], "/c/a", "a2", ra, ra2)
	checkKV(t, "/c/old at compacted revision", at.Items[1], "/c/old", "never touched again", rOld, rOld)
	checkKV(t, "/c/z at compacted revision", at.Items[2], "/c/z", "z2", rz, compactAt)

	latest := mustList(t, s, "/c/", storage.ListOptions{})
	if got, want := keysOf(latest.Items), []string{"/c/a", "/c/c", "/c/old", "/c/z"}; !equalStrings(got, want) {
		t.Fatalf("latest keys = %q, want %q", got, want)
	}
	checkKV(t, "latest /c/a", mustGet(t, s, "/c/a"), "/c/a", "a3", ra, ra3)
	checkKV(t, "latest /c/old", mustGet(t, s, "/c/old"), "/c/old", "never touched again", rOld, rOld)
	checkKV(t, "latest /c/c", mustGet(t, s, "/c/c"), "/c/c", "c1", rc, rc)
	_, err = s.Get(t.Context(), "/c/b")
	wantErr(t, "Get of a key deleted before the compaction", err, storage.ErrNotFound)

	// Watching from compactAt-1 is allowed: it asks for events from
	// compactAt on, which are kept. (PrevValue of the event at exactly
	// compactAt may be gone; etcd drops it, so it is not checked.)
	ch := mustWatch(t, t.Context(), s, "/c/", compactAt-1)
	ev := recvEvent(t, ch)
	if ev.Type != storage.EventUpdate || ev.KV.Key != "/c/z" || ev.KV.ModRevision != compactAt {
		t.Fatalf("first event after compaction = %s, want UPDATE /c/z at %d", describeEvent(ev), compactAt)
	}
	checkEvent(t, "second event", recvEvent(t, ch), storage.EventUpdate, "/c/a", "a3", "a2", ra, ra3)
	checkEvent(t, "third event", recvEvent(t, ch), storage.EventCreate, "/c/c", "c1", "", rc, rc)

	// Writes go on from where they were, and compacted keys still obey CAS.
	r := mustUpdate(t, s, "/c/old", "touched", rOld)
	if r != rc+1 {
		t.Fatalf("write after compaction got revision %d, want %d", r, rc+1)
	}
	checkEvent(t, "live event", recvEvent(t, ch), storage.EventUpdate, "/c/old", "touched", "never touched again", rOld, r)
	rb2 := mustCreate(t, s, "/c/b", "b2")
	checkKV(t, "re-created /c/b", mustGet(t, s, "/c/b"), "/c/b", "b2", rb2, rb2)
}

// testCompactAtCurrent compacts everything: latest values stay, deleted
// keys stay deleted, and watching from the current revision still works.
func testCompactAtCurrent(t *testing.T, s storage.Store) {
	for i := range 10 {
		key := fmt.Sprintf("/k/%d", i)
		rev := mustCreate(t, s, key, "v1")
		rev = mustUpdate(t, s, key, "v2", rev)
		if i%3 == 0 {
			mustDelete(t, s, key, rev)
		}
	}
	before := mustList(t, s, "/", storage.ListOptions{})
	cur := currentRevision(t, s)
	if err := s.Compact(t.Context(), cur); err != nil {
		t.Fatalf("Compact(%d): %v", cur, err)
	}
	after := mustList(t, s, "/", storage.ListOptions{})
	if len(after.Items) != len(before.Items) || after.Revision != cur {
		t.Fatalf("after compaction: %d items at %d, want %d at %d", len(after.Items), after.Revision, len(before.Items), cur)
	}
	for i, kv := range before.Items {
		checkKV(t, "after compaction", after.Items[i], kv.Key, string(kv.Value), kv.CreateRevision, kv.ModRevision)
	}
	atCur := mustList(t, s, "/", storage.ListOptions{Revision: cur})
	if len(atCur.Items) != len(before.Items) {
		t.Fatalf("list at the compacted revision: %d items, want %d", len(atCur.Items), len(before.Items))
	}
	ch := mustWatch(t, t.Context(), s, "/", cur)
	rev := mustCreate(t, s, "/k/0", "back")
	checkEvent(t, "create after full compaction", recvEvent(t, ch), storage.EventCreate, "/k/0", "back", "", rev, rev)
}

func testCompactBounds(t *testing.T, s storage.Store) {
	r1 := mustCreate(t, s, "/k", "v1")
	r2 := mustUpdate(t, s, "/k", "v2", r1)
	mustUpdate(t, s, "/k", "v3", r2)
	cur := currentRevision(t, s)

	err := s.Compact(t.Context(), cur+1)
	wantErr(t, "Compact beyond the current revision", err, storage.ErrFutureRevision)
	if err := s.Compact(t.Context(), r2); err != nil {
		t.Fatalf("Compact(%d): %v", r2, err)
	}
	// Compacting again at or below the compacted revision is a no-op.
	for _, rev := range []int64{r2, r1} {
		if err := s.Compact(t.Context(), rev); err != nil {
			t.Fatalf("repeated Compact(%d): %v", rev, err)
		}
	}
	res := mustList(t, s, "/", storage.ListOptions{Revision: r2})
	if len(res.Items) != 1 || string(res.Items[0].Value) != "v2" {
		t.Fatalf("list at compacted revision %d = %+v, want /k=v2", r2, res.Items)
	}
	_, err = s.List(t.Context(), "/", storage.ListOptions{Revision: r1})
	wantErr(t, "List below the compacted revision", err, storage.ErrCompacted)
}
