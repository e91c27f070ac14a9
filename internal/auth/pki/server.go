package pki

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"
)

// The admin identity written into the data directory's kubeconfig. The group
// is the superuser group, so the admin works before any RBAC object exists.
const (
	AdminUser  = "skiff-admin"
	AdminGroup = "system:masters"

	// DefaultClusterName names the cluster in generated kubeconfigs.
	DefaultClusterName = "skiff"
)

// File layout inside the data directory.
const (
	TLSDir          = "tls"
	ServingCertFile = "serving.crt"
	ServingKeyFile  = "serving.key"
	AdminCertFile   = "admin.crt"
	AdminKeyFile    = "admin.key"
	KubeconfigFile  = "kubeconfig"
)

// ServerOptions describes the API server whose PKI EnsureServer prepares.
type ServerOptions struct {
	// DataDir is the server's data directory; the PKI goes to DataDir/tls
	// and the admin kubeconfig to DataDir/kubeconfig.
	DataDir string
	// BindAddress and Port are where the API server listens; they decide the
	// kubeconfig's server URL (see ServerURL), and a specific bind address is
	// added to the serving certificate.
	BindAddress string
	Port        int
	// ExtraSANs are further DNS names or IPs the serving certificate must
	// cover, such as the kubernetes service's cluster IP.
	ExtraSANs []string
	// ClusterName names the cluster in the kubeconfig; DefaultClusterName
	// if empty.
	ClusterName string
}

// ServerPKI is what EnsureServer produced or found: the CA and the paths of
// everything in the data directory.
type ServerPKI struct {
	CA              *CA
	ServingCertFile string
	ServingKeyFile  string
	AdminCertFile   string
	AdminKeyFile    string
	KubeconfigFile  string
	// ServerURL is the URL written into the kubeconfig.
	ServerURL string
	// Hosts are the SANs the serving certificate was required to cover.
	Hosts []string
	// ServingIssued and AdminIssued report whether this call issued new
	// certificates rather than reusing those on disk.
	ServingIssued bool
	AdminIssued   bool
}

// ServingCertificate loads the serving certificate and key for TLS.
func (p *ServerPKI) ServingCertificate() (tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(p.ServingCertFile, p.ServingKeyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load serving certificate: %w", err)
	}
	return c, nil
}

// EnsureServer makes sure the data directory holds a CA, a serving
// certificate covering the API server's names and addresses, an admin client
// certificate and an admin kubeconfig, creating what is missing and reissuing
// what no longer fits. Anything still good is left untouched. It is meant to
// run once at server start, before the listener opens.
func EnsureServer(opts ServerOptions) (*ServerPKI, error) {
	return ensureServer(opts, MachineAddresses, time.Now)
}

func ensureServer(opts ServerOptions, machine func() (string, []net.IP, error), now func() time.Time) (*ServerPKI, error) {
	if opts.DataDir == "" {
		return nil, fmt.Errorf("pki: data directory not set")
	}
	if opts.Port <= 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("pki: invalid port %d", opts.Port)
	}
	clusterName := opts.ClusterName
	if clusterName == "" {
		clusterName = DefaultClusterName
	}
	if err := ensureDir(opts.DataDir); err != nil {
		return nil, err
	}
	tlsDir := filepath.Join(opts.DataDir, TLSDir)
	ca, err := loadOrCreateCA(tlsDir, now)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	p := &ServerPKI{
		CA:              ca,
		ServingCertFile: filepath.Join(tlsDir, ServingCertFile),
		ServingKeyFile:  filepath.Join(tlsDir, ServingKeyFile),
		AdminCertFile:   filepath.Join(tlsDir, AdminCertFile),
		AdminKeyFile:    filepath.Join(tlsDir, AdminKeyFile),
		KubeconfigFile:  filepath.Join(opts.DataDir, KubeconfigFile),
		ServerURL:       ServerURL(opts.BindAddress, opts.Port),
	}

	hostname, ips, err := machine()
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	// A hostname that cannot be a SAN must not keep the server from
	// starting; the addresses still work.
	if !validDNSName(normalizeHost(hostname)) {
		hostname = ""
	}
	extra := opts.ExtraSANs
	if ip := net.ParseIP(normalizeHost(opts.BindAddress)); ip != nil && !ip.IsUnspecified() {
		extra = append([]string{ip.String()}, extra...)
	}
	p.Hosts = ServingHosts(hostname, ips, extra)
	if p.ServingIssued, err = ca.LoadOrIssueServing(p.ServingCertFile, p.ServingKeyFile, p.Hosts); err != nil {
		return nil, fmt.Errorf("pki: serving certificate: %w", err)
	}
	if p.AdminIssued, err = ca.LoadOrIssueClient(p.AdminCertFile, p.AdminKeyFile, AdminUser, []string{AdminGroup}); err != nil {
		return nil, fmt.Errorf("pki: admin certificate: %w", err)
	}

	certPEM, err := os.ReadFile(p.AdminCertFile)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	keyPEM, err := os.ReadFile(p.AdminKeyFile)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	// Rewritten only if its content changed (new admin cert, new URL).
	if err := WriteKubeconfig(p.KubeconfigFile, p.ServerURL, clusterName, AdminUser, ca.CertPEM, certPEM, keyPEM); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	return p, nil
}
