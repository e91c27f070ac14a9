package cisaudit

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"skiff.dev/skiff/internal/storage/encryption"
)

// Env is everything the checks look at, gathered once by Gather (or built
// by a test).
type Env struct {
	DataDir string
	// Config is the server's effective configuration; nil with ConfigErr
	// when DATA_DIR/server-config.json could not be read.
	Config    *ServerConfig
	ConfigErr error
	// Files are the stat results of the files the checks look at, by
	// path; a path that is missing does not exist.
	Files map[string]FileStat
	// Encryption is the parsed encryption provider configuration.
	Encryption    *encryption.Configuration
	EncryptionErr error
	// Cluster is live state read through the API; nil with ClusterErr
	// when the API could not be read.
	Cluster    *Cluster
	ClusterErr error
	// Probes are the results of probing the live endpoints; nil with
	// ClusterErr when they did not run.
	Probes *Probes
}

// FileStat is what the checks need of a file.
type FileStat struct {
	Mode  fs.FileMode
	IsDir bool
	// Owner and Group are names ("root"), or numeric ids when the name is
	// unknown.
	Owner, Group string
}

// Cluster is the live state the policy checks read.
type Cluster struct {
	Namespaces          []corev1.Namespace
	ServiceAccounts     []corev1.ServiceAccount
	Pods                []corev1.Pod
	Nodes               []corev1.Node
	Roles               []rbacv1.Role
	ClusterRoles        []rbacv1.ClusterRole
	ClusterRoleBindings []rbacv1.ClusterRoleBinding
	NetworkPolicies     []networkingv1.NetworkPolicy
	// AuthenticatedCan answers SubjectAccessReviews for the group
	// system:authenticated in all namespaces, by "verb resource".
	AuthenticatedCan map[string]bool
}

// Probes are what the live endpoints answered.
type Probes struct {
	// APIServer is the API server's URL.
	APIServer string
	// AnonymousStatus is the status of a request without credentials
	// (0 with AnonymousErr if none came).
	AnonymousStatus int
	AnonymousErr    string
	// TLS is the API server's answer to old versions and weak suites.
	TLS TLSProbe
	// PprofStatus is the status of GET /debug/pprof/ as the admin.
	PprofStatus int
	// Nodes are the node agents' answers.
	Nodes []NodeProbe
}

// TLSProbe is how an endpoint answered handshakes it must refuse: the
// name of what was negotiated, or "" when the handshake failed.
type TLSProbe struct {
	TLS10, TLS11 string
	// WeakCipher is a suite outside the benchmark's list that the server
	// agreed to.
	WeakCipher string
}

// NodeProbe is how one node agent answered.
type NodeProbe struct {
	Node    string
	Address string
	// Unreachable is set when no TCP connection could be made.
	Unreachable string
	// AnonymousRefused: a request without a client certificate was
	// refused (handshake failure, 401 or 403); AnonymousAnswer says how.
	AnonymousRefused bool
	AnonymousAnswer  string
	// ServingCertificate: the agent presented a certificate.
	ServingCertificate bool
	TLS                TLSProbe
	// ReadOnlyPortOpen: something accepted a connection on port 10255.
	ReadOnlyPortOpen bool
}

// fileCheck checks path against a permission limit (mode bits outside
// maxPerm fail) and, if owner is not empty, against owner:group.
func (e *Env) fileCheck(path string, maxPerm fs.FileMode, owner string) (ok bool, evidence string, exists bool) {
	st, found := e.Files[path]
	if !found {
		return true, path + " does not exist", false
	}
	var bad []string
	if maxPerm != 0 && st.Mode.Perm()&^maxPerm != 0 {
		bad = append(bad, fmt.Sprintf("permissions %o, more than %o", st.Mode.Perm(), maxPerm))
	}
	if owner != "" && st.Owner+":"+st.Group != owner {
		bad = append(bad, fmt.Sprintf("owned by %s:%s, not %s", st.Owner, st.Group, owner))
	}
	if len(bad) > 0 {
		return false, path + ": " + strings.Join(bad, ", "), true
	}
	return true, fmt.Sprintf("%s: permissions %o, owner %s:%s", path, st.Mode.Perm(), st.Owner, st.Group), true
}

// filesCheck applies fileCheck to every gathered file under dir whose
// name matches pattern (filepath.Match on the base name; "" for all).
func (e *Env) filesCheck(dir, pattern string, maxPerm fs.FileMode, owner string) (ok bool, evidence string, n int) {
	var paths []string
	for p := range e.Files {
		if p != dir && !strings.HasPrefix(p, dir+string(filepath.Separator)) {
			continue
		}
		if st := e.Files[p]; st.IsDir && maxPerm != 0 {
			// Directories need their search bit; the limits are for files.
			continue
		}
		if pattern != "" {
			if m, _ := filepath.Match(pattern, filepath.Base(p)); !m {
				continue
			}
		}
		paths = append(paths, p)
	}
	sort.Strings(paths)
	ok = true
	var lines, bad []string
	for _, p := range paths {
		good, ev, _ := e.fileCheck(p, maxPerm, owner)
		if !good {
			ok = false
			bad = append(bad, ev)
		}
		lines = append(lines, ev)
	}
	if !ok {
		return false, strings.Join(bad, "\n"), len(paths)
	}
	return true, strings.Join(lines, "\n"), len(paths)
}

func (e *Env) path(rel string) string { return filepath.Join(e.DataDir, rel) }
