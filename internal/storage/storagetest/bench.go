package storagetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"skiff.dev/skiff/internal/storage"
)

const (
	// benchClients is how many concurrent writers the API server is
	// expected to have under load.
	benchClients = 16
	// benchListKeys is the size of the listed prefix.
	benchListKeys = 10_000
)

// benchValue is a 1 KiB value, about a small pod in protobuf.
var benchValue = func() []byte {
	v := make([]byte, 1024)
	for i := range v {
		v[i] = byte('a' + i%26)
	}
	return v
}()

// RunBenchmarks measures the operations the API server leans on. newStore
// returns a fresh, empty store; the benchmarks close it when done.
//
//	Create/serial      one writer: write latency
//	Create/parallel16  16 writers: group-commit throughput (creates/s)
//	Get                point reads of 1,000 keys
//	List10k            a whole 10,000-key prefix at the latest revision
//	List10kPaged500    the same prefix in pages of 500 at a fixed revision
//	List10kAtPast      the whole prefix at a revision that is no longer current
func RunBenchmarks(b *testing.B, newStore func(b *testing.B) storage.Store) {
	parent := b
	b.Run("Create/serial", func(b *testing.B) {
		s := newStore(b)
		defer s.Close()
		ctx := context.Background()
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := s.Create(ctx, fmt.Sprintf("/bench/serial/%09d", i), benchValue); err != nil {
				b.Fatalf("Create: %v", err)
			}
		}
	})
	b.Run("Create/parallel16", func(b *testing.B) {
		s := newStore(b)
		defer s.Close()
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		runClients(b, benchClients, b.N, func(i int) error {
			_, err := s.Create(context.Background(), fmt.Sprintf("/bench/parallel/%09d", i), benchValue)
			return err
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "creates/s")
	})
	b.Run("Get", func(b *testing.B) {
		s := newStore(b)
		defer s.Close()
		const keys = 1000
		fill(b, s, "/bench/get/", keys)
		ctx := context.Background()
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := s.Get(ctx, fmt.Sprintf("/bench/get/%09d", i%keys)); err != nil {
				b.Fatalf("Get: %v", err)
			}
		}
	})

	// The list benchmarks share one filled store: filling 10k keys takes
	// longer than the measurement.
	var (
		once    sync.Once
		listed  storage.Store
		pastRev int64
	)
	filled := func(b *testing.B) storage.Store {
		once.Do(func() {
			// The store belongs to the parent benchmark, so that its
			// cleanup (a temp dir, say) runs after all list benchmarks.
			listed = newStore(parent)
			fill(b, listed, "/bench/list/", benchListKeys)
			pastRev = currentRevision(b, listed)
			// One more write makes pastRev a past revision.
			if _, err := listed.Create(context.Background(), "/bench/other", benchValue); err != nil {
				b.Fatalf("Create: %v", err)
			}
		})
		if listed == nil {
			b.Fatalf("list benchmark store was not set up")
		}
		return listed
	}
	defer func() {
		if listed != nil {
			_ = listed.Close()
		}
	}()
	listBench := func(opts storage.ListOptions) func(b *testing.B) {
		return func(b *testing.B) {
			s := filled(b)
			if opts.Revision < 0 {
				opts.Revision = pastRev
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				listAll(b, ctx, s, opts)
			}
			b.ReportMetric(benchListKeys, "keys/op")
		}
	}
	b.Run("List10k", listBench(storage.ListOptions{}))
	b.Run("List10kPaged500", listBench(storage.ListOptions{Limit: 500}))
	b.Run("List10kAtPast", listBench(storage.ListOptions{Revision: -1}))
}

// listAll lists the benchmark prefix, following pages when opts has a
// limit, and checks the key count.
func listAll(b *testing.B, ctx context.Context, s storage.Store, opts storage.ListOptions) {
	n := 0
	for {
		res, err := s.List(ctx, "/bench/list/", opts)
		if err != nil {
			b.Fatalf("List: %v", err)
		}
		n += len(res.Items)
		if !res.More {
			break
		}
		opts.Revision = res.Revision
		opts.StartKey = res.Items[len(res.Items)-1].Key + "\x00"
	}
	if n != benchListKeys {
		b.Fatalf("listed %d keys, want %d", n, benchListKeys)
	}
}

// fill creates n keys under prefix with benchClients concurrent writers.
func fill(b *testing.B, s storage.Store, prefix string, n int) {
	b.Helper()
	runClients(b, benchClients, n, func(i int) error {
		_, err := s.Create(context.Background(), fmt.Sprintf("%s%09d", prefix, i), benchValue)
		return err
	})
}

// runClients calls op(0..n-1) from the given number of goroutines.
func runClients(b *testing.B, clients, n int, op func(i int) error) {
	b.Helper()
	var next atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || failed.Load() != nil {
					return
				}
				if err := op(i); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		b.Fatalf("operation failed: %v", *err)
	}
}
