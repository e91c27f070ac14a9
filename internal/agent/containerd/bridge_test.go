package containerd

import (
	"net"
	"net/netip"
	"testing"
)

func TestStaleBridgeAddrs(t *testing.T) {
	cidr := netip.MustParsePrefix("10.42.44.0/24")
	ipnet := func(s string) net.Addr {
		ip, n, err := net.ParseCIDR(s)
		if err != nil {
			t.Fatal(err)
		}
		n.IP = ip
		return n
	}
	cases := []struct {
		name  string
		addrs []net.Addr
		stale bool
	}{
		{"no address yet", nil, false},
		{"our gateway", []net.Addr{ipnet("10.42.44.1/24")}, false},
		{"another CIDR's gateway", []net.Addr{ipnet("10.42.7.1/24")}, true},
		{"IPv6 link-local only", []net.Addr{ipnet("fe80::1/64")}, false},
		{"ours and a stale one", []net.Addr{ipnet("10.42.44.1/24"), ipnet("10.99.0.1/24")}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := staleBridgeAddrs(c.addrs, cidr); got != c.stale {
				t.Errorf("stale = %v, want %v", got, c.stale)
			}
		})
	}
}
