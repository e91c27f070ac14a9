package endpointslice

import (
	"fmt"
	"maps"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/controller/podendpoints"
)

// Upstream's names.
const (
	// ControllerName is the managed-by label's value for our slices.
	ControllerName = "endpointslice-controller.k8s.io"
	// MaxEndpointsPerSlice is upstream's --max-endpoints-per-slice default.
	MaxEndpointsPerSlice = 100
)

// group is the endpoints sharing an address type and a port set: the
// endpoints one slice may hold.
type group struct {
	addressType discoveryv1.AddressType
	ports       []discoveryv1.EndpointPort
	endpoints   map[string]discoveryv1.Endpoint // by pod UID
}

// Desired computes svc's endpoints from the pods it selects, grouped by
// address type and port set, as upstream's reconciler does: every pod in
// endpoints (terminating ones included) with ready = ready and not
// terminating (or publishNotReadyAddresses), serving = ready, terminating
// = being deleted. zoneOf gives a node's zone ("" when unknown).
func Desired(svc *corev1.Service, pods []*corev1.Pod, zoneOf func(node string) string) map[string]*group {
	out := map[string]*group{}
	for _, at := range addressTypes(svc) {
		family := corev1.IPv4Protocol
		if at == discoveryv1.AddressTypeIPv6 {
			family = corev1.IPv6Protocol
		}
		for _, pod := range pods {
			if !podendpoints.Include(pod, true) {
				continue
			}
			ip := podendpoints.IPOf(pod, family)
			if ip == "" {
				continue
			}
			ports := endpointPorts(svc, pod)
			k := groupKey(at, ports)
			g := out[k]
			if g == nil {
				g = &group{addressType: at, ports: ports, endpoints: map[string]discoveryv1.Endpoint{}}
				out[k] = g
			}
			g.endpoints[string(pod.UID)] = podEndpoint(svc, pod, ip, zoneOf)
		}
	}
	return out
}

func addressTypes(svc *corev1.Service) []discoveryv1.AddressType {
	var out []discoveryv1.AddressType
	for _, f := range svc.Spec.IPFamilies {
		if f == corev1.IPv6Protocol {
			out = append(out, discoveryv1.AddressTypeIPv6)
		} else {
			out = append(out, discoveryv1.AddressTypeIPv4)
		}
	}
	if len(out) == 0 {
		out = []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4}
		if ip := svc.Spec.ClusterIP; ip != "" && ip != corev1.ClusterIPNone && podendpoints.FamilyOf(ip) == corev1.IPv6Protocol {
			out[0] = discoveryv1.AddressTypeIPv6
		}
	}
	return out
}

// endpointPorts are the service's ports that resolve on pod; a port whose
// named targetPort the pod lacks is left out.
func endpointPorts(svc *corev1.Service, pod *corev1.Pod) []discoveryv1.EndpointPort {
	out := []discoveryv1.EndpointPort{}
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		port, err := podendpoints.FindPort(pod, sp)
		if err != nil {
			continue
		}
		name, proto := sp.Name, sp.Protocol
		out = append(out, discoveryv1.EndpointPort{Name: &name, Port: &port, Protocol: &proto, AppProtocol: sp.AppProtocol})
	}
	return out
}

func podEndpoint(svc *corev1.Service, pod *corev1.Pod, ip string, zoneOf func(string) string) discoveryv1.Endpoint {
	serving := podendpoints.IsReady(pod)
	terminating := pod.DeletionTimestamp != nil
	ready := svc.Spec.PublishNotReadyAddresses || serving
	if terminating && !svc.Spec.PublishNotReadyAddresses {
		// Compatibility: ready is never true for a terminating pod.
		ready = false
	}
	ep := discoveryv1.Endpoint{
		Addresses:  []string{ip},
		Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
	}
	if h := podendpoints.Hostname(pod, svc); h != "" {
		ep.Hostname = &h
	}
	if pod.Spec.NodeName != "" {
		n := pod.Spec.NodeName
		ep.NodeName = &n
		if z := zoneOf(n); z != "" {
			ep.Zone = &z
		}
	}
	return ep
}

