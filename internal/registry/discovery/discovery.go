// Package discovery holds the registry strategy of discovery.k8s.io/v1
// endpointslices, with upstream's defaults, validation (address types,
// endpoint addresses, ports, hints), the v1 handling of
// deprecatedTopology, warnings and `kubectl get` columns.
package discovery

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	netutils "k8s.io/utils/net"

	"skiff.dev/skiff/internal/registry"
)

// Limits of upstream's discovery validation.
const (
	maxTopologyLabels = 16
	maxAddresses      = 100
	maxPorts          = 20000
	maxEndpoints      = 1000
	maxZoneHints      = 8
	maxNodeHints      = 8
)

// managersWithCleanIPs are the controllers whose slices are not checked
// for ambiguous IP spellings: they normalise addresses themselves.
var managersWithCleanIPs = []string{"endpointslice-controller.k8s.io", "endpointslicemirroring-controller.k8s.io"}

// Resources returns the discovery.k8s.io/v1 resources.
func Resources() []registry.Resource {
	return resources(time.Now)
}

func resources(now func() time.Time) []registry.Resource {
	return []registry.Resource{{
		GroupVersion: discoveryv1.SchemeGroupVersion, Resource: "endpointslices", Kind: "EndpointSlice",
		SingularName: "endpointslice", Namespaced: true,
		New:      func() runtime.Object { return &discoveryv1.EndpointSlice{} },
		NewList:  func() runtime.Object { return &discoveryv1.EndpointSliceList{} },
		Strategy: endpointSliceStrategy{now: now}, HasGeneration: true,
	}}
}

type endpointSliceStrategy struct{ now func() time.Time }

var (
	_ registry.Strategy       = endpointSliceStrategy{}
	_ registry.TableConvertor = endpointSliceStrategy{}
	_ registry.WarningsFunc   = endpointSliceStrategy{}
)

// Default names unnamed ports "" and gives them TCP.
func (endpointSliceStrategy) Default(obj runtime.Object) {
	eps, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return
	}
	for i := range eps.Ports {
		p := &eps.Ports[i]
		if p.Name == nil {
			p.Name = new(string)
		}
		if p.Protocol == nil {
			tcp := corev1.ProtocolTCP
			p.Protocol = &tcp
		}
	}
}

// PrepareForCreate drops deprecatedTopology, which v1 clients may not
// write.
func (endpointSliceStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	if eps, ok := obj.(*discoveryv1.EndpointSlice); ok {
		dropTopology(nil, eps)
	}
}

// PrepareForUpdate bumps the generation on label changes as upstream does
// (the slice controllers find their slices by label), and drops
// deprecatedTopology writes.
func (endpointSliceStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	eps, ok1 := obj.(*discoveryv1.EndpointSlice)
	o, ok2 := old.(*discoveryv1.EndpointSlice)
	if !ok1 || !ok2 {
		return
	}
	if !apiequality.Semantic.DeepEqual(eps.Labels, o.Labels) {
		eps.Generation = o.Generation + 1
	}
	dropTopology(o, eps)
}

// dropTopology clears deprecatedTopology unless the endpoints are
// unchanged. A kubernetes.io/hostname entry the old slice held is moved to
// nodeName first, so that read-modify-write clients keep node information.
func dropTopology(old, eps *discoveryv1.EndpointSlice) {
	if old != nil && apiequality.Semantic.DeepEqual(old.Endpoints, eps.Endpoints) {
		return
	}
	prev := map[string]bool{}
	if old != nil {
		for _, ep := range old.Endpoints {
			if n := ep.DeprecatedTopology[corev1.LabelHostname]; n != "" {
				prev[n] = true
			}
		}
	}
	for i := range eps.Endpoints {
		ep := &eps.Endpoints[i]
		if n, ok := ep.DeprecatedTopology[corev1.LabelHostname]; ep.NodeName == nil && ok && prev[n] && len(apimachineryvalidation.NameIsDNSSubdomain(n, false)) == 0 {
			ep.NodeName = &n
		}
		ep.DeprecatedTopology = nil
	}
}

func (endpointSliceStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	eps, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return wrongType(obj)
	}
	return validateEndpointSlice(eps, nil)
}

func (endpointSliceStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	eps, ok1 := obj.(*discoveryv1.EndpointSlice)
	o, ok2 := old.(*discoveryv1.EndpointSlice)
	if !ok1 || !ok2 {
		return wrongType(obj)
	}
	errs := validateEndpointSlice(eps, o)
	return append(errs, apimachineryvalidation.ValidateImmutableField(eps.AddressType, o.AddressType, field.NewPath("addressType"))...)
}

func wrongType(obj runtime.Object) field.ErrorList {
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("expected *v1.EndpointSlice, got %T", obj))}
}

