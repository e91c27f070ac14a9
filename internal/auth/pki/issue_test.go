package pki

import (
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func newTestCA(t *testing.T, clock *fakeClock) *CA {
	t.Helper()
	ca, err := loadOrCreateCA(t.TempDir(), clock.now)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestIssueServingContents(t *testing.T) {
	clock := &fakeClock{t: time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC)}
	ca := newTestCA(t, clock)
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "serving.crt"), filepath.Join(dir, "serving.key")
	hosts := ServingHosts("node-1", []net.IP{net.ParseIP("10.0.0.5")}, []string{"10.96.0.1"})
	if err := ca.IssueServing(certPath, keyPath, hosts); err != nil {
		t.Fatal(err)
	}
	wantMode(t, certPath, certMode)
	wantMode(t, keyPath, keyMode)
	c := readCert(t, certPath)

	wantDNS := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "node-1"}
	if !slices.Equal(c.DNSNames, wantDNS) {
		t.Errorf("DNS SANs = %v, want %v", c.DNSNames, wantDNS)
	}
	var gotIPs []string
	for _, ip := range c.IPAddresses {
		gotIPs = append(gotIPs, ip.String())
	}
	if want := []string{"127.0.0.1", "::1", "10.0.0.5", "10.96.0.1"}; !slices.Equal(gotIPs, want) {
		t.Errorf("IP SANs = %v, want %v", gotIPs, want)
	}
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("ExtKeyUsage = %v, want ServerAuth", c.ExtKeyUsage)
	}
	if c.IsCA {
		t.Error("leaf is a CA")
	}
	if got := c.NotAfter.Sub(clock.t); got != leafValidity {
		t.Errorf("validity = %v, want %v", got, leafValidity)
	}
	if c.NotBefore.After(clock.t) {
		t.Errorf("NotBefore %v is after issuance %v", c.NotBefore, clock.t)
	}
	for _, h := range []string{"127.0.0.1", "::1", "localhost", "kubernetes.default.svc", "10.96.0.1", "node-1"} {
		if _, err := c.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: h, CurrentTime: clock.t}); err != nil {
			t.Errorf("verify for %s: %v", h, err)
		}
	}
}

func TestIssueClientContents(t *testing.T) {
	clock := &fakeClock{t: time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC)}
	ca := newTestCA(t, clock)
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "admin.crt"), filepath.Join(dir, "admin.key")
	if err := ca.IssueClient(certPath, keyPath, AdminUser, []string{AdminGroup}); err != nil {
		t.Fatal(err)
	}
	wantMode(t, certPath, certMode)
	wantMode(t, keyPath, keyMode)
	c := readCert(t, certPath)
	if c.Subject.CommonName != AdminUser || !slices.Equal(c.Subject.Organization, []string{AdminGroup}) {
		t.Errorf("subject = %s, want CN=%s O=%s", c.Subject, AdminUser, AdminGroup)
	}
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
		t.Errorf("ExtKeyUsage = %v, want ClientAuth", c.ExtKeyUsage)
	}
	if len(c.DNSNames)+len(c.IPAddresses) != 0 {
		t.Error("client certificate has SANs")
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: clock.t, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("verify: %v", err)
	}
}

