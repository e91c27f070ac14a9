package bolt

import (
	"path/filepath"
	"testing"

	"skiff.dev/skiff/internal/storage"
	"skiff.dev/skiff/internal/storage/storagetest"
)

func openTemp(t testing.TB, opts ...Option) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "state.db"), opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storagetest.RunTests(t, func(t *testing.T) storage.Store { return openTemp(t) })
}

func TestPersistence(t *testing.T) {
	storagetest.RunPersistenceTests(t, func(t *testing.T) func(t *testing.T) storage.Store {
		path := filepath.Join(t.TempDir(), "state.db")
		return func(t *testing.T) storage.Store {
			s, err := Open(path)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			return s
		}
	})
}

func BenchmarkStore(b *testing.B) {
	storagetest.RunBenchmarks(b, func(b *testing.B) storage.Store {
		s, err := Open(filepath.Join(b.TempDir(), "state.db"))
		if err != nil {
			b.Fatalf("Open: %v", err)
		}
		return s
	})
}
