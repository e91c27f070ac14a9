package core

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry"
)

// serviceStrategy mirrors upstream's service strategy and the parts of its
// REST storage that need no cluster state: defaults, keeping allocated
// values across updates, IP family defaulting. Allocating cluster IPs and
// node ports is the API server's job (it needs the other services); see
// ServiceNeedsClusterIP and ServiceNodePortsNeeded.
type serviceStrategy struct {
	clock
	// families the cluster serves, primary first. Empty means IPv4 only.
	families []corev1.IPFamily
}

var (
	_ registry.Strategy       = serviceStrategy{}
	_ registry.StatusStrategy = serviceStrategy{}
	_ registry.MetaValidator  = serviceStrategy{}
	_ registry.TableConvertor = serviceStrategy{}
	_ registry.FieldsFunc     = serviceStrategy{}
)

func (s serviceStrategy) clusterFamilies() []corev1.IPFamily {
	if len(s.families) == 0 {
		return []corev1.IPFamily{corev1.IPv4Protocol}
	}
	return s.families
}

// ServiceNeedsClusterIP reports whether the API server must allocate a
// cluster IP: every service but ExternalName and headless ones, when the
// client has not chosen one.
// servicePortValue is the (protocol, port) key of a duplicate-port
// error. Upstream reports its internal ServicePort, whose fields carry no
// JSON tags, so clients see Go field names in the message:
// {"Name":"","Protocol":"TCP","AppProtocol":null,"Port":80,"TargetPort":0,"NodePort":0}.
type servicePortValue struct {
	Name        string
	Protocol    corev1.Protocol
	AppProtocol *string
	Port        int32
	TargetPort  intstr.IntOrString
	NodePort    int32
}

func ServiceNeedsClusterIP(svc *corev1.Service) bool {
	return svc.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.ClusterIP == ""
}

// ServiceNodePortsNeeded returns the indexes of svc.Spec.Ports that need a
// node port allocated (NodePort services, and LoadBalancer services unless
// allocateLoadBalancerNodePorts is false).
func ServiceNodePortsNeeded(svc *corev1.Service) []int {
	if !needsNodePort(svc) {
		return nil
	}
	var idx []int
	for i, p := range svc.Spec.Ports {
		if p.NodePort == 0 {
			idx = append(idx, i)
		}
	}
	return idx
}

// ServiceNeedsHealthCheckNodePort reports whether a health check node port
// must be allocated (LoadBalancer with externalTrafficPolicy Local).
func ServiceNeedsHealthCheckNodePort(svc *corev1.Service) bool {
	return needsHealthCheck(svc) && svc.Spec.HealthCheckNodePort == 0
}

func needsNodePort(svc *corev1.Service) bool {
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort:
		return true
	case corev1.ServiceTypeLoadBalancer:
		return svc.Spec.AllocateLoadBalancerNodePorts == nil || *svc.Spec.AllocateLoadBalancerNodePorts
	}
	return false
}

func needsHealthCheck(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
}

func externallyAccessible(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer || svc.Spec.Type == corev1.ServiceTypeNodePort ||
		(svc.Spec.Type == corev1.ServiceTypeClusterIP && len(svc.Spec.ExternalIPs) > 0)
}

func isHeadless(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP == corev1.ClusterIPNone
}

func (serviceStrategy) Default(obj runtime.Object) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return
	}
	sp := &svc.Spec
	if sp.SessionAffinity == "" {
		sp.SessionAffinity = corev1.ServiceAffinityNone
	}
	if sp.SessionAffinity == corev1.ServiceAffinityNone {
		sp.SessionAffinityConfig = nil
	}
	if sp.SessionAffinity == corev1.ServiceAffinityClientIP &&
		(sp.SessionAffinityConfig == nil || sp.SessionAffinityConfig.ClientIP == nil || sp.SessionAffinityConfig.ClientIP.TimeoutSeconds == nil) {
		timeout := int32(corev1.DefaultClientIPServiceAffinitySeconds)
		sp.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: &timeout}}
	}
	if sp.Type == "" {
		sp.Type = corev1.ServiceTypeClusterIP
	}
	for i := range sp.Ports {
		p := &sp.Ports[i]
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		if p.TargetPort == intstr.FromInt32(0) || p.TargetPort == intstr.FromString("") {
			p.TargetPort = intstr.FromInt32(p.Port)
		}
	}
	if externallyAccessible(svc) && sp.ExternalTrafficPolicy == "" {
		sp.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	}
	if sp.InternalTrafficPolicy == nil && sp.Type != corev1.ServiceTypeExternalName {
		cluster := corev1.ServiceInternalTrafficPolicyCluster
		sp.InternalTrafficPolicy = &cluster
	}
	if sp.Type == corev1.ServiceTypeLoadBalancer {
		if sp.AllocateLoadBalancerNodePorts == nil {
			allocate := true
			sp.AllocateLoadBalancerNodePorts = &allocate
		}
		vip := corev1.LoadBalancerIPModeVIP
		for i := range svc.Status.LoadBalancer.Ingress {
			if ing := &svc.Status.LoadBalancer.Ingress[i]; ing.IP != "" && ing.IPMode == nil {
				ing.IPMode = &vip
			}
		}
	}
}

