// Package storagetest is the conformance suite for storage.Store. Every
// backend runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storagetest.RunTests(t, func(t *testing.T) storage.Store { return openFresh(t) })
//	}
//
// The suite checks the promises written in internal/storage/store.go, and
// nothing backend-specific: revisions are compared relative to the store's
// revision when a test starts, so a backend may start at any revision >= 1
// (etcd starts at 1, but a shared etcd server has already moved on).
//
// Subtests run one after another, never in parallel, because several
// backends share one server between stores (each store under its own key
// prefix) and the "one revision per write" checks would see the others'
// writes.
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"skiff.dev/skiff/internal/storage"
)

// waitTimeout bounds every wait for an event or a channel close. It is
// generous because CI machines are small and shared.
const waitTimeout = 10 * time.Second

// conformanceTest is one named check run against a fresh store.
type conformanceTest struct {
	name string
	fn   func(t *testing.T, s storage.Store)
}

// RunTests runs every conformance test against stores made by newStore.
// newStore must return a fresh store holding no keys (it may share a
// revision counter with other stores). The suite closes each store when its
// subtest ends; Close must therefore tolerate being called twice.
func RunTests(t *testing.T, newStore func(t *testing.T) storage.Store) {
	groups := [][]conformanceTest{crudTests(), listTests(), watchTests(), compactTests(), concurrencyTests()}
	for _, group := range groups {
		for _, tc := range group {
			t.Run(tc.name, func(t *testing.T) {
				s := newStore(t)
				t.Cleanup(func() { _ = s.Close() })
				tc.fn(t, s)
			})
		}
	}
}

// currentRevision returns the store's revision or fails the test.
func currentRevision(t testing.TB, s storage.Store) int64 {
	t.Helper()
	rev, err := s.Revision(context.Background())
	if err != nil {
		t.Fatalf("Revision: %v", err)
	}
	return rev
}

func mustCreate(t testing.TB, s storage.Store, key, value string) int64 {
	t.Helper()
	rev, err := s.Create(context.Background(), key, []byte(value))
	if err != nil {
		t.Fatalf("Create(%q): %v", key, err)
	}
	return rev
}

func mustUpdate(t testing.TB, s storage.Store, key, value string, expected int64) int64 {
	t.Helper()
	rev, err := s.Update(context.Background(), key, []byte(value), expected)
	if err != nil {
		t.Fatalf("Update(%q, expected=%d): %v", key, expected, err)
	}
	return rev
}

func mustDelete(t testing.TB, s storage.Store, key string, expected int64) storage.KeyValue {
	t.Helper()
	kv, err := s.Delete(context.Background(), key, expected)
	if err != nil {
		t.Fatalf("Delete(%q, expected=%d): %v", key, expected, err)
	}
	return kv
}

func mustGet(t testing.TB, s storage.Store, key string) storage.KeyValue {
	t.Helper()
	kv, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return kv
}

func mustList(t testing.TB, s storage.Store, prefix string, opts storage.ListOptions) storage.ListResult {
	t.Helper()
	res, err := s.List(context.Background(), prefix, opts)
	if err != nil {
		t.Fatalf("List(%q, %+v): %v", prefix, opts, err)
	}
	return res
}

// wantErr fails unless err is target (by errors.Is).
func wantErr(t testing.TB, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

// checkKV compares a KeyValue field by field. Values compare with
// bytes.Equal, so nil and empty are the same (etcd returns nil for "").
func checkKV(t testing.TB, what string, got storage.KeyValue, key, value string, createRev, modRev int64) {
	t.Helper()
	if got.Key != key || !bytes.Equal(got.Value, []byte(value)) || got.CreateRevision != createRev || got.ModRevision != modRev {
		t.Fatalf("%s: got {key=%q value=%q create=%d mod=%d}, want {key=%q value=%q create=%d mod=%d}",
			what, got.Key, got.Value, got.CreateRevision, got.ModRevision, key, value, createRev, modRev)
	}
}

// keysOf returns the keys of kvs in order.
func keysOf(kvs []storage.KeyValue) []string {
	keys := make([]string, len(kvs))
	for i, kv := range kvs {
		keys[i] = kv.Key
	}
	return keys
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// recvEvent waits for the next event; it fails the test on a closed
// channel or after waitTimeout.
func recvEvent(t testing.TB, ch <-chan storage.Event) storage.Event {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatalf("watch channel closed while waiting for an event")
		}
		return ev
	case <-timer.C:
		t.Fatalf("no event within %v", waitTimeout)
	}
	return storage.Event{}
}

// waitClosed drains ch until it is closed and returns what it drained. It
// fails the test if the channel stays open for waitTimeout.
func waitClosed(t testing.TB, ch <-chan storage.Event) []storage.Event {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	var drained []storage.Event
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return drained
			}
			drained = append(drained, ev)
		case <-timer.C:
			t.Fatalf("watch channel still open after %v", waitTimeout)
			return drained
		}
	}
}

// checkEvent compares an event with what is expected. prev is the expected
// PrevValue ("" and nil compare equal).
func checkEvent(t testing.TB, what string, ev storage.Event, typ storage.EventType, key, value, prev string, createRev, modRev int64) {
	t.Helper()
	if ev.Type != typ {
		t.Fatalf("%s: event type %v, want %v (event %s)", what, ev.Type, typ, describeEvent(ev))
	}
	checkKV(t, what, ev.KV, key, value, createRev, modRev)
	if !bytes.Equal(ev.PrevValue, []byte(prev)) {
		t.Fatalf("%s: PrevValue %q, want %q", what, ev.PrevValue, prev)
	}
}

func describeEvent(ev storage.Event) string {
	return fmt.Sprintf("%v %q rev=%d value=%q prev=%q", ev.Type, ev.KV.Key, ev.KV.ModRevision, ev.KV.Value, ev.PrevValue)
}
