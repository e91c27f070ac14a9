package encryption_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff.dev/skiff/internal/apiserver"
	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/auth/authz"
	"skiff.dev/skiff/internal/auth/pki"
	"skiff.dev/skiff/internal/registry/builtin"
	"skiff.dev/skiff/internal/storage"
	"skiff.dev/skiff/internal/storage/bolt"
	"skiff.dev/skiff/internal/storage/encryption"
)

// server is the real API server on bolt behind the encryption decorator,
// following its configuration file as `skiff server` does.
type server struct {
	dir    string
	db     string
	inner  *bolt.Store
	client kubernetes.Interface
	stop   func()
}

func startServer(t *testing.T, dir string) *server {
	t.Helper()
	cfgPath, err := encryption.EnsureDefault(dir)
	if err != nil {
		t.Fatal(err)
	}
	return startServerWith(t, dir, cfgPath)
}

// startServerWith runs the server with a given configuration file (what
// --encryption-provider-config names).
func startServerWith(t *testing.T, dir, cfgPath string) *server {
	t.Helper()
	tr, err := encryption.LoadTransformers(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "state.db")
	inner, err := bolt.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	st := encryption.NewStore(inner, tr)
	ctx, cancel := context.WithCancel(context.Background())
	rl := &encryption.Reloader{Store: st, ConfigFile: cfgPath, DataDir: dir, Interval: 50 * time.Millisecond}
	if err := rl.WriteStatus(nil); err != nil {
		t.Fatal(err)
	}
	reloaded := make(chan struct{})
	go func() { rl.Run(ctx); close(reloaded) }()

	ca, err := pki.LoadOrCreateCA(filepath.Join(dir, "tls"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := apiserver.New(apiserver.Config{
		Store: st, Resources: builtin.Resources(), SecurePort: 6443,
		Authenticator: authn.NewX509Authenticator(ca.Pool()),
		Authorizer:    authz.Union{authz.Superusers{Group: "system:masters"}},
		HealthChecks: []apiserver.HealthCheck{{Name: "kms-providers", Check: func(r *http.Request) error {
			return st.Transformers().CheckKMS(r.Context())
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.SignServing([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv)
	hs.TLS = authn.TLSConfig(cert, ca.Pool())
	hs.StartTLS()
	cCert, cKey, err := ca.SignClient("admin", []string{"system:masters"})
	if err != nil {
		t.Fatal(err)
	}
	s := &server{dir: dir, db: db, inner: inner}
	s.client = kubernetes.NewForConfigOrDie(&rest.Config{Host: hs.URL, QPS: -1,
		TLSClientConfig: rest.TLSClientConfig{CAData: ca.CertPEM, CertData: cCert, KeyData: cKey}})
	stopped := false
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		hs.Close()
		cancel()
		<-reloaded
		st.Transformers().Close()
		_ = inner.Close()
	}
	t.Cleanup(s.stop)
	return s
}

func createSecret(t *testing.T, c kubernetes.Interface, ns, name, value string) {
	t.Helper()
	_, err := c.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Data:       map[string][]byte{"password": []byte(value)},
		StringData: map[string]string{"token": value + "-token"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create secret %s/%s: %v", ns, name, err)
	}
}

// assertNoPlaintext reads the whole bolt file, free pages included, and
// fails if a value appears in any form the API server could store it in.
func assertNoPlaintext(t *testing.T, db string, values ...string) {
	t.Helper()
	raw, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range values {
		for _, form := range []string{v, base64.StdEncoding.EncodeToString([]byte(v))} {
			if bytes.Contains(raw, []byte(form)) {
				t.Errorf("%s holds %q in plain text", db, form)
			}
		}
	}
}

// The check the issue names: a Secret created through the API is nowhere
// in the raw store in plain text, and reads back intact.
func TestNoPlaintextSecretInStore(t *testing.T) {
	s := startServer(t, t.TempDir())
	ctx := context.Background()
	value := fmt.Sprintf("s3cr3t-%d", time.Now().UnixNano())
	createSecret(t, s.client, "default", "db", value)
	got, err := s.client.CoreV1().Secrets("default").Get(ctx, "db", metav1.GetOptions{})
	if err != nil || string(got.Data["password"]) != value || string(got.Data["token"]) != value+"-token" {
		t.Fatalf("read back: %v %v", got.Data, err)
	}
	// Update too: the new value, and the old one in the bolt's history.
	got.Data["password"] = []byte(value + "-v2")
	if _, err := s.client.CoreV1().Secrets("default").Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A control: a ConfigMap (not configured) is stored in plain text, so
	// the scan below can see values.
	control := fmt.Sprintf("visible-%d", time.Now().UnixNano())
	if _, err := s.client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "cm"}, Data: map[string]string{"k": control},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.stop()

	raw, err := os.ReadFile(s.db)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(control)) {
		t.Fatalf("the control value is not in %s: the scan cannot see plain text", s.db)
	}
	if !bytes.Contains(raw, []byte("k8s:enc:secretbox:v1:key-")) {
		t.Fatalf("no secretbox-encrypted value in %s", s.db)
	}
	assertNoPlaintext(t, s.db, value, value+"-token", value+"-v2")

	// The generated configuration: 0600, secretbox first, identity second.
	fi, err := os.Stat(filepath.Join(s.dir, encryption.DefaultConfigFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config file: %v %v", fi.Mode(), err)
	}
	cfg, _, err := encryption.LoadFile(filepath.Join(s.dir, encryption.DefaultConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	ps := cfg.Resources[0].Providers
	if len(ps) != 2 || ps[0].Secretbox == nil || ps[1].Identity == nil || !strings.HasPrefix(ps[0].Secretbox.Keys[0].Name, "key-") {
		t.Fatalf("generated providers: %+v", ps)
	}

	// The same data directory starts again with the same key.
	s2 := startServer(t, s.dir)
	if got, err := s2.client.CoreV1().Secrets("default").Get(ctx, "db", metav1.GetOptions{}); err != nil || string(got.Data["password"]) != value+"-v2" {
		t.Fatalf("after restart: %v %v", got, err)
	}
}

func TestRotate(t *testing.T) {
	dir := t.TempDir()
	// Start with writes in plain text (identity first), as a cluster that
	// had no encryption, then switch to the generated secretbox config.
	plainCfg := []byte("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - identity: {}\n")
	if err := os.WriteFile(filepath.Join(dir, encryption.DefaultConfigFile), plainCfg, 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, dir)
	ctx := context.Background()
	if _, err := s.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "other"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var values []string
	for i := range 3 {
		v := fmt.Sprintf("plain-era-%d-%d", i, time.Now().UnixNano())
		createSecret(t, s.client, "default", fmt.Sprintf("p%d", i), v)
		values = append(values, v, v+"-token")
	}

	// First rotation: identity → secretbox, plain values rewritten.
	res, err := encryption.Rotate(ctx, encryption.RotateOptions{DataDir: dir, Client: s.client, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if res.Rewritten != 3 {
		t.Fatalf("rewrote %d secrets, want 3", res.Rewritten)
	}
	first := res.NewKey
	checkStoredWith(t, s, first)
	for i := range 2 {
		v := fmt.Sprintf("key1-era-%d-%d", i, time.Now().UnixNano())
		createSecret(t, s.client, "other", fmt.Sprintf("k%d", i), v)
		values = append(values, v, v+"-token")
	}

	// Second rotation: every value moves to the new key, the old one goes.
	res, err = encryption.Rotate(ctx, encryption.RotateOptions{DataDir: dir, Client: s.client, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if res.Rewritten != 5 || res.NewKey == first || len(res.Dropped) != 1 || res.Dropped[0] != first {
		t.Fatalf("second rotation: %+v (first key %s)", res, first)
	}
	checkStoredWith(t, s, res.NewKey)
	cfg, _, err := encryption.LoadFile(filepath.Join(dir, encryption.DefaultConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	ps := cfg.Resources[0].Providers
	if len(ps) != 2 || ps[0].Secretbox == nil || len(ps[0].Secretbox.Keys) != 1 || ps[0].Secretbox.Keys[0].Name != res.NewKey || ps[1].Identity == nil {
		t.Fatalf("config after rotation: %+v", ps)
	}
	st, err := encryption.ReadStatus(dir)
	if err != nil || st.WriteKeys["secrets"] != "secretbox:"+res.NewKey {
		t.Fatalf("status: %+v %v", st, err)
	}
	// Every secret still reads, through the API, with its values.
	list, err := s.client.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 5 {
		t.Fatalf("list after rotation: %d %v", len(list.Items), err)
	}
	for _, sec := range list.Items {
		if !strings.HasPrefix(string(sec.Data["password"]), "plain-era-") && !strings.HasPrefix(string(sec.Data["password"]), "key1-era-") {
			t.Fatalf("secret %s/%s after rotation: %q", sec.Namespace, sec.Name, sec.Data["password"])
		}
		if len(sec.Annotations) != 0 {
			t.Fatalf("secret %s/%s keeps annotations %v", sec.Namespace, sec.Name, sec.Annotations)
		}
	}
	// Live values are all encrypted (bolt keeps no old revisions after
	// compaction; history before it still holds the plain-era values).
	s.stop()
	live, err := bolt.Open(s.db)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	all, err := live.List(ctx, "/registry/core/secrets/", storage.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range all.Items {
		for _, v := range values {
			if bytes.Contains(kv.Value, []byte(v)) {
				t.Fatalf("%s holds %q in plain text", kv.Key, v)
			}
		}
	}
}

// checkStoredWith reads the raw store: every Secret's value carries the
// key's upstream prefix.
func checkStoredWith(t *testing.T, s *server, key string) {
	t.Helper()
	res, err := s.inner.List(context.Background(), "/registry/core/secrets/", storage.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) == 0 {
		t.Fatal("no secrets in the store")
	}
	for _, kv := range res.Items {
		if !bytes.HasPrefix(kv.Value, []byte("k8s:enc:secretbox:v1:"+key+":")) {
			t.Fatalf("%s stored as %.40q, want key %s", kv.Key, kv.Value, key)
		}
	}
}
