package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff.dev/skiff/internal/agent/nodecert"
	"skiff.dev/skiff/internal/apiserver"
	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/auth/bootstrap"
	"skiff.dev/skiff/internal/auth/pki"
	"skiff.dev/skiff/internal/controller/csr"
	"skiff.dev/skiff/internal/registry/builtin"
	"skiff.dev/skiff/internal/storage/bolt"
)

// TestBootstrapTokenJoin is TLS bootstrapping end to end in one process,
// with RBAC on: a bootstrap token's CSR is approved and signed, the
// certificate authenticates as system:node:<name>, and the node renews
// it with the certificate itself; a wrong CA pin or secret gets nowhere.
func TestBootstrapTokenJoin(t *testing.T) {
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
	w := newRBACWiring()
	tokens := &cachedSecrets{}
	srv, err := apiserver.New(apiserver.Config{
		Store: st, Resources: w.resources(builtin.Resources()), SecurePort: 6443,
		Authenticator: authn.Union{authn.NewX509Authenticator(ca.Pool()), bootstrap.Authenticator{Secrets: tokens}},
		Authorizer:    w.authorizer,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tokens.bind(srv); err != nil {
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
	cert.Certificate = append(cert.Certificate, ca.Cert.Raw) // as RunServer
	hs := httptest.NewUnstartedServer(srv)
	hs.TLS = authn.TLSConfig(cert, ca.Pool())
	hs.StartTLS()
	t.Cleanup(hs.Close)
	t.Cleanup(cancel)
	signClient := func(user string, groups ...string) *rest.Config {
		c, k, err := ca.SignClient(user, groups)
		if err != nil {
			t.Fatal(err)
		}
		return &rest.Config{Host: hs.URL, QPS: -1, TLSClientConfig: rest.TLSClientConfig{CAData: ca.CertPEM, CertData: c, KeyData: k}}
	}
	adminCfg := signClient("admin", authn.GroupMasters)
	admin := kubernetes.NewForConfigOrDie(adminCfg)
	if err := w.start(ctx, srv, adminCfg); err != nil {
		t.Fatal(err)
	}

	// The controller manager's part: approver and signer (1 h certificates).
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	factory := informers.NewSharedInformerFactory(admin, 0)
	approver, err := csr.NewApprover(admin, factory, csr.SARChecker{Client: admin}, log)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := csr.NewSigner(admin, factory, csr.SignerConfig{CA: ca, MaxDuration: time.Hour}, log)
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	go func() { _ = approver.Run(ctx, 1) }()
	go func() { _ = signer.Run(ctx, 1) }()

	tok, err := bootstrap.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	secret, err := bootstrap.NewSecret(tok, bootstrap.SecretOptions{TTL: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().Secrets(bootstrap.Namespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pin := bootstrap.CAHash(ca.Cert.Raw)

	t.Run("wrong pin", func(t *testing.T) {
		m := nodecert.New(nodecert.Config{Server: hs.URL, Token: bootstrap.JoinToken{CAHash: bootstrap.CAHash([]byte("other")), Token: tok}, Dir: t.TempDir(), Log: log})
		if _, err := m.NodeConfig(ctx, "n0"); !errors.Is(err, nodecert.ErrCAPinMismatch) {
			t.Fatalf("err = %v, want ErrCAPinMismatch", err)
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		bad := tok
		bad.Secret = "0000000000000000"
		c := kubernetes.NewForConfigOrDie(&rest.Config{Host: hs.URL, BearerToken: bad.String(), TLSClientConfig: rest.TLSClientConfig{CAData: ca.CertPEM}})
		if _, err := c.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{}); !apierrors.IsUnauthorized(err) {
			t.Fatalf("err = %v, want 401", err)
		}
	})
	t.Run("the token cannot do more than bootstrap", func(t *testing.T) {
		c := kubernetes.NewForConfigOrDie(&rest.Config{Host: hs.URL, BearerToken: tok.String(), TLSClientConfig: rest.TLSClientConfig{CAData: ca.CertPEM}})
		if _, err := c.CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Fatalf("err = %v, want 403", err)
		}
	})

	nodeDir := t.TempDir()
	m := nodecert.New(nodecert.Config{Server: hs.URL, Token: bootstrap.JoinToken{CAHash: pin, Token: tok}, Dir: nodeDir, Log: log, Timeout: 20 * time.Second})
	cfg, err := m.NodeConfig(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	node := kubernetes.NewForConfigOrDie(cfg)
	who, err := node.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if u := who.Status.UserInfo; u.Username != "system:node:n1" || !slices.Contains(u.Groups, "system:nodes") {
		t.Fatalf("node authenticates as %+v", u)
	}
	if _, err := node.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("node cannot register: %v", err)
	}
	nodeFiles := []string{"ca.crt", "n1.key", "n1.crt", "n1.kubeconfig"}
	wantPrivate := func() {
		t.Helper()
		for _, f := range nodeFiles {
			fi, err := os.Stat(filepath.Join(nodeDir, f))
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("%s: %v %v", f, fi.Mode(), err)
			}
		}
	}
	wantPrivate()
	first := readCert(t, filepath.Join(nodeDir, "n1.crt"))

	// A restart reuses the certificate, without the token, and takes back
	// permissions an older agent (ca.crt 0644) or a user gave.
	for _, f := range nodeFiles {
		if err := os.Chmod(filepath.Join(nodeDir, f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	again := nodecert.New(nodecert.Config{Server: hs.URL, Dir: nodeDir, Log: log})
	if _, err := again.NodeConfig(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	wantPrivate()
	if c := readCert(t, filepath.Join(nodeDir, "n1.crt")); c.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Fatal("a fresh certificate was replaced at restart")
	}

	// 55 minutes on, past 90% of the hour: the node renews with its own
	// certificate (selfnodeclient), still without the token.
	later := nodecert.New(nodecert.Config{Server: hs.URL, Dir: nodeDir, Log: log, Timeout: 20 * time.Second,
		Now: func() time.Time { return time.Now().Add(55 * time.Minute) }})
	if _, err := later.NodeConfig(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	second := readCert(t, filepath.Join(nodeDir, "n1.crt"))
	if second.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatal("certificate not renewed")
	}
	if second.Subject.CommonName != "system:node:n1" {
		t.Fatalf("renewed for %v", second.Subject)
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatal("no PEM in " + path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