func validateEndpointSlice(eps, old *discoveryv1.EndpointSlice) field.ErrorList {
	var errs field.ErrorList
	ap := field.NewPath("addressType")
	switch eps.AddressType {
	case "":
		errs = append(errs, field.Required(ap, ""))
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN:
	default:
		errs = append(errs, field.NotSupported(ap, eps.AddressType, []string{
			string(discoveryv1.AddressTypeFQDN), string(discoveryv1.AddressTypeIPv4), string(discoveryv1.AddressTypeIPv6),
		}))
	}
	errs = append(errs, validatePorts(eps.Ports, field.NewPath("ports"))...)
	// Endpoints stored by an older, laxer server are not re-checked when
	// an update leaves them alone.
	if epErrs := validateEndpoints(eps.Endpoints, eps.AddressType, field.NewPath("endpoints")); len(epErrs) > 0 &&
		(old == nil || !apiequality.Semantic.DeepEqual(old.Endpoints, eps.Endpoints)) {
		errs = append(errs, epErrs...)
	}
	return errs
}

func validateEndpoints(endpoints []discoveryv1.Endpoint, addrType discoveryv1.AddressType, p *field.Path) field.ErrorList {
	if len(endpoints) > maxEndpoints {
		return field.ErrorList{field.TooMany(p, len(endpoints), maxEndpoints)}
	}
	var errs field.ErrorList
	for i, ep := range endpoints {
		ip := p.Index(i)
		ap := ip.Child("addresses")
		switch {
		case len(ep.Addresses) == 0:
			errs = append(errs, field.Required(ap, "must contain at least 1 address"))
		case len(ep.Addresses) > maxAddresses:
			errs = append(errs, field.TooMany(ap, len(ep.Addresses), maxAddresses))
		}
		for k, addr := range ep.Addresses {
			errs = append(errs, validateAddress(addr, addrType, ap, ap.Index(k))...)
		}
		if ep.NodeName != nil {
			for _, msg := range apimachineryvalidation.NameIsDNSSubdomain(*ep.NodeName, false) {
				errs = append(errs, field.Invalid(ip.Child("nodeName"), *ep.NodeName, msg))
			}
		}
		tp := ip.Child("deprecatedTopology")
		if len(ep.DeprecatedTopology) > maxTopologyLabels {
			errs = append(errs, field.TooMany(tp, len(ep.DeprecatedTopology), maxTopologyLabels))
		}
		errs = append(errs, metav1validation.ValidateLabels(ep.DeprecatedTopology, tp)...)
		if ep.Hostname != nil {
			for _, msg := range validation.IsDNS1123Label(*ep.Hostname) {
				errs = append(errs, field.Invalid(ip.Child("hostname"), *ep.Hostname, msg))
			}
		}
		if ep.Hints != nil {
			errs = append(errs, validateHints(ep.Hints, ip.Child("hints"))...)
		}
	}
	return errs
}

// validateAddress checks one address against the slice's type. As
// upstream, the "wrong family" error names the list, not the element.
func validateAddress(addr string, t discoveryv1.AddressType, listPath, p *field.Path) field.ErrorList {
	switch t {
	case discoveryv1.AddressTypeIPv4:
		if errs := validation.IsValidIPForLegacyField(p, addr, true, nil); len(errs) > 0 {
			return errs
		}
		var errs field.ErrorList
		if !netutils.IsIPv4String(addr) {
			errs = append(errs, field.Invalid(listPath, addr, "must be an IPv4 address"))
		}
		return append(errs, validateEndpointIP(addr, p)...)
	case discoveryv1.AddressTypeIPv6:
		if errs := validation.IsValidIP(p, addr); len(errs) > 0 {
			return errs
		}
		var errs field.ErrorList
		if !netutils.IsIPv6String(addr) {
			errs = append(errs, field.Invalid(listPath, addr, "must be an IPv6 address"))
		}
		return append(errs, validateEndpointIP(addr, p)...)
	case discoveryv1.AddressTypeFQDN:
		return validation.IsFullyQualifiedDomainName(p, addr)
	}
	return nil
}

