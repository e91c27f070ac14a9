package storagetest

import (
	"testing"

	"skiff.dev/skiff/internal/storage"
)

// RunPersistenceTests checks that a store's data, history, revision counter
// and compacted revision survive a Close and reopen. newDurable sets up
// fresh durable state (an empty bolt file, a fresh etcd key prefix) and
// returns a function that opens a store on it; the suite calls that function
// several times, closing each store before opening the next.
func RunPersistenceTests(t *testing.T, newDurable func(t *testing.T) (open func(t *testing.T) storage.Store)) {
	t.Run("Reopen", func(t *testing.T) {
		open := newDurable(t)
		s := open(t)
		t.Cleanup(func() { _ = s.Close() })

		ra := mustCreate(t, s, "/d/a", "a1")
		ra2 := mustUpdate(t, s, "/d/a", "a2", ra)
		rb := mustCreate(t, s, "/d/b", "b1")
		rc := mustCreate(t, s, "/d/c", "c1")
		compactAt := mustDelete(t, s, "/d/b", rb).ModRevision
		rc2 := mustUpdate(t, s, "/d/c", "c2", rc)
		if err := s.Compact(t.Context(), compactAt); err != nil {
			t.Fatalf("Compact: %v", err)
		}
		last := currentRevision(t, s)
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}

		s = open(t)
		t.Cleanup(func() { _ = s.Close() })
		if got := currentRevision(t, s); got != last {
			t.Fatalf("revision after reopen = %d, want %d", got, last)
		}
		checkKV(t, "/d/a after reopen", mustGet(t, s, "/d/a"), "/d/a", "a2", ra, ra2)
		checkKV(t, "/d/c after reopen", mustGet(t, s, "/d/c"), "/d/c", "c2", rc, rc2)
		_, err := s.Get(t.Context(), "/d/b")
		wantErr(t, "deleted key after reopen", err, storage.ErrNotFound)

		// History from the compacted revision on survived.
		at := mustList(t, s, "/d/", storage.ListOptions{Revision: compactAt})
		if got, want := keysOf(at.Items), []string{"/d/a", "/d/c"}; !equalStrings(got, want) {
			t.Fatalf("keys at %d after reopen = %q, want %q", compactAt, got, want)
		}
		checkKV(t, "/d/c at compacted revision", at.Items[1], "/d/c", "c1", rc, rc)
		_, err = s.List(t.Context(), "/d/", storage.ListOptions{Revision: compactAt - 1})
		wantErr(t, "List below the compacted revision after reopen", err, storage.ErrCompacted)

		ch := mustWatch(t, t.Context(), s, "/d/", compactAt)
		checkEvent(t, "replayed after reopen", recvEvent(t, ch), storage.EventUpdate, "/d/c", "c2", "c1", rc, rc2)

		// The counter goes on from where it was.
		rd := mustCreate(t, s, "/d/d", "d1")
		if rd != last+1 {
			t.Fatalf("first write after reopen got revision %d, want %d", rd, last+1)
		}
		checkEvent(t, "live after reopen", recvEvent(t, ch), storage.EventCreate, "/d/d", "d1", "", rd, rd)
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}

		s = open(t)
		t.Cleanup(func() { _ = s.Close() })
		if got := currentRevision(t, s); got != rd {
			t.Fatalf("revision after second reopen = %d, want %d", got, rd)
		}
	})
}
