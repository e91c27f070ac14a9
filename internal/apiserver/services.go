package apiserver

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Service address ranges. The first address of the service range is the
// in-cluster "kubernetes" service, as upstream.
var (
	ServiceCIDR              = netip.MustParsePrefix("10.43.0.0/16")
	nodePortMin, nodePortMax = 30000, 32767
)

// serviceAllocator hands out cluster IPs and node ports. Its state is
// rebuilt from the stored services on first use and kept in memory: every
// service write goes through this server. (Several API servers on etcd
// would need the allocation state in the store, as upstream keeps it.)
type serviceAllocator struct {
	mu     sync.Mutex
	loaded bool
	ips    map[netip.Addr]bool
	ports  map[int32]bool
}

func (a *serviceAllocator) load(services []runtime.Object) {
	if a.loaded {
		return
	}
	a.ips, a.ports = map[netip.Addr]bool{}, map[int32]bool{}
	for _, o := range services {
		svc := o.(*corev1.Service)
		for _, ip := range clusterIPs(svc) {
			a.ips[ip] = true
		}
		for _, p := range svc.Spec.Ports {
			if p.NodePort != 0 {
				a.ports[p.NodePort] = true
			}
		}
	}
	a.loaded = true
}

func clusterIPs(svc *corev1.Service) []netip.Addr {
	var out []netip.Addr
	seen := map[string]bool{}
	for _, s := range append([]string{svc.Spec.ClusterIP}, svc.Spec.ClusterIPs...) {
		if s == "" || s == corev1.ClusterIPNone || seen[s] {
			continue
		}
		seen[s] = true
		if ip, err := netip.ParseAddr(s); err == nil {
			out = append(out, ip)
		}
	}
	return out
}

