package nodecert

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff.dev/skiff/internal/auth/bootstrap"
	"skiff.dev/skiff/internal/auth/pki"
)

// Errors of Manager.
var (
	// ErrCAPinMismatch: the server presented no CA whose hash is the pin.
	ErrCAPinMismatch = errors.New("the server's CA does not match the join token's CA hash")
	// ErrNoPin: a CA must be pinned before a bootstrap token is sent.
	ErrNoPin = errors.New("no CA hash to verify the server with (use a K10... join token or --ca-cert-hash)")
	// ErrNoCredentials: no usable certificate and no token to get one.
	ErrNoCredentials = errors.New("no valid node certificate and no --token to request one")
	// ErrDenied: the CSR was denied or failed.
	ErrDenied = errors.New("certificate signing request denied")
)

// Config configures a Manager.
type Config struct {
	// Server is the API server's https:// URL.
	Server string
	// Token joins; its CAHash pins the CA. Zero if the node already has
	// a certificate.
	Token bootstrap.JoinToken
	// Dir holds ca.crt and, per node, <node>.crt, <node>.key and
	// <node>.kubeconfig.
	Dir string
	// Timeout bounds the wait for a CSR's certificate (0: 15 minutes).
	Timeout time.Duration
	Log     *slog.Logger
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Manager joins nodes and keeps their certificates fresh. Safe for
// concurrent use.
type Manager struct {
	cfg   Config
	mu    sync.Mutex
	caPEM []byte
}

// New returns a Manager.
func New(cfg Config) *Manager {
	if cfg.Timeout == 0 {
		cfg.Timeout = 15 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Manager{cfg: cfg}
}

// File names under Dir.
func (m *Manager) caFile() string                { return filepath.Join(m.cfg.Dir, "ca.crt") }
func (m *Manager) certFile(node string) string   { return filepath.Join(m.cfg.Dir, node+".crt") }
func (m *Manager) keyFile(node string) string    { return filepath.Join(m.cfg.Dir, node+".key") }
func (m *Manager) kubeconfig(node string) string { return filepath.Join(m.cfg.Dir, node+".kubeconfig") }

// CA returns the cluster CA (PEM): the stored one if it matches the pin
// (or there is no pin), else one discovered from the server and checked
// against the pin.
func (m *Manager) CA(ctx context.Context) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.caPEM != nil {
		return m.caPEM, nil
	}
	if b, err := os.ReadFile(m.caFile()); err == nil {
		if ca, err := parseCert(b); err == nil && (m.cfg.Token.CAHash == nil || pinMatches(ca, m.cfg.Token.CAHash)) {
			// An older agent wrote it 0644; CIS 4.1.7 asks for 600.
			if err := pki.RestrictMode(m.caFile(), 0o600); err != nil {
				return nil, err
			}
			m.caPEM = b
			return b, nil
		}
	}
	if m.cfg.Token.CAHash == nil {
		return nil, ErrNoPin
	}
	ca, err := discoverCA(ctx, m.cfg.Server, m.cfg.Token.CAHash)
	if err != nil {
		return nil, err
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	if err := writeFile(m.caFile(), b, 0o600); err != nil {
		return nil, err
	}
	m.caPEM = b
	return b, nil
}

func pinMatches(ca *x509.Certificate, pin []byte) bool {
	h := sha256.Sum256(ca.Raw)
	return string(h[:]) == string(pin)
}

// discoverCA connects to server, finds among the certificates it presents
// a CA whose hash is pin, and accepts the connection only if the serving
// certificate chains to that CA and names the host. Nothing is sent
// before that check.
func discoverCA(ctx context.Context, server string, pin []byte) (*x509.Certificate, error) {
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("server %q: want https://host:port", server)
	}
	host := u.Hostname()
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(host, "443")
	}
	var found *x509.Certificate
	conf := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The chain is verified below, against the pinned CA only.
		InsecureSkipVerify: true, //nolint:gosec
		VerifyConnection: func(cs tls.ConnectionState) error {
			for _, c := range cs.PeerCertificates {
				if c.IsCA && pinMatches(c, pin) {
					found = c
				}
			}
			if found == nil || len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("%w (want sha256:%s)", ErrCAPinMismatch, hex.EncodeToString(pin))
			}
			roots := x509.NewCertPool()
			roots.AddCert(found)
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, DNSName: host})
			if err != nil {
				return fmt.Errorf("server certificate does not chain to the pinned CA: %w", err)
			}
			return nil
		},
	}
	d := tls.Dialer{Config: conf, NetDialer: &net.Dialer{Timeout: 10 * time.Second}}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("discover the cluster CA at %s: %w", addr, err)
	}
	_ = c.Close()
	return found, nil
}

// NodeConfig returns node's client config, joining first if the node has
// no valid certificate. The config reads the certificate files, so a
// rotation (Rotate) takes effect without rebuilding clients.
func (m *Manager) NodeConfig(ctx context.Context, node string) (*rest.Config, error) {
	caPEM, err := m.CA(ctx)
	if err != nil {
		return nil, err
	}
	if cert, err := m.current(node, caPEM); err == nil && m.cfg.Now().Before(cert.NotAfter) {
		for _, f := range []string{m.certFile(node), m.keyFile(node), m.kubeconfig(node)} {
			if err := pki.RestrictMode(f, 0o600); err != nil {
				return nil, err
			}
		}
		if m.cfg.Now().After(RotationDeadline(cert.NotBefore, cert.NotAfter, 1)) {
			// Past 90%: renew now, with the current certificate.
			if err := m.renew(ctx, node, caPEM, m.fileConfig(node, caPEM)); err != nil {
				m.cfg.Log.Warn("certificate renewal failed; using the current one", "node", node, "err", err)
			}
		}
		return m.fileConfig(node, caPEM), nil
	}
	if m.cfg.Token.Token.ID == "" {
		return nil, ErrNoCredentials
	}
	boot := &rest.Config{
		Host: m.cfg.Server, BearerToken: m.cfg.Token.Token.String(),
		TLSClientConfig: rest.TLSClientConfig{CAData: caPEM}, UserAgent: "skiff-agent/" + node + " (bootstrap)",
	}
	if err := m.renew(ctx, node, caPEM, boot); err != nil {
		return nil, fmt.Errorf("join as node %s: %w", node, err)
	}
	m.cfg.Log.Info("joined with a bootstrap token", "node", node, "certificate", m.certFile(node))
	return m.fileConfig(node, caPEM), nil
}

