package authn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

func TestX509Authenticator(t *testing.T) {
	ca := newCert(t, nil, "test-ca", nil, asCA())
	otherCA := newCert(t, nil, "other-ca", nil, asCA())
	intermediate := newCert(t, ca, "intermediate", nil, asCA())

	tests := []struct {
		name       string
		chain      []*x509.Certificate // nil: no client certificate
		noTLS      bool
		wantOK     bool
		wantErr    bool
		wantErrIs  error
		wantUser   string
		wantGroups []string
	}{
		{name: "plain HTTP", noTLS: true},
		{name: "no client certificate"},
		{
			name:     "valid leaf",
			chain:    []*x509.Certificate{newCert(t, ca, "alice", []string{"dev", "ops"}).cert},
			wantOK:   true,
			wantUser: "alice", wantGroups: []string{"dev", "ops"},
		},
		{
			name:     "no groups",
			chain:    []*x509.Certificate{newCert(t, ca, "system:kube-scheduler", nil).cert},
			wantOK:   true,
			wantUser: "system:kube-scheduler",
		},
		{
			name:     "through intermediate sent by client",
			chain:    []*x509.Certificate{newCert(t, intermediate, "bob", []string{"system:nodes"}).cert, intermediate.cert},
			wantOK:   true,
			wantUser: "bob", wantGroups: []string{"system:nodes"},
		},
		{
			name:    "intermediate not sent",
			chain:   []*x509.Certificate{newCert(t, intermediate, "bob", nil).cert},
			wantErr: true,
		},
		{
			name:    "signed by another CA",
			chain:   []*x509.Certificate{newCert(t, otherCA, "mallory", []string{"system:masters"}).cert},
			wantErr: true,
		},
		{
			name:    "self-signed",
			chain:   []*x509.Certificate{newCert(t, nil, "mallory", nil).cert},
			wantErr: true,
		},
		{
			name:    "expired",
			chain:   []*x509.Certificate{newCert(t, ca, "alice", nil, withValidity(testNow.Add(-2*time.Hour), testNow.Add(-time.Hour))).cert},
			wantErr: true,
		},
		{
			name:    "not yet valid",
			chain:   []*x509.Certificate{newCert(t, ca, "alice", nil, withValidity(testNow.Add(time.Hour), testNow.Add(2*time.Hour))).cert},
			wantErr: true,
		},
		{
			name:    "server-only certificate",
			chain:   []*x509.Certificate{newCert(t, ca, "alice", nil, withUsage(x509.ExtKeyUsageServerAuth)).cert},
			wantErr: true,
		},
		{
			name:      "empty common name",
			chain:     []*x509.Certificate{newCert(t, ca, "", []string{"system:masters"}).cert},
			wantErr:   true,
			wantErrIs: ErrNoCommonName,
		},
	}
	a := NewX509Authenticator(ca.pool())
	a.now = func() time.Time { return testNow }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/api", nil)
			if tt.noTLS {
				req.TLS = nil
			} else {
				req.TLS = &tls.ConnectionState{PeerCertificates: tt.chain}
			}
			u, ok, err := a.Authenticate(req)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErrIs != nil && !errors.Is(err, tt.wantErrIs) {
				t.Fatalf("err = %v, want %v", err, tt.wantErrIs)
			}
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if !ok {
				if u != nil {
					t.Fatalf("user = %+v without ok", u)
				}
				return
			}
			if u.Name != tt.wantUser || !slices.Equal(u.Groups, tt.wantGroups) {
				t.Errorf("user = %+v, want %s %v", u, tt.wantUser, tt.wantGroups)
			}
		})
	}
}

func TestX509AuthenticatorNilPoolTrustsNothing(t *testing.T) {
	ca := newCert(t, nil, "test-ca", nil, asCA())
	a := NewX509Authenticator(nil)
	a.now = func() time.Time { return testNow }
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{newCert(t, ca, "alice", nil).cert}}
	if _, ok, err := a.Authenticate(req); ok || err == nil {
		t.Fatalf("ok=%v err=%v, want an error", ok, err)
	}
}

// TestX509AuthenticatorCacheHonoursExpiry: a remembered verification is
// reused, but never past the certificate's NotAfter.
func TestX509AuthenticatorCacheHonoursExpiry(t *testing.T) {
	ca := newCert(t, nil, "test-ca", nil, asCA())
	leaf := newCert(t, ca, "alice", []string{"dev"}, withValidity(testNow.Add(-time.Hour), testNow.Add(time.Minute))).cert
	a := NewX509Authenticator(ca.pool())
	now := testNow
	a.now = func() time.Time { return now }
	req := httptest.NewRequest(http.MethodGet, "/api", nil)
	req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}
	for i := 0; i < 2; i++ {
		u, ok, err := a.Authenticate(req)
		if err != nil || !ok || u.Name != "alice" {
			t.Fatalf("attempt %d: %+v %v %v", i, u, ok, err)
		}
		u.Groups[0] = "mutated" // callers may not change the cached user
	}
	if u, _, _ := a.Authenticate(req); u.Groups[0] != "dev" {
		t.Fatalf("cached user was mutated: %+v", u)
	}
	now = testNow.Add(2 * time.Minute)
	if _, ok, err := a.Authenticate(req); ok || err == nil {
		t.Fatalf("expired certificate accepted from the cache: ok=%v err=%v", ok, err)
	}
}
