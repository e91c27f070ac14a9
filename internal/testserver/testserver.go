// Package testserver starts Skiff's real API server, with every built-in
// resource, on a fresh embedded store behind real TLS, for the tests of
// components that are API clients (controllers, scheduler, agent). It is
// the fixture STYLE.md asks for: no fake clients, and it starts in
// milliseconds.
package testserver

import (
	"context"
	"crypto/tls"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff.dev/skiff/internal/apiserver"
	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/auth/authz"
	"skiff.dev/skiff/internal/auth/pki"
	"skiff.dev/skiff/internal/registry/builtin"
	"skiff.dev/skiff/internal/storage"
	"skiff.dev/skiff/internal/storage/bolt"
)

// Server is a running API server.
type Server struct {
	// URL is the server's https:// address.
	URL string
	// CA signs client certificates; its pool verifies the server.
	CA *pki.CA
	// Admin is a config for a member of system:masters; Client uses it.
	Admin  *rest.Config
	Client kubernetes.Interface
	// API is the server itself (its watch cache, for in-process wiring).
	API *apiserver.Server
	// Dir is the server's data directory (the store, the CA).
	Dir string
}

// Setup is what an Option may change before the server starts: the
// apiserver.Config (its Store is set from Store), the store itself (to
// wrap it), and hooks around the start.
type Setup struct {
	Dir    string
	CA     *pki.CA
	Store  storage.Store
	Config apiserver.Config
	// Bound run after apiserver.New, before Start: binding in-process
	// consumers to the server's caches.
	Bound []func(*apiserver.Server) error
	// Started run once the server serves, with an admin config: the
	// wiring that is itself an API client (the RBAC bootstrap).
	Started []func(ctx context.Context, srv *apiserver.Server, admin *rest.Config) error
}

// Option changes the Setup of StartWith.
type Option func(t testing.TB, s *Setup)

// Start runs an API server until the test ends. The four default
// namespaces and the kubernetes service exist when it returns.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t)
}

// StartWith is Start with options: the same server, wired as the options
// say (admission, audit, authenticators, RBAC ...), as the app wires it.
func StartWith(t testing.TB, opts ...Option) *Server {
	t.Helper()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ca, err := pki.LoadOrCreateCA(filepath.Join(dir, "tls"))
	if err != nil {
		t.Fatal(err)
	}
	setup := &Setup{Dir: dir, CA: ca, Store: st, Config: apiserver.Config{
		Resources: builtin.Resources(), SecurePort: 6443,
		Authenticator: authn.NewX509Authenticator(ca.Pool()),
		Authorizer:    authz.Union{authz.Superusers{Group: "system:masters"}},
	}}
	for _, o := range opts {
		o(t, setup)
	}
	setup.Config.Store = setup.Store
	srv, err := apiserver.New(setup.Config)
	if err != nil {
		t.Fatal(err)
	}
	for _, bind := range setup.Bound {
		if err := bind(srv); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.SignServing([]string{"127.0.0.1", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv)
	hs.TLS = authn.TLSConfig(cert, ca.Pool())
	hs.EnableHTTP2 = true
	hs.StartTLS()
	t.Cleanup(hs.Close)
	// Runs before hs.Close: end the watches of in-process clients (the
	// Started hooks'), which hs.Close would otherwise wait for.
	t.Cleanup(cancel)

	s := &Server{URL: hs.URL, CA: ca, API: srv, Dir: dir}
	s.Admin = s.Config(t, "admin", "system:masters")
	s.Client = kubernetes.NewForConfigOrDie(s.Admin)
	for _, started := range setup.Started {
		if err := started(ctx, srv, s.Admin); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// Config is a client config for user in groups, authenticated by a client
// certificate the server's CA signs. Client-side rate limits are off.
func (s *Server) Config(t testing.TB, user string, groups ...string) *rest.Config {
	t.Helper()
	certPEM, keyPEM, err := s.CA.SignClient(user, groups)
	if err != nil {
		t.Fatal(err)
	}
	return &rest.Config{
		Host:            s.URL,
		QPS:             -1,
		TLSClientConfig: rest.TLSClientConfig{CAData: s.CA.CertPEM, CertData: certPEM, KeyData: keyPEM},
		UserAgent:       user,
	}
}

// Warnings collects the Warning headers a client receives: set it as a
// rest.Config's WarningHandler.
type Warnings struct {
	mu   sync.Mutex
	msgs []string
}

// HandleWarningHeader implements rest.WarningHandler.
func (w *Warnings) HandleWarningHeader(_ int, _ string, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, msg)
}

// Take returns the warnings so far and forgets them.
func (w *Warnings) Take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.msgs
	w.msgs = nil
	return m
}
