package containerd

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
)

// resetStaleBridge deletes the pod bridge when it still carries the
// gateway address of another pod CIDR (a node renamed, a data directory
// replaced, a different --pod-cidr): the CNI bridge plug-in refuses to
// add pods to it ("already has an IP address different from ..."), so
// every sandbox would fail. Its pods belonged to the old network and
// cannot be reached through the new one anyway; the plug-in recreates the
// bridge with the right address on the next sandbox.
func resetStaleBridge(bridge string, cidr netip.Prefix, log *slog.Logger) error {
	ifc, err := net.InterfaceByName(bridge)
	if err != nil {
		return nil // no bridge yet: nothing stale
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return fmt.Errorf("addresses of %s: %w", bridge, err)
	}
	if !staleBridgeAddrs(addrs, cidr) {
		return nil
	}
	log.Warn("deleting a pod bridge left by another pod CIDR", "bridge", bridge, "addresses", fmt.Sprint(addrs), "podCIDR", cidr.String())
	out, err := exec.Command("ip", "link", "delete", bridge).CombinedOutput()
	if errors.Is(err, exec.ErrNotFound) {
		return fmt.Errorf("bridge %s has another pod CIDR's address and `ip` (iproute2) is missing to delete it", bridge)
	}
	if err != nil {
		return fmt.Errorf("delete stale bridge %s: %v: %s", bridge, err, out)
	}
	return nil
}

// staleBridgeAddrs reports whether a bridge with addrs has an IPv4
// address outside cidr (the address family of the pod CIDR only).
func staleBridgeAddrs(addrs []net.Addr, cidr netip.Prefix) bool {
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if ip.Is4() != cidr.Addr().Is4() || ip.IsLinkLocalUnicast() {
			continue
		}
		if !cidr.Contains(ip) {
			return true
		}
	}
	return false
}
