package podconfig

import (
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	netutils "k8s.io/utils/net"

	"skiff.dev/skiff/internal/agent/runtime"
)

// PortMappings returns the sandbox's port mappings: every port of every
// (regular) container, as upstream passes them; those with a HostPort are
// the ones the network plugin maps on the host. A port whose name (or, if
// unnamed, whose family/protocol/hostIP/ports) repeats within a container
// is dropped, as upstream does.
func PortMappings(pod *corev1.Pod) []runtime.PortMapping {
	var out []runtime.PortMapping
	for _, c := range pod.Spec.Containers {
		seen := map[string]bool{}
		for _, p := range c.Ports {
			family := "any"
			if p.HostIP != "" {
				family = "v4"
				if netutils.IsIPv6String(p.HostIP) {
					family = "v6"
				}
			}
			name := p.Name
			if name == "" {
				name = fmt.Sprintf("%s-%s-%s:%d:%d", family, p.Protocol, p.HostIP, p.ContainerPort, p.HostPort)
			}
			if seen[name] {
				continue
			}
			seen[name] = true
			protocol := string(p.Protocol)
			if protocol == "" {
				protocol = string(corev1.ProtocolTCP)
			}
			out = append(out, runtime.PortMapping{Protocol: protocol, ContainerPort: p.ContainerPort, HostPort: p.HostPort, HostIP: p.HostIP})
		}
	}
	return out
}

// Hostname returns the pod's hostname and, with a subdomain, its domain
// (<subdomain>.<namespace>.svc.<clusterDomain>), as upstream: spec.hostname
// or the pod's name, truncated to 63 characters without a trailing '-' or
// '.'; spec.hostnameOverride, when set, wins and has no domain.
func Hostname(pod *corev1.Pod, clusterDomain string) (hostname, domain string, err error) {
	if o := pod.Spec.HostnameOverride; o != nil {
		if msgs := validation.IsDNS1123Subdomain(*o); len(msgs) != 0 {
			return "", "", fmt.Errorf("pod HostnameOverride %q is not a valid DNS subdomain: %s", *o, strings.Join(msgs, ";"))
		}
		h, err := truncateHostname(pod.Name, *o)
		return h, "", err
	}
	hostname = pod.Name
	if pod.Spec.Hostname != "" {
		if msgs := validation.IsDNS1123Label(pod.Spec.Hostname); len(msgs) != 0 {
			return "", "", fmt.Errorf("pod Hostname %q is not a valid DNS label: %s", pod.Spec.Hostname, strings.Join(msgs, ";"))
		}
		hostname = pod.Spec.Hostname
	}
	if hostname, err = truncateHostname(pod.Name, hostname); err != nil {
		return "", "", err
	}
	if pod.Spec.Subdomain != "" {
		if msgs := validation.IsDNS1123Label(pod.Spec.Subdomain); len(msgs) != 0 {
			return "", "", fmt.Errorf("pod Subdomain %q is not a valid DNS label: %s", pod.Spec.Subdomain, strings.Join(msgs, ";"))
		}
		domain = fmt.Sprintf("%s.%s.svc.%s", pod.Spec.Subdomain, pod.Namespace, clusterDomain)
	}
	return hostname, domain, nil
}

func truncateHostname(podName, hostname string) (string, error) {
	const maxLen = 63
	if len(hostname) <= maxLen {
		return hostname, nil
	}
	t := strings.TrimRight(hostname[:maxLen], "-.")
	if t == "" {
		return "", fmt.Errorf("hostname for pod %q was invalid: %q", podName, hostname)
	}
	return t, nil
}

// SandboxHostname is the hostname the sandbox gets: empty for host-network
// pods (they see the node's), the FQDN when setHostnameAsFQDN is true and
// the pod has a domain (at most 64 characters), the short name otherwise.
func SandboxHostname(pod *corev1.Pod, clusterDomain string) (string, error) {
	if pod.Spec.HostNetwork {
		return "", nil
	}
	hostname, domain, err := Hostname(pod, clusterDomain)
	if err != nil {
		return "", err
	}
	if pod.Spec.SetHostnameAsFQDN == nil || !*pod.Spec.SetHostnameAsFQDN || domain == "" {
		return hostname, nil
	}
	const maxFQDN = 64
	fqdn := hostname + "." + domain
	if len(fqdn) > maxFQDN {
		return "", fmt.Errorf("failed to construct FQDN from pod hostname and cluster domain, FQDN %s is too long (%d characters is the max, %d characters requested)", fqdn, maxFQDN, len(fqdn))
	}
	return fqdn, nil
}

// ContainerHash returns the value of runtime.AnnotationContainerHash for a
// container: a hash of the fields whose change means the container must
// be re-created. As upstream (since 1.31), that is its name and image,
// the only container fields a pod update can change besides resources,
// which are resized in place.
func ContainerHash(c *corev1.Container) string {
	h := fnv.New32a()
	// Length-prefixed so that ("ab","c") and ("a","bc") differ.
	fmt.Fprintf(h, "%d:%s|%d:%s", len(c.Name), c.Name, len(c.Image), c.Image)
	return strconv.FormatUint(uint64(h.Sum32()), 16)
}

// sortedOptions is used to keep DNS options deterministic.
func sortedOptions(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for name, value := range m {
		if value != "" {
			name += ":" + value
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}
