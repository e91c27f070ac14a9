package networking

import (
	"context"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	netutils "k8s.io/utils/net"

	"skiff.dev/skiff/internal/registry"
)

type networkPolicyStrategy struct{ now func() time.Time }

var (
	_ registry.Strategy       = networkPolicyStrategy{}
	_ registry.TableConvertor = networkPolicyStrategy{}
	_ registry.WarningsFunc   = networkPolicyStrategy{}
)

// Default: a policy without policyTypes is an Ingress policy, plus Egress
// when it has egress rules; ports default to TCP.
func (networkPolicyStrategy) Default(obj runtime.Object) {
	np, ok := obj.(*networkingv1.NetworkPolicy)
	if !ok {
		return
	}
	if len(np.Spec.PolicyTypes) == 0 {
		np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
		if len(np.Spec.Egress) != 0 {
			np.Spec.PolicyTypes = append(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
		}
	}
	defaultPorts := func(ports []networkingv1.NetworkPolicyPort) {
		for i := range ports {
			if ports[i].Protocol == nil {
				tcp := corev1.ProtocolTCP
				ports[i].Protocol = &tcp
			}
		}
	}
	for i := range np.Spec.Ingress {
		defaultPorts(np.Spec.Ingress[i].Ports)
	}
	for i := range np.Spec.Egress {
		defaultPorts(np.Spec.Egress[i].Ports)
	}
}

func (networkPolicyStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object)      {}
func (networkPolicyStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {}

// policyOptions tolerate what stored policies may hold from before strict
// validation: label values in the pod selector and sloppy CIDRs.
type policyOptions struct {
	selector      metav1validation.LabelSelectorValidationOptions
	tolerateCIDRs []string
}

func (networkPolicyStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	np, ok := obj.(*networkingv1.NetworkPolicy)
	if !ok {
		return wrongType(obj, "*v1.NetworkPolicy")
	}
	return validateNetworkPolicySpec(&np.Spec, field.NewPath("spec"), policyOptions{})
}

func (networkPolicyStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	np, ok1 := obj.(*networkingv1.NetworkPolicy)
	o, ok2 := old.(*networkingv1.NetworkPolicy)
	if !ok1 || !ok2 {
		return wrongType(obj, "*v1.NetworkPolicy")
	}
	opts := policyOptions{}
	if len(metav1validation.ValidateLabelSelector(&o.Spec.PodSelector, metav1validation.LabelSelectorValidationOptions{}, nil)) > 0 {
		opts.selector.AllowInvalidLabelValueInSelector = true
	}
	forEachIPBlock(&o.Spec, func(b *networkingv1.IPBlock, _ *field.Path) {
		opts.tolerateCIDRs = append(append(opts.tolerateCIDRs, b.CIDR), b.Except...)
	})
	return validateNetworkPolicySpec(&np.Spec, field.NewPath("spec"), opts)
}

// forEachIPBlock calls f with every ipBlock peer and its path.
func forEachIPBlock(spec *networkingv1.NetworkPolicySpec, f func(*networkingv1.IPBlock, *field.Path)) {
	for i, rule := range spec.Ingress {
		for k, peer := range rule.From {
			if peer.IPBlock != nil {
				f(peer.IPBlock, field.NewPath("spec", "ingress").Index(i).Child("from").Index(k).Child("ipBlock"))
			}
		}
	}
	for i, rule := range spec.Egress {
		for k, peer := range rule.To {
			if peer.IPBlock != nil {
				f(peer.IPBlock, field.NewPath("spec", "egress").Index(i).Child("to").Index(k).Child("ipBlock"))
			}
		}
	}
}

// Warnings flags CIDRs that parse but are ambiguous (leading zeros, host
// bits set), as upstream does on create and update.
func (networkPolicyStrategy) Warnings(ctx context.Context, obj, old runtime.Object) []string {
	np, ok := obj.(*networkingv1.NetworkPolicy)
	if !ok {
		return nil
	}
	var warnings []string
	forEachIPBlock(&np.Spec, func(b *networkingv1.IPBlock, p *field.Path) {
		warnings = append(warnings, validation.GetWarningsForCIDR(p.Child("cidr"), b.CIDR)...)
		for k, except := range b.Except {
			warnings = append(warnings, validation.GetWarningsForCIDR(p.Child("except").Index(k), except)...)
		}
	})
	return warnings
}

func validateNetworkPolicySpec(spec *networkingv1.NetworkPolicySpec, p *field.Path, opts policyOptions) field.ErrorList {
	errs := metav1validation.ValidateLabelSelector(&spec.PodSelector, opts.selector, p.Child("podSelector"))
	for i, rule := range spec.Ingress {
		rp := p.Child("ingress").Index(i)
		for k := range rule.Ports {
			errs = append(errs, validatePolicyPort(&rule.Ports[k], rp.Child("ports").Index(k))...)
		}
		for k := range rule.From {
			errs = append(errs, validatePolicyPeer(&rule.From[k], rp.Child("from").Index(k), opts)...)
		}
	}
	for i, rule := range spec.Egress {
		rp := p.Child("egress").Index(i)
		for k := range rule.Ports {
			errs = append(errs, validatePolicyPort(&rule.Ports[k], rp.Child("ports").Index(k))...)
		}
		for k := range rule.To {
			errs = append(errs, validatePolicyPeer(&rule.To[k], rp.Child("to").Index(k), opts)...)
		}
	}
	allowed := []string{string(networkingv1.PolicyTypeIngress), string(networkingv1.PolicyTypeEgress)}
	if len(spec.PolicyTypes) > len(allowed) {
		return append(errs, field.Invalid(p.Child("policyTypes"), &spec.PolicyTypes, "may not specify more than two policyTypes"))
	}
	for i, t := range spec.PolicyTypes {
		if !slices.Contains(allowed, string(t)) {
			errs = append(errs, field.NotSupported(p.Child("policyTypes").Index(i), t, allowed))
		}
	}
	return errs
}

func validatePolicyPort(port *networkingv1.NetworkPolicyPort, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if pr := port.Protocol; pr != nil && *pr != corev1.ProtocolTCP && *pr != corev1.ProtocolUDP && *pr != corev1.ProtocolSCTP {
		errs = append(errs, field.NotSupported(p.Child("protocol"), *pr, []string{string(corev1.ProtocolTCP), string(corev1.ProtocolUDP), string(corev1.ProtocolSCTP)}))
	}
	switch {
	case port.Port == nil:
		if port.EndPort != nil {
			errs = append(errs, field.Invalid(p.Child("endPort"), *port.EndPort, "may not be specified when `port` is not specified"))
		}
	case port.Port.Type == intstr.Int:
		for _, msg := range validation.IsValidPortNum(int(port.Port.IntVal)) {
			errs = append(errs, field.Invalid(p.Child("port"), port.Port.IntVal, msg))
		}
		if port.EndPort != nil {
			if *port.EndPort < port.Port.IntVal {
				errs = append(errs, field.Invalid(p.Child("endPort"), *port.EndPort, "must be greater than or equal to `port`"))
			}
			for _, msg := range validation.IsValidPortNum(int(*port.EndPort)) {
				errs = append(errs, field.Invalid(p.Child("endPort"), *port.EndPort, msg))
			}
		}
	default:
		if port.EndPort != nil {
			errs = append(errs, field.Invalid(p.Child("endPort"), *port.EndPort, "may not be specified when `port` is non-numeric"))
		}
		for _, msg := range validation.IsValidPortName(port.Port.StrVal) {
			errs = append(errs, field.Invalid(p.Child("port"), port.Port.StrVal, msg))
		}
	}
	return errs
}

// validatePolicyPeer: a peer selects pods and/or namespaces, or is an IP
// block alone.
func validatePolicyPeer(peer *networkingv1.NetworkPolicyPeer, p *field.Path, opts policyOptions) field.ErrorList {
	var errs field.ErrorList
	n := 0
	if peer.PodSelector != nil {
		n++
		errs = append(errs, metav1validation.ValidateLabelSelector(peer.PodSelector, opts.selector, p.Child("podSelector"))...)
	}
	if peer.NamespaceSelector != nil {
		n++
		errs = append(errs, metav1validation.ValidateLabelSelector(peer.NamespaceSelector, opts.selector, p.Child("namespaceSelector"))...)
	}
	if peer.IPBlock != nil {
		n++
		errs = append(errs, validateIPBlock(peer.IPBlock, p.Child("ipBlock"), opts.tolerateCIDRs)...)
	}
	switch {
	case n == 0:
		errs = append(errs, field.Required(p, "must specify a peer"))
	case n > 1 && peer.IPBlock != nil:
		errs = append(errs, field.Forbidden(p, "may not specify both ipBlock and another peer"))
	}
	return errs
}

// validateIPBlock: every except must be a strict subset of cidr. CIDRs the
// old object already held are not re-checked (StrictIPCIDRValidation).
func validateIPBlock(b *networkingv1.IPBlock, p *field.Path, tolerate []string) field.ErrorList {
	if b.CIDR == "" {
		return field.ErrorList{field.Required(p.Child("cidr"), "")}
	}
	errs := validation.IsValidCIDRForLegacyField(p.Child("cidr"), b.CIDR, true, tolerate)
	_, cidr, err := netutils.ParseCIDRSloppy(b.CIDR)
	if err != nil {
		return errs
	}
	for i, except := range b.Except {
		ep := p.Child("except").Index(i)
		errs = append(errs, validation.IsValidCIDRForLegacyField(ep, except, true, tolerate)...)
		_, exceptNet, err := netutils.ParseCIDRSloppy(except)
		if err != nil {
			continue
		}
		cidrLen, _ := cidr.Mask.Size()
		exceptLen, _ := exceptNet.Mask.Size()
		if !cidr.Contains(exceptNet.IP) || cidrLen >= exceptLen {
			errs = append(errs, field.Invalid(ep, except, "must be a strict subset of `cidr`"))
		}
	}
	return errs
}

func (networkPolicyStrategy) ColumnDefinitions() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Pod-Selector", Type: "string", Description: networkingv1.NetworkPolicySpec{}.SwaggerDoc()["podSelector"]},
		ageColumn,
	}
}

func (s networkPolicyStrategy) Row(obj runtime.Object) []interface{} {
	np, ok := obj.(*networkingv1.NetworkPolicy)
	if !ok {
		return nil
	}
	return []interface{}{np.Name, metav1.FormatLabelSelector(&np.Spec.PodSelector), age(s.now(), np.CreationTimestamp)}
}
