package cisaudit

import (
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
)

// withConfig runs a check of the server's effective configuration, or
// says why it cannot.
func withConfig(run func(*Env, *ServerConfig) Result) func(*Env) Result {
	return func(e *Env) Result {
		if e.Config == nil {
			return warn("cannot check: %v (start skiff server with --data-dir %s, which writes it)", e.ConfigErr, e.DataDir)
		}
		return run(e, e.Config)
	}
}

// withControllerManager is withConfig for the controller manager's items,
// which do not apply to a server started with --disable-controller-manager.
func withControllerManager(run func(*Env, *ServerConfig) Result) func(*Env) Result {
	return withConfig(func(e *Env, c *ServerConfig) Result {
		if !c.ControllerManager {
			return notApplicable("the controller manager is disabled in this server (--disable-controller-manager)")
		}
		return run(e, c)
	})
}

func pluginOn(name string) func(*Env, *ServerConfig) Result {
	return func(_ *Env, c *ServerConfig) Result {
		if slices.Contains(c.AdmissionPlugins, name) {
			return pass("admission plug-ins: %s", strings.Join(c.AdmissionPlugins, ","))
		}
		return fail("%s is not in the admission chain: %s", name, strings.Join(c.AdmissionPlugins, ","))
	}
}

// eventRateLimit is 1.2.9: the plug-in is on, and where its limits come
// from (CIS asks for them in the admission control configuration file).
func eventRateLimit(e *Env, c *ServerConfig) Result {
	if r := pluginOn("EventRateLimit")(e, c); r.Status != Pass {
		return r
	}
	from := "Skiff's defaults (no --admission-control-config-file)"
	if c.AdmissionControlConfigFile != "" {
		from = "--admission-control-config-file " + c.AdmissionControlConfigFile
	}
	return pass("EventRateLimit is in the admission chain; limits %s from %s", strings.Join(c.EventRateLimits, ", "), from)
}

func authzMode(name string) func(*Env, *ServerConfig) Result {
	return func(_ *Env, c *ServerConfig) Result {
		if slices.Contains(c.AuthorizationModes, name) {
			return pass("authorization modes: %s", strings.Join(c.AuthorizationModes, ","))
		}
		return fail("authorization modes: %s (no %s authorizer)", strings.Join(c.AuthorizationModes, ","), name)
	}
}

func atLeast(flag string, get func(*ServerConfig) int, limit int) func(*Env, *ServerConfig) Result {
	return func(_ *Env, c *ServerConfig) Result {
		if v := get(c); v >= limit {
			return pass("%s=%d", flag, v)
		} else {
			return fail("%s=%d, less than %d", flag, v, limit)
		}
	}
}

func profilingOff(component string) func(*Env, *ServerConfig) Result {
	return func(e *Env, c *ServerConfig) Result {
		if c.Profiling {
			return fail("profiling is on")
		}
		ev := fmt.Sprintf("skiff has no profiling endpoint; the %s runs in the skiff server process", component)
		if e.Probes != nil {
			switch e.Probes.PprofStatus {
			case 200:
				return fail("GET %s/debug/pprof/ answered 200 OK", e.Probes.APIServer)
			case 0:
			default:
				ev += fmt.Sprintf("; GET /debug/pprof/ as the admin answers %d", e.Probes.PprofStatus)
			}
		}
		return pass("%s", ev)
	}
}

func noPort(component string) func(*Env, *ServerConfig) Result {
	return func(_ *Env, c *ServerConfig) Result {
		return notApplicable("the %s runs inside skiff server and listens on no port of its own (health and metrics are served by the API server)", component)
	}
}

func etcdTLS(run func(*ServerConfig) Result) func(*Env, *ServerConfig) Result {
	return func(_ *Env, c *ServerConfig) Result {
		if c.Datastore != "etcd" {
			return notApplicable("the embedded bolt store is a file of the skiff server process, not reached over the network")
		}
		for _, ep := range strings.Split(c.DatastoreEndpoint, ",") {
			if !strings.HasPrefix(strings.TrimSpace(ep), "https://") {
				return fail("etcd endpoint %s is not https", ep)
			}
		}
		return run(c)
	}
}

