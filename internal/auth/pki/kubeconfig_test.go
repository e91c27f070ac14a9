package pki_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/auth/pki"
)

// apiServer starts a TLS server the way the API server will run: the serving
// certificate from the data directory, authn.TLSConfig, and the x509
// authenticator in front of a handler that reports who the caller is.
func apiServer(t *testing.T, p *pki.ServerPKI) *httptest.Server {
	t.Helper()
	serving, err := p.ServingCertificate()
	if err != nil {
		t.Fatal(err)
	}
	whoami := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(authn.UserFrom(r.Context()))
	})
	h := authn.WithAuthentication(whoami, authn.NewX509Authenticator(p.CA.Pool()), func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
	})
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.TLS = authn.TLSConfig(serving, p.CA.Pool())
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// get calls /api with a client built from the kubeconfig at path, the way
// kubectl and client-go build theirs.
func get(t *testing.T, kubeconfig string) (int, *authn.User) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Timeout = 10 * time.Second
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseIdleConnections()
	resp, err := client.Get(cfg.Host + "/api")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	var u authn.User
	if err := json.NewDecoder(resp.Body).Decode(&u); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, &u
}

func TestKubeconfigAuthenticatesAgainstServer(t *testing.T) {
	dataDir := t.TempDir()
	// Start the server first to learn its port, then write the PKI for it:
	// the serving certificate is what it will present.
	p, err := pki.EnsureServer(pki.ServerOptions{DataDir: dataDir, Port: 6443})
	if err != nil {
		t.Fatal(err)
	}
	srv := apiServer(t, p)
	port, err := strconv.Atoi(srv.URL[strings.LastIndex(srv.URL, ":")+1:])
	if err != nil {
		t.Fatal(err)
	}
	p, err = pki.EnsureServer(pki.ServerOptions{DataDir: dataDir, BindAddress: "0.0.0.0", Port: port})
	if err != nil {
		t.Fatal(err)
	}

	status, u := get(t, p.KubeconfigFile)
	if status != http.StatusOK {
		t.Fatalf("admin kubeconfig: status %d", status)
	}
	if u.Name != pki.AdminUser || !slices.Equal(u.Groups, []string{pki.AdminGroup, authn.GroupAuthenticated}) {
		t.Errorf("admin authenticated as %+v", u)
	}

	// A component identity issued by the same CA, as the scheduler will get.
	certPEM, keyPEM, err := p.CA.SignClient("system:kube-scheduler", nil)
	if err != nil {
		t.Fatal(err)
	}
	schedConfig := filepath.Join(t.TempDir(), "scheduler.kubeconfig")
	if err := pki.WriteKubeconfig(schedConfig, p.ServerURL, "skiff", "system:kube-scheduler", p.CA.CertPEM, certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	status, u = get(t, schedConfig)
	if status != http.StatusOK || u.Name != "system:kube-scheduler" || !slices.Equal(u.Groups, []string{authn.GroupAuthenticated}) {
		t.Errorf("scheduler: status %d, user %+v", status, u)
	}

	// A client certificate from another cluster's CA, trusting our CA for
	// the server: the request reaches the server and is refused with 401.
	other, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err = other.SignClient(pki.AdminUser, []string{pki.AdminGroup})
	if err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(t.TempDir(), "foreign.kubeconfig")
	if err := pki.WriteKubeconfig(foreign, p.ServerURL, "skiff", "intruder", p.CA.CertPEM, certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	if status, _ := get(t, foreign); status != http.StatusUnauthorized {
		t.Errorf("foreign client certificate: status %d, want 401", status)
	}
}

func TestKubeconfigServerVerification(t *testing.T) {
	// A kubeconfig for another cluster's CA must not trust our server.
	p, err := pki.EnsureServer(pki.ServerOptions{DataDir: t.TempDir(), Port: 6443})
	if err != nil {
		t.Fatal(err)
	}
	srv := apiServer(t, p)
	other, err := pki.EnsureServer(pki.ServerOptions{DataDir: t.TempDir(), Port: 6443})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := os.ReadFile(other.AdminCertFile)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(other.AdminKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := pki.WriteKubeconfig(path, srv.URL, "other", "admin", other.CA.CertPEM, certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseIdleConnections()
	if resp, err := client.Get(srv.URL + "/api"); err == nil {
		resp.Body.Close()
		t.Fatal("client trusted a server signed by another CA")
	}
}

func TestWriteKubeconfig(t *testing.T) {
	ca, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.SignClient("alice", []string{"dev"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "kubeconfig")
	if err := pki.WriteKubeconfig(path, "https://10.0.0.5:6443", "prod", "alice", ca.CertPEM, certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %o, want 600", st.Mode().Perm())
	}
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != "alice@prod" {
		t.Errorf("current context = %q", cfg.CurrentContext)
	}
	ctx := cfg.Contexts["alice@prod"]
	if ctx == nil || ctx.Cluster != "prod" || ctx.AuthInfo != "alice" {
		t.Fatalf("context = %+v", ctx)
	}
	cluster, user := cfg.Clusters["prod"], cfg.AuthInfos["alice"]
	if cluster.Server != "https://10.0.0.5:6443" || string(cluster.CertificateAuthorityData) != string(ca.CertPEM) {
		t.Errorf("cluster = %+v", cluster)
	}
	if string(user.ClientCertificateData) != string(certPEM) || string(user.ClientKeyData) != string(keyPEM) {
		t.Error("user credentials not embedded")
	}
	if user.ClientCertificate != "" || cluster.CertificateAuthority != "" {
		t.Error("kubeconfig refers to files instead of embedding data")
	}
	// No temporary files left behind by the atomic write.
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the kubeconfig", len(entries))
	}

	bad := []struct {
		name                string
		server, cluster, us string
		ca, cert, key       []byte
	}{
		{"no server", "", "prod", "alice", ca.CertPEM, certPEM, keyPEM},
		{"no cluster name", "https://x:1", "", "alice", ca.CertPEM, certPEM, keyPEM},
		{"no user name", "https://x:1", "prod", "", ca.CertPEM, certPEM, keyPEM},
		{"no CA", "https://x:1", "prod", "alice", nil, certPEM, keyPEM},
		{"no key", "https://x:1", "prod", "alice", ca.CertPEM, certPEM, nil},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "kubeconfig")
			if err := pki.WriteKubeconfig(p, tt.server, tt.cluster, tt.us, tt.ca, tt.cert, tt.key); err == nil {
				t.Error("want an error")
			}
			if _, err := os.Stat(p); err == nil {
				t.Error("file written despite the error")
			}
		})
	}
}
