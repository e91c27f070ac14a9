package cisaudit

import (
	"io/fs"
	"path/filepath"
	"strings"
)

const rootOwner = "root:root"

// fileItem is a check that path (relative to the data directory unless
// absolute) has at most maxPerm, or if maxPerm is 0 is owned by owner.
func fileItem(rel string, maxPerm fs.FileMode, owner string) func(*Env) Result {
	return func(e *Env) Result {
		p := rel
		if !filepath.IsAbs(p) {
			p = e.path(rel)
		}
		ok, ev, exists := e.fileCheck(p, maxPerm, owner)
		if !exists {
			return fail("%s", ev)
		}
		if !ok {
			return fail("%s", ev)
		}
		return pass("%s", ev)
	}
}

// treeItem is fileItem over every file under dir matching pattern; no
// such file is not applicable, for why.
func treeItem(rel, pattern string, maxPerm fs.FileMode, owner, why string) func(*Env) Result {
	return func(e *Env) Result {
		ok, ev, n := e.filesCheck(e.path(rel), pattern, maxPerm, owner)
		if n == 0 {
			return notApplicable("%s", why)
		}
		if !ok {
			return fail("%s", ev)
		}
		return pass("%s", ev)
	}
}

// inProcess is the reason the pod-specification and component-kubeconfig
// items do not apply.
const inProcess = "Skiff runs the API server, controller manager and scheduler inside the skiff server process, configured by its flags; there are no static pod manifests"

func controlPlaneFileChecks() []Check {
	noFile := func(what string) func(*Env) Result {
		return func(*Env) Result { return notApplicable("%s", what) }
	}
	return []Check{
		{ID: "1.1.1", Text: "Ensure that the API server pod specification file permissions are set to 600 or more restrictive (Automated)", Scored: true,
			Remediation: "chmod 600 <data-dir>/server-config.json (skiff server writes it with 600 at every start)",
			Run:         withConfigFile(fileItem(ServerConfigFile, 0o600, ""))},
		{ID: "1.1.2", Text: "Ensure that the API server pod specification file ownership is set to root:root (Automated)", Scored: true,
			Remediation: "chown root:root <data-dir>/server-config.json",
			Run:         withConfigFile(fileItem(ServerConfigFile, 0, rootOwner))},
		{ID: "1.1.3", Text: "Ensure that the controller manager pod specification file permissions are set to 600 or more restrictive (Automated)", Scored: true, Run: noFile(inProcess)},
		{ID: "1.1.4", Text: "Ensure that the controller manager pod specification file ownership is set to root:root (Automated)", Scored: true, Run: noFile(inProcess)},
		{ID: "1.1.5", Text: "Ensure that the scheduler pod specification file permissions are set to 600 or more restrictive (Automated)", Scored: true, Run: noFile(inProcess)},
		{ID: "1.1.6", Text: "Ensure that the scheduler pod specification file ownership is set to root:root (Automated)", Scored: true, Run: noFile(inProcess)},
		{ID: "1.1.7", Text: "Ensure that the etcd pod specification file permissions are set to 600 or more restrictive (Automated)", Scored: true, Run: noFile("Skiff runs no etcd pod; the embedded store is part of skiff server, an external etcd is configured on its own hosts")},
		{ID: "1.1.8", Text: "Ensure that the etcd pod specification file ownership is set to root:root (Automated)", Scored: true, Run: noFile("Skiff runs no etcd pod; the embedded store is part of skiff server, an external etcd is configured on its own hosts")},
		{ID: "1.1.9", Text: "Ensure that the Container Network Interface file permissions are set to 600 or more restrictive (Manual)",
			Remediation: "chmod 600 <data-dir>/agent/cni/net.d/* and the files under <data-dir>/agent/cni/ipam",
			Run:         cniFiles(0o600, "")},
		{ID: "1.1.10", Text: "Ensure that the Container Network Interface file ownership is set to root:root (Manual)",
			Remediation: "chown -R root:root <data-dir>/agent/cni",
			Run:         cniFiles(0, rootOwner)},
		{ID: "1.1.11", Text: "Ensure that the etcd data directory permissions are set to 700 or more restrictive (Automated)", Scored: true,
			Remediation: "chmod 700 <data-dir> <data-dir>/db",
			Run:         storeDir(0o700, "")},
		{ID: "1.1.12", Text: "Ensure that the etcd data directory ownership is set to etcd:etcd (Automated)", Scored: true,
			Remediation: "chown -R root:root <data-dir>/db (skiff server runs the embedded store as root; there is no etcd user)",
			Run:         storeDir(0, rootOwner)},
		{ID: "1.1.13", Text: "Ensure that the default administrative credential file permissions are set to 600 (Automated)", Scored: true,
			Remediation: "chmod 600 <data-dir>/kubeconfig",
			Run:         fileItem("kubeconfig", 0o600, "")},
		{ID: "1.1.14", Text: "Ensure that the default administrative credential file ownership is set to root:root (Automated)", Scored: true,
			Remediation: "chown root:root <data-dir>/kubeconfig",
			Run:         fileItem("kubeconfig", 0, rootOwner)},
		{ID: "1.1.15", Text: "Ensure that the scheduler.conf file permissions are set to 600 or more restrictive (Automated)", Scored: true, Run: noFile("the in-process scheduler gets its client certificate in memory; there is no scheduler.conf")},
		{ID: "1.1.16", Text: "Ensure that the scheduler.conf file ownership is set to root:root (Automated)", Scored: true, Run: noFile("the in-process scheduler gets its client certificate in memory; there is no scheduler.conf")},
		{ID: "1.1.17", Text: "Ensure that the controller-manager.conf file permissions are set to 600 or more restrictive (Automated)", Scored: true, Run: noFile("the in-process controller manager gets its client certificate in memory; there is no controller-manager.conf")},
		{ID: "1.1.18", Text: "Ensure that the controller-manager.conf file ownership is set to root:root (Automated)", Scored: true, Run: noFile("the in-process controller manager gets its client certificate in memory; there is no controller-manager.conf")},
		{ID: "1.1.19", Text: "Ensure that the Kubernetes PKI directory and file ownership is set to root:root (Automated)", Scored: true,
			Remediation: "chown -R root:root <data-dir>/tls",
			Run:         treeItem("tls", "", 0, rootOwner, "no <data-dir>/tls directory")},
		{ID: "1.1.20", Text: "Ensure that the Kubernetes PKI certificate file permissions are set to 600 or more restrictive (Manual)",
			Remediation: "chmod 600 <data-dir>/tls/*.crt (skiff server writes them 600, and takes back looser permissions at start)",
			Run:         treeItem("tls", "*.crt", 0o600, "", "no certificates in <data-dir>/tls")},
		{ID: "1.1.21", Text: "Ensure that the Kubernetes PKI key file permissions are set to 600 (Manual)",
			Remediation: "chmod 600 <data-dir>/tls/*.key",
			Run:         treeItem("tls", "*.key", 0o600, "", "no keys in <data-dir>/tls")},
	}
}