func apiServerChecks() []Check {
	return []Check{
		{ID: "1.2.1", Text: "Ensure that the --anonymous-auth argument is set to false (Manual)",
			Remediation: "Skiff has no anonymous access; if requests without credentials are served, report a bug",
			Run: withConfig(func(e *Env, c *ServerConfig) Result {
				if c.AnonymousAuth {
					return fail("anonymous requests are served")
				}
				if e.Probes != nil {
					if e.Probes.AnonymousStatus != 401 {
						return fail("GET %s/api without credentials answered %d %s, not 401", e.Probes.APIServer, e.Probes.AnonymousStatus, e.Probes.AnonymousErr)
					}
					return pass("anonymous auth off; GET %s/api without credentials answers 401", e.Probes.APIServer)
				}
				return pass("anonymous auth off (authenticators: %s)", strings.Join(c.Authenticators, ","))
			})},
		{ID: "1.2.2", Text: "Ensure that the --token-auth-file parameter is not set (Automated)", Scored: true,
			Remediation: "Skiff has no static token file; use client certificates, service-account or bootstrap tokens",
			Run: withConfig(func(_ *Env, c *ServerConfig) Result {
				if slices.Contains(c.Authenticators, "token-file") {
					return fail("a static token file authenticates requests")
				}
				return pass("no static token file; authenticators: %s", strings.Join(c.Authenticators, ","))
			})},
		{ID: "1.2.3", Text: "Ensure that the --DenyServiceExternalIPs is set (Manual)",
			Remediation: "skiff server without --disable-admission-plugins=DenyServiceExternalIPs (it is on by default)",
			Run:         withConfig(pluginOn("DenyServiceExternalIPs"))},
		{ID: "1.2.4", Text: "Ensure that the --kubelet-client-certificate and --kubelet-client-key arguments are set as appropriate (Automated)", Scored: true,
			Remediation: "skiff server always presents a client certificate (system:kube-apiserver) to agents; if not, report a bug",
			Run: withConfig(func(_ *Env, c *ServerConfig) Result {
				if !c.KubeletClientCertificate {
					return fail("the API server reaches agents without a client certificate")
				}
				return pass("the API server presents a client certificate signed by the cluster CA to agents")
			})},
		{ID: "1.2.5", Text: "Ensure that the --kubelet-certificate-authority argument is set as appropriate (Automated)", Scored: true,
			Remediation: "skiff server always verifies agents' serving certificates against the cluster CA; if not, report a bug",
			Run: withConfig(func(_ *Env, c *ServerConfig) Result {
				if c.KubeletCertificateAuthority == "" {
					return fail("agents' serving certificates are not verified")
				}
				return pass("agents' serving certificates are verified against %s", c.KubeletCertificateAuthority)
			})},
		{ID: "1.2.6", Text: "Ensure that the --authorization-mode argument is not set to AlwaysAllow (Automated)", Scored: true,
			Remediation: "Skiff has no AlwaysAllow mode; if it shows here, report a bug",
			Run: withConfig(func(_ *Env, c *ServerConfig) Result {
				if slices.Contains(c.AuthorizationModes, "AlwaysAllow") || len(c.AuthorizationModes) == 0 {
					return fail("authorization modes: %q", c.AuthorizationModes)
				}
				return pass("authorization modes: %s", strings.Join(c.AuthorizationModes, ","))
			})},
		{ID: "1.2.7", Text: "Ensure that the --authorization-mode argument includes Node (Automated)", Scored: true,
			Remediation: "Skiff's Node authorizer is part of skiff server; upgrade to a version that wires it",
			Run:         withConfig(authzMode("Node"))},
		{ID: "1.2.8", Text: "Ensure that the --authorization-mode argument includes RBAC (Automated)", Scored: true,
			Remediation: "RBAC is always on in skiff server; if it is missing, report a bug",
			Run:         withConfig(authzMode("RBAC"))},
		{ID: "1.2.9", Text: "Ensure that the admission control plugin EventRateLimit is set (Manual)",
			Remediation: "skiff server without --disable-admission-plugins=EventRateLimit (it is on by default, with Skiff's limits); " +
				"set the limits in the file of --admission-control-config-file (an AdmissionConfiguration with an EventRateLimit entry)",
			Run: withConfig(eventRateLimit)},
		{ID: "1.2.10", Text: "Ensure that the admission control plugin AlwaysAdmit is not set (Automated)", Scored: true,
			Remediation: "Skiff has no AlwaysAdmit plug-in",
			Run: withConfig(func(_ *Env, c *ServerConfig) Result {
				if slices.Contains(c.AdmissionPlugins, "AlwaysAdmit") {
					return fail("AlwaysAdmit is in the admission chain")
				}
				return pass("AlwaysAdmit is not in the admission chain")
			})},
		{ID: "1.2.11", Text: "Ensure that the admission control plugin AlwaysPullImages is set (Manual)",
			Remediation: "Skiff has no AlwaysPullImages plug-in; set imagePullPolicy: Always on pods of multi-tenant clusters",
			Run:         withConfig(pluginOn("AlwaysPullImages"))},
		{ID: "1.2.12", Text: "Ensure that the admission control plugin ServiceAccount is set (Automated)", Scored: true,
			Remediation: "skiff server without --disable-admission-plugins=ServiceAccount (on by default in versions that have it)",
			Run:         withConfig(pluginOn("ServiceAccount"))},
		{ID: "1.2.13", Text: "Ensure that the admission control plugin NamespaceLifecycle is set (Automated)", Scored: true,
			Remediation: "skiff server without --disable-admission-plugins=NamespaceLifecycle",
			Run:         withConfig(pluginOn("NamespaceLifecycle"))},
		{ID: "1.2.14", Text: "Ensure that the admission control plugin NodeRestriction is set (Automated)", Scored: true,
			Remediation: "skiff server without --disable-admission-plugins=NodeRestriction (on by default in versions that have it)",
			Run:         withConfig(pluginOn("NodeRestriction"))},
		{ID: "1.2.15", Text: "Ensure that the --profiling argument is set to false (Automated)", Scored: true,
			Remediation: "Skiff serves no /debug/pprof; if it does, report a bug",
			Run:         withConfig(profilingOff("API server"))},
		{ID: "1.2.16", Text: "Ensure that the --audit-log-path argument is set (Automated)", Scored: true,
			Remediation: "skiff server --audit-log-path=<file> (default <data-dir>/logs/audit.log)",
			Run: withConfig(func(_ *Env, c *ServerConfig) Result {
				if c.AuditLogPath == "" {
					return fail("no audit log")
				}
				return pass("audit log: %s", c.AuditLogPath)
			})},
		{ID: "1.2.17", Text: "Ensure that the --audit-log-maxage argument is set to 30 or as appropriate (Automated)", Scored: true,
			Remediation: "skiff server --audit-log-maxage=30 (the default)",
			Run:         withConfig(atLeast("--audit-log-maxage", func(c *ServerConfig) int { return c.AuditLogMaxAge }, 30))},
		{ID: "1.2.18", Text: "Ensure that the --audit-log-maxbackup argument is set to 10 or as appropriate (Automated)", Scored: true,
			Remediation: "skiff server --audit-log-maxbackup=10 (the default)",
			Run:         withConfig(atLeast("--audit-log-maxbackup", func(c *ServerConfig) int { return c.AuditLogMaxBackup }, 10))},
		{ID: "1.2.19", Text: "Ensure that the --audit-log-maxsize argument is set to 100 or as appropriate (Automated)", Scored: true,
			Remediation: "skiff server --audit-log-maxsize=100 (the default)",
			Run:         withConfig(atLeast("--audit-log-maxsize", func(c *ServerConfig) int { return c.AuditLogMaxSize }, 100))},
		{ID: "1.2.20", Text: "Ensure that the --request-timeout argument is set as appropriate (Manual)",
			Remediation: "Skiff has no --request-timeout flag; review whether its built-in request timeouts suit you",
			Run:         func(*Env) Result { return warn("not configurable in Skiff") }},
		{ID: "1.2.21", Text: "Ensure that the --service-account-lookup argument is set to true (Automated)", Scored: true,
			Remediation: "Skiff always checks that a token's service account (and secret, pod, node) still exists; if not, report a bug",
			Run: withConfig(func(_ *Env, c *ServerConfig) Result {
				if !c.ServiceAccountLookup {
					return fail("service-account tokens are not checked against live objects")
				}
				return pass("service-account tokens are checked against the live service account and bound objects")
			})},
		{ID: "1.2.22", Text: "Ensure that the --service-account-key-file argument is set as appropriate (Automated)", Scored: true,
			Remediation: "skiff server --service-account-signing-key-file=<file> (default <data-dir>/tls/service-account.key) and --service-account-key-file for rotated keys",
			Run: withConfig(func(_ *Env, c *ServerConfig) Result {
				if c.ServiceAccountSigningKeyFile == "" {
					return fail("no service-account key")
				}
				return pass("tokens verified with the keys of %s", strings.Join(append([]string{c.ServiceAccountSigningKeyFile}, c.ServiceAccountKeyFiles...), ","))
			})},
		{ID: "1.2.23", Text: "Ensure that the --etcd-certfile and --etcd-keyfile arguments are set as appropriate (Automated)", Scored: true,
			Remediation: "skiff server --datastore-certfile=<file> --datastore-keyfile=<file>",
			Run: withConfig(etcdTLS(func(c *ServerConfig) Result {
				if c.DatastoreCertFile == "" || c.DatastoreKeyFile == "" {
					return fail("--datastore-certfile or --datastore-keyfile not set")
				}
				return pass("--datastore-certfile=%s --datastore-keyfile=%s", c.DatastoreCertFile, c.DatastoreKeyFile)
			}))},
		{ID: "1.2.24", Text: "Ensure that the --tls-cert-file and --tls-private-key-file arguments are set as appropriate (Automated)", Scored: true,
			Remediation: "skiff server serves HTTPS only, with <data-dir>/tls/serving.crt and serving.key",
			Run: withConfig(func(e *Env, c *ServerConfig) Result {
				if c.TLSCertFile == "" || c.TLSPrivateKeyFile == "" {
					return fail("no serving certificate")
				}
				return pass("serving certificate %s, key %s", c.TLSCertFile, c.TLSPrivateKeyFile)
			})},
		{ID: "1.2.25", Text: "Ensure that the --client-ca-file argument is set as appropriate (Automated)", Scored: true,
			Remediation: "skiff server verifies client certificates against <data-dir>/tls/ca.crt",
			Run: withConfig(func(_ *Env, c *ServerConfig) Result {
				if c.ClientCAFile == "" {
					return fail("no client CA")
				}
				return pass("client certificates verified against %s", c.ClientCAFile)
			})},
		{ID: "1.2.26", Text: "Ensure that the --etcd-cafile argument is set as appropriate (Automated)", Scored: true,
			Remediation: "skiff server --datastore-cafile=<file>",
			Run: withConfig(etcdTLS(func(c *ServerConfig) Result {
				if c.DatastoreCAFile == "" {
					return fail("--datastore-cafile not set")
				}
				return pass("--datastore-cafile=%s", c.DatastoreCAFile)
			}))},
		{ID: "1.2.27", Text: "Ensure that the --encryption-provider-config argument is set as appropriate (Manual)",
			Remediation: "skiff server --encryption-provider-config=<file> (default <data-dir>/encryption-config.yaml, generated)",
			Run: withConfig(func(e *Env, c *ServerConfig) Result {
				if c.EncryptionProviderConfig == "" {
					return fail("no encryption provider configuration")
				}
				if e.EncryptionErr != nil {
					return fail("%v", e.EncryptionErr)
				}
				return pass("--encryption-provider-config=%s", c.EncryptionProviderConfig)
			})},
		{ID: "1.2.28", Text: "Ensure that encryption providers are appropriately configured (Manual)",
			Remediation: "make aescbc, kms or secretbox the first provider for secrets in the encryption provider configuration (skiff secrets-encrypt rotate manages the generated one)",
			Run:         encryptionProviders},
		{ID: "1.2.29", Text: "Ensure that the API Server only makes use of Strong Cryptographic Ciphers (Manual)",
			Remediation: "Skiff's API server offers TLS 1.2+ with ECDHE AEAD suites only; if a weak suite is accepted, report a bug",
			Run: withConfig(func(e *Env, c *ServerConfig) Result {
				var weak []string
				for _, name := range c.TLSCipherSuites {
					if !strongSuiteName(name) {
						weak = append(weak, name)
					}
				}
				if len(weak) > 0 {
					return fail("weak cipher suites configured: %s", strings.Join(weak, ","))
				}
				if e.Probes != nil {
					if r := tlsProbeFailure(e.Probes.TLS); r != "" {
						return fail("%s accepted %s", e.Probes.APIServer, r)
					}
					return pass("cipher suites %s, minimum %s; TLS 1.0, TLS 1.1 and weak suites refused by %s", strings.Join(c.TLSCipherSuites, ","), c.TLSMinVersion, e.Probes.APIServer)
				}
				return pass("cipher suites %s, minimum %s", strings.Join(c.TLSCipherSuites, ","), c.TLSMinVersion)
			})},
	}
}

