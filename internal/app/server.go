// Package app wires Skiff's components for each role: explicit
// construction, no globals, no init() registration.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	utilnet "k8s.io/apimachinery/pkg/util/net"

	agentserver "skiff.dev/skiff/internal/agent/server"

	"skiff.dev/skiff/internal/admission/eventratelimit"
	"skiff.dev/skiff/internal/admission/podsecurity"
	"skiff.dev/skiff/internal/agent/images"
	"skiff.dev/skiff/internal/apiserver"
	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/auth/authz"
	"skiff.dev/skiff/internal/auth/bootstrap"
	"skiff.dev/skiff/internal/auth/node"
	"skiff.dev/skiff/internal/auth/pki"
	"skiff.dev/skiff/internal/auth/rbac"
	"skiff.dev/skiff/internal/auth/serviceaccount"
	"skiff.dev/skiff/internal/cisaudit"
	"skiff.dev/skiff/internal/controller/nodelifecycle"
	"skiff.dev/skiff/internal/registry/builtin"
	"skiff.dev/skiff/internal/storage"
	"skiff.dev/skiff/internal/storage/bolt"
	"skiff.dev/skiff/internal/storage/encryption"
)

// ServerOptions are `skiff server`'s flags.
type ServerOptions struct {
	DataDir     string
	BindAddress string
	SecurePort  int
	// DatastoreEndpoint selects etcd (comma-separated https:// or http://
	// URLs); empty means the embedded bolt store.
	DatastoreEndpoint string
	// Datastore TLS files for etcd's client port (mutual TLS).
	DatastoreCAFile, DatastoreCertFile, DatastoreKeyFile string
	DisableAgent                                         bool
	// DisableScheduler and DisableControllerManager leave those parts to
	// another process (k3s's flags of the same names).
	DisableScheduler, DisableControllerManager bool
	// ServiceAccounts: token issuer, audiences and keys.
	ServiceAccounts ServiceAccountOptions
	// The in-process node agent: see AgentOptions (internal/app/agent.go).
	NodeName                 string
	ContainerRuntimeEndpoint string
	SimulateNodes            int
	NodeIP, PodCIDR          string
	BridgeName               string
	ImageGC                  images.Policy
	PodMaxPids               int64
	// EncryptionProviderConfig is upstream's --encryption-provider-config;
	// empty: DATA_DIR/encryption-config.yaml, generated on first start.
	EncryptionProviderConfig string
	// NodeLifecycle: the node monitor's grace periods
	// (--node-monitor-grace-period, --node-startup-grace-period).
	NodeLifecycle nodelifecycle.Config
	// Audit: the audit log's path, rotation and policy.
	Audit AuditOptions
	// Admission: which plug-ins run, and their settings.
	Admission AdmissionOptions
	// Ready, if set, is closed once the server serves requests.
	Ready chan<- struct{}
}

