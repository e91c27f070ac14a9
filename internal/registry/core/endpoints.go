package core

import (
	"context"
	"fmt"
	"net"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry"
)

// endpointsStrategy validates the legacy Endpoints object the endpoints
// controller writes for each service.
type endpointsStrategy struct{ clock }

var (
	_ registry.Strategy       = endpointsStrategy{}
	_ registry.TableConvertor = endpointsStrategy{}
)

func (endpointsStrategy) Default(obj runtime.Object) {
	ep, ok := obj.(*corev1.Endpoints)
	if !ok {
		return
	}
	for i := range ep.Subsets {
		for j := range ep.Subsets[i].Ports {
			if p := &ep.Subsets[i].Ports[j]; p.Protocol == "" {
				p.Protocol = corev1.ProtocolTCP
			}
		}
	}
}

func (endpointsStrategy) PrepareForCreate(context.Context, runtime.Object)                 {}
func (endpointsStrategy) PrepareForUpdate(context.Context, runtime.Object, runtime.Object) {}

func (endpointsStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	ep, ok := obj.(*corev1.Endpoints)
	if !ok {
		return wrongType(obj, "*v1.Endpoints")
	}
	return validateEndpointSubsets(ep.Subsets, nil)
}

// ValidateUpdate tolerates invalid subsets that were stored before and are
// not being changed.
func (endpointsStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	ep, ok1 := obj.(*corev1.Endpoints)
	oldEP, ok2 := old.(*corev1.Endpoints)
	if !ok1 || !ok2 {
		return wrongType(obj, "*v1.Endpoints")
	}
	return validateEndpointSubsets(ep.Subsets, oldEP.Subsets)
}

func validateEndpointSubsets(subsets, old []corev1.EndpointSubset) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("subsets")
	for i := range subsets {
		ss := &subsets[i]
		sp := p.Index(i)
		if len(ss.Addresses) == 0 && len(ss.NotReadyAddresses) == 0 {
			errs = append(errs, field.Required(sp, "must specify `addresses` or `notReadyAddresses`"))
		}
		for j := range ss.Addresses {
			errs = append(errs, validateEndpointAddress(&ss.Addresses[j], sp.Child("addresses").Index(j))...)
		}
		for j := range ss.NotReadyAddresses {
			errs = append(errs, validateEndpointAddress(&ss.NotReadyAddresses[j], sp.Child("notReadyAddresses").Index(j))...)
		}
		for j := range ss.Ports {
			errs = append(errs, validateEndpointPort(&ss.Ports[j], len(ss.Ports) > 1, sp.Child("ports").Index(j))...)
		}
	}
	if len(errs) > 0 && old != nil && apiequality.Semantic.DeepEqual(subsets, old) {
		return nil
	}
	return errs
}

func validateEndpointAddress(a *corev1.EndpointAddress, p *field.Path) field.ErrorList {
	errs := validation.IsValidIPForLegacyField(p.Child("ip"), a.IP, true, nil)
	if a.Hostname != "" {
		errs = append(errs, validateDNS1123Label(a.Hostname, p.Child("hostname"))...)
	}
	if a.NodeName != nil {
		errs = append(errs, validateObjectName(*a.NodeName, apivalidation.NameIsDNSSubdomain, p.Child("nodeName"))...)
	}
	return append(errs, validateEndpointIP(a.IP, p.Child("ip"))...)
}

// validateEndpointIP rejects addresses no pod can have.
func validateEndpointIP(s string, p *field.Path) field.ErrorList {
	ip := net.ParseIP(s)
	if ip == nil {
		return field.ErrorList{field.Invalid(p, s, "must be a valid IP address")}
	}
	var errs field.ErrorList
	if ip.IsUnspecified() {
		errs = append(errs, field.Invalid(p, s, fmt.Sprintf("may not be unspecified (%v)", s)))
	}
	if ip.IsLoopback() {
		errs = append(errs, field.Invalid(p, s, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
	}
	if ip.IsLinkLocalUnicast() {
		errs = append(errs, field.Invalid(p, s, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
	}
	if ip.IsLinkLocalMulticast() {
		errs = append(errs, field.Invalid(p, s, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"))
	}
	return errs
}

func validateEndpointPort(port *corev1.EndpointPort, requireName bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if requireName && port.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	} else if port.Name != "" {
		errs = append(errs, validateDNS1123Label(port.Name, p.Child("name"))...)
	}
	for _, msg := range validation.IsValidPortNum(int(port.Port)) {
		errs = append(errs, field.Invalid(p.Child("port"), port.Port, msg))
	}
	switch {
	case port.Protocol == "":
		errs = append(errs, field.Required(p.Child("protocol"), ""))
	case !containsValue(supportedPortProtocols, port.Protocol):
		errs = append(errs, field.NotSupported(p.Child("protocol"), port.Protocol, supportedPortProtocols))
	}
	if port.AppProtocol != nil {
		errs = append(errs, validateQualifiedName(*port.AppProtocol, p.Child("appProtocol"))...)
	}
	return errs
}

var endpointsColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Endpoints", "string", corev1.Endpoints{}.SwaggerDoc()["subsets"]),
	ageColumn,
}

func (endpointsStrategy) ColumnDefinitions() []metav1.TableColumnDefinition { return endpointsColumns }

func (s endpointsStrategy) Row(obj runtime.Object) []interface{} {
	ep, ok := obj.(*corev1.Endpoints)
	if !ok {
		return nil
	}
	return []interface{}{ep.Name, endpointsCell(ep), s.since(ep.CreationTimestamp)}
}