func TestIssueRejectsBadInput(t *testing.T) {
	ca := newTestCA(t, &fakeClock{t: time.Now()})
	dir := t.TempDir()
	crt, key := filepath.Join(dir, "x.crt"), filepath.Join(dir, "x.key")
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"serving without hosts", func() error { return ca.IssueServing(crt, key, nil) }, ErrNoHosts},
		{"serving with blank hosts", func() error { _, err := ca.LoadOrIssueServing(crt, key, []string{" ", ""}); return err }, ErrNoHosts},
		{"client without user", func() error { return ca.IssueClient(crt, key, "", []string{"g"}) }, ErrNoUser},
		{"load-or-issue client without user", func() error { _, err := ca.LoadOrIssueClient(crt, key, "", nil); return err }, ErrNoUser},
		{"sign serving without hosts", func() error { _, _, err := ca.SignServing(nil); return err }, ErrNoHosts},
		{"NUL in a name", func() error { _, _, err := ca.SignServing([]string{"bad\x00name"}); return err }, ErrInvalidHost},
		{"space in a name", func() error { return ca.IssueServing(crt, key, []string{"localhost", "my host"}) }, ErrInvalidHost},
		{"URL instead of a host", func() error { return ca.IssueServing(crt, key, []string{"https://api.example.com"}) }, ErrInvalidHost},
		{"sign client without user", func() error { _, _, err := ca.SignClient("", nil); return err }, ErrNoUser},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := os.Stat(crt); !errors.Is(err, os.ErrNotExist) {
		t.Error("a failed issue wrote a file")
	}
}

func TestLoadOrIssueServing(t *testing.T) {
	start := time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC)
	base := []string{"localhost", "127.0.0.1", "node-1", "10.0.0.5"}
	tests := []struct {
		name       string
		change     func(t *testing.T, ca *CA, clock *fakeClock, certPath, keyPath string)
		hosts      []string
		wantIssued bool
	}{
		{name: "same hosts", hosts: base},
		{name: "subset of hosts", hosts: []string{"NODE-1", "127.0.0.1"}},
		{name: "hosts in another order", hosts: []string{"10.0.0.5", "node-1", "localhost", "127.0.0.1"}},
		{name: "new address", hosts: append(slices.Clone(base), "10.0.0.6"), wantIssued: true},
		{name: "new name", hosts: append(slices.Clone(base), "api.example.com"), wantIssued: true},
		{
			name: "well before renewal",
			change: func(_ *testing.T, _ *CA, c *fakeClock, _, _ string) {
				c.t = c.t.Add(leafValidity - renewBefore - time.Hour)
			},
			hosts: base,
		},
		{
			name: "near expiry",
			change: func(_ *testing.T, _ *CA, c *fakeClock, _, _ string) {
				c.t = c.t.Add(leafValidity - renewBefore + time.Hour)
			},
			hosts:      base,
			wantIssued: true,
		},
		{
			name:       "expired",
			change:     func(_ *testing.T, _ *CA, c *fakeClock, _, _ string) { c.t = c.t.Add(2 * leafValidity) },
			hosts:      base,
			wantIssued: true,
		},
		{
			name:       "clock went backwards",
			change:     func(_ *testing.T, _ *CA, c *fakeClock, _, _ string) { c.t = c.t.Add(-time.Hour) },
			hosts:      base,
			wantIssued: true,
		},
		{
			name: "signed by another CA",
			change: func(t *testing.T, _ *CA, c *fakeClock, certPath, keyPath string) {
				must(t, newTestCA(t, c).IssueServing(certPath, keyPath, base))
			},
			hosts:      base,
			wantIssued: true,
		},
		{
			name: "key replaced",
			change: func(t *testing.T, ca *CA, _ *fakeClock, _, keyPath string) {
				_, keyPEM, err := ca.SignServing(base)
				must(t, err)
				writeFile(t, keyPath, keyPEM)
			},
			hosts:      base,
			wantIssued: true,
		},
		{
			name:       "key missing",
			change:     func(t *testing.T, _ *CA, _ *fakeClock, _, keyPath string) { must(t, os.Remove(keyPath)) },
			hosts:      base,
			wantIssued: true,
		},
		{
			name:       "certificate garbage",
			change:     func(t *testing.T, _ *CA, _ *fakeClock, certPath, _ string) { writeFile(t, certPath, []byte("garbage")) },
			hosts:      base,
			wantIssued: true,
		},
		{
			name: "a client certificate in its place",
			change: func(t *testing.T, ca *CA, _ *fakeClock, certPath, keyPath string) {
				must(t, ca.IssueClient(certPath, keyPath, ServingCommonName, nil))
			},
			hosts:      base,
			wantIssued: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{t: start}
			ca := newTestCA(t, clock)
			dir := t.TempDir()
			certPath, keyPath := filepath.Join(dir, "serving.crt"), filepath.Join(dir, "serving.key")
			issued, err := ca.LoadOrIssueServing(certPath, keyPath, base)
			if err != nil || !issued {
				t.Fatalf("first call: issued=%v err=%v, want issued", issued, err)
			}
			if tt.change != nil {
				tt.change(t, ca, clock, certPath, keyPath)
			}
			certSnap, keySnap := takeSnapshot(t, certPath), snapshot{}
			if _, err := os.Stat(keyPath); err == nil {
				keySnap = takeSnapshot(t, keyPath)
			}

			issued, err = ca.LoadOrIssueServing(certPath, keyPath, tt.hosts)
			if err != nil {
				t.Fatal(err)
			}
			if issued != tt.wantIssued {
				t.Fatalf("issued = %v, want %v", issued, tt.wantIssued)
			}
			if !issued {
				if !certSnap.untouched(t, certPath) || !keySnap.untouched(t, keyPath) {
					t.Error("reused files were rewritten")
				}
				return
			}
			c := readCert(t, certPath)
			if !coversHosts(c, tt.hosts) {
				t.Errorf("reissued certificate does not cover %v", tt.hosts)
			}
			if !ca.reusable(certPath, keyPath, leafSpec{commonName: ServingCommonName, hosts: tt.hosts, usage: x509.ExtKeyUsageServerAuth}) {
				t.Error("reissued certificate is not reusable")
			}
		})
	}
}

