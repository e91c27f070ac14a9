package cisaudit

// etcdItem is an item about the etcd server's own flags: with the
// embedded store there is no etcd server; with an external etcd the
// flags are on its hosts, out of reach of this audit.
func etcdItem() func(*Env) Result {
	return withConfig(func(_ *Env, c *ServerConfig) Result {
		if c.Datastore == "etcd" {
			return warn("the store is an external etcd (%s): check this on its hosts", c.DatastoreEndpoint)
		}
		return notApplicable("the embedded bolt store runs inside skiff server: no etcd server, no client or peer port")
	})
}

func etcdChecks() []Check {
	const rem = "on the external etcd's hosts, as the etcd documentation says"
	return []Check{
		{ID: "2.1", Text: "Ensure that the --cert-file and --key-file arguments are set as appropriate (Automated)", Scored: true, Remediation: rem, Run: etcdItem()},
		{ID: "2.2", Text: "Ensure that the --client-cert-auth argument is set to true (Automated)", Scored: true, Remediation: rem, Run: etcdItem()},
		{ID: "2.3", Text: "Ensure that the --auto-tls argument is not set to true (Automated)", Scored: true, Remediation: rem, Run: etcdItem()},
		{ID: "2.4", Text: "Ensure that the --peer-cert-file and --peer-key-file arguments are set as appropriate (Automated)", Scored: true, Remediation: rem, Run: etcdItem()},
		{ID: "2.5", Text: "Ensure that the --peer-client-cert-auth argument is set to true (Automated)", Scored: true, Remediation: rem, Run: etcdItem()},
		{ID: "2.6", Text: "Ensure that the --peer-auto-tls argument is not set to true (Automated)", Scored: true, Remediation: rem, Run: etcdItem()},
		{ID: "2.7", Text: "Ensure that a unique Certificate Authority is used for etcd (Manual)",
			Remediation: "give etcd its own CA and pass it with skiff server --datastore-cafile",
			Run: withConfig(func(e *Env, c *ServerConfig) Result {
				if c.Datastore != "etcd" {
					return notApplicable("the embedded bolt store has no TLS")
				}
				if c.DatastoreCAFile == "" || c.DatastoreCAFile == c.ClientCAFile {
					return fail("etcd's CA is not distinct from the cluster CA (--datastore-cafile=%q)", c.DatastoreCAFile)
				}
				return pass("etcd CA %s, cluster CA %s", c.DatastoreCAFile, c.ClientCAFile)
			})},
	}
}

func controlPlaneConfigChecks() []Check {
	return []Check{
		{ID: "3.1.1", Text: "Client certificate authentication should not be used for users (Manual)",
			Remediation: "give users service-account tokens or an external identity provider instead of client certificates; keep <data-dir>/kubeconfig for break-glass use",
			Run: func(*Env) Result {
				return warn("skiff server writes an admin kubeconfig with a client certificate (<data-dir>/kubeconfig)")
			}},
		{ID: "3.1.2", Text: "Service account token authentication should not be used for users (Manual)",
			Remediation: "use service-account tokens for workloads only",
			Run:         func(*Env) Result { return warn("review who holds service-account tokens") }},
		{ID: "3.1.3", Text: "Bootstrap token authentication should not be used for users (Manual)",
			Remediation: "use bootstrap tokens (skiff token create) only to join agents, with a short --ttl",
			Run: func(*Env) Result {
				return warn("review bootstrap tokens: kubectl -n kube-system get secrets --field-selector type=bootstrap.kubernetes.io/token")
			}},
		{ID: "3.2.1", Text: "Ensure that a minimal audit policy is created (Manual)",
			Remediation: "skiff server --audit-policy-file=<file>, or keep the built-in policy",
			Run: withConfig(func(_ *Env, c *ServerConfig) Result {
				if c.AuditLogPath == "" {
					return fail("no audit log")
				}
				if c.AuditPolicyFile != "" {
					return pass("--audit-policy-file=%s", c.AuditPolicyFile)
				}
				return pass("the built-in audit policy: every write recorded, never secret contents")
			})},
		{ID: "3.2.2", Text: "Ensure that the audit policy covers key security concerns (Manual)",
			Remediation: "review the audit policy: secrets, configmaps and tokenreviews at Metadata; pod and deployment changes; pods/exec, pods/portforward, pods/proxy and services/proxy",
			Run:         func(*Env) Result { return warn("review the policy against the benchmark's list") }},
	}
}
