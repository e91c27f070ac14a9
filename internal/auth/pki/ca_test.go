package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadOrCreateCACreates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "tls")
	clock := &fakeClock{t: time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC)}
	ca, err := loadOrCreateCA(dir, clock.now)
	if err != nil {
		t.Fatal(err)
	}
	wantMode(t, dir, dirMode)
	wantMode(t, filepath.Join(dir, CACertFile), certMode)
	wantMode(t, filepath.Join(dir, CAKeyFile), keyMode)

	c := ca.Cert
	if !c.IsCA || !c.BasicConstraintsValid {
		t.Error("not a CA certificate")
	}
	if want := "skiff-ca@" + "1906502400"; c.Subject.CommonName != want {
		t.Errorf("CN = %q, want %q", c.Subject.CommonName, want)
	}
	if c.Subject.String() != c.Issuer.String() {
		t.Error("not self-signed")
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("self-signature: %v", err)
	}
	pub, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("key = %T, want ECDSA P-256", c.PublicKey)
	}
	if got := c.NotAfter.Sub(clock.t); got != caValidity {
		t.Errorf("validity = %v, want %v", got, caValidity)
	}
	if ca.Pool() == nil {
		t.Error("nil pool")
	}
	if len(c.SubjectKeyId) == 0 {
		t.Error("no subject key ID")
	}
}

func TestLoadOrCreateCAReuses(t *testing.T) {
	dir := t.TempDir()
	first, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	certSnap, keySnap := takeSnapshot(t, certPath), takeSnapshot(t, keyPath)

	second, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Cert.Equal(second.Cert) {
		t.Error("second call returned a different CA")
	}
	if !certSnap.untouched(t, certPath) || !keySnap.untouched(t, keyPath) {
		t.Error("second call rewrote the CA files")
	}
}

func TestLoadOrCreateCARefusesToReplace(t *testing.T) {
	other, otherKeyPEM, err := newCA(time.Now)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string)
		wantErr error  // errors.Is target, if any
		wantMsg string // substring, if any
	}{
		{
			name:    "key missing",
			setup:   func(t *testing.T, dir string) { must(t, os.Remove(filepath.Join(dir, CAKeyFile))) },
			wantErr: ErrCAKeyMissing,
		},
		{
			name:    "key of another CA",
			setup:   func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, CAKeyFile), otherKeyPEM) },
			wantMsg: "does not match",
		},
		{
			name:    "garbage certificate",
			setup:   func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, CACertFile), []byte("not PEM")) },
			wantMsg: "no certificate",
		},
		{
			name: "truncated certificate",
			setup: func(t *testing.T, dir string) {
				data, err := os.ReadFile(filepath.Join(dir, CACertFile))
				must(t, err)
				writeFile(t, filepath.Join(dir, CACertFile), []byte(strings.Replace(string(data), "A", "", 40)))
			},
		},
		{
			name: "garbage key",
			setup: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, CAKeyFile), []byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"))
			},
			wantMsg: "parse EC private key",
		},
		{
			name: "leaf certificate instead of a CA",
			setup: func(t *testing.T, dir string) {
				certPEM, keyPEM, err := other.SignClient("alice", nil)
				must(t, err)
				writeFile(t, filepath.Join(dir, CACertFile), certPEM)
				writeFile(t, filepath.Join(dir, CAKeyFile), keyPEM)
			},
			wantMsg: "not a CA",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := LoadOrCreateCA(dir); err != nil {
				t.Fatal(err)
			}
			tt.setup(t, dir)
			before := takeSnapshot(t, filepath.Join(dir, CACertFile))
			_, err := LoadOrCreateCA(dir)
			if err == nil {
				t.Fatal("want an error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantMsg != "" && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err = %v, want it to mention %q", err, tt.wantMsg)
			}
			if !before.untouched(t, filepath.Join(dir, CACertFile)) {
				t.Error("CA certificate was replaced")
			}
		})
	}
}

// A key without a certificate is what a crash during the very first start
// leaves behind; nothing can have been issued yet, so start over.
func TestLoadOrCreateCAStrayKey(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, CAKeyFile), []byte("half-written"))
	if _, err := LoadOrCreateCA(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCA(filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)); err != nil {
		t.Fatal(err)
	}
}

func TestLoadOrCreateCATightensDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	must(t, os.Mkdir(dir, 0o755))
	if _, err := LoadOrCreateCA(dir); err != nil {
		t.Fatal(err)
	}
	wantMode(t, dir, dirMode)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