func (a *serviceAllocator) nextIP() (netip.Addr, bool) {
	bits := 32 - ServiceCIDR.Bits()
	size := 1 << bits
	base := ServiceCIDR.Masked().Addr().As4()
	start := rand.IntN(size)
	for i := 0; i < size; i++ {
		off := (start + i) % size
		if off == 0 || off == size-1 { // network and broadcast addresses
			continue
		}
		b := base
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		v += uint32(off)
		ip := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		if !a.ips[ip] {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

func (a *serviceAllocator) nextPort() (int32, bool) {
	n := nodePortMax - nodePortMin + 1
	start := rand.IntN(n)
	for i := 0; i < n; i++ {
		p := int32(nodePortMin + (start+i)%n)
		if !a.ports[p] {
			return p, true
		}
	}
	return 0, false
}

func needsNodePorts(svc *corev1.Service) bool {
	if svc.Spec.Type == corev1.ServiceTypeNodePort {
		return true
	}
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		return svc.Spec.AllocateLoadBalancerNodePorts == nil || *svc.Spec.AllocateLoadBalancerNodePorts
	}
	return false
}

// allocate gives a service its cluster IP and node ports (on create, and
// on updates that change type or ports), keeping those of old. Other
// resources pass through. A dry run checks but does not reserve.
func (s *Server) allocate(ctx context.Context, res *resource, obj, old runtime.Object) error {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil
	}
	var oldSvc *corev1.Service
	if old != nil {
		oldSvc = old.(*corev1.Service)
	}
	a := &s.services
	a.mu.Lock()
	defer a.mu.Unlock()
	all, _ := res.cacheList(res.prefix, nil)
	a.load(all)

	var errs field.ErrorList
	var newIPs []netip.Addr
	var newPorts []int32
	spec := field.NewPath("spec")
	if svc.Spec.Type != corev1.ServiceTypeExternalName {
		if oldSvc != nil && svc.Spec.ClusterIP == "" && oldSvc.Spec.ClusterIP != "" {
			svc.Spec.ClusterIP, svc.Spec.ClusterIPs = oldSvc.Spec.ClusterIP, oldSvc.Spec.ClusterIPs
		}
		switch {
		case svc.Spec.ClusterIP == corev1.ClusterIPNone:
			svc.Spec.ClusterIPs = []string{corev1.ClusterIPNone}
		case svc.Spec.ClusterIP == "":
			ip, ok := a.nextIP()
			if !ok {
				return apierrors.NewInternalError(fmt.Errorf("failed to allocate a serviceIP: range is full"))
			}
			newIPs = append(newIPs, ip)
			svc.Spec.ClusterIP, svc.Spec.ClusterIPs = ip.String(), []string{ip.String()}
		case oldSvc == nil || oldSvc.Spec.ClusterIP != svc.Spec.ClusterIP:
			ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
			switch {
			case err != nil:
				errs = append(errs, field.Invalid(spec.Child("clusterIPs").Index(0), svc.Spec.ClusterIP, "must be a valid IP"))
			case !ServiceCIDR.Contains(ip):
				errs = append(errs, field.Invalid(spec.Child("clusterIPs"), []string{svc.Spec.ClusterIP},
					fmt.Sprintf("failed to allocate IP %s: the provided IP (%s) is not in the valid range. The range of valid IPs is %s", ip, ip, ServiceCIDR)))
			case a.ips[ip]:
				errs = append(errs, field.Invalid(spec.Child("clusterIPs"), []string{svc.Spec.ClusterIP},
					fmt.Sprintf("failed to allocate IP %s: provided IP is already allocated", ip)))
			default:
				newIPs = append(newIPs, ip)
			}
			if len(svc.Spec.ClusterIPs) == 0 {
				svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
			}
		}
	}

	oldPorts := map[int32]bool{}
	if oldSvc != nil {
		for _, p := range oldSvc.Spec.Ports {
			if p.NodePort != 0 {
				oldPorts[p.NodePort] = true
			}
		}
	}
	if needsNodePorts(svc) {
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			if p.NodePort == 0 && oldSvc != nil {
				// Keep the node port an update left out, as upstream.
				for _, op := range oldSvc.Spec.Ports {
					if op.NodePort != 0 && op.Port == p.Port && op.Protocol == p.Protocol {
						p.NodePort = op.NodePort
					}
				}
			}
			switch {
			case p.NodePort == 0:
				np, ok := a.nextPort()
				if !ok {
					return apierrors.NewInternalError(fmt.Errorf("failed to allocate a nodePort: range is full"))
				}
				p.NodePort = np
				a.ports[np] = true // reserve now: two ports of one service must differ
				newPorts = append(newPorts, np)
			case oldPorts[p.NodePort]:
			case p.NodePort < int32(nodePortMin) || p.NodePort > int32(nodePortMax):
				errs = append(errs, field.Invalid(spec.Child("ports").Index(i).Child("nodePort"), p.NodePort,
					fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", nodePortMin, nodePortMax)))
			case a.ports[p.NodePort]:
				errs = append(errs, field.Invalid(spec.Child("ports").Index(i).Child("nodePort"), p.NodePort, "provided port is already allocated"))
			default:
				a.ports[p.NodePort] = true
				newPorts = append(newPorts, p.NodePort)
			}
		}
	} else {
		for i := range svc.Spec.Ports {
			svc.Spec.Ports[i].NodePort = 0
		}
	}
	if len(errs) > 0 {
		for _, p := range newPorts {
			delete(a.ports, p)
		}
		return errInvalid(res.gvk.GroupKind(), svc.Name, errs)
	}
	for _, ip := range newIPs {
		a.ips[ip] = true
	}
	// Release what the update gave up.
	if oldSvc != nil {
		keep := map[netip.Addr]bool{}
		for _, ip := range clusterIPs(svc) {
			keep[ip] = true
		}
		for _, ip := range clusterIPs(oldSvc) {
			if !keep[ip] {
				delete(a.ips, ip)
			}
		}
		kept := map[int32]bool{}
		for _, p := range svc.Spec.Ports {
			kept[p.NodePort] = true
		}
		for p := range oldPorts {
			if !kept[p] {
				delete(a.ports, p)
			}
		}
	}
	return nil
}

// release returns a deleted (or never stored) service's addresses.
func (s *Server) release(res *resource, obj runtime.Object) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return
	}
	a := &s.services
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.loaded {
		return
	}
	for _, ip := range clusterIPs(svc) {
		delete(a.ips, ip)
	}
	for _, p := range svc.Spec.Ports {
		delete(a.ports, p.NodePort)
	}
}

// allocateUnlessDry allocates for real writes; a dry run allocates and
// releases again, so that it reports the errors a real write would.
func (s *Server) allocateUnlessDry(ctx context.Context, res *resource, obj, old runtime.Object, dryRun bool) error {
	if err := s.allocate(ctx, res, obj, old); err != nil {
		return err
	}
	if dryRun && old == nil {
		s.release(res, obj)
	}
	return nil
}
