package authn

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// whoami answers with the authenticated user, or 401.
func whoamiServer(t *testing.T, serving tls.Certificate, clientCA *testCert) *httptest.Server {
	t.Helper()
	a := NewX509Authenticator(clientCA.pool())
	a.now = func() time.Time { return testNow }
	h := WithAuthentication(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(UserFrom(r.Context()))
	}), a, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
	})
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.TLS = TLSConfig(serving, clientCA.pool())
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestTLSConfigEndToEnd(t *testing.T) {
	ca := newCert(t, nil, "test-ca", nil, asCA())
	otherCA := newCert(t, nil, "other-ca", nil, asCA())
	serving := newCert(t, ca, "server", nil, withUsage(x509.ExtKeyUsageServerAuth), withHosts("127.0.0.1"),
		withValidity(time.Now().Add(-time.Hour), time.Now().Add(time.Hour)))
	srv := whoamiServer(t, serving.tlsCert(), ca)

	alice := newCert(t, ca, "alice", []string{"dev"})
	mallory := newCert(t, otherCA, "mallory", []string{"system:masters"})

	tests := []struct {
		name       string
		configure  func(*tls.Config)
		wantStatus int
		wantUser   string
		wantGroups []string
	}{
		{
			name:       "valid client certificate",
			configure:  func(c *tls.Config) { c.Certificates = []tls.Certificate{alice.tlsCert()} },
			wantStatus: http.StatusOK,
			wantUser:   "alice", wantGroups: []string{"dev", GroupAuthenticated},
		},
		{
			name:       "no client certificate",
			configure:  func(*tls.Config) {},
			wantStatus: http.StatusUnauthorized,
		},
		{
			// Forced past the client's own acceptable-CA filter, so the
			// server really sees the foreign certificate.
			name: "certificate from another CA",
			configure: func(c *tls.Config) {
				cert := mallory.tlsCert()
				c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
			},
			wantStatus: http.StatusUnauthorized,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &tls.Config{RootCAs: ca.pool(), NextProtos: []string{"h2", "http/1.1"}}
			tt.configure(cfg)
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}, Timeout: 10 * time.Second}
			defer client.CloseIdleConnections()
			resp, err := client.Get(srv.URL + "/api")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.ProtoMajor != 2 {
				t.Errorf("protocol = %s, want HTTP/2", resp.Proto)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus != http.StatusOK {
				return
			}
			var u User
			if err := json.NewDecoder(resp.Body).Decode(&u); err != nil {
				t.Fatal(err)
			}
			if u.Name != tt.wantUser || !slices.Equal(u.Groups, tt.wantGroups) {
				t.Errorf("user = %+v, want %s %v", u, tt.wantUser, tt.wantGroups)
			}
		})
	}
}

func TestTLSConfigRefusesOldAndWeak(t *testing.T) {
	ca := newCert(t, nil, "test-ca", nil, asCA())
	serving := newCert(t, ca, "server", nil, withUsage(x509.ExtKeyUsageServerAuth), withHosts("127.0.0.1"),
		withValidity(time.Now().Add(-time.Hour), time.Now().Add(time.Hour)))
	srv := whoamiServer(t, serving.tlsCert(), ca)
	addr := strings.TrimPrefix(srv.URL, "https://")

	tests := []struct {
		name string
		cfg  *tls.Config
	}{
		{"TLS 1.1", &tls.Config{RootCAs: ca.pool(), MaxVersion: tls.VersionTLS11}},
		{"CBC suite", &tls.Config{RootCAs: ca.pool(), MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := tls.Dial("tcp", addr, tt.cfg)
			if err == nil {
				conn.Close()
				t.Fatal("handshake succeeded, want failure")
			}
		})
	}

	t.Run("TLS 1.2 AEAD", func(t *testing.T) {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.pool(), MaxVersion: tls.VersionTLS12})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		st := conn.ConnectionState()
		if !slices.Contains(cipherSuites, st.CipherSuite) {
			t.Errorf("negotiated %s, not in our list", tls.CipherSuiteName(st.CipherSuite))
		}
	})
}

func TestCipherSuitesAreSecure(t *testing.T) {
	secure := map[uint16]bool{}
	for _, s := range tls.CipherSuites() {
		secure[s.ID] = true
	}
	for _, id := range cipherSuites {
		if !secure[id] {
			t.Errorf("%s is not in crypto/tls's secure list", tls.CipherSuiteName(id))
		}
		if name := tls.CipherSuiteName(id); !strings.Contains(name, "ECDHE") ||
			!(strings.Contains(name, "GCM") || strings.Contains(name, "CHACHA20")) {
			t.Errorf("%s is not ECDHE with an AEAD cipher", name)
		}
	}
}
