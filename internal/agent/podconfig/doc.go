// Package podconfig turns a pod and one of its containers into what the
// container runtime needs, computed as upstream's kubelet does:
//
//   - Environment: env, envFrom and the service link variables;
//   - SecurityContext / SandboxSecurity / VerifyRunAsNonRoot: the pod's and
//     container's security settings merged (container wins);
//   - ContainerResources / QOSClass / OOMScoreAdj: cgroup settings;
//   - PortMappings, DNS, Hostname: the sandbox's network identity;
//   - ContainerHash: the value of the annotation that detects spec changes;
//   - ExpandCommand: $(VAR) references in command and args.
//
// Every function is pure: secrets and config maps come through the Getter
// the caller provides, and node facts (IPs, allocatable, resolv.conf) come
// in as arguments. Nothing here touches the disk, the network or the API.
package podconfig

// Event is a warning upstream's kubelet records on the pod while computing
// its configuration (e.g. InvalidEnvironmentVariableNames,
// DNSConfigForming, MissingClusterDNS). The caller publishes it.
type Event struct {
	Reason, Message string
}
