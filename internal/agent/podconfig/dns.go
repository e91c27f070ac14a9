package podconfig

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"skiff.dev/skiff/internal/agent/runtime"
)

// Limits of a resolv.conf, as the API validates them.
const (
	maxDNSNameservers     = 3
	maxDNSSearchPaths     = 32
	maxDNSSearchListChars = 2048
	maxDomainLength       = 253
)

// DNSOptions are the node's DNS settings.
type DNSOptions struct {
	// ClusterDNS are the cluster DNS server IPs; empty makes ClusterFirst
	// pods fall back to the host's configuration (with a MissingClusterDNS
	// event), as upstream.
	ClusterDNS []string
	// ClusterDomain, e.g. "cluster.local".
	ClusterDomain string
	// Host is the host's resolv.conf (see ParseResolvConf). A nil Host
	// means the agent was told to use none: dnsPolicy Default then gets
	// the local machine (127.0.0.1, or ::1 on IPv6 hostIPs) and search ".".
	Host *runtime.DNSConfig
	// HostIPs are the node's IPs, for that fallback.
	HostIPs []string
}

// DNS returns the pod's resolv.conf from its dnsPolicy and dnsConfig, as
// upstream: ClusterFirst (not on the host network) and
// ClusterFirstWithHostNet use the cluster DNS servers only, the search
// path <ns>.svc.<domain> svc.<domain> <domain> followed by the host's, and
// ndots:5; Default (and ClusterFirst on the host network) the host's
// configuration; None only what dnsConfig says. dnsConfig's nameservers,
// searches and options are then merged in (options of the same name are
// replaced). Lists that exceed resolv.conf's limits are cut, with a
// DNSConfigForming event. Options come out sorted.
func DNS(pod *corev1.Pod, opts DNSOptions) (*runtime.DNSConfig, []Event) {
	var events []Event
	cfg := &runtime.DNSConfig{}
	if opts.Host != nil {
		cfg.Servers = append([]string(nil), opts.Host.Servers...)
		cfg.Searches = append([]string(nil), opts.Host.Searches...)
		cfg.Options = append([]string(nil), opts.Host.Options...)
	}

	policy := pod.Spec.DNSPolicy
	cluster := false
	switch policy {
	case corev1.DNSNone:
		cfg = &runtime.DNSConfig{}
	case corev1.DNSClusterFirstWithHostNet:
		cluster = true
	case corev1.DNSDefault:
	case corev1.DNSClusterFirst, "":
		cluster = !pod.Spec.HostNetwork
	default:
		// The API refuses other policies; upstream falls back to cluster.
		cluster = true
	}
	hostFallback := policy == corev1.DNSDefault || (policy != corev1.DNSNone && !cluster)
	if cluster {
		if len(opts.ClusterDNS) > 0 {
			cfg.Servers = append([]string(nil), opts.ClusterDNS...)
			cfg.Searches = clusterSearches(cfg.Searches, pod.Namespace, opts.ClusterDomain)
			cfg.Options = []string{"ndots:5"}
		} else {
			msg := fmt.Sprintf("kubelet does not have ClusterDNS IP configured and cannot create Pod using %q policy. Falling back to %q policy.", corev1.DNSClusterFirst, corev1.DNSDefault)
			events = append(events, Event{Reason: "MissingClusterDNS", Message: fmt.Sprintf("pod: %q. %s", formatPod(pod), msg)})
			hostFallback = true
		}
	}
	if hostFallback && opts.Host == nil {
		cfg.Servers = nil
		for _, ip := range opts.HostIPs {
			if strings.Contains(ip, ":") {
				cfg.Servers = append(cfg.Servers, "::1")
			} else {
				cfg.Servers = append(cfg.Servers, "127.0.0.1")
			}
		}
		if len(cfg.Servers) == 0 {
			cfg.Servers = []string{"127.0.0.1"}
		}
		cfg.Searches = []string{"."}
	}

	if dc := pod.Spec.DNSConfig; dc != nil {
		cfg.Servers = omitDuplicates(append(cfg.Servers, dc.Nameservers...))
		cfg.Searches = omitDuplicates(append(cfg.Searches, dc.Searches...))
		cfg.Options = mergeDNSOptions(cfg.Options, dc.Options)
	}

	if len(cfg.Servers) > maxDNSNameservers {
		cfg.Servers = cfg.Servers[:maxDNSNameservers]
		events = append(events, Event{Reason: "DNSConfigForming", Message: fmt.Sprintf(
			"Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: %s", strings.Join(cfg.Servers, " "))})
	}
	var cut bool
	if cfg.Searches, cut = fitSearches(cfg.Searches); cut {
		events = append(events, Event{Reason: "DNSConfigForming", Message: fmt.Sprintf(
			"Search Line limits were exceeded, some search paths have been omitted, the applied search line is: %s", strings.Join(cfg.Searches, " "))})
	}
	return cfg, events
}

func clusterSearches(hostSearches []string, namespace, domain string) []string {
	if domain == "" {
		return hostSearches
	}
	s := []string{namespace + ".svc." + domain, "svc." + domain, domain}
	return omitDuplicates(append(s, hostSearches...))
}

// fitSearches applies resolv.conf's limits to a search list: at most 32
// paths, none longer than a domain name can be, 2048 characters in all.
func fitSearches(s []string) ([]string, bool) {
	cut := false
	if len(s) > maxDNSSearchPaths {
		s, cut = s[:maxDNSSearchPaths], true
	}
	kept := s[:0:0]
	for _, d := range s {
		if len(d) > maxDomainLength {
			cut = true
			continue
		}
		kept = append(kept, d)
	}
	s = kept
	for len(s) > 0 && len(strings.Join(s, " ")) > maxDNSSearchListChars {
		s, cut = s[:len(s)-1], true
	}
	return s, cut
}

func omitDuplicates(in []string) []string {
	seen := map[string]bool{}
	out := in[:0:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func mergeDNSOptions(existing []string, extra []corev1.PodDNSConfigOption) []string {
	m := map[string]string{}
	for _, op := range existing {
		name, value, _ := strings.Cut(op, ":")
		m[name] = value
	}
	for _, op := range extra {
		m[op.Name] = ""
		if op.Value != nil {
			m[op.Name] = *op.Value
		}
	}
	return sortedOptions(m)
}

// ParseResolvConf reads a resolv.conf as upstream does: nameserver lines
// accumulate; the last search line wins (trailing dots removed, "."
// dropped); options accumulate, a later option replacing an earlier one
// of the same name.
func ParseResolvConf(data []byte) *runtime.DNSConfig {
	cfg := &runtime.DNSConfig{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") {
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) >= 2 {
				cfg.Servers = append(cfg.Servers, f[1])
			}
		case "search":
			cfg.Searches = nil
			for _, s := range f[1:] {
				if s != "." {
					cfg.Searches = append(cfg.Searches, strings.TrimSuffix(s, "."))
				}
			}
		case "options":
			for _, o := range f[1:] {
				name, _, _ := strings.Cut(o, ":")
				replaced := false
				for i, prev := range cfg.Options {
					if pn, _, _ := strings.Cut(prev, ":"); pn == name {
						cfg.Options[i], replaced = o, true
					}
				}
				if !replaced {
					cfg.Options = append(cfg.Options, o)
				}
			}
		}
	}
	return cfg
}
