package pki

import (
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

func fakeMachine(hostname string, ips ...string) func() (string, []net.IP, error) {
	return func() (string, []net.IP, error) {
		var out []net.IP
		for _, s := range ips {
			out = append(out, net.ParseIP(s))
		}
		return hostname, out, nil
	}
}

func TestEnsureServerFirstStart(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	begin := time.Now()
	p, err := ensureServer(ServerOptions{DataDir: dataDir, BindAddress: "0.0.0.0", Port: 6443, ExtraSANs: []string{"10.96.0.1"}},
		fakeMachine("node-1", "192.168.1.20"), time.Now)
	elapsed := time.Since(begin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first-start PKI generation took %v", elapsed)

	tlsDir := filepath.Join(dataDir, TLSDir)
	for path, mode := range map[string]uint32{
		dataDir:                              0o700,
		tlsDir:                               0o700,
		filepath.Join(tlsDir, CACertFile):    0o600,
		filepath.Join(tlsDir, CAKeyFile):     0o600,
		p.ServingCertFile:                    0o600,
		p.ServingKeyFile:                     0o600,
		p.AdminCertFile:                      0o600,
		p.AdminKeyFile:                       0o600,
		filepath.Join(dataDir, "kubeconfig"): 0o600,
	} {
		wantMode(t, path, fs.FileMode(mode))
	}
	if p.KubeconfigFile != filepath.Join(dataDir, "kubeconfig") {
		t.Errorf("kubeconfig at %s", p.KubeconfigFile)
	}
	if !p.ServingIssued || !p.AdminIssued {
		t.Error("first start did not issue certificates")
	}
	for _, h := range []string{"node-1", "192.168.1.20", "10.96.0.1", "kubernetes.default.svc", "::1"} {
		if !slices.Contains(p.Hosts, h) {
			t.Errorf("hosts %v lack %s", p.Hosts, h)
		}
	}
	if !coversHosts(readCert(t, p.ServingCertFile), p.Hosts) {
		t.Error("serving certificate does not cover the hosts")
	}
	if _, err := p.ServingCertificate(); err != nil {
		t.Error(err)
	}

	cfg, err := clientcmd.LoadFromFile(p.KubeconfigFile)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != AdminUser+"@"+DefaultClusterName {
		t.Errorf("current context = %q", cfg.CurrentContext)
	}
	if got := cfg.Clusters[DefaultClusterName].Server; got != "https://127.0.0.1:6443" {
		t.Errorf("server = %q", got)
	}
}

func TestEnsureServerReusesEverything(t *testing.T) {
	dataDir := t.TempDir()
	opts := ServerOptions{DataDir: dataDir, Port: 6443}
	first, err := ensureServer(opts, fakeMachine("node-1", "192.168.1.20"), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	files := []string{
		filepath.Join(dataDir, TLSDir, CACertFile), filepath.Join(dataDir, TLSDir, CAKeyFile),
		first.ServingCertFile, first.ServingKeyFile, first.AdminCertFile, first.AdminKeyFile, first.KubeconfigFile,
	}
	snaps := map[string]snapshot{}
	for _, f := range files {
		snaps[f] = takeSnapshot(t, f)
	}

	begin := time.Now()
	second, err := ensureServer(opts, fakeMachine("node-1", "192.168.1.20"), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("later-start PKI check took %v", time.Since(begin))
	if second.ServingIssued || second.AdminIssued {
		t.Errorf("issued again: serving=%v admin=%v", second.ServingIssued, second.AdminIssued)
	}
	if !first.CA.Cert.Equal(second.CA.Cert) {
		t.Error("CA changed")
	}
	for _, f := range files {
		if !snaps[f].untouched(t, f) {
			t.Errorf("%s was rewritten", filepath.Base(f))
		}
	}
}

// TestEnsureServerRestrictsModes: a data directory an older Skiff wrote
// (certificates 0644) or a user loosened gets 0600 back on the next
// start, without reissuing anything.
func TestEnsureServerRestrictsModes(t *testing.T) {
	dataDir := t.TempDir()
	opts := ServerOptions{DataDir: dataDir, Port: 6443}
	first, err := ensureServer(opts, fakeMachine("node-1", "192.168.1.20"), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	files := []string{
		filepath.Join(dataDir, TLSDir, CACertFile), filepath.Join(dataDir, TLSDir, CAKeyFile),
		first.ServingCertFile, first.ServingKeyFile, first.AdminCertFile, first.AdminKeyFile, first.KubeconfigFile,
	}
	for _, f := range files {
		if err := os.Chmod(f, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	second, err := ensureServer(opts, fakeMachine("node-1", "192.168.1.20"), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if second.ServingIssued || second.AdminIssued {
		t.Errorf("issued again: serving=%v admin=%v", second.ServingIssued, second.AdminIssued)
	}
	for _, f := range files {
		wantMode(t, f, 0o600)
	}
}

func TestEnsureServerChanges(t *testing.T) {
	tests := []struct {
		name          string
		opts          ServerOptions
		machine       func() (string, []net.IP, error)
		wantServing   bool // reissued
		wantServerURL string
	}{
		{
			name:          "nothing changed",
			opts:          ServerOptions{Port: 6443},
			machine:       fakeMachine("node-1", "192.168.1.20"),
			wantServerURL: "https://127.0.0.1:6443",
		},
		{
			name:          "address lost",
			opts:          ServerOptions{Port: 6443},
			machine:       fakeMachine("node-1"),
			wantServerURL: "https://127.0.0.1:6443",
		},
		{
			name:          "new address",
			opts:          ServerOptions{Port: 6443},
			machine:       fakeMachine("node-1", "192.168.1.20", "192.168.1.21"),
			wantServing:   true,
			wantServerURL: "https://127.0.0.1:6443",
		},
		{
			name:          "renamed host",
			opts:          ServerOptions{Port: 6443},
			machine:       fakeMachine("node-2", "192.168.1.20"),
			wantServing:   true,
			wantServerURL: "https://127.0.0.1:6443",
		},
		{
			name:          "new port",
			opts:          ServerOptions{Port: 7443},
			machine:       fakeMachine("node-1", "192.168.1.20"),
			wantServerURL: "https://127.0.0.1:7443",
		},
		{
			name:          "bound to a machine address",
			opts:          ServerOptions{BindAddress: "192.168.1.20", Port: 6443},
			machine:       fakeMachine("node-1", "192.168.1.20"),
			wantServerURL: "https://192.168.1.20:6443",
		},
		{
			name:          "bound to another address",
			opts:          ServerOptions{BindAddress: "10.1.2.3", Port: 6443},
			machine:       fakeMachine("node-1", "192.168.1.20"),
			wantServing:   true,
			wantServerURL: "https://10.1.2.3:6443",
		},
		{
			name:          "extra SAN",
			opts:          ServerOptions{Port: 6443, ExtraSANs: []string{"api.example.com"}},
			machine:       fakeMachine("node-1", "192.168.1.20"),
			wantServing:   true,
			wantServerURL: "https://127.0.0.1:6443",
		},
		{
			name:          "unusable hostname is left out",
			opts:          ServerOptions{Port: 6443},
			machine:       fakeMachine("bad host", "192.168.1.20"),
			wantServerURL: "https://127.0.0.1:6443",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dataDir := t.TempDir()
			first, err := ensureServer(ServerOptions{DataDir: dataDir, Port: 6443}, fakeMachine("node-1", "192.168.1.20"), time.Now)
			if err != nil {
				t.Fatal(err)
			}
			tt.opts.DataDir = dataDir
			p, err := ensureServer(tt.opts, tt.machine, time.Now)
			if err != nil {
				t.Fatal(err)
			}
			if p.ServingIssued != tt.wantServing {
				t.Errorf("serving reissued = %v, want %v", p.ServingIssued, tt.wantServing)
			}
			if p.AdminIssued {
				t.Error("admin certificate reissued")
			}
			if !p.CA.Cert.Equal(first.CA.Cert) {
				t.Error("CA changed")
			}
			cfg, err := clientcmd.LoadFromFile(p.KubeconfigFile)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Clusters[DefaultClusterName].Server; got != tt.wantServerURL || p.ServerURL != tt.wantServerURL {
				t.Errorf("server = %q (ServerPKI %q), want %q", got, p.ServerURL, tt.wantServerURL)
			}
		})
	}
}

func TestEnsureServerBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts ServerOptions
	}{
		{"no data dir", ServerOptions{Port: 6443}},
		{"no port", ServerOptions{DataDir: t.TempDir()}},
		{"port too large", ServerOptions{DataDir: t.TempDir(), Port: 70000}},
		{"bad extra SAN", ServerOptions{DataDir: t.TempDir(), Port: 6443, ExtraSANs: []string{"not a host"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ensureServer(tt.opts, fakeMachine("node-1"), time.Now); err == nil {
				t.Error("want an error")
			}
		})
	}
}

// BenchmarkEnsureServerFirstStart measures what a first start pays for its
// PKI (key generation, signing, fsync'd writes).
func BenchmarkEnsureServerFirstStart(b *testing.B) {
	for b.Loop() {
		if _, err := ensureServer(ServerOptions{DataDir: b.TempDir(), Port: 6443}, fakeMachine("node-1", "192.168.1.20"), time.Now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEnsureServerLaterStart measures the check on every later start.
func BenchmarkEnsureServerLaterStart(b *testing.B) {
	opts := ServerOptions{DataDir: b.TempDir(), Port: 6443}
	if _, err := ensureServer(opts, fakeMachine("node-1", "192.168.1.20"), time.Now); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := ensureServer(opts, fakeMachine("node-1", "192.168.1.20"), time.Now); err != nil {
			b.Fatal(err)
		}
	}
}
