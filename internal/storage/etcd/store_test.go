package etcd

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"skiff.dev/skiff/internal/storage"
	"skiff.dev/skiff/internal/storage/storagetest"
)

var prefixes atomic.Int64

// uniquePrefix gives every store its own part of the shared server.
func uniquePrefix() string {
	return fmt.Sprintf("/skiff-test-%d-%d", time.Now().UnixNano(), prefixes.Add(1))
}

func newTestStore(t testing.TB, prefix string, mod ...func(*Config)) *Store {
	t.Helper()
	cfg := Config{Endpoints: []string{etcdEndpoint(t)}, Prefix: prefix}
	for _, m := range mod {
		m(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storagetest.RunTests(t, func(t *testing.T) storage.Store { return newTestStore(t, uniquePrefix()) })
}

func TestPersistence(t *testing.T) {
	storagetest.RunPersistenceTests(t, func(t *testing.T) func(t *testing.T) storage.Store {
		prefix := uniquePrefix()
		return func(t *testing.T) storage.Store { return newTestStore(t, prefix) }
	})
}

func BenchmarkStore(b *testing.B) {
	storagetest.RunBenchmarks(b, func(b *testing.B) storage.Store { return newTestStore(b, uniquePrefix()) })
}

// TestPrefixIsolation checks that two stores on one server see only their
// own keys, and that keys come back without the prefix.
func TestPrefixIsolation(t *testing.T) {
	a := newTestStore(t, "/iso-a"+uniquePrefix())
	b := newTestStore(t, "/iso-b"+uniquePrefix())
	ch, err := b.Watch(t.Context(), "", 0)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	if _, err := a.Create(t.Context(), "/k", []byte("a")); err != nil {
		t.Fatalf("Create: %v", err)
	}
	rb, err := b.Create(t.Context(), "/k", []byte("b"))
	if err != nil {
		t.Fatalf("Create in the second store: %v", err)
	}
	res, err := b.List(t.Context(), "", storage.ListOptions{})
	if err != nil || len(res.Items) != 1 || res.Items[0].Key != "/k" || string(res.Items[0].Value) != "b" {
		t.Fatalf("List of the second store = %+v, %v", res.Items, err)
	}
	select {
	case ev := <-ch:
		if ev.KV.Key != "/k" || ev.KV.ModRevision != rb {
			t.Fatalf("second store's watcher saw %+v, want its own /k at %d", ev, rb)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no event")
	}
}

// TestSlowWatcherIsClosed checks the slow-consumer policy: a watcher that
// falls a buffer behind gets a gap-free prefix of its events, then a
// closed channel.
func TestSlowWatcherIsClosed(t *testing.T) {
	s := newTestStore(t, uniquePrefix(), func(c *Config) { c.WatchBuffer = 4 })
	start, err := s.Revision(t.Context())
	if err != nil {
		t.Fatalf("Revision: %v", err)
	}
	ch, err := s.Watch(t.Context(), "/", start)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	const writes = 30
	for i := range writes {
		if _, err := s.Create(t.Context(), fmt.Sprintf("/k/%02d", i), []byte("v")); err != nil {
			t.Fatalf("Create: %v", err)
		}
	}
	var got []storage.Event
	timeout := time.After(10 * time.Second)
	for open := true; open; {
		select {
		case ev, ok := <-ch:
			if ok {
				got = append(got, ev)
			}
			open = ok
		case <-timeout:
			t.Fatalf("slow watcher not closed; %d events read", len(got))
		}
	}
	if len(got) == 0 || len(got) >= writes {
		t.Fatalf("slow watcher got %d events before closing, want between 1 and %d", len(got), writes-1)
	}
	for i, ev := range got {
		if ev.KV.ModRevision != start+1+int64(i) {
			t.Fatalf("event %d at revision %d, want %d", i, ev.KV.ModRevision, start+1+int64(i))
		}
	}
}

func TestNewWithoutEndpoints(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatalf("New without endpoints succeeded")
	}
}