func (s serviceStrategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return
	}
	svc.Status = corev1.ServiceStatus{}
	normalizeClusterIPs(svc, nil)
	s.initIPFamilies(svc, nil)
}

func (s serviceStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	svc, ok1 := obj.(*corev1.Service)
	oldSvc, ok2 := old.(*corev1.Service)
	if !ok1 || !ok2 {
		return
	}
	svc.Status = oldSvc.Status
	patchAllocatedValues(svc, oldSvc)
	normalizeClusterIPs(svc, oldSvc)
	s.initIPFamilies(svc, oldSvc)
	dropTypeDependentFields(svc, oldSvc)
}

// dropTypeDependentFields clears what a type change leaves without
// meaning (cluster IPs and families for ExternalName, node ports, the
// health check port, load balancer settings, the external traffic
// policy), as upstream does, but only values the client left as they
// were: a value it changed too is its to answer for in validation. So
// `kubectl patch svc x -p '{"spec":{"type":"ClusterIP"}}'` turns a
// NodePort service into a ClusterIP one.
func dropTypeDependentFields(svc, old *corev1.Service) {
	if old.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.Type == corev1.ServiceTypeExternalName {
		if old.Spec.ClusterIP == svc.Spec.ClusterIP && slices.Equal(old.Spec.ClusterIPs, svc.Spec.ClusterIPs) {
			svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "", nil
		}
		if slices.Equal(old.Spec.IPFamilies, svc.Spec.IPFamilies) {
			svc.Spec.IPFamilies = nil
		}
		if equalPtr(old.Spec.IPFamilyPolicy, svc.Spec.IPFamilyPolicy) {
			svc.Spec.IPFamilyPolicy = nil
		}
	}
	// Unlike allocation, this ignores allocateLoadBalancerNodePorts: a
	// load balancer may keep node ports it was given.
	typeHasNodePorts := func(s *corev1.Service) bool {
		return s.Spec.Type == corev1.ServiceTypeNodePort || s.Spec.Type == corev1.ServiceTypeLoadBalancer
	}
	if typeHasNodePorts(old) && !typeHasNodePorts(svc) && noNewNodePorts(old, svc) {
		for i := range svc.Spec.Ports {
			svc.Spec.Ports[i].NodePort = 0
		}
	}
	if needsHealthCheck(old) && !needsHealthCheck(svc) && old.Spec.HealthCheckNodePort == svc.Spec.HealthCheckNodePort {
		svc.Spec.HealthCheckNodePort = 0
	}
	if old.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		if a, b := old.Spec.AllocateLoadBalancerNodePorts, svc.Spec.AllocateLoadBalancerNodePorts; a != nil && b != nil && *a == *b {
			svc.Spec.AllocateLoadBalancerNodePorts = nil
		}
		if equalPtr(old.Spec.LoadBalancerClass, svc.Spec.LoadBalancerClass) {
			svc.Spec.LoadBalancerClass = nil
		}
	}
	if externallyAccessible(old) && !externallyAccessible(svc) && old.Spec.ExternalTrafficPolicy == svc.Spec.ExternalTrafficPolicy {
		svc.Spec.ExternalTrafficPolicy = ""
	}
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		svc.Status.LoadBalancer = corev1.LoadBalancerStatus{}
	}
}

// noNewNodePorts: the update may drop or move node ports but names none
// that old did not hold.
func noNewNodePorts(old, svc *corev1.Service) bool {
	held := sets.New[int32]()
	for _, p := range old.Spec.Ports {
		held.Insert(p.NodePort)
	}
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 && !held.Has(p.NodePort) {
			return false
		}
	}
	return true
}

func equalPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// normalizeClusterIPs keeps clusterIP and clusterIPs in step, as clients
// may set either.
func normalizeClusterIPs(svc, old *corev1.Service) {
	if old == nil {
		if svc.Spec.ClusterIP != "" && len(svc.Spec.ClusterIPs) == 0 {
			svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
		}
		return
	}
	if len(old.Spec.ClusterIPs) > 0 && len(svc.Spec.ClusterIPs) == 0 && old.Spec.ClusterIP == svc.Spec.ClusterIP {
		svc.Spec.ClusterIPs = old.Spec.ClusterIPs
	}
	if old.Spec.ClusterIP != svc.Spec.ClusterIP && slices.Equal(old.Spec.ClusterIPs, svc.Spec.ClusterIPs) {
		if old.Spec.ClusterIP != "" && svc.Spec.ClusterIP == "" {
			svc.Spec.ClusterIPs = nil
		} else {
			svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
		}
	}
}

// patchAllocatedValues carries allocated IPs and ports over an update that
// omits them (clients applying the manifest they started with).
func patchAllocatedValues(svc, old *corev1.Service) {
	if old.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.Type != corev1.ServiceTypeExternalName {
		if svc.Spec.ClusterIP == "" {
			svc.Spec.ClusterIP = old.Spec.ClusterIP
		}
		if len(svc.Spec.ClusterIPs) == 0 && len(old.Spec.ClusterIPs) > 0 {
			svc.Spec.ClusterIPs = old.Spec.ClusterIPs
		}
	}
	if needsNodePort(old) && needsNodePort(svc) {
		used := func(s *corev1.Service) sets.Set[int32] {
			u := sets.New[int32]()
			for _, p := range s.Spec.Ports {
				if p.NodePort != 0 {
					u.Insert(p.NodePort)
				}
			}
			return u
		}
		inBoth := used(old).Intersection(used(svc))
		byName := map[string]int32{}
		for _, p := range old.Spec.Ports {
			byName[p.Name] = p.NodePort
		}
		for i := range svc.Spec.Ports {
			if p := &svc.Spec.Ports[i]; p.NodePort == 0 && !inBoth.Has(byName[p.Name]) {
				p.NodePort = byName[p.Name]
			}
		}
	}
	if needsHealthCheck(old) && needsHealthCheck(svc) && svc.Spec.HealthCheckNodePort == 0 {
		svc.Spec.HealthCheckNodePort = old.Spec.HealthCheckNodePort
	}
}

// initIPFamilies fills ipFamilyPolicy and ipFamilies as upstream's
// allocator does; what it cannot satisfy is reported by Validate.
func (s serviceStrategy) initIPFamilies(svc, old *corev1.Service) {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return
	}
	if svc.Spec.IPFamilyPolicy == nil {
		var policy corev1.IPFamilyPolicy
		switch {
		case old != nil && old.Spec.IPFamilyPolicy != nil:
			policy = *old.Spec.IPFamilyPolicy
		case isHeadless(svc) && len(svc.Spec.Selector) == 0:
			policy = corev1.IPFamilyPolicyRequireDualStack
		default:
			policy = corev1.IPFamilyPolicySingleStack
		}
		svc.Spec.IPFamilyPolicy = &policy
	}
	if old != nil && len(svc.Spec.IPFamilies) == 0 && !isHeadless(svc) == !isHeadless(old) {
		svc.Spec.IPFamilies = old.Spec.IPFamilies
	}
	if *svc.Spec.IPFamilyPolicy == corev1.IPFamilyPolicySingleStack && old != nil {
		if slices.Equal(old.Spec.ClusterIPs, svc.Spec.ClusterIPs) && len(svc.Spec.ClusterIPs) > 1 {
			svc.Spec.ClusterIPs = svc.Spec.ClusterIPs[:1]
		}
		if slices.Equal(old.Spec.IPFamilies, svc.Spec.IPFamilies) && len(svc.Spec.IPFamilies) > 1 {
			svc.Spec.IPFamilies = svc.Spec.IPFamilies[:1]
		}
	}
	// Families follow explicitly requested cluster IPs.
	for i, ip := range svc.Spec.ClusterIPs {
		if ip == corev1.ClusterIPNone {
			break
		}
		if i >= len(svc.Spec.IPFamilies) {
			parsed := net.ParseIP(ip)
			if parsed == nil {
				break
			}
			fam := corev1.IPv4Protocol
			if parsed.To4() == nil {
				fam = corev1.IPv6Protocol
			}
			svc.Spec.IPFamilies = append(svc.Spec.IPFamilies, fam)
		}
	}
	cluster := s.clusterFamilies()
	if len(svc.Spec.IPFamilies) == 0 {
		svc.Spec.IPFamilies = []corev1.IPFamily{cluster[0]}
	}
	wantsDual := *svc.Spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack
	if wantsDual && len(svc.Spec.IPFamilies) == 1 && (len(cluster) == 2 || (isHeadless(svc) && len(svc.Spec.Selector) == 0)) {
		svc.Spec.IPFamilies = append(svc.Spec.IPFamilies, otherFamily(svc.Spec.IPFamilies[0]))
	}
}