// validateEndpointIP refuses addresses no pod can be reached at.
func validateEndpointIP(addr string, p *field.Path) field.ErrorList {
	ip := netutils.ParseIPSloppy(addr)
	if ip == nil {
		return field.ErrorList{field.Invalid(p, addr, "must be a valid IP address")}
	}
	var errs field.ErrorList
	if ip.IsUnspecified() {
		errs = append(errs, field.Invalid(p, addr, fmt.Sprintf("may not be unspecified (%v)", addr)))
	}
	if ip.IsLoopback() {
		errs = append(errs, field.Invalid(p, addr, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
	}
	if ip.IsLinkLocalUnicast() {
		errs = append(errs, field.Invalid(p, addr, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
	}
	if ip.IsLinkLocalMulticast() {
		errs = append(errs, field.Invalid(p, addr, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"))
	}
	return errs
}

func validatePorts(ports []discoveryv1.EndpointPort, p *field.Path) field.ErrorList {
	if len(ports) > maxPorts {
		return field.ErrorList{field.TooMany(p, len(ports), maxPorts)}
	}
	var errs field.ErrorList
	var names []string
	protocols := []string{string(corev1.ProtocolSCTP), string(corev1.ProtocolTCP), string(corev1.ProtocolUDP)}
	for i, port := range ports {
		ip := p.Index(i)
		// Defaulting leaves no nil name; count one as "".
		var name string
		if port.Name != nil {
			name = *port.Name
		}
		if name != "" {
			for _, msg := range validation.IsDNS1123Label(name) {
				errs = append(errs, field.Invalid(ip.Child("name"), name, msg))
			}
		}
		if slices.Contains(names, name) {
			errs = append(errs, field.Duplicate(ip.Child("name"), name))
		} else {
			names = append(names, name)
		}
		switch {
		case port.Protocol == nil:
			errs = append(errs, field.Required(ip.Child("protocol"), ""))
		case !slices.Contains(protocols, string(*port.Protocol)):
			errs = append(errs, field.NotSupported(ip.Child("protocol"), *port.Protocol, protocols))
		}
		if port.AppProtocol != nil {
			for _, msg := range content.IsLabelKey(*port.AppProtocol) {
				errs = append(errs, field.Invalid(ip.Child("appProtocol"), *port.AppProtocol, msg))
			}
		}
	}
	return errs
}

func validateHints(h *discoveryv1.EndpointHints, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	zp := p.Child("forZones")
	if len(h.ForZones) > maxZoneHints {
		return field.ErrorList{field.TooMany(zp, len(h.ForZones), maxZoneHints)}
	}
	var zones []string
	for i, z := range h.ForZones {
		np := zp.Index(i).Child("name")
		if slices.Contains(zones, z.Name) {
			errs = append(errs, field.Duplicate(np, z.Name))
		} else {
			zones = append(zones, z.Name)
		}
		for _, msg := range validation.IsValidLabelValue(z.Name) {
			errs = append(errs, field.Invalid(np, z.Name, msg))
		}
	}
	np := p.Child("forNodes")
	if len(h.ForNodes) > maxNodeHints {
		return append(errs, field.TooMany(np, len(h.ForNodes), maxNodeHints))
	}
	var nodes []string
	for i, n := range h.ForNodes {
		fp := np.Index(i).Child("name")
		if slices.Contains(nodes, n.Name) {
			errs = append(errs, field.Duplicate(fp, n.Name))
		} else {
			nodes = append(nodes, n.Name)
		}
		for _, msg := range apimachineryvalidation.NameIsDNSSubdomain(n.Name, false) {
			errs = append(errs, field.Invalid(fp, n.Name, msg))
		}
	}
	return errs
}

// Warnings flags FQDN slices (deprecated) on create and, for slices not
// written by the endpoint controllers, ambiguous IP spellings.
func (endpointSliceStrategy) Warnings(ctx context.Context, obj, old runtime.Object) []string {
	eps, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil
	}
	var warnings []string
	if old == nil && eps.AddressType == discoveryv1.AddressTypeFQDN {
		warnings = append(warnings, "spec.addressType: FQDN endpoints are deprecated")
	}
	if slices.Contains(managersWithCleanIPs, eps.Labels[discoveryv1.LabelManagedBy]) {
		return warnings
	}
	for i, ep := range eps.Endpoints {
		for k, addr := range ep.Addresses {
			warnings = append(warnings, validation.GetWarningsForIP(field.NewPath("endpoints").Index(i).Child("addresses").Index(k), addr)...)
		}
	}
	return warnings
}

func (endpointSliceStrategy) ColumnDefinitions() []metav1.TableColumnDefinition {
	doc := discoveryv1.EndpointSlice{}.SwaggerDoc()
	return []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
		{Name: "AddressType", Type: "string", Description: doc["addressType"]},
		{Name: "Ports", Type: "string", Description: doc["ports"]},
		{Name: "Endpoints", Type: "string", Description: doc["endpoints"]},
		{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
	}
}

func (s endpointSliceStrategy) Row(obj runtime.Object) []interface{} {
	eps, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil
	}
	var ports []string
	for _, p := range eps.Ports {
		switch {
		case p.Port != nil:
			ports = append(ports, strconv.Itoa(int(*p.Port)))
		case p.Name != nil:
			ports = append(ports, *p.Name)
		default:
			ports = append(ports, "*")
		}
	}
	var addrs []string
	for _, ep := range eps.Endpoints {
		addrs = append(addrs, ep.Addresses...)
	}
	age := "<unknown>"
	if !eps.CreationTimestamp.IsZero() {
		age = duration.HumanDuration(s.now().Sub(eps.CreationTimestamp.Time))
	}
	return []interface{}{eps.Name, string(eps.AddressType), firstThree(ports), firstThree(addrs), age}
}

// firstThree joins up to three items and counts the rest, "<unset>" when
// there are none.
func firstThree(items []string) string {
	const max = 3
	if len(items) == 0 {
		return "<unset>"
	}
	if len(items) <= max {
		return strings.Join(items, ",")
	}
	return fmt.Sprintf("%s + %d more...", strings.Join(items[:max], ","), len(items)-max)
}
