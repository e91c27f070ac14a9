package cisaudit

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// ServerConfigFile is where skiff server records its effective
// configuration, in its data directory.
const ServerConfigFile = "server-config.json"

// ServerConfig is skiff server's effective configuration: its flags after
// defaults, and what the wiring really runs. It holds paths and settings,
// never keys or tokens.
type ServerConfig struct {
	BindAddress string `json:"bindAddress"`
	SecurePort  int    `json:"securePort"`

	// AnonymousAuth is whether requests without credentials are served
	// as system:anonymous.
	AnonymousAuth bool `json:"anonymousAuth"`
	// Authenticators are the credential kinds accepted, in order
	// ("x509", "serviceaccount", "bootstrap-token").
	Authenticators []string `json:"authenticators"`
	// AuthorizationModes are upstream's names of the authorizers
	// ("Node", "RBAC"); the system:masters group is always allowed.
	AuthorizationModes []string `json:"authorizationModes"`
	// AdmissionPlugins are the enabled plug-ins in the chain's order.
	AdmissionPlugins []string `json:"admissionPlugins"`
	// PodSecurityDefaultEnforce is the PodSecurity plug-in's enforce level
	// for namespaces without a label ("" if the plug-in is off).
	PodSecurityDefaultEnforce string `json:"podSecurityDefaultEnforce,omitempty"`
	// AdmissionControlConfigFile is --admission-control-config-file ("":
	// Skiff's default plug-in settings).
	AdmissionControlConfigFile string `json:"admissionControlConfigFile,omitempty"`
	// EventRateLimits are EventRateLimit's limits in effect, e.g.
	// "Namespace qps=50 burst=500" (none if the plug-in is off).
	EventRateLimits []string `json:"eventRateLimits,omitempty"`
	// Profiling is whether /debug/pprof is served.
	Profiling bool `json:"profiling"`

	TLSCertFile       string   `json:"tlsCertFile"`
	TLSPrivateKeyFile string   `json:"tlsPrivateKeyFile"`
	ClientCAFile      string   `json:"clientCAFile"`
	TLSMinVersion     string   `json:"tlsMinVersion"`
	TLSCipherSuites   []string `json:"tlsCipherSuites"`
	// KubeletClientCertificate: the API server presents a client
	// certificate to agents; KubeletCertificateAuthority: it verifies their
	// serving certificates against this CA file.
	KubeletClientCertificate    bool   `json:"kubeletClientCertificate"`
	KubeletCertificateAuthority string `json:"kubeletCertificateAuthority,omitempty"`

	// Datastore is "bolt" (embedded) or "etcd".
	Datastore         string `json:"datastore"`
	DatastoreEndpoint string `json:"datastoreEndpoint,omitempty"`
	DatastoreCAFile   string `json:"datastoreCAFile,omitempty"`
	DatastoreCertFile string `json:"datastoreCertFile,omitempty"`
	DatastoreKeyFile  string `json:"datastoreKeyFile,omitempty"`

	EncryptionProviderConfig string `json:"encryptionProviderConfig"`

	AuditLogPath      string `json:"auditLogPath"`
	AuditLogMaxAge    int    `json:"auditLogMaxAge"`
	AuditLogMaxBackup int    `json:"auditLogMaxBackup"`
	AuditLogMaxSize   int    `json:"auditLogMaxSize"`
	// AuditPolicyFile is "" for the built-in policy.
	AuditPolicyFile string `json:"auditPolicyFile,omitempty"`

	// ServiceAccountLookup: tokens are checked against the live service
	// account (and secret, pod, node) objects.
	ServiceAccountLookup         bool     `json:"serviceAccountLookup"`
	ServiceAccountSigningKeyFile string   `json:"serviceAccountSigningKeyFile"`
	ServiceAccountKeyFiles       []string `json:"serviceAccountKeyFiles,omitempty"`

	ControllerManager bool `json:"controllerManager"`
	// UseServiceAccountCredentials: each controller has its own
	// service-account identity rather than one shared identity.
	UseServiceAccountCredentials bool   `json:"useServiceAccountCredentials"`
	RootCAFile                   string `json:"rootCAFile,omitempty"`
	Scheduler                    bool   `json:"scheduler"`

	// Agent is whether the server runs a node agent in its process;
	// NodeName is its --node-name ("" for the hostname).
	Agent    bool   `json:"agent"`
	NodeName string `json:"nodeName,omitempty"`
	// PodPidsLimit is the in-process agent's pod PID limit
	// (--pod-max-pids after its default; -1: none); absent without an
	// agent, or from a server that predates the setting.
	PodPidsLimit *int64 `json:"podPidsLimit,omitempty"`
}

// WriteServerConfig writes cfg to DATA_DIR/server-config.json, mode 0600,
// replacing the file atomically.
func WriteServerConfig(dataDir string, cfg ServerConfig) error {
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return fmt.Errorf("encode server config: %w", err)
	}
	path := filepath.Join(dataDir, ServerConfigFile)
	tmp, err := os.CreateTemp(dataDir, "."+ServerConfigFile+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// ReadServerConfig reads DATA_DIR/server-config.json.
func ReadServerConfig(dataDir string) (*ServerConfig, error) {
	path := filepath.Join(dataDir, ServerConfigFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read server config: %w", err)
	}
	var cfg ServerConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return &cfg, nil
}
