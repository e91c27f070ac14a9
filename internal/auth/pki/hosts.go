package pki

import (
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
)

// DefaultServingHosts are always covered by the API server's serving
// certificate: the loopback names, and the names pods use to reach the API
// through the "kubernetes" service in the default namespace.
var DefaultServingHosts = []string{
	"localhost",
	"127.0.0.1",
	"::1",
	"kubernetes",
	"kubernetes.default",
	"kubernetes.default.svc",
	"kubernetes.default.svc.cluster.local",
}

// ServingHosts returns the hosts (DNS names and IP addresses) a serving
// certificate must cover: DefaultServingHosts, the machine's hostname and
// addresses, and extra (for example the kubernetes service's cluster IP or a
// load balancer name). The result is normalized and free of duplicates, in a
// stable order: defaults first, then the rest as given.
func ServingHosts(hostname string, machineIPs []net.IP, extra []string) []string {
	var hosts []string
	seen := map[string]bool{}
	add := func(h string) {
		h = normalizeHost(h)
		if h == "" || seen[h] {
			return
		}
		seen[h] = true
		hosts = append(hosts, h)
	}
	for _, h := range DefaultServingHosts {
		add(h)
	}
	add(hostname)
	for _, ip := range machineIPs {
		if ip != nil {
			add(ip.String())
		}
	}
	for _, h := range extra {
		add(h)
	}
	return hosts
}

// MachineAddresses returns the machine's hostname and its addresses that are
// worth a SAN: every interface address except loopback, link-local and
// unspecified ones (link-local addresses are not routable and IPv6 ones need
// a zone that a certificate cannot carry).
func MachineAddresses() (string, []net.IP, error) {
	hostname, err := os.Hostname()
	if err != nil {
		return "", nil, fmt.Errorf("get hostname: %w", err)
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", nil, fmt.Errorf("list interface addresses: %w", err)
	}
	var ips []net.IP
	for _, a := range addrs {
		var ip net.IP
		switch v := a.(type) {
		case *net.IPNet:
			ip = v.IP
		case *net.IPAddr:
			ip = v.IP
		}
		if usableMachineIP(ip) {
			ips = append(ips, ip)
		}
	}
	return hostname, ips, nil
}

func usableMachineIP(ip net.IP) bool {
	return ip != nil && !ip.IsLoopback() && !ip.IsUnspecified() &&
		!ip.IsLinkLocalUnicast() && !ip.IsLinkLocalMulticast() && !ip.IsMulticast()
}

// normalizeHost trims, lowercases DNS names, strips IPv6 brackets and puts IP
// addresses into canonical form, so that the same host is spelled one way.
func normalizeHost(h string) string {
	h = strings.TrimSpace(h)
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if ip := net.ParseIP(h); ip != nil {
		return ip.String()
	}
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// validDNSName reports whether name (normalized) can go into a DNS SAN: dot-
// separated labels of letters, digits, '-' and '_' (found in real hostnames
// even though RFC 1123 forbids it), each 1 to 63 bytes, 253 in all, with an
// optional leading "*." wildcard.
func validDNSName(name string) bool {
	name = strings.TrimPrefix(name, "*.")
	if name == "" || len(name) > 253 {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// splitHosts separates IP addresses from DNS names.
func splitHosts(hosts []string) (dnsNames []string, ips []net.IP) {
	for _, h := range hosts {
		h = normalizeHost(h)
		if h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
			continue
		}
		dnsNames = append(dnsNames, h)
	}
	return dnsNames, ips
}

// coversHosts reports whether cert has a SAN for every one of hosts (exact
// match, case-insensitive for DNS names; wildcards are not considered since we
// never issue them).
func coversHosts(cert *x509.Certificate, hosts []string) bool {
	dnsNames, ips := splitHosts(hosts)
	for _, d := range dnsNames {
		if !slices.ContainsFunc(cert.DNSNames, func(n string) bool { return strings.EqualFold(n, d) }) {
			return false
		}
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}