func otherFamily(f corev1.IPFamily) corev1.IPFamily {
	if f == corev1.IPv4Protocol {
		return corev1.IPv6Protocol
	}
	return corev1.IPv4Protocol
}

// ValidateMeta: service names are DNS-1123 labels (upstream relaxed them
// from DNS-1035 labels in 1.34).
func (serviceStrategy) ValidateMeta(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return metaValidator{namespaced: true, nameFn: apivalidation.NameIsDNSLabel}.ValidateMeta(ctx, obj, old)
}

func (s serviceStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return wrongType(obj, "*v1.Service")
	}
	return append(validateService(svc, nil), s.validateFamiliesAvailable(svc)...)
}

func (s serviceStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	svc, ok1 := obj.(*corev1.Service)
	oldSvc, ok2 := old.(*corev1.Service)
	if !ok1 || !ok2 {
		return wrongType(obj, "*v1.Service")
	}
	errs := validateClusterIPsUpdate(svc, oldSvc)
	if needsHealthCheck(oldSvc) && needsHealthCheck(svc) && svc.Spec.HealthCheckNodePort != oldSvc.Spec.HealthCheckNodePort {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "healthCheckNodePort"), "field is immutable"))
	}
	errs = append(errs, validateService(svc, oldSvc)...)
	return append(errs, s.validateFamiliesAvailable(svc)...)
}

// validateFamiliesAvailable reports families this cluster cannot serve.
func (s serviceStrategy) validateFamiliesAvailable(svc *corev1.Service) field.ErrorList {
	if svc.Spec.Type == corev1.ServiceTypeExternalName || (isHeadless(svc) && len(svc.Spec.Selector) == 0) {
		return nil
	}
	cluster := s.clusterFamilies()
	var errs field.ErrorList
	if p := svc.Spec.IPFamilyPolicy; p != nil {
		if *p == corev1.IPFamilyPolicyRequireDualStack && len(cluster) < 2 {
			errs = append(errs, field.Invalid(field.NewPath("spec", "ipFamilyPolicy"), p, "this cluster is not configured for dual-stack services"))
		}
		if *p == corev1.IPFamilyPolicySingleStack && len(svc.Spec.IPFamilies) == 2 {
			errs = append(errs, field.Invalid(field.NewPath("spec", "ipFamilyPolicy"), p, "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified"))
		}
	}
	for i, f := range svc.Spec.IPFamilies {
		if !slices.Contains(cluster, f) {
			errs = append(errs, field.Invalid(field.NewPath("spec", "ipFamilies").Index(i), f, "not configured on this cluster"))
		}
	}
	return errs
}

// validateClusterIPsUpdate: allocated cluster IPs never change, except by
// turning a service into or out of ExternalName or headless.
func validateClusterIPsUpdate(svc, old *corev1.Service) field.ErrorList {
	if svc.Spec.Type == corev1.ServiceTypeExternalName || old.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	if isHeadless(svc) && isHeadless(old) {
		return nil
	}
	p := field.NewPath("spec", "clusterIPs")
	var errs field.ErrorList
	switch n, o := len(svc.Spec.ClusterIPs), len(old.Spec.ClusterIPs); {
	case n == o:
		for i, ip := range old.Spec.ClusterIPs {
			if ip != svc.Spec.ClusterIPs[i] {
				errs = append(errs, field.Invalid(p.Index(i), svc.Spec.ClusterIPs, "may not change once set"))
			}
		}
	case o > n:
		if n == 0 {
			errs = append(errs, field.Invalid(p.Index(0), svc.Spec.ClusterIPs, "primary clusterIP can not be unset"))
		}
		if o > 0 && n > 0 && svc.Spec.ClusterIPs[0] != old.Spec.ClusterIPs[0] {
			errs = append(errs, field.Invalid(p.Index(0), svc.Spec.ClusterIPs, "may not change once set"))
		}
		if n == 1 && (svc.Spec.IPFamilyPolicy == nil || *svc.Spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack) {
			errs = append(errs, field.Invalid(field.NewPath("spec", "ipFamilyPolicy"), svc.Spec.IPFamilyPolicy, "must be set to 'SingleStack' when releasing the secondary clusterIP"))
		}
	default:
		if o > 0 && svc.Spec.ClusterIPs[0] != old.Spec.ClusterIPs[0] {
			errs = append(errs, field.Invalid(p.Index(0), svc.Spec.ClusterIPs, "may not change once set"))
		}
	}
	return errs
}

