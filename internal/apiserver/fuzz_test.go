package apiserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/auth/authz"
	"skiff.dev/skiff/internal/auth/pki"
	"skiff.dev/skiff/internal/registry"
	"skiff.dev/skiff/internal/storage/bolt"
)

// directServer is an API server called in-process without TLS: the
// request carries the admin's certificate as if the handshake had
// verified it. Fast enough for fuzzing.
type directServer struct {
	srv  *Server
	cert *x509.Certificate
	ca   *pki.CA
}

func newDirectServer(tb testing.TB) *directServer {
	tb.Helper()
	return newDirectServerWith(tb, testResources())
}

// newDirectServerWith serves resources (e.g. builtin.Resources(), for
// benchmarks of the real strategies).
func newDirectServerWith(tb testing.TB, resources []registry.Resource, configure ...func(*Config)) *directServer {
	tb.Helper()
	dir := tb.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	ca, err := pki.LoadOrCreateCA(filepath.Join(dir, "tls"))
	if err != nil {
		tb.Fatal(err)
	}
	cfg := Config{Store: st, Resources: resources, SecurePort: 6443,
		Authenticator: authn.NewX509Authenticator(ca.Pool()), Authorizer: authz.Superusers{Group: "system:masters"}}
	for _, c := range configure {
		c(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	if err := srv.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	certPEM, _, err := ca.SignClient("admin", []string{"system:masters"})
	if err != nil {
		tb.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		tb.Fatal(err)
	}
	return &directServer{srv: srv, cert: cert, ca: ca}
}

func (d *directServer) do(method, path, contentType string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{d.cert}}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	d.srv.ServeHTTP(rec, req)
	return rec
}

// FuzzRequestDecoding sends arbitrary bodies as creates, updates and
// patches of several kinds. Whatever the bytes, the server must answer
// with a proper Status for errors and never a 5xx or a panic.
func FuzzRequestDecoding(f *testing.F) {
	seeds := []struct {
		op   uint8
		ct   string
		body string
	}{
		{0, "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v"}}`},
		{0, "application/yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n"},
		{1, "application/json", `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":"x"}}`},
		{2, "application/merge-patch+json", `{"data":{"k":null}}`},
		{3, "application/json-patch+json", `[{"op":"add","path":"/data/x","value":"y"}]`},
		{4, "application/strategic-merge-patch+json", `{"metadata":{"labels":{"a":"b"}}}`},
		{5, "application/apply-patch+yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: seed\n"},
		{6, "application/vnd.kubernetes.protobuf", "k8s\x00\n\x0c\n\x02v1\x12\x06Secret"},
		{0, "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","resourceVersion":"x"}}`},
		{7, "application/json", `{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Sideways"}`},
	}
	for _, s := range seeds {
		f.Add(s.op, s.ct, []byte(s.body))
	}
	d := newDirectServer(f)
	// A target for updates and patches.
	d.do("POST", "/api/v1/namespaces/default/configmaps", "application/json", []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"seed"}}`))
	f.Fuzz(func(t *testing.T, op uint8, ct string, body []byte) {
		var method, path string
		switch op % 8 {
		case 0:
			method, path = "POST", "/api/v1/namespaces/default/configmaps"
		case 1:
			method, path = "POST", "/apis/apps/v1/namespaces/default/deployments"
		case 2, 3, 4, 5:
			method, path = "PATCH", "/api/v1/namespaces/default/configmaps/seed?fieldManager=fuzz"
		case 6:
			method, path = "PUT", "/api/v1/namespaces/default/configmaps/seed"
		case 7:
			method, path = "DELETE", "/api/v1/namespaces/default/configmaps/missing"
		}
		rec := d.do(method, path, ct, body)
		if rec.Code >= 500 {
			t.Fatalf("%s %s (%s): %d %s", method, path, ct, rec.Code, rec.Body.String())
		}
		if rec.Code >= 400 && !strings.Contains(rec.Body.String(), "Status") {
			t.Fatalf("%s %s: %d without a Status: %q", method, path, rec.Code, rec.Body.String())
		}
		if rec.Code == http.StatusOK || rec.Code == http.StatusCreated {
			// The object went in; take it out again so the namespace does
			// not fill up over a long run.
			d.do("DELETE", "/api/v1/namespaces/default/configmaps/a", "", nil)
		}
	})
}