func (m *Manager) fileConfig(node string, caPEM []byte) *rest.Config {
	return &rest.Config{
		Host: m.cfg.Server, QPS: 50, Burst: 100, UserAgent: "skiff-agent/" + node,
		TLSClientConfig: rest.TLSClientConfig{CAData: caPEM, CertFile: m.certFile(node), KeyFile: m.keyFile(node)},
	}
}

// current loads node's certificate if it pairs with its key and chains
// to the CA.
func (m *Manager) current(node string, caPEM []byte) (*x509.Certificate, error) {
	pair, err := tls.LoadX509KeyPair(m.certFile(node), m.keyFile(node))
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, CurrentTime: m.cfg.Now()}); err != nil {
		return nil, err
	}
	if cert.Subject.CommonName != "system:node:"+node {
		return nil, fmt.Errorf("certificate is for %q", cert.Subject.CommonName)
	}
	return cert, nil
}

// renew requests a new certificate for node as cfg's user and writes
// it, with a new key, once issued.
func (m *Manager) renew(ctx context.Context, node string, caPEM []byte, cfg *rest.Config) error {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate node key: %w", err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "system:node:" + node, Organization: []string{"system:nodes"}},
	}, key)
	if err != nil {
		return fmt.Errorf("create certificate request: %w", err)
	}
	// Upstream names kubelet CSRs after the key: "node-csr-" + a hash.
	sum := sha256.Sum256(der)
	csr := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "node-csr-" + hex.EncodeToString(sum[:8]) + "-"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
		},
	}
	created, err := client.CertificatesV1().CertificateSigningRequests().Create(ctx, csr, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create certificate signing request: %w", err)
	}
	certPEM, err := waitForCertificate(ctx, client, created.Name, m.cfg.Timeout)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	// Key first: a crash between the writes leaves a pair that does not
	// match, which the next start treats as no certificate.
	if err := writeFile(m.keyFile(node), keyPEM, 0o600); err != nil {
		return err
	}
	if err := writeFile(m.certFile(node), certPEM, 0o600); err != nil {
		return err
	}
	if err := pki.WriteKubeconfig(m.kubeconfig(node), m.cfg.Server, "skiff", "system:node:"+node, caPEM, certPEM, keyPEM); err != nil {
		return err
	}
	return nil
}

// waitForCertificate polls the CSR until it is issued, denied or failed.
func waitForCertificate(ctx context.Context, client kubernetes.Interface, name string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := client.CertificatesV1().CertificateSigningRequests().Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			for _, cond := range c.Status.Conditions {
				if cond.Type == certificatesv1.CertificateDenied || cond.Type == certificatesv1.CertificateFailed {
					return nil, fmt.Errorf("%w: %s: %s %s", ErrDenied, name, cond.Reason, cond.Message)
				}
			}
			if len(c.Status.Certificate) > 0 {
				return c.Status.Certificate, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for certificate of %s (approved? `kubectl certificate approve %s`): %w", name, name, ctx.Err())
		case <-tick.C:
		}
	}
}

// Rotate renews node's certificate each time its rotation deadline
// passes, until ctx ends. A failed renewal is retried with back-off while
// the current certificate is still valid.
func (m *Manager) Rotate(ctx context.Context, node string) {
	backoff := time.Second
	for {
		caPEM, err := m.CA(ctx)
		if err != nil {
			return
		}
		cert, err := m.current(node, caPEM)
		if err != nil {
			m.cfg.Log.Error("no node certificate to rotate", "node", node, "err", err)
			return
		}
		deadline := RotationDeadline(cert.NotBefore, cert.NotAfter, mathrand.Float64())
		m.cfg.Log.Info("certificate rotation scheduled", "node", node, "expires", cert.NotAfter, "rotate_at", deadline)
		if !sleepUntil(ctx, m.cfg.Now, deadline) {
			return
		}
		for {
			err := m.renew(ctx, node, caPEM, m.fileConfig(node, caPEM))
			if err == nil {
				m.cfg.Log.Info("certificate rotated", "node", node)
				backoff = time.Second
				break
			}
			if ctx.Err() != nil {
				return
			}
			m.cfg.Log.Warn("certificate rotation failed", "node", node, "err", err, "retry_in", backoff)
			if !sleepUntil(ctx, m.cfg.Now, m.cfg.Now().Add(backoff)) {
				return
			}
			backoff = min(2*backoff, 5*time.Minute)
		}
	}
}

func sleepUntil(ctx context.Context, now func() time.Time, t time.Time) bool {
	d := t.Sub(now())
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

func parseCert(b []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no CERTIFICATE PEM block")
	}
	return x509.ParseCertificate(block.Bytes)
}

// writeFile replaces path atomically (temp file, fsync, rename).
func writeFile(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