func TestLoadOrIssueClient(t *testing.T) {
	tests := []struct {
		name       string
		user       string
		groups     []string
		wantIssued bool
	}{
		{name: "same identity", user: "alice", groups: []string{"dev", "ops"}},
		{name: "groups in another order", user: "alice", groups: []string{"ops", "dev", "ops"}},
		{name: "other user", user: "bob", groups: []string{"dev", "ops"}, wantIssued: true},
		{name: "group added", user: "alice", groups: []string{"dev", "ops", "admins"}, wantIssued: true},
		{name: "group removed", user: "alice", groups: []string{"dev"}, wantIssued: true},
		{name: "no groups", user: "alice", wantIssued: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ca := newTestCA(t, &fakeClock{t: time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC)})
			dir := t.TempDir()
			certPath, keyPath := filepath.Join(dir, "c.crt"), filepath.Join(dir, "c.key")
			if _, err := ca.LoadOrIssueClient(certPath, keyPath, "alice", []string{"dev", "ops"}); err != nil {
				t.Fatal(err)
			}
			snap := takeSnapshot(t, certPath)
			issued, err := ca.LoadOrIssueClient(certPath, keyPath, tt.user, tt.groups)
			if err != nil {
				t.Fatal(err)
			}
			if issued != tt.wantIssued {
				t.Fatalf("issued = %v, want %v", issued, tt.wantIssued)
			}
			if !issued && !snap.untouched(t, certPath) {
				t.Error("reused certificate was rewritten")
			}
			c := readCert(t, certPath)
			if c.Subject.CommonName != tt.user || !sameSet(c.Subject.Organization, tt.groups) {
				t.Errorf("subject = %s, want CN=%s O=%v", c.Subject, tt.user, tt.groups)
			}
		})
	}
}

// A leaf must not outlive the CA that signed it.
func TestLeafCappedAtCAExpiry(t *testing.T) {
	clock := &fakeClock{t: time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC)}
	ca := newTestCA(t, clock)
	clock.t = ca.Cert.NotAfter.Add(-30 * 24 * time.Hour)
	certPEM, _, err := ca.SignClient("alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := parseCertsPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !certs[0].NotAfter.Equal(ca.Cert.NotAfter) {
		t.Errorf("NotAfter = %v, want the CA's %v", certs[0].NotAfter, ca.Cert.NotAfter)
	}
}