func groupKey(at discoveryv1.AddressType, ports []discoveryv1.EndpointPort) string {
	ks := make([]string, 0, len(ports))
	for _, p := range ports {
		ks = append(ks, portKey(p))
	}
	sort.Strings(ks)
	return string(at) + "|" + strings.Join(ks, ",")
}

func portKey(p discoveryv1.EndpointPort) string {
	s := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	var port int32
	if p.Port != nil {
		port = *p.Port
	}
	var proto string
	if p.Protocol != nil {
		proto = string(*p.Protocol)
	}
	return fmt.Sprintf("%s/%d/%s/%s", s(p.Name), port, proto, s(p.AppProtocol))
}

func sliceKey(s *discoveryv1.EndpointSlice) string { return groupKey(s.AddressType, s.Ports) }

// endpointKey identifies an endpoint across syncs: its pod's UID.
func endpointKey(ep *discoveryv1.Endpoint) string {
	if ep.TargetRef != nil {
		return string(ep.TargetRef.UID)
	}
	return strings.Join(ep.Addresses, ",")
}

// Plan is what a sync writes.
type Plan struct {
	Create []*discoveryv1.EndpointSlice
	Update []*discoveryv1.EndpointSlice
	Delete []*discoveryv1.EndpointSlice
}

// Reconcile plans the writes that turn existing (the service's managed
// slices) into desired with as little churn as upstream's reconciler
// aims for: an endpoint stays in the slice that holds it and is updated
// in place; slices left empty are deleted; new endpoints first fill
// slices that are written anyway, then other slices with room, then new
// slices of at most max. A service with no endpoints keeps one empty
// placeholder slice. meta gives new and rewritten slices their labels,
// annotations and owner; every written slice carries it.
func Reconcile(existing []*discoveryv1.EndpointSlice, desired map[string]*group, max int, meta func(*discoveryv1.EndpointSlice)) Plan {
	var plan Plan
	byKey := map[string][]*discoveryv1.EndpointSlice{}
	var placeholders []*discoveryv1.EndpointSlice
	for _, s := range existing {
		if len(s.Endpoints) == 0 && len(s.Ports) == 0 {
			placeholders = append(placeholders, s)
			continue
		}
		byKey[sliceKey(s)] = append(byKey[sliceKey(s)], s)
	}
	keys := make([]string, 0, len(byKey)+len(desired))
	for k := range byKey {
		keys = append(keys, k)
	}
	for k := range desired {
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	total := 0
	for _, k := range keys {
		g := desired[k]
		slices := byKey[k]
		sort.Slice(slices, func(i, j int) bool { return slices[i].Name < slices[j].Name })
		if g == nil {
			plan.Delete = append(plan.Delete, slices...)
			continue
		}
		total += len(g.endpoints)
		placed := map[string]bool{}
		var touched, untouched []*discoveryv1.EndpointSlice
		for _, s := range slices {
			var eps []discoveryv1.Endpoint
			changed := false
			for i := range s.Endpoints {
				ek := endpointKey(&s.Endpoints[i])
				want, ok := g.endpoints[ek]
				if !ok || placed[ek] {
					changed = true
					continue
				}
				placed[ek] = true
				if !apiequality.Semantic.DeepEqual(want, s.Endpoints[i]) {
					changed = true
				}
				eps = append(eps, want)
			}
			if len(eps) == 0 {
				plan.Delete = append(plan.Delete, s)
				continue
			}
			next := s.DeepCopy()
			next.Endpoints = eps
			before := next.DeepCopy()
			meta(next)
			if changed || !apiequality.Semantic.DeepEqual(before.ObjectMeta, next.ObjectMeta) {
				touched = append(touched, next)
			} else {
				untouched = append(untouched, next)
			}
		}
		var fresh []discoveryv1.Endpoint
		for _, ek := range sortedKeys(g.endpoints) {
			if !placed[ek] {
				fresh = append(fresh, g.endpoints[ek])
			}
		}
		fill := func(s *discoveryv1.EndpointSlice) bool {
			room := max - len(s.Endpoints)
			if room <= 0 || len(fresh) == 0 {
				return false
			}
			n := min(room, len(fresh))
			s.Endpoints = append(s.Endpoints, fresh[:n]...)
			fresh = fresh[n:]
			return true
		}
		for _, s := range touched {
			fill(s)
			plan.Update = append(plan.Update, s)
		}
		for _, s := range untouched {
			if fill(s) {
				meta(s)
				plan.Update = append(plan.Update, s)
			}
		}
		for len(fresh) > 0 {
			s := &discoveryv1.EndpointSlice{AddressType: g.addressType, Ports: g.ports}
			n := min(max, len(fresh))
			s.Endpoints = append([]discoveryv1.Endpoint(nil), fresh[:n]...)
			fresh = fresh[n:]
			meta(s)
			plan.Create = append(plan.Create, s)
		}
	}
	// A service without endpoints has one placeholder slice, so that
	// consumers can tell "no endpoints" from "not yet synced".
	remaining := len(existing) - len(placeholders) - len(plan.Delete) + len(plan.Create)
	if total == 0 && remaining == 0 {
		if len(placeholders) == 0 {
			s := &discoveryv1.EndpointSlice{AddressType: firstAddressType(desired, existing), Ports: []discoveryv1.EndpointPort{}, Endpoints: []discoveryv1.Endpoint{}}
			meta(s)
			plan.Create = append(plan.Create, s)
		} else {
			keep := placeholders[0].DeepCopy()
			before := keep.DeepCopy()
			meta(keep)
			if !apiequality.Semantic.DeepEqual(before.ObjectMeta, keep.ObjectMeta) {
				plan.Update = append(plan.Update, keep)
			}
			placeholders = placeholders[1:]
		}
	}
	plan.Delete = append(plan.Delete, placeholders...)
	return plan
}

func firstAddressType(desired map[string]*group, existing []*discoveryv1.EndpointSlice) discoveryv1.AddressType {
	for _, g := range desired {
		return g.addressType
	}
	for _, s := range existing {
		return s.AddressType
	}
	return discoveryv1.AddressTypeIPv4
}

func sortedKeys(m map[string]discoveryv1.Endpoint) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// sliceMeta gives a slice the labels, owner and generated name upstream
// gives the slices of svc: the service's labels (without the two the
// controller owns), kubernetes.io/service-name, the managed-by label,
// service.kubernetes.io/headless for a headless service, and a
// controller reference to the service.
func sliceMeta(svc *corev1.Service) func(*discoveryv1.EndpointSlice) {
	return func(s *discoveryv1.EndpointSlice) {
		if s.Name == "" {
			s.GenerateName = slicePrefix(svc.Name)
			s.Namespace = svc.Namespace
		}
		l := maps.Clone(svc.Labels)
		if l == nil {
			l = map[string]string{}
		}
		delete(l, discoveryv1.LabelServiceName)
		delete(l, discoveryv1.LabelManagedBy)
		delete(l, corev1.IsHeadlessService)
		l[discoveryv1.LabelServiceName] = svc.Name
		l[discoveryv1.LabelManagedBy] = ControllerName
		if ip := svc.Spec.ClusterIP; ip == "" || ip == corev1.ClusterIPNone {
			l[corev1.IsHeadlessService] = ""
		}
		s.Labels = l
		t := true
		s.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Service", Name: svc.Name, UID: svc.UID, Controller: &t, BlockOwnerDeletion: &t}}
	}
}

// slicePrefix is the generateName of a service's slices: its name and a
// dash, shortened so that the generated name fits 63 characters.
func slicePrefix(name string) string {
	const maxPrefix = 63 - 5 // the generator appends five characters
	p := name + "-"
	if len(p) > maxPrefix {
		p = p[:maxPrefix]
	}
	return p
}
