package cisaudit

import (
	"fmt"
	"io/fs"
	"strings"
)

// systemdUnits are where a Skiff unit file may be installed.
var systemdUnits = []string{
	"/etc/systemd/system/skiff.service", "/lib/systemd/system/skiff.service", "/usr/lib/systemd/system/skiff.service",
	"/etc/systemd/system/skiff-agent.service", "/lib/systemd/system/skiff-agent.service", "/usr/lib/systemd/system/skiff-agent.service",
}

func unitFiles(maxPerm fs.FileMode, owner string) func(*Env) Result {
	return func(e *Env) Result {
		var lines []string
		for _, p := range systemdUnits {
			ok, ev, exists := e.fileCheck(p, maxPerm, owner)
			if !exists {
				continue
			}
			if !ok {
				return fail("%s", ev)
			}
			lines = append(lines, ev)
		}
		if len(lines) == 0 {
			return notApplicable("no skiff systemd unit installed")
		}
		return pass("%s", strings.Join(lines, "\n"))
	}
}

// nodesProbed runs check over every node's probe.
func nodesProbed(check func(NodeProbe) (bool, string)) func(*Env) Result {
	return func(e *Env) Result {
		if e.Probes == nil {
			return warn("cannot check: %v", e.ClusterErr)
		}
		if len(e.Probes.Nodes) == 0 {
			return notApplicable("no nodes are registered")
		}
		var lines []string
		good, probed := true, 0
		for _, n := range e.Probes.Nodes {
			if n.Unreachable != "" {
				lines = append(lines, fmt.Sprintf("node %s: not reachable from here (%s)", n.Node, n.Unreachable))
				continue
			}
			probed++
			ok, ev := check(n)
			good = good && ok
			lines = append(lines, fmt.Sprintf("node %s (%s): %s", n.Node, n.Address, ev))
		}
		switch {
		case !good:
			return fail("%s", strings.Join(lines, "\n"))
		case probed == 0:
			return warn("cannot check: %s", strings.Join(lines, "\n"))
		}
		return pass("%s", strings.Join(lines, "\n"))
	}
}

func agentKubeconfigs(maxPerm fs.FileMode, owner string) func(*Env) Result {
	return treeItem("agent/pki", "*.kubeconfig", maxPerm, owner, "no joined agent's kubeconfig in <data-dir>/agent/pki (the server's own agent gets its credentials in memory)")
}

func caFile(maxPerm fs.FileMode, owner string) func(*Env) Result {
	return func(e *Env) Result {
		var lines []string
		for _, p := range []string{e.path("tls/ca.crt"), e.path("agent/pki/ca.crt")} {
			ok, ev, exists := e.fileCheck(p, maxPerm, owner)
			if !exists {
				continue
			}
			if !ok {
				return fail("%s", ev)
			}
			lines = append(lines, ev)
		}
		if len(lines) == 0 {
			return notApplicable("no CA file in %s", e.DataDir)
		}
		return pass("%s", strings.Join(lines, "\n"))
	}
}

