package pki

import (
	"crypto/x509"
	"net"
	"slices"
	"strings"
	"testing"
)

func TestServingHosts(t *testing.T) {
	defaults := DefaultServingHosts
	tests := []struct {
		name     string
		hostname string
		ips      []net.IP
		extra    []string
		want     []string // after the defaults
	}{
		{name: "defaults only"},
		{name: "hostname lowercased", hostname: "Node-1.Example.COM.", want: []string{"node-1.example.com"}},
		{
			name: "machine addresses", hostname: "node-1",
			ips:  []net.IP{net.ParseIP("10.0.0.5"), net.ParseIP("fd00::5")},
			want: []string{"node-1", "10.0.0.5", "fd00::5"},
		},
		{
			name: "IPv4 in 16-byte form is the same address",
			ips:  []net.IP{net.ParseIP("10.0.0.5").To16(), net.ParseIP("10.0.0.5").To4()},
			want: []string{"10.0.0.5"},
		},
		{
			name:  "extra names, brackets and duplicates",
			ips:   []net.IP{net.ParseIP("10.0.0.5")},
			extra: []string{" 10.96.0.1 ", "[FD00::0005]", "API.example.com", "api.example.com", "10.0.0.5", "", "localhost", "0:0:0:0:0:0:0:1"},
			want:  []string{"10.0.0.5", "10.96.0.1", "fd00::5", "api.example.com"},
		},
		{name: "nil IP ignored", ips: []net.IP{nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ServingHosts(tt.hostname, tt.ips, tt.extra)
			want := append(slices.Clone(defaults), tt.want...)
			if !slices.Equal(got, want) {
				t.Errorf("ServingHosts = %v\nwant %v", got, want)
			}
		})
	}
}

func TestUsableMachineIP(t *testing.T) {
	tests := []struct {
		ip   string
		want bool
	}{
		{"10.0.0.5", true},
		{"192.168.1.20", true},
		{"2001:db8::1", true},
		{"fd00::1", true},
		{"127.0.0.1", false},
		{"127.0.1.1", false},
		{"::1", false},
		{"0.0.0.0", false},
		{"::", false},
		{"169.254.10.1", false},
		{"fe80::1", false},
		{"224.0.0.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			if got := usableMachineIP(net.ParseIP(tt.ip)); got != tt.want {
				t.Errorf("usableMachineIP(%s) = %v, want %v", tt.ip, got, tt.want)
			}
		})
	}
	if usableMachineIP(nil) {
		t.Error("usableMachineIP(nil) = true")
	}
}

func TestMachineAddresses(t *testing.T) {
	hostname, ips, err := MachineAddresses()
	if err != nil {
		t.Fatal(err)
	}
	if hostname == "" {
		t.Error("empty hostname")
	}
	for _, ip := range ips {
		if !usableMachineIP(ip) {
			t.Errorf("returned unusable address %s", ip)
		}
	}
}

func TestCoversHosts(t *testing.T) {
	cert := &x509.Certificate{
		DNSNames:    []string{"localhost", "Node-1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("fd00::5")},
	}
	tests := []struct {
		name  string
		hosts []string
		want  bool
	}{
		{"empty", nil, true},
		{"exact", []string{"localhost", "127.0.0.1"}, true},
		{"DNS case-insensitive", []string{"NODE-1", "node-1"}, true},
		{"IPv6 any spelling", []string{"FD00:0:0::5", "[fd00::5]"}, true},
		{"missing DNS", []string{"localhost", "node-2"}, false},
		{"missing IP", []string{"10.0.0.5"}, false},
		{"IP is not a DNS name", []string{"127.0.0.2"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := coversHosts(cert, tt.hosts); got != tt.want {
				t.Errorf("coversHosts(%v) = %v, want %v", tt.hosts, got, tt.want)
			}
		})
	}
}

func TestServerURL(t *testing.T) {
	tests := []struct {
		bind string
		port int
		want string
	}{
		{"", 6443, "https://127.0.0.1:6443"},
		{"0.0.0.0", 6443, "https://127.0.0.1:6443"},
		{"::", 6443, "https://127.0.0.1:6443"},
		{"[::]", 6443, "https://127.0.0.1:6443"},
		{"127.0.0.1", 6443, "https://127.0.0.1:6443"},
		{"127.0.0.2", 8443, "https://127.0.0.1:8443"},
		{"::1", 6443, "https://127.0.0.1:6443"},
		{"localhost", 6443, "https://127.0.0.1:6443"},
		{"10.0.0.5", 6443, "https://10.0.0.5:6443"},
		{"fd00::5", 6443, "https://[fd00::5]:6443"},
		{"api.example.com", 443, "https://api.example.com:443"},
	}
	for _, tt := range tests {
		t.Run(tt.bind, func(t *testing.T) {
			if got := ServerURL(tt.bind, tt.port); got != tt.want {
				t.Errorf("ServerURL(%q, %d) = %q, want %q", tt.bind, tt.port, got, tt.want)
			}
		})
	}
}

func TestValidDNSName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"localhost", true},
		{"kubernetes.default.svc.cluster.local", true},
		{"node_1", true},
		{"*.apps.example.com", true},
		{"xn--bcher-kva.example", true},
		{"", false},
		{".", false},
		{"a..b", false},
		{"-a", false},
		{"a-", false},
		{"a b", false},
		{"bad\x00name", false},
		{"ünicode", false},
		{"api.example.com:6443", false},
		{strings.Repeat("a", 64), false},
		{strings.Repeat("a.", 127) + "a", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := validDNSName(tt.name); got != tt.want {
				t.Errorf("validDNSName(%q) = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}
