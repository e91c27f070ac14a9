package app

import (
	"fmt"
	"log/slog"
	"path/filepath"

	"skiff.dev/skiff/internal/audit"
)

// AuditOptions are upstream's --audit-* flags for the log backend.
type AuditOptions struct {
	// LogPath is the log file; "" means <data-dir>/logs/audit.log, "-"
	// standard output.
	LogPath string
	// MaxAge (days), MaxBackups (files) and MaxSize (megabytes) bound the
	// rotated files.
	MaxAge, MaxBackups, MaxSize int
	// PolicyFile is an audit.k8s.io/v1 Policy; "" means the default
	// policy (audit.DefaultPolicy).
	PolicyFile string
}

// newAuditLogger opens the audit log; its Close flushes it, and must come
// after the HTTP server stopped.
func newAuditLogger(dataDir string, o AuditOptions) (*audit.Logger, error) {
	policy := audit.DefaultPolicy()
	if o.PolicyFile != "" {
		p, err := audit.LoadPolicyFile(o.PolicyFile)
		if err != nil {
			return nil, err
		}
		policy = p
	}
	path := o.LogPath
	if path == "" {
		path = filepath.Join(dataDir, "logs", "audit.log")
	}
	backend, err := audit.NewLogBackend(audit.LogOptions{Path: path, MaxAge: o.MaxAge, MaxBackups: o.MaxBackups, MaxSize: o.MaxSize})
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	policyName := o.PolicyFile
	if policyName == "" {
		policyName = "default"
	}
	slog.Info("audit log", "path", path, "policy", policyName, "maxage", o.MaxAge, "maxbackup", o.MaxBackups, "maxsize", o.MaxSize)
	return audit.NewLogger(policy, backend), nil
}