func strongSuiteName(name string) bool {
	for id := range strongCipherSuites {
		if tls.CipherSuiteName(id) == name {
			return true
		}
	}
	return false
}

// tlsProbeFailure says what an endpoint accepted that it must not, or "".
func tlsProbeFailure(p TLSProbe) string {
	var bad []string
	for _, s := range []string{p.TLS10, p.TLS11, p.WeakCipher} {
		if s != "" {
			bad = append(bad, s)
		}
	}
	return strings.Join(bad, "; ")
}

func encryptionProviders(e *Env) Result {
	if e.EncryptionErr != nil {
		return fail("%v", e.EncryptionErr)
	}
	for _, r := range e.Encryption.Resources {
		if !slices.Contains(r.Resources, "secrets") && !slices.Contains(r.Resources, "*.*") && !slices.Contains(r.Resources, "*.") {
			continue
		}
		if len(r.Providers) == 0 {
			return fail("no provider for secrets")
		}
		p := r.Providers[0]
		switch {
		case p.Secretbox != nil:
			return pass("secrets are written with secretbox")
		case p.AESCBC != nil:
			return pass("secrets are written with aescbc")
		case p.KMS != nil:
			return pass("secrets are written with kms")
		case p.AESGCM != nil:
			return fail("secrets are written with aesgcm, not one of aescbc, kms, secretbox")
		default:
			return fail("secrets are written unencrypted (identity)")
		}
	}
	return fail("the encryption configuration has no rule for secrets")
}

