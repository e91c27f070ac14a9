package audit

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLogBackendWritesInOrderAndFlushesOnClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logs", "audit.log")
	b, err := NewLogBackend(LogOptions{Path: path, MaxSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("the file must exist from the start: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600: audit logs hold who did what", fi.Mode().Perm())
	}
	const n = 5000
	for i := range n {
		b.Write([]byte(fmt.Sprintf("line %d\n", i)))
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b.Write([]byte("after close\n"))
	if b.Dropped() != 1 {
		t.Errorf("dropped %d, want 1 (the line written after Close)", b.Dropped())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != n {
		t.Fatalf("%d lines, want %d", len(lines), n)
	}
	for i, l := range lines {
		if l != fmt.Sprintf("line %d", i) {
			t.Fatalf("line %d is %q", i, l)
		}
	}
}

func TestLogBackendRotates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	b, err := NewLogBackend(LogOptions{Path: path, MaxSize: 1, MaxBackups: 2})
	if err != nil {
		t.Fatal(err)
	}
	line := append(bytes.Repeat([]byte("x"), 1023), '\n')
	for range 3 * 1024 { // 3 MB: two rotations
		b.Write(bytes.Clone(line))
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 2 {
		t.Errorf("files %v: want the log and rotated backups", entries)
	}
	if b.Failed() != 0 {
		t.Errorf("%d events failed", b.Failed())
	}
}

// stuckWriter blocks every write until released, like a disk that hangs.
type stuckWriter struct {
	entered chan struct{} // receives once per write, before it blocks
	release chan struct{}
	mu      sync.Mutex
	buf     bytes.Buffer
}

func (w *stuckWriter) Write(p []byte) (int, error) {
	w.entered <- struct{}{}
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func TestBackendDropsAndCountsWhenTheDiskCannotKeepUp(t *testing.T) {
	w := &stuckWriter{entered: make(chan struct{}, 10), release: make(chan struct{})}
	b := newBackend(w, func() error { return nil }, 1)
	b.Write([]byte("1\n"))
	<-w.entered            // the writer holds line 1 and hangs on the disk
	b.Write([]byte("2\n")) // fills the buffer of one
	b.Write([]byte("3\n")) // must not wait for the disk
	if b.Dropped() != 1 {
		t.Fatalf("dropped %d, want 1: a full buffer drops, and counts, rather than block the request", b.Dropped())
	}
	close(w.release)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if got := w.buf.String(); got != "1\n2\n" {
		t.Errorf("written %q, want lines 1 and 2 in order", got)
	}
}
