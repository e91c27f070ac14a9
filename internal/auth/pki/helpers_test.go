package pki

import (
	"bytes"
	"crypto/x509"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fakeClock is a settable clock for validity and renewal tests.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// snapshot records a file's identity and content, to check that a later call
// left it alone (not even rewritten with the same bytes).
type snapshot struct {
	info fs.FileInfo
	data []byte
}

func takeSnapshot(t *testing.T, path string) snapshot {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return snapshot{info, data}
}

func (s snapshot) untouched(t *testing.T, path string) bool {
	t.Helper()
	now := takeSnapshot(t, path)
	return os.SameFile(s.info, now.info) && s.info.ModTime().Equal(now.info.ModTime()) && bytes.Equal(s.data, now.data)
}

func wantMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("mode of %s = %o, want %o", filepath.Base(path), got, want)
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := parseCertsPEM(data)
	if err != nil {
		t.Fatal(err)
	}
	return certs[0]
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