func controllerManagerChecks() []Check {
	return []Check{
		{ID: "1.3.1", Text: "Ensure that the --terminated-pod-gc-threshold argument is set as appropriate (Manual)",
			Remediation: "Skiff has no --terminated-pod-gc-threshold flag; delete finished pods with kubectl delete pod --field-selector=status.phase==Succeeded",
			Run:         func(*Env) Result { return warn("not configurable in Skiff") }},
		{ID: "1.3.2", Text: "Ensure that the --profiling argument is set to false (Automated)", Scored: true,
			Remediation: "Skiff serves no /debug/pprof; if it does, report a bug",
			Run:         withConfig(profilingOff("controller manager"))},
		{ID: "1.3.3", Text: "Ensure that the --use-service-account-credentials argument is set to true (Automated)", Scored: true,
			Remediation: "skiff server runs each controller as its own service account in kube-system; if server-config.json says otherwise, report a bug",
			Run: withControllerManager(func(_ *Env, c *ServerConfig) Result {
				if !c.UseServiceAccountCredentials {
					return fail("the controllers run with one shared identity, system:kube-controller-manager, not per-controller service accounts")
				}
				return pass("each controller runs as its own service account kube-system/<controller> with its system:controller:<controller> role")
			})},
		{ID: "1.3.4", Text: "Ensure that the --service-account-private-key-file argument is set as appropriate (Automated)", Scored: true,
			Remediation: "skiff server --service-account-signing-key-file=<file> (default <data-dir>/tls/service-account.key)",
			Run: withControllerManager(func(_ *Env, c *ServerConfig) Result {
				if c.ServiceAccountSigningKeyFile == "" {
					return fail("no service-account signing key")
				}
				return pass("the token controller signs with %s", c.ServiceAccountSigningKeyFile)
			})},
		{ID: "1.3.5", Text: "Ensure that the --root-ca-file argument is set as appropriate (Automated)", Scored: true,
			Remediation: "skiff server publishes <data-dir>/tls/ca.crt as kube-root-ca.crt; if not, report a bug",
			Run: withControllerManager(func(_ *Env, c *ServerConfig) Result {
				if c.RootCAFile == "" {
					return fail("no root CA given to the controllers")
				}
				return pass("root CA for service-account tokens and kube-root-ca.crt: %s", c.RootCAFile)
			})},
		{ID: "1.3.6", Text: "Ensure that the RotateKubeletServerCertificate argument is set to true (Automated)", Scored: true,
			Remediation: "Skiff has no feature gates; the CSR signer of skiff server issues kubernetes.io/kubelet-serving certificates",
			Run: withControllerManager(func(_ *Env, c *ServerConfig) Result {
				return pass("no feature gate to turn it off: the controller manager's CSR signer issues kubernetes.io/kubelet-serving certificates")
			})},
		{ID: "1.3.7", Text: "Ensure that the --bind-address argument is set to 127.0.0.1 (Automated)", Scored: true,
			Run: withConfig(noPort("controller manager"))},
	}
}

func schedulerChecks() []Check {
	return []Check{
		{ID: "1.4.1", Text: "Ensure that the --profiling argument is set to false (Automated)", Scored: true,
			Remediation: "Skiff serves no /debug/pprof; if it does, report a bug",
			Run:         withConfig(profilingOff("scheduler"))},
		{ID: "1.4.2", Text: "Ensure that the --bind-address argument is set to 127.0.0.1 (Automated)", Scored: true,
			Run: withConfig(noPort("scheduler"))},
	}
}
