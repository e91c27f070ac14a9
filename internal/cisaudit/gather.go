package cisaudit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"skiff.dev/skiff/internal/storage/encryption"
)

// GatherOptions say where to look.
type GatherOptions struct {
	DataDir string
	// Kubeconfig is the admin kubeconfig; "" means DATA_DIR/kubeconfig.
	Kubeconfig string
	// Timeout bounds each probe.
	Timeout time.Duration
}

// Gather reads the configuration and files and queries the live cluster.
// Anything it cannot read is recorded in the Env, for the checks to
// report; it does not fail.
func Gather(ctx context.Context, o GatherOptions) *Env {
	if o.Timeout == 0 {
		o.Timeout = 3 * time.Second
	}
	env := &Env{DataDir: o.DataDir, Files: map[string]FileStat{}}
	env.Config, env.ConfigErr = ReadServerConfig(o.DataDir)
	gatherFiles(env)
	encPath := env.path(encryption.DefaultConfigFile)
	if env.Config != nil && env.Config.EncryptionProviderConfig != "" {
		encPath = env.Config.EncryptionProviderConfig
	}
	env.Encryption, _, env.EncryptionErr = encryption.LoadFile(encPath)

	kubeconfig := o.Kubeconfig
	if kubeconfig == "" {
		kubeconfig = env.path("kubeconfig")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		env.ClusterErr = fmt.Errorf("admin kubeconfig: %w", err)
		return env
	}
	cfg.Timeout = 4 * o.Timeout
	cfg.QPS, cfg.Burst = 100, 100
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		env.ClusterErr = fmt.Errorf("admin kubeconfig: %w", err)
		return env
	}
	env.Cluster, env.ClusterErr = readCluster(ctx, client)
	if env.ClusterErr != nil {
		return env
	}
	env.Probes = probe(ctx, cfg, client, env.Cluster.Nodes, o.Timeout)
	return env
}

// gatherFiles stats the files the checks look at: the data directory's
// store, credentials, configuration, logs and PKI, and the agent's
// credentials and CNI files when present.
func gatherFiles(env *Env) {
	add := func(p string) {
		st, err := os.Lstat(p)
		if err != nil {
			return
		}
		env.Files[p] = statOf(st)
	}
	walk := func(dir string) {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil {
				add(p)
			}
			return nil
		})
	}
	for _, rel := range []string{"", "db", "db/state.db", "kubeconfig", ServerConfigFile, encryption.DefaultConfigFile, "logs", "logs/audit.log"} {
		add(env.path(rel))
	}
	for _, rel := range []string{"tls", "agent/pki", "agent/cni/net.d", "agent/cni/ipam"} {
		walk(env.path(rel))
	}
	if env.Config != nil {
		for _, p := range []string{env.Config.EncryptionProviderConfig, env.Config.AuditLogPath, env.Config.ServiceAccountSigningKeyFile, env.Config.TLSCertFile, env.Config.TLSPrivateKeyFile} {
			if p != "" && p != "-" {
				add(p)
			}
		}
	}
	for _, dir := range []string{"/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system"} {
		for _, name := range []string{"skiff.service", "skiff-agent.service"} {
			add(filepath.Join(dir, name))
		}
	}
}

func statOf(st fs.FileInfo) FileStat {
	f := FileStat{Mode: st.Mode(), IsDir: st.IsDir(), Owner: "?", Group: "?"}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		f.Owner = strconv.FormatUint(uint64(sys.Uid), 10)
		f.Group = strconv.FormatUint(uint64(sys.Gid), 10)
		if u, err := user.LookupId(f.Owner); err == nil {
			f.Owner = u.Username
		}
		if g, err := user.LookupGroupId(f.Group); err == nil {
			f.Group = g.Name
		}
	}
	return f
}

func readCluster(ctx context.Context, cs kubernetes.Interface) (*Cluster, error) {
	c := &Cluster{AuthenticatedCan: map[string]bool{}}
	all := metav1.ListOptions{}
	ns, err := cs.CoreV1().Namespaces().List(ctx, all)
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	c.Namespaces = ns.Items
	sas, err := cs.CoreV1().ServiceAccounts("").List(ctx, all)
	if err != nil {
		return nil, fmt.Errorf("list service accounts: %w", err)
	}
	c.ServiceAccounts = sas.Items
	pods, err := cs.CoreV1().Pods("").List(ctx, all)
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	c.Pods = pods.Items
	nodes, err := cs.CoreV1().Nodes().List(ctx, all)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	c.Nodes = nodes.Items
	roles, err := cs.RbacV1().Roles("").List(ctx, all)
	if err != nil {
		return nil, fmt.Errorf("list roles: %w", err)
	}
	c.Roles = roles.Items
	croles, err := cs.RbacV1().ClusterRoles().List(ctx, all)
	if err != nil {
		return nil, fmt.Errorf("list clusterroles: %w", err)
	}
	c.ClusterRoles = croles.Items
	crbs, err := cs.RbacV1().ClusterRoleBindings().List(ctx, all)
	if err != nil {
		return nil, fmt.Errorf("list clusterrolebindings: %w", err)
	}
	c.ClusterRoleBindings = crbs.Items
	nps, err := cs.NetworkingV1().NetworkPolicies("").List(ctx, all)
	if err != nil {
		return nil, fmt.Errorf("list networkpolicies: %w", err)
	}
	c.NetworkPolicies = nps.Items
	for _, q := range authenticatedQuestions {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: "system:cis-audit", Groups: []string{"system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: q.verb, Resource: q.resource},
		}}
		res, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("subjectaccessreview %s %s: %w", q.verb, q.resource, err)
		}
		c.AuthenticatedCan[q.verb+" "+q.resource] = res.Status.Allowed
	}
	return c, nil
}