func (serviceStrategy) ValidateStatusUpdate(_ context.Context, obj, _ runtime.Object) field.ErrorList {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return wrongType(obj, "*v1.Service")
	}
	p := field.NewPath("status", "loadBalancer", "ingress")
	var errs field.ErrorList
	for i, ing := range svc.Status.LoadBalancer.Ingress {
		ip := p.Index(i)
		if ing.IP != "" {
			errs = append(errs, validation.IsValidIPForLegacyField(ip.Child("ip"), ing.IP, true, nil)...)
		}
		if ing.IPMode != nil && ing.IP == "" {
			errs = append(errs, field.Forbidden(ip.Child("ipMode"), "may not be specified when `ip` is not set"))
		} else if ing.IPMode != nil {
			modes := []corev1.LoadBalancerIPMode{corev1.LoadBalancerIPModeProxy, corev1.LoadBalancerIPModeVIP}
			if !slices.Contains(modes, *ing.IPMode) {
				errs = append(errs, field.NotSupported(ip.Child("ipMode"), ing.IPMode, modes))
			}
		} else if ing.IP != "" && svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
			errs = append(errs, field.Required(ip.Child("ipMode"), "must be specified when `ip` is set"))
		}
		if ing.Hostname != "" {
			errs = append(errs, validateDNS1123Subdomain(ing.Hostname, ip.Child("hostname"))...)
			if net.ParseIP(ing.Hostname) != nil {
				errs = append(errs, field.Invalid(ip.Child("hostname"), ing.Hostname, "must be a DNS name, not an IP address"))
			}
		}
	}
	return errs
}

func (serviceStrategy) SelectableFields(obj runtime.Object) fields.Set {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil
	}
	return fields.Set{"spec.clusterIP": svc.Spec.ClusterIP, "spec.type": string(svc.Spec.Type)}
}

func serviceTypeSupported() []corev1.ServiceType {
	return []corev1.ServiceType{corev1.ServiceTypeClusterIP, corev1.ServiceTypeExternalName, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort}
}