// withConfigFile reports a missing server-config.json as a failure that
// says what it is.
func withConfigFile(run func(*Env) Result) func(*Env) Result {
	return func(e *Env) Result {
		if _, ok := e.Files[e.path(ServerConfigFile)]; !ok {
			return warn("%s does not exist: no skiff server has started with this data directory (the file stands for the API server's pod specification: the effective configuration)", e.path(ServerConfigFile))
		}
		return run(e)
	}
}

func cniFiles(maxPerm fs.FileMode, owner string) func(*Env) Result {
	return func(e *Env) Result {
		var evidence []string
		found, good := 0, true
		for _, rel := range []string{"agent/cni/net.d", "agent/cni/ipam"} {
			ok, ev, n := e.filesCheck(e.path(rel), "", maxPerm, owner)
			if n == 0 {
				continue
			}
			found += n
			good = good && ok
			evidence = append(evidence, ev)
		}
		if found == 0 {
			return notApplicable("no node agent's CNI files in %s", e.path("agent/cni"))
		}
		if !good {
			return fail("%s", strings.Join(evidence, "\n"))
		}
		return pass("%s", strings.Join(evidence, "\n"))
	}
}

// storeDir checks the data directory and, with the embedded store, its
// db directory (the etcd data directory's counterpart).
func storeDir(maxPerm fs.FileMode, owner string) func(*Env) Result {
	return func(e *Env) Result {
		if e.Config != nil && e.Config.Datastore == "etcd" {
			return notApplicable("the store is an external etcd (%s); check its data directory on the etcd hosts", e.Config.DatastoreEndpoint)
		}
		var lines []string
		for _, rel := range []string{"", "db"} {
			ok, ev, exists := e.fileCheck(e.path(rel), maxPerm, owner)
			if !exists {
				continue
			}
			if !ok {
				return fail("%s", ev)
			}
			lines = append(lines, ev)
		}
		if len(lines) == 0 {
			return fail("%s does not exist", e.path("db"))
		}
		return pass("%s", strings.Join(lines, "\n"))
	}
}
