package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"

	"skiff.dev/skiff/internal/storage"
)

func concurrencyTests() []conformanceTest {
	return []conformanceTest{
		{"ConcurrentCASIncrements", testConcurrentCASIncrements},
		{"ConcurrentCreateSameKey", testConcurrentCreateSameKey},
		{"ConcurrentCreatesWatched", testConcurrentCreatesWatched},
	}
}

// testConcurrentCASIncrements runs read-modify-write loops on one counter
// from many goroutines: with correct CAS no increment is lost, and every
// successful update is exactly one revision.
func testConcurrentCASIncrements(t *testing.T, s storage.Store) {
	const workers, perWorker = 8, 25
	start := mustCreate(t, s, "/counter", "0")
	var wg sync.WaitGroup
	var mu sync.Mutex
	var revs []int64
	for range workers {
		wg.Go(func() {
			ctx := context.Background()
			for done := 0; done < perWorker; {
				kv, err := s.Get(ctx, "/counter")
				if err != nil {
					t.Errorf("Get: %v", err)
					return
				}
				n, err := strconv.Atoi(string(kv.Value))
				if err != nil {
					t.Errorf("counter value %q: %v", kv.Value, err)
					return
				}
				rev, err := s.Update(ctx, "/counter", []byte(strconv.Itoa(n+1)), kv.ModRevision)
				if errors.Is(err, storage.ErrConflict) {
					continue
				}
				if err != nil {
					t.Errorf("Update: %v", err)
					return
				}
				mu.Lock()
				revs = append(revs, rev)
				mu.Unlock()
				done++
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	kv := mustGet(t, s, "/counter")
	if want := strconv.Itoa(workers * perWorker); string(kv.Value) != want {
		t.Fatalf("counter = %s, want %s (lost updates)", kv.Value, want)
	}
	slices.Sort(revs)
	for i, rev := range revs {
		if rev != start+int64(i)+1 {
			t.Fatalf("successful updates got revisions %v, want %d..%d with no gaps or repeats", revs, start+1, start+workers*perWorker)
		}
	}
	if kv.ModRevision != revs[len(revs)-1] {
		t.Fatalf("counter ModRevision %d, want %d", kv.ModRevision, revs[len(revs)-1])
	}
}

func testConcurrentCreateSameKey(t *testing.T, s storage.Store) {
	const workers = 16
	var wg sync.WaitGroup
	results := make([]error, workers)
	for i := range workers {
		wg.Go(func() {
			_, results[i] = s.Create(context.Background(), "/once", []byte(strconv.Itoa(i)))
		})
	}
	wg.Wait()
	winners := 0
	for i, err := range results {
		switch {
		case err == nil:
			winners++
		case !errors.Is(err, storage.ErrKeyExists):
			t.Fatalf("worker %d: %v, want nil or ErrKeyExists", i, err)
		}
	}
	if winners != 1 {
		t.Fatalf("%d creates of one key succeeded, want exactly 1", winners)
	}
}

// testConcurrentCreatesWatched creates distinct keys from many goroutines
// (the API server's load) and checks that the revisions handed out are
// unique and consecutive, and that a watcher sees them all, in order, each
// with the revision its writer was told.
func testConcurrentCreatesWatched(t *testing.T, s storage.Store) {
	const workers, perWorker = 16, 10
	start := currentRevision(t, s)
	ch := mustWatch(t, t.Context(), s, "/cc/", start)
	var wg sync.WaitGroup
	var mu sync.Mutex
	revOf := map[string]int64{}
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				key := fmt.Sprintf("/cc/%02d/%02d", w, i)
				rev, err := s.Create(context.Background(), key, []byte(key))
				if err != nil {
					t.Errorf("Create(%s): %v", key, err)
					return
				}
				mu.Lock()
				revOf[key] = rev
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for i := range workers * perWorker {
		ev := recvEvent(t, ch)
		if want := start + int64(i) + 1; ev.KV.ModRevision != want {
			t.Fatalf("event %d: %s, want revision %d", i, describeEvent(ev), want)
		}
		if ev.Type != storage.EventCreate || revOf[ev.KV.Key] != ev.KV.ModRevision || string(ev.KV.Value) != ev.KV.Key {
			t.Fatalf("event %d: %s, but Create(%s) returned revision %d", i, describeEvent(ev), ev.KV.Key, revOf[ev.KV.Key])
		}
	}
	if got := len(mustList(t, s, "/cc/", storage.ListOptions{}).Items); got != workers*perWorker {
		t.Fatalf("listed %d keys, want %d", got, workers*perWorker)
	}
}