// RunServer runs the control plane until ctx ends.
func RunServer(ctx context.Context, opts ServerOptions) error {
	start := time.Now()
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	p, err := pki.EnsureServer(pki.ServerOptions{
		DataDir: opts.DataDir, BindAddress: opts.BindAddress, Port: opts.SecurePort,
		ExtraSANs: []string{apiserver.ServiceCIDR.Masked().Addr().Next().String()},
	})
	if err != nil {
		return fmt.Errorf("prepare certificates: %w", err)
	}
	cert, err := p.ServingCertificate()
	if err != nil {
		return err
	}
	// The CA travels with the serving certificate so that a joining agent
	// can check it against its token's pin before sending the token.
	cert.Certificate = append(cert.Certificate, p.CA.Cert.Raw)

	store, err := openStore(opts)
	if err != nil {
		return err
	}
	defer store.Close()
	// Secrets are encrypted before they reach the store, and the
	// configuration file is followed for key rotation.
	encStore, err := encryption.Wrap(ctx, store, opts.DataDir, opts.EncryptionProviderConfig)
	if err != nil {
		return err
	}
	store = encStore

	kubeletTLS, err := kubeletClientTLS(p)
	if err != nil {
		return err
	}
	auditLog, err := newAuditLogger(opts.DataDir, opts.Audit)
	if err != nil {
		return err
	}
	defer auditLog.Close() // after the HTTP server's shutdown below: flushes the last events
	rbacw := newRBACWiring()
	admCaches := &admissionCaches{authorizer: rbacw.authorizer}
	adm, err := newAdmission(admCaches, opts.Admission)
	if err != nil {
		return err
	}
	tokens := &cachedSecrets{}
	saw, err := newSAWiring(opts.DataDir, opts.ServiceAccounts, advertisedEndpoint(opts), opts.SecurePort)
	if err != nil {
		return fmt.Errorf("service account tokens: %w", err)
	}
	authenticator := authn.Union{authn.NewX509Authenticator(p.CA.Pool()), saw.authenticator, bootstrap.Authenticator{Secrets: tokens}}
	srv, err := apiserver.New(apiserver.Config{
		Store:               store,
		Resources:           saw.resources(rbacw.resources(builtin.Resources())),
		Authenticator:       authenticator,
		Authorizer:          rbacw.authorizer,
		Admission:           adm,
		Audit:               auditLog,
		SecurePort:          opts.SecurePort,
		KubeletClientTLS:    kubeletTLS,
		NonResourceHandlers: saw.discovery,
		HealthChecks: []apiserver.HealthCheck{
			// Upstream's kms-providers check (a no-op without kms providers).
			{Name: "kms-providers", Check: func(r *http.Request) error {
				return encStore.Transformers().CheckKMS(r.Context())
			}},
			// Upstream's post-start hook: not ready until the bootstrap
			// policy is in place, or clients other than system:masters
			// (service accounts, nodes, controllers) would be denied.
			{Name: "poststarthook/rbac/bootstrap-roles", Check: func(*http.Request) error {
				if !rbacw.bootstrapped.Load() {
					return errors.New("not finished")
				}
				return nil
			}},
		},
	})
	if err != nil {
		return err
	}
	if err := admCaches.bind(srv); err != nil {
		return err
	}
	if err := saw.bind(srv); err != nil {
		return err
	}

	addr := net.JoinHostPort(opts.BindAddress, strconv.Itoa(opts.SecurePort))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	httpSrv := &http.Server{
		Handler:           srv,
		TLSConfig:         authn.TLSConfig(cert, p.CA.Pool()),
		ReadHeaderTimeout: 30 * time.Second,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(slog.Default().Handler(), slog.LevelDebug),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(tls.NewListener(ln, httpSrv.TLSConfig)) }()

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := srv.Start(sctx); err != nil {
		_ = httpSrv.Close()
		return err
	}
	if err := tokens.bind(srv); err != nil {
		_ = httpSrv.Close()
		return err
	}
	rbacAdmin, err := componentConfig(p, "system:apiserver")
	if err != nil {
		_ = httpSrv.Close()
		return err
	}
	if err := rbacw.start(sctx, srv, rbacAdmin); err != nil {
		_ = httpSrv.Close()
		return fmt.Errorf("start rbac: %w", err)
	}
	if err := admCaches.start(sctx, rbacAdmin); err != nil {
		_ = httpSrv.Close()
		return fmt.Errorf("start admission: %w", err)
	}
	// One pod cache for the scheduler and the controllers.
	pods, err := newSharedPods(sctx, p)
	if err != nil {
		_ = httpSrv.Close()
		return err
	}
	if !opts.DisableControllerManager {
		if err := runControllers(sctx, p, advertisedEndpoint(opts), saw.issuer, pods, opts.NodeLifecycle); err != nil {
			return fmt.Errorf("start controllers: %w", err)
		}
	}
	waitAgents := startServerAgents(sctx, p, opts)
	// On any return: stop the agents (and their containerd) first,
	// while the API still serves them, then the rest.
	defer waitAgents()
	defer cancel()
	if !opts.DisableScheduler {
		if err := runScheduler(sctx, p, pods); err != nil {
			return fmt.Errorf("start scheduler: %w", err)
		}
	}
	// What `skiff audit` checks: the configuration really in effect.
	if err := cisaudit.WriteServerConfig(opts.DataDir, effectiveConfig(opts, p, httpSrv.TLSConfig, authenticator, rbacw.authorizer)); err != nil {
		slog.Warn("could not record the effective configuration for skiff audit", "err", err)
	}
	slog.Info("skiff server ready", "address", "https://"+addr, "kubeconfig", p.KubeconfigFile,
		"datastore", storeName(opts), "startup", time.Since(start).Round(time.Millisecond))
	if opts.Ready != nil {
		close(opts.Ready)
	}
	go releaseStartupMemory()
	startGCTuner()

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
	}
	cancel()
	waitAgents()
	shutdownCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	_ = httpSrv.Shutdown(shutdownCtx)
	return nil
}

