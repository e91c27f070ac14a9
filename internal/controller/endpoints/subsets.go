package endpoints

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"skiff.dev/skiff/internal/controller/podendpoints"
)

// MaxCapacity is how many addresses one Endpoints object holds; beyond
// it the controller truncates and sets the over-capacity annotation
// (upstream's 1000).
const MaxCapacity = 1000

// Subsets computes the Endpoints subsets of svc from the pods it
// selects, as upstream: a pod in endpoints (podendpoints.Include) gives
// one address per service port its targetPort resolves on; ready pods
// (or every pod with publishNotReadyAddresses) go to addresses, others
// to notReadyAddresses; a headless service without ports lists bare
// addresses. Subsets are packed by identical port sets and sorted, so
// the result does not depend on the pods' order.
func Subsets(svc *corev1.Service, pods []*corev1.Pod) []corev1.EndpointSubset {
	family := serviceFamily(svc)
	var raw []corev1.EndpointSubset
	for _, pod := range pods {
		if !podendpoints.Include(pod, svc.Spec.PublishNotReadyAddresses) {
			continue
		}
		ip := podendpoints.IPOf(pod, family)
		if ip == "" {
			continue
		}
		addr := corev1.EndpointAddress{
			IP: ip, Hostname: podendpoints.Hostname(pod, svc),
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		}
		if pod.Spec.NodeName != "" {
			n := pod.Spec.NodeName
			addr.NodeName = &n
		}
		ready := svc.Spec.PublishNotReadyAddresses || podendpoints.IsReady(pod)
		add := func(ports []corev1.EndpointPort) {
			s := corev1.EndpointSubset{Ports: ports}
			if ready {
				s.Addresses = []corev1.EndpointAddress{addr}
			} else {
				s.NotReadyAddresses = []corev1.EndpointAddress{addr}
			}
			raw = append(raw, s)
		}
		if len(svc.Spec.Ports) == 0 {
			if podendpoints.IsHeadless(svc) {
				add(nil)
			}
			continue
		}
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			port, err := podendpoints.FindPort(pod, sp)
			if err != nil {
				continue // this pod does not serve this port
			}
			add([]corev1.EndpointPort{{Name: sp.Name, Port: port, Protocol: sp.Protocol, AppProtocol: sp.AppProtocol}})
		}
	}
	return Repack(raw)
}

func serviceFamily(svc *corev1.Service) corev1.IPFamily {
	if len(svc.Spec.IPFamilies) > 0 {
		return svc.Spec.IPFamilies[0]
	}
	if ip := svc.Spec.ClusterIP; ip != "" && ip != corev1.ClusterIPNone {
		return podendpoints.FamilyOf(ip)
	}
	return "" // headless without families: whatever the pod has
}

// Repack merges subsets into one per distinct port set, each address
// once, addresses sorted by IP then pod UID, ports and subsets in a
// stable order (upstream's RepackSubsets and SortSubsets). An address
// both ready and not ready (from different ports of one pod) is ready.
func Repack(subsets []corev1.EndpointSubset) []corev1.EndpointSubset {
	type group struct {
		ports    []corev1.EndpointPort
		ready    map[string]corev1.EndpointAddress
		notReady map[string]corev1.EndpointAddress
	}
	groups := map[string]*group{}
	// Addresses are first grouped by the set of ports they serve.
	portsOf := map[string][]corev1.EndpointPort{}
	addrs := map[string]corev1.EndpointAddress{}
	readyOf := map[string]bool{}
	for _, s := range subsets {
		for _, a := range s.Addresses {
			k := addrKey(a)
			addrs[k] = a
			readyOf[k] = true
			portsOf[k] = append(portsOf[k], s.Ports...)
		}
		for _, a := range s.NotReadyAddresses {
			k := addrKey(a)
			addrs[k] = a
			if _, ok := readyOf[k]; !ok {
				readyOf[k] = false
			}
			portsOf[k] = append(portsOf[k], s.Ports...)
		}
	}
	for k, a := range addrs {
		ports := dedupPorts(portsOf[k])
		pk := portsKey(ports)
		g := groups[pk]
		if g == nil {
			g = &group{ports: ports, ready: map[string]corev1.EndpointAddress{}, notReady: map[string]corev1.EndpointAddress{}}
			groups[pk] = g
		}
		if readyOf[k] {
			g.ready[k] = a
		} else {
			g.notReady[k] = a
		}
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []corev1.EndpointSubset
	for _, k := range keys {
		g := groups[k]
		out = append(out, corev1.EndpointSubset{Addresses: sortedAddrs(g.ready), NotReadyAddresses: sortedAddrs(g.notReady), Ports: g.ports})
	}
	return out
}

func addrKey(a corev1.EndpointAddress) string {
	if a.TargetRef != nil {
		return a.IP + "/" + string(a.TargetRef.UID)
	}
	return a.IP
}

func sortedAddrs(m map[string]corev1.EndpointAddress) []corev1.EndpointAddress {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]corev1.EndpointAddress, 0, len(keys))
	for _, k := range keys {
		out = append(out, m[k])
	}
	return out
}

func dedupPorts(ports []corev1.EndpointPort) []corev1.EndpointPort {
	seen := map[string]bool{}
	var out []corev1.EndpointPort
	for _, p := range ports {
		k := portKey(p)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return portKey(out[i]) < portKey(out[j]) })
	return out
}

func portKey(p corev1.EndpointPort) string {
	ap := ""
	if p.AppProtocol != nil {
		ap = *p.AppProtocol
	}
	return fmt.Sprintf("%s/%d/%s/%s", p.Name, p.Port, p.Protocol, ap)
}

func portsKey(ports []corev1.EndpointPort) string {
	ks := make([]string, len(ports))
	for i, p := range ports {
		ks[i] = portKey(p)
	}
	return strings.Join(ks, ",")
}

// Truncate caps the subsets at max addresses, keeping each subset's share
// of the total and ready addresses before not-ready ones, as upstream
// does when it sets the over-capacity annotation. It reports whether it
// removed any.
func Truncate(subsets []corev1.EndpointSubset, max int) ([]corev1.EndpointSubset, bool) {
	total := 0
	for _, s := range subsets {
		total += len(s.Addresses) + len(s.NotReadyAddresses)
	}
	if total <= max {
		return subsets, false
	}
	out := make([]corev1.EndpointSubset, len(subsets))
	left := max
	for i, s := range subsets {
		n := len(s.Addresses) + len(s.NotReadyAddresses)
		share := n * max / total
		if i == len(subsets)-1 || share > left {
			share = min(left, n)
		}
		left -= share
		out[i] = corev1.EndpointSubset{Ports: s.Ports}
		r := min(share, len(s.Addresses))
		out[i].Addresses = s.Addresses[:r]
		if nr := share - r; nr > 0 {
			out[i].NotReadyAddresses = s.NotReadyAddresses[:nr]
		}
	}
	return out, true
}