var authenticatedQuestions = []struct{ verb, resource string }{
	{"get", "secrets"}, {"list", "secrets"}, {"watch", "secrets"}, {"create", "pods"},
}

// probe asks the live endpoints what the configuration only claims.
func probe(ctx context.Context, cfg *rest.Config, cs kubernetes.Interface, nodes []corev1.Node, timeout time.Duration) *Probes {
	p := &Probes{APIServer: cfg.Host}
	// Anonymous: the cluster CA, no credentials.
	anon := rest.AnonymousClientConfig(cfg)
	if hc, err := rest.HTTPClientFor(anon); err != nil {
		p.AnonymousErr = err.Error()
	} else if resp, err := get(ctx, hc, cfg.Host+"/api", timeout); err != nil {
		p.AnonymousErr = err.Error()
	} else {
		p.AnonymousStatus = resp
	}
	if hc, err := rest.HTTPClientFor(cfg); err == nil {
		if st, err := get(ctx, hc, cfg.Host+"/debug/pprof/", timeout); err == nil {
			p.PprofStatus = st
		}
	}
	if addr, err := hostPort(cfg.Host); err == nil {
		p.TLS = probeTLS(addr, timeout)
	}
	for _, n := range nodes {
		p.Nodes = append(p.Nodes, probeNode(ctx, n, timeout))
	}
	return p
}

func get(ctx context.Context, hc *http.Client, url string, timeout time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

func hostPort(rawURL string) (string, error) {
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		return "", err
	}
	host := req.URL.Host
	if req.URL.Port() == "" {
		host = net.JoinHostPort(req.URL.Hostname(), "443")
	}
	return host, nil
}

// strongCipherSuites are the TLS 1.2 suites the benchmark accepts
// (1.2.29's list; the TLS 1.3 suites are not configurable).
var strongCipherSuites = map[uint16]bool{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA:          true,
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:       true,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA:          true,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:       true,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: true,
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA:            true,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:         true,
	tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA:            true,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:         true,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:   true,
}

// weakCipherSuites are every suite Go knows outside strongCipherSuites.
func weakCipherSuites() []uint16 {
	var out []uint16
	for _, list := range [][]*tls.CipherSuite{tls.CipherSuites(), tls.InsecureCipherSuites()} {
		for _, s := range list {
			if !strongCipherSuites[s.ID] && !tlsVersion13Only(s) {
				out = append(out, s.ID)
			}
		}
	}
	return out
}

func tlsVersion13Only(s *tls.CipherSuite) bool {
	return len(s.SupportedVersions) == 1 && s.SupportedVersions[0] == tls.VersionTLS13
}

// probeTLS offers addr TLS 1.0, TLS 1.1 and the weak TLS 1.2 suites, one
// handshake each; the server must refuse all three. The certificate is
// not verified: only what the server agrees to matters here.
func probeTLS(addr string, timeout time.Duration) TLSProbe {
	try := func(c *tls.Config) string {
		c.InsecureSkipVerify = true //nolint:gosec // a probe of what the server accepts, nothing is sent
		d := &net.Dialer{Timeout: timeout}
		conn, err := tls.DialWithDialer(d, "tcp", addr, c)
		if err != nil {
			return ""
		}
		defer conn.Close()
		st := conn.ConnectionState()
		return tls.VersionName(st.Version) + " " + tls.CipherSuiteName(st.CipherSuite)
	}
	return TLSProbe{
		TLS10:      try(&tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10}),
		TLS11:      try(&tls.Config{MinVersion: tls.VersionTLS11, MaxVersion: tls.VersionTLS11}),
		WeakCipher: try(&tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS12, CipherSuites: weakCipherSuites()}),
	}
}

// probeNode checks a node agent: a request without a client certificate
// must be refused, and nothing may listen on the read-only port 10255.
func probeNode(ctx context.Context, n corev1.Node, timeout time.Duration) NodeProbe {
	np := NodeProbe{Node: n.Name}
	ip := ""
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			ip = a.Address
			break
		}
	}
	port := int(n.Status.DaemonEndpoints.KubeletEndpoint.Port)
	if port == 0 {
		port = 10250
	}
	if ip == "" {
		np.Unreachable = "no InternalIP address"
		return np
	}
	np.Address = net.JoinHostPort(ip, strconv.Itoa(port))
	conn, err := net.DialTimeout("tcp", np.Address, timeout)
	if err != nil {
		np.Unreachable = err.Error()
	} else {
		_ = conn.Close()
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // probe
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+np.Address+"/pods", nil)
		resp, err := hc.Do(req)
		switch {
		case err != nil:
			np.AnonymousRefused, np.AnonymousAnswer = true, "refused in the TLS handshake: "+err.Error()
		default:
			_ = resp.Body.Close()
			np.ServingCertificate = resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0
			np.AnonymousAnswer = resp.Status
			np.AnonymousRefused = resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden
		}
		if !np.ServingCertificate {
			np.ServingCertificate = servesCertificate(np.Address, timeout)
		}
		np.TLS = probeTLS(np.Address, timeout)
	}
	if c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, "10255"), timeout); err == nil {
		_ = c.Close()
		np.ReadOnlyPortOpen = true
	}
	return np
}

// servesCertificate reports whether addr presents a certificate, even if
// it then ends the handshake for want of ours.
func servesCertificate(addr string, timeout time.Duration) bool {
	seen := false
	c := &tls.Config{InsecureSkipVerify: true, VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error { //nolint:gosec // probe
		seen = len(raw) > 0
		return nil
	}}
	if conn, err := tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", addr, c); err == nil {
		_ = conn.Close()
	}
	return seen
}