// kubeletClientTLS is how the API server reaches node agents for logs,
// exec, attach and port-forward: a client certificate of its own, and
// agents' serving certificates verified against the cluster CA.
func kubeletClientTLS(p *pki.ServerPKI) (*tls.Config, error) {
	certPEM, keyPEM, err := p.CA.SignClient(agentserver.APIServerUser, nil)
	if err != nil {
		return nil, fmt.Errorf("sign the kubelet client certificate: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("kubelet client certificate: %w", err)
	}
	return &tls.Config{RootCAs: p.CA.Pool(), Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// advertisedEndpoint is where pods reach the API server (the kubernetes
// service's endpoints): the bind address, or for 0.0.0.0 the address of
// the default route, as upstream's --advertise-address default.
func advertisedEndpoint(opts ServerOptions) APIServerEndpoint {
	ip, err := utilnet.ResolveBindAddress(net.ParseIP(opts.BindAddress))
	if err != nil {
		slog.Warn("no address to advertise for the kubernetes service", "err", err)
		return APIServerEndpoint{}
	}
	return APIServerEndpoint{IP: ip.String(), Port: int32(opts.SecurePort)}
}

func storeName(opts ServerOptions) string {
	if opts.DatastoreEndpoint != "" {
		return "etcd"
	}
	return "bolt"
}

// openStore opens the embedded bolt store under the data directory, or etcd
// when an endpoint is given.
func openStore(opts ServerOptions) (storage.Store, error) {
	if opts.DatastoreEndpoint != "" {
		return openEtcd(opts)
	}
	dir := filepath.Join(opts.DataDir, "db")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create store directory: %w", err)
	}
	// Upstream compacts etcd every 5 minutes, keeping that much history
	// for watches that resume.
	st, err := bolt.Open(filepath.Join(dir, "state.db"), bolt.WithAutoCompaction(bolt.AutoCompaction{Interval: 5 * time.Minute}))
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return st, nil
}

// effectiveConfig is the server's configuration as wired, for skiff audit:
// flags after defaults, and what the authenticators, authorizers and
// admission chain really are. No secrets.
func effectiveConfig(opts ServerOptions, p *pki.ServerPKI, tlsCfg *tls.Config, an authn.Union, az authz.Authorizer) cisaudit.ServerConfig {
	c := cisaudit.ServerConfig{
		BindAddress: opts.BindAddress, SecurePort: opts.SecurePort,
		TLSCertFile: p.ServingCertFile, TLSPrivateKeyFile: p.ServingKeyFile,
		ClientCAFile:  filepath.Join(opts.DataDir, pki.TLSDir, pki.CACertFile),
		TLSMinVersion: tls.VersionName(tlsCfg.MinVersion),
		// kubeletClientTLS: a client certificate, the cluster CA as roots.
		KubeletClientCertificate: true, KubeletCertificateAuthority: filepath.Join(opts.DataDir, pki.TLSDir, pki.CACertFile),
		Datastore: storeName(opts), DatastoreEndpoint: opts.DatastoreEndpoint,
		DatastoreCAFile: opts.DatastoreCAFile, DatastoreCertFile: opts.DatastoreCertFile, DatastoreKeyFile: opts.DatastoreKeyFile,
		EncryptionProviderConfig: opts.EncryptionProviderConfig,
		AuditLogPath:             opts.Audit.LogPath, AuditLogMaxAge: opts.Audit.MaxAge, AuditLogMaxBackup: opts.Audit.MaxBackups,
		AuditLogMaxSize: opts.Audit.MaxSize, AuditPolicyFile: opts.Audit.PolicyFile,
		// The service-account authenticator checks the account, secret,
		// pod and node a token names on every request.
		ServiceAccountLookup: true, ServiceAccountSigningKeyFile: opts.ServiceAccounts.SigningKeyFile, ServiceAccountKeyFiles: opts.ServiceAccounts.KeyFiles,
		ControllerManager: !opts.DisableControllerManager, Scheduler: !opts.DisableScheduler,
		UseServiceAccountCredentials: !opts.DisableControllerManager && controllersUseServiceAccountCredentials,
		Agent:                        !opts.DisableAgent, NodeName: opts.NodeName,
	}
	if c.Agent {
		c.PodPidsLimit = new(EffectivePodMaxPids(opts.PodMaxPids))
	}
	if c.EncryptionProviderConfig == "" {
		c.EncryptionProviderConfig = filepath.Join(opts.DataDir, encryption.DefaultConfigFile)
	}
	if c.ServiceAccountSigningKeyFile == "" {
		c.ServiceAccountSigningKeyFile = filepath.Join(opts.DataDir, serviceaccount.KeyFile)
	}
	if c.AuditLogPath == "" {
		c.AuditLogPath = filepath.Join(opts.DataDir, "logs", "audit.log")
	}
	if c.ControllerManager {
		c.RootCAFile = c.ClientCAFile
	}
	for _, id := range tlsCfg.CipherSuites {
		c.TLSCipherSuites = append(c.TLSCipherSuites, tls.CipherSuiteName(id))
	}
	for _, a := range an {
		switch a.(type) {
		case *authn.X509Authenticator:
			c.Authenticators = append(c.Authenticators, "x509")
		case bootstrap.Authenticator:
			c.Authenticators = append(c.Authenticators, "bootstrap-token")
		default:
			c.Authenticators = append(c.Authenticators, "serviceaccount")
		}
	}
	if u, ok := az.(authz.Union); ok {
		for _, a := range u {
			switch a.(type) {
			case node.Authorizer, *node.Authorizer:
				c.AuthorizationModes = append(c.AuthorizationModes, "Node")
			case rbac.Authorizer, *rbac.Authorizer:
				c.AuthorizationModes = append(c.AuthorizationModes, "RBAC")
			}
		}
	}
	if on, err := enabledAdmissionPlugins(opts.Admission); err == nil {
		for _, n := range AdmissionPlugins {
			if on[n] {
				c.AdmissionPlugins = append(c.AdmissionPlugins, n)
			}
		}
		c.AdmissionControlConfigFile = opts.Admission.ConfigFile
		// The server did not start if the file does not load.
		settings, _ := loadPluginSettings(opts.Admission)
		if on[podsecurity.PluginName] {
			c.PodSecurityDefaultEnforce = string(settings.podSecurity.Defaults.Enforce.Level)
		}
		if on[eventratelimit.Name] {
			for _, l := range settings.eventLimits {
				c.EventRateLimits = append(c.EventRateLimits, fmt.Sprintf("%s qps=%d burst=%d", l.Type, l.QPS, l.Burst))
			}
		}
	}
	return c
}