// validateService holds upstream's create and update checks of the spec.
func validateService(svc *corev1.Service, old *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	sp := field.NewPath("spec")
	spec := &svc.Spec
	if len(spec.Ports) == 0 && !isHeadless(svc) && spec.Type != corev1.ServiceTypeExternalName {
		errs = append(errs, field.Required(sp.Child("ports"), ""))
	}
	switch spec.Type {
	case corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort:
		if isHeadless(svc) && len(spec.ClusterIPs) > 0 {
			errs = append(errs, field.Invalid(sp.Child("clusterIPs").Index(0), spec.ClusterIPs[0], fmt.Sprintf("may not be set to 'None' for %s services", spec.Type)))
		}
	case corev1.ServiceTypeExternalName:
		if len(spec.ClusterIPs) > 0 {
			errs = append(errs, field.Forbidden(sp.Child("clusterIPs"), "may not be set for ExternalName services"))
		}
		if len(spec.IPFamilies) > 0 {
			errs = append(errs, field.Forbidden(sp.Child("ipFamilies"), "may not be set for ExternalName services"))
		}
		if spec.IPFamilyPolicy != nil {
			errs = append(errs, field.Forbidden(sp.Child("ipFamilyPolicy"), "may not be set for ExternalName services"))
		}
		if cname := strings.TrimSuffix(spec.ExternalName, "."); cname != "" {
			errs = append(errs, validateDNS1123Subdomain(cname, sp.Child("externalName"))...)
		} else {
			errs = append(errs, field.Required(sp.Child("externalName"), ""))
		}
	}
	names := sets.New[string]()
	for i := range spec.Ports {
		errs = append(errs, validateServicePort(&spec.Ports[i], len(spec.Ports) > 1, names, sp.Child("ports").Index(i))...)
	}
	if spec.Selector != nil {
		errs = append(errs, metav1validation.ValidateLabels(spec.Selector, sp.Child("selector"))...)
	}
	affinities := []corev1.ServiceAffinity{corev1.ServiceAffinityClientIP, corev1.ServiceAffinityNone}
	switch {
	case spec.SessionAffinity == "":
		errs = append(errs, field.Required(sp.Child("sessionAffinity"), ""))
	case !slices.Contains(affinities, spec.SessionAffinity):
		errs = append(errs, field.NotSupported(sp.Child("sessionAffinity"), spec.SessionAffinity, affinities))
	}
	cp := sp.Child("sessionAffinityConfig")
	if spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		c := spec.SessionAffinityConfig
		const when = "when session affinity type is ClientIP"
		switch {
		case c == nil:
			errs = append(errs, field.Required(cp, when))
		case c.ClientIP == nil:
			errs = append(errs, field.Required(cp.Child("clientIP"), when))
		case c.ClientIP.TimeoutSeconds == nil:
			errs = append(errs, field.Required(cp.Child("clientIP", "timeoutSeconds"), when))
		case *c.ClientIP.TimeoutSeconds <= 0 || *c.ClientIP.TimeoutSeconds > maxClientIPAffinitySeconds:
			errs = append(errs, field.Invalid(cp.Child("clientIP", "timeoutSeconds"), c.ClientIP.TimeoutSeconds,
				fmt.Sprintf("must be greater than 0 and less than %d", maxClientIPAffinitySeconds)))
		}
	} else if spec.SessionAffinity == corev1.ServiceAffinityNone && spec.SessionAffinityConfig != nil {
		errs = append(errs, field.Forbidden(cp, "must not be set when session affinity is None"))
	}
	errs = append(errs, validateClusterIPsFields(svc, old)...)
	var oldExternal []string
	if old != nil {
		oldExternal = old.Spec.ExternalIPs
	}
	for i, ip := range spec.ExternalIPs {
		errs = append(errs, validation.IsValidIPForLegacyField(sp.Child("externalIPs").Index(i), ip, true, oldExternal)...)
	}
	switch {
	case spec.Type == "":
		errs = append(errs, field.Required(sp.Child("type"), ""))
	case !slices.Contains(serviceTypeSupported(), spec.Type):
		errs = append(errs, field.NotSupported(sp.Child("type"), spec.Type, serviceTypeSupported()))
	}
	if spec.Type == corev1.ServiceTypeClusterIP {
		for i, p := range spec.Ports {
			if p.NodePort != 0 {
				errs = append(errs, field.Forbidden(sp.Child("ports").Index(i).Child("nodePort"), "may not be used when `type` is 'ClusterIP'"))
			}
		}
	}
	// Node ports first, then ports, as upstream orders the errors.
	nodePorts, ports := map[servicePortValue]bool{}, map[servicePortValue]bool{}
	for i, p := range spec.Ports {
		if p.NodePort == 0 {
			continue
		}
		key := servicePortValue{Protocol: p.Protocol, NodePort: p.NodePort}
		if nodePorts[key] {
			errs = append(errs, field.Duplicate(sp.Child("ports").Index(i).Child("nodePort"), p.NodePort))
		}
		nodePorts[key] = true
	}
	for i, p := range spec.Ports {
		key := servicePortValue{Protocol: p.Protocol, Port: p.Port}
		if ports[key] {
			errs = append(errs, field.Duplicate(sp.Child("ports").Index(i), key))
		}
		ports[key] = true
	}
	if len(spec.LoadBalancerSourceRanges) > 0 {
		rp := sp.Child("LoadBalancerSourceRanges")
		if spec.Type != corev1.ServiceTypeLoadBalancer {
			errs = append(errs, field.Forbidden(rp, "may only be used when `type` is 'LoadBalancer'"))
		}
		for i, r := range spec.LoadBalancerSourceRanges {
			errs = append(errs, validation.IsValidCIDRForLegacyField(rp.Index(i), strings.TrimSpace(r), true, nil)...)
		}
	}
	if spec.AllocateLoadBalancerNodePorts != nil && spec.Type != corev1.ServiceTypeLoadBalancer {
		errs = append(errs, field.Forbidden(sp.Child("allocateLoadBalancerNodePorts"), "may only be used when `type` is 'LoadBalancer'"))
	}
	if spec.Type == corev1.ServiceTypeLoadBalancer && spec.AllocateLoadBalancerNodePorts == nil {
		errs = append(errs, field.Required(field.NewPath("allocateLoadBalancerNodePorts"), ""))
	}
	if spec.LoadBalancerClass != nil {
		if spec.Type != corev1.ServiceTypeLoadBalancer {
			errs = append(errs, field.Forbidden(sp.Child("loadBalancerClass"), "may only be used when service type is 'LoadBalancer'"))
		} else {
			errs = append(errs, validateQualifiedName(*spec.LoadBalancerClass, sp.Child("loadBalancerClass"))...)
		}
	}
	if old != nil && old.Spec.Type == corev1.ServiceTypeLoadBalancer && spec.Type == corev1.ServiceTypeLoadBalancer &&
		!equalStringPtr(old.Spec.LoadBalancerClass, spec.LoadBalancerClass) {
		errs = append(errs, field.Invalid(sp.Child("loadBalancerClass"), spec.LoadBalancerClass, "may not change once set"))
	}
	errs = append(errs, validateTrafficPolicies(svc)...)
	return errs
}

func equalStringPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func validateServicePort(p *corev1.ServicePort, requireName bool, names sets.Set[string], pp *field.Path) field.ErrorList {
	var errs field.ErrorList
	if requireName && p.Name == "" {
		errs = append(errs, field.Required(pp.Child("name"), ""))
	} else if p.Name != "" {
		errs = append(errs, validateDNS1123Label(p.Name, pp.Child("name"))...)
		if names.Has(p.Name) {
			errs = append(errs, field.Duplicate(pp.Child("name"), p.Name))
		}
		names.Insert(p.Name)
	}
	for _, msg := range validation.IsValidPortNum(int(p.Port)) {
		errs = append(errs, field.Invalid(pp.Child("port"), p.Port, msg))
	}
	switch {
	case p.Protocol == "":
		errs = append(errs, field.Required(pp.Child("protocol"), ""))
	case !slices.Contains(supportedPortProtocols, p.Protocol):
		errs = append(errs, field.NotSupported(pp.Child("protocol"), p.Protocol, supportedPortProtocols))
	}
	errs = append(errs, validatePortNumOrName(p.TargetPort, pp.Child("targetPort"))...)
	if p.AppProtocol != nil {
		errs = append(errs, validateQualifiedName(*p.AppProtocol, pp.Child("appProtocol"))...)
	}
	return errs
}