func workerNodeChecks() []Check {
	na := func(why string) func(*Env) Result { return func(*Env) Result { return notApplicable("%s", why) } }
	return []Check{
		{ID: "4.1.1", Text: "Ensure that the kubelet service file permissions are set to 600 or more restrictive (Automated)", Scored: true,
			Remediation: "chmod 600 /etc/systemd/system/skiff*.service", Run: unitFiles(0o600, "")},
		{ID: "4.1.2", Text: "Ensure that the kubelet service file ownership is set to root:root (Automated)", Scored: true,
			Remediation: "chown root:root /etc/systemd/system/skiff*.service", Run: unitFiles(0, rootOwner)},
		{ID: "4.1.3", Text: "If proxy kubeconfig file exists ensure permissions are set to 600 or more restrictive (Manual)",
			Run: na("the service proxy runs inside the agent with the agent's credentials; there is no proxy kubeconfig")},
		{ID: "4.1.4", Text: "If proxy kubeconfig file exists ensure ownership is set to root:root (Manual)",
			Run: na("the service proxy runs inside the agent with the agent's credentials; there is no proxy kubeconfig")},
		{ID: "4.1.5", Text: "Ensure that the --kubeconfig kubelet.conf file permissions are set to 600 or more restrictive (Automated)", Scored: true,
			Remediation: "chmod 600 <data-dir>/agent/pki/*.kubeconfig", Run: agentKubeconfigs(0o600, "")},
		{ID: "4.1.6", Text: "Ensure that the --kubeconfig kubelet.conf file ownership is set to root:root (Automated)", Scored: true,
			Remediation: "chown root:root <data-dir>/agent/pki/*.kubeconfig", Run: agentKubeconfigs(0, rootOwner)},
		{ID: "4.1.7", Text: "Ensure that the certificate authorities file permissions are set to 600 or more restrictive (Manual)",
			Remediation: "chmod 600 <data-dir>/tls/ca.crt <data-dir>/agent/pki/ca.crt (skiff server and agent write them 600, and take back looser permissions at start)", Run: caFile(0o600, "")},
		{ID: "4.1.8", Text: "Ensure that the client certificate authorities file ownership is set to root:root (Manual)",
			Remediation: "chown root:root <data-dir>/tls/ca.crt <data-dir>/agent/pki/ca.crt", Run: caFile(0, rootOwner)},
		{ID: "4.1.9", Text: "If the kubelet config.yaml configuration file is being used validate permissions set to 600 or more restrictive (Automated)", Scored: true,
			Run: na("the agent has no configuration file; it is configured by skiff agent's flags")},
		{ID: "4.1.10", Text: "If the kubelet config.yaml configuration file is being used validate file ownership is set to root:root (Automated)", Scored: true,
			Run: na("the agent has no configuration file; it is configured by skiff agent's flags")},
		{ID: "4.2.1", Text: "Ensure that the --anonymous-auth argument is set to false (Automated)", Scored: true,
			Remediation: "the agent requires a client certificate of the cluster CA on port 10250; if it answers without one, report a bug",
			Run: nodesProbed(func(n NodeProbe) (bool, string) {
				if n.AnonymousRefused {
					return true, "a request without a client certificate is " + n.AnonymousAnswer
				}
				return false, "a request without a client certificate answered " + n.AnonymousAnswer
			})},
		{ID: "4.2.2", Text: "Ensure that the --authorization-mode argument is not set to AlwaysAllow (Automated)", Scored: true,
			Remediation: "the agent serves only the API server's identity; if it serves anyone, report a bug",
			Run: nodesProbed(func(n NodeProbe) (bool, string) {
				if n.AnonymousRefused {
					return true, "only the API server's client certificate is authorized; an unauthenticated request is " + n.AnonymousAnswer
				}
				return false, "an unauthenticated request answered " + n.AnonymousAnswer
			})},
		{ID: "4.2.3", Text: "Ensure that the --client-ca-file argument is set as appropriate (Automated)", Scored: true,
			Remediation: "the agent verifies client certificates against the cluster CA; if not, report a bug",
			Run: nodesProbed(func(n NodeProbe) (bool, string) {
				if n.AnonymousRefused {
					return true, "client certificates are required and verified (" + n.AnonymousAnswer + ")"
				}
				return false, "a request without a client certificate answered " + n.AnonymousAnswer
			})},
		{ID: "4.2.4", Text: "Verify that the --read-only-port argument is set to 0 (Manual)",
			Remediation: "the agent has no read-only port; find what listens on 10255 (ss -ltnp 'sport = :10255')",
			Run: nodesProbed(func(n NodeProbe) (bool, string) {
				if n.ReadOnlyPortOpen {
					return false, "port 10255 accepts connections"
				}
				return true, "nothing listens on port 10255"
			})},
		{ID: "4.2.5", Text: "Ensure that the --streaming-connection-idle-timeout argument is not set to 0 (Manual)",
			Remediation: "Skiff has no --streaming-connection-idle-timeout flag",
			Run:         func(*Env) Result { return warn("not configurable in Skiff") }},
		{ID: "4.2.6", Text: "Ensure that the --make-iptables-util-chains argument is set to true (Automated)", Scored: true,
			Run: na("Skiff programs service rules with nftables in its own tables; the agent manages no iptables utility chains")},
		{ID: "4.2.7", Text: "Ensure that the --hostname-override argument is not set (Manual)",
			Remediation: "run skiff server and skiff agent without --node-name, so the node is named by the hostname",
			Run: withConfig(func(_ *Env, c *ServerConfig) Result {
				if c.NodeName != "" {
					return fail("--node-name=%s overrides the hostname", c.NodeName)
				}
				return pass("no --node-name: the node is named by the hostname")
			})},
		{ID: "4.2.8", Text: "Ensure that the eventRecordQPS argument is set to a level which ensures appropriate event capture (Manual)",
			Remediation: "Skiff has no event QPS setting for the agent",
			Run:         func(*Env) Result { return warn("not configurable in Skiff") }},
		{ID: "4.2.9", Text: "Ensure that the --tls-cert-file and --tls-private-key-file arguments are set as appropriate (Manual)",
			Remediation: "skiff agent --tls-cert-file/--tls-private-key-file, or --server-data-dir to sign its own with the cluster CA",
			Run: nodesProbed(func(n NodeProbe) (bool, string) {
				if n.ServingCertificate {
					return true, "serves a certificate on " + n.Address
				}
				return false, "presented no certificate"
			})},
		{ID: "4.2.10", Text: "Ensure that the --rotate-certificates argument is not set to false (Automated)", Scored: true,
			Remediation: "Skiff agents always renew their client certificates; if not, report a bug",
			Run: func(*Env) Result {
				return pass("joined agents renew their client certificate through a CSR at 70-90%% of its life; the server's own agent gets fresh in-memory credentials at each start")
			}},
		{ID: "4.2.11", Text: "Verify that the RotateKubeletServerCertificate argument is set to true (Manual)",
			Remediation: "not available yet: the agent's serving certificate comes from --tls-cert-file or --server-data-dir, not from a kubelet-serving CSR",
			Run:         func(*Env) Result { return warn("the agent does not request its serving certificate through a CSR") }},
		{ID: "4.2.12", Text: "Ensure that the Kubelet only makes use of Strong Cryptographic Ciphers (Manual)",
			Remediation: "the agent's TLS settings are built in; if it accepts TLS < 1.2 or a weak suite, report a bug",
			Run: nodesProbed(func(n NodeProbe) (bool, string) {
				if r := tlsProbeFailure(n.TLS); r != "" {
					return false, "accepted " + r
				}
				return true, "TLS 1.0, TLS 1.1 and weak suites refused"
			})},
		{ID: "4.2.13", Text: "Ensure that a limit is set on pod PIDs (Manual)",
			Remediation: "skiff server --pod-max-pids=N and skiff agent --pod-max-pids=N (default 4096; -1 removes the limit)",
			Run:         podPidsLimit},
		{ID: "4.3.1", Text: "Ensure that the kube-proxy metrics service is bound to localhost (Automated)", Scored: true,
			Run: na("Skiff's service proxy runs inside the agent and serves no metrics port")},
	}
}

// podPidsLimit checks the server's own agent's pod PID limit, as
// recorded in server-config.json. Joined agents run elsewhere with their
// own flags, which the server does not see.
func podPidsLimit(e *Env) Result {
	return withConfig(func(_ *Env, c *ServerConfig) Result {
		switch {
		case !c.Agent:
			return notApplicable("this server runs no node agent (--disable-agent); check each skiff agent's --pod-max-pids (default 4096)")
		case c.PodPidsLimit == nil:
			return warn("%s does not record the agent's pod PID limit: restart skiff server to record it", ServerConfigFile)
		case *c.PodPidsLimit <= 0:
			return fail("--pod-max-pids=%d: a pod may start processes until the node has no PID left", *c.PodPidsLimit)
		}
		return pass("--pod-max-pids=%d: every pod's cgroup of this server's node has pids.max %d (joined agents are set by their own --pod-max-pids, default 4096)",
			*c.PodPidsLimit, *c.PodPidsLimit)
	})(e)
}