func validateTrafficPolicies(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	sp := field.NewPath("spec")
	policies := []corev1.ServiceExternalTrafficPolicy{corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal}
	etp := svc.Spec.ExternalTrafficPolicy
	switch {
	case !externallyAccessible(svc) && etp != "":
		errs = append(errs, field.Invalid(sp.Child("externalTrafficPolicy"), etp, "may only be set for externally-accessible services"))
	case externallyAccessible(svc) && etp == "":
		errs = append(errs, field.Required(sp.Child("externalTrafficPolicy"), ""))
	case externallyAccessible(svc) && !slices.Contains(policies, etp):
		errs = append(errs, field.NotSupported(sp.Child("externalTrafficPolicy"), etp, policies))
	}
	hc := svc.Spec.HealthCheckNodePort
	if !needsHealthCheck(svc) {
		if hc != 0 {
			errs = append(errs, field.Invalid(sp.Child("healthCheckNodePort"), hc, "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
		}
	} else if hc != 0 {
		for _, msg := range validation.IsValidPortNum(int(hc)) {
			errs = append(errs, field.Invalid(sp.Child("healthCheckNodePort"), hc, msg))
		}
	}
	itp := svc.Spec.InternalTrafficPolicy
	if itp == nil && svc.Spec.Type != corev1.ServiceTypeExternalName {
		errs = append(errs, field.Required(sp.Child("internalTrafficPolicy"), ""))
	}
	internal := []corev1.ServiceInternalTrafficPolicy{corev1.ServiceInternalTrafficPolicyCluster, corev1.ServiceInternalTrafficPolicyLocal}
	if itp != nil && !slices.Contains(internal, *itp) {
		errs = append(errs, field.NotSupported(sp.Child("internalTrafficPolicy"), *itp, internal))
	}
	if td := svc.Spec.TrafficDistribution; td != nil {
		supported := []string{corev1.ServiceTrafficDistributionPreferClose, corev1.ServiceTrafficDistributionPreferSameZone, corev1.ServiceTrafficDistributionPreferSameNode}
		if !slices.Contains(supported, *td) {
			errs = append(errs, field.NotSupported(sp.Child("trafficDistribution"), *td, supported))
		}
	}
	return errs
}

// validateClusterIPsFields: clusterIP and clusterIPs agree, IPs are valid,
// at most one per family and of the declared family.
func validateClusterIPsFields(svc, old *corev1.Service) field.ErrorList {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	spec := &svc.Spec
	p := field.NewPath("spec", "clusterIPs")
	var errs field.ErrorList
	if spec.ClusterIP != "" {
		if len(spec.ClusterIPs) == 0 {
			errs = append(errs, field.Required(p, ""))
		} else if spec.ClusterIPs[0] != spec.ClusterIP {
			errs = append(errs, field.Invalid(p, spec.ClusterIPs, "first value must match `clusterIP`"))
		}
	} else if len(spec.ClusterIPs) != 0 {
		errs = append(errs, field.Invalid(p, spec.ClusterIPs, "must be empty when `clusterIP` is not specified"))
	}
	fp := field.NewPath("spec", "ipFamilies")
	seen := sets.New[corev1.IPFamily]()
	families := []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	for i, f := range spec.IPFamilies {
		if !slices.Contains(families, f) {
			errs = append(errs, field.NotSupported(fp.Index(i), f, families))
		}
		if seen.Has(f) {
			errs = append(errs, field.Duplicate(fp.Index(i), f))
		}
		seen.Insert(f)
	}
	if pol := spec.IPFamilyPolicy; pol != nil {
		policies := []corev1.IPFamilyPolicy{corev1.IPFamilyPolicyPreferDualStack, corev1.IPFamilyPolicyRequireDualStack, corev1.IPFamilyPolicySingleStack}
		if !slices.Contains(policies, *pol) {
			errs = append(errs, field.NotSupported(field.NewPath("spec", "ipFamilyPolicy"), pol, policies))
		}
	}
	var oldIPs []string
	if old != nil {
		oldIPs = old.Spec.ClusterIPs
	}
	invalid := false
	for i, ip := range spec.ClusterIPs {
		if i == 0 && ip == corev1.ClusterIPNone {
			if len(spec.ClusterIPs) > 1 {
				invalid = true
				errs = append(errs, field.Invalid(p, spec.ClusterIPs, "'None' must be the first and only value"))
			}
			continue
		}
		ipErrs := validation.IsValidIPForLegacyField(p.Index(i), ip, true, oldIPs)
		invalid = invalid || len(ipErrs) > 0
		errs = append(errs, ipErrs...)
	}
	if len(spec.ClusterIPs) > 2 {
		errs = append(errs, field.Invalid(p, spec.ClusterIPs, "may only hold up to 2 values"))
	}
	if invalid {
		return errs
	}
	if len(spec.ClusterIPs) == 2 && isIPv6(spec.ClusterIPs[0]) == isIPv6(spec.ClusterIPs[1]) {
		errs = append(errs, field.Invalid(p, spec.ClusterIPs, "may specify no more than one IP for each IP family"))
	}
	if !isHeadless(svc) {
		for i, ip := range spec.ClusterIPs {
			if i >= len(spec.IPFamilies) {
				break
			}
			if spec.IPFamilies[i] == corev1.IPv4Protocol && isIPv6(ip) {
				errs = append(errs, field.Invalid(p.Index(i), ip, fmt.Sprintf("expected an IPv4 value as indicated by `ipFamilies[%v]`", i)))
			}
			if spec.IPFamilies[i] == corev1.IPv6Protocol && !isIPv6(ip) {
				errs = append(errs, field.Invalid(p.Index(i), ip, fmt.Sprintf("expected an IPv6 value as indicated by `ipFamilies[%v]`", i)))
			}
		}
	}
	return errs
}

func isIPv6(s string) bool {
	ip := net.ParseIP(s)
	return ip != nil && ip.To4() == nil
}

// maxClientIPAffinitySeconds is upstream's limit on sessionAffinityConfig
// timeouts (one day).
const maxClientIPAffinitySeconds = 86400
