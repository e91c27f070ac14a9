package networking

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	netutils "k8s.io/utils/net"

	"skiff.dev/skiff/internal/registry"
)

// ingressClassAnnotation is the pre-1.18 way to pick a controller; it must
// agree with spec.ingressClassName when both are set.
const ingressClassAnnotation = "kubernetes.io/ingress.class"

var (
	pathTypes            = []string{string(networkingv1.PathTypeExact), string(networkingv1.PathTypeImplementationSpecific), string(networkingv1.PathTypePrefix)}
	invalidPathSequences = []string{"//", "/./", "/../", "%2f", "%2F"}
	invalidPathSuffixes  = []string{"/..", "/."}
)

type ingressStrategy struct{ now func() time.Time }

var (
	_ registry.Strategy       = ingressStrategy{}
	_ registry.StatusStrategy = ingressStrategy{}
	_ registry.TableConvertor = ingressStrategy{}
	_ registry.WarningsFunc   = ingressStrategy{}
)

func (ingressStrategy) Default(obj runtime.Object)                                    {}
func (ingressStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object)      {}
func (ingressStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {}

// ingressOptions are upstream's IngressValidationOptions: stored objects
// that predate a rule stay updatable.
type ingressOptions struct {
	allowInvalidSecretName       bool
	allowInvalidWildcardHostRule bool
}

func (ingressStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	ing, ok := obj.(*networkingv1.Ingress)
	if !ok {
		return wrongType(obj, "*v1.Ingress")
	}
	errs := validateIngressSpec(&ing.Spec, field.NewPath("spec"), ingressOptions{})
	if v, set := ing.Annotations[ingressClassAnnotation]; set && ing.Spec.IngressClassName != nil && v != *ing.Spec.IngressClassName {
		errs = append(errs, field.Invalid(field.NewPath("annotations").Child(ingressClassAnnotation), v, "must match `ingressClassName` when both are specified"))
	}
	return errs
}

func (ingressStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	ing, ok1 := obj.(*networkingv1.Ingress)
	o, ok2 := old.(*networkingv1.Ingress)
	if !ok1 || !ok2 {
		return wrongType(obj, "*v1.Ingress")
	}
	opts := ingressOptions{}
	for _, tls := range o.Spec.TLS {
		opts.allowInvalidSecretName = opts.allowInvalidSecretName || len(validateTLSSecretName(tls.SecretName)) > 0
	}
	for _, rule := range o.Spec.Rules {
		if strings.Contains(rule.Host, "*") && len(validateIngressRuleValue(&rule.IngressRuleValue, nil)) > 0 {
			opts.allowInvalidWildcardHostRule = true
		}
	}
	return validateIngressSpec(&ing.Spec, field.NewPath("spec"), opts)
}

func (ingressStrategy) ValidateStatusUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	ing, ok1 := obj.(*networkingv1.Ingress)
	o, ok2 := old.(*networkingv1.Ingress)
	if !ok1 || !ok2 {
		return wrongType(obj, "*v1.Ingress")
	}
	p := field.NewPath("status", "loadBalancer", "ingress")
	var oldIPs []string
	for _, lb := range o.Status.LoadBalancer.Ingress {
		if lb.IP != "" {
			oldIPs = append(oldIPs, lb.IP)
		}
	}
	var errs field.ErrorList
	for i, lb := range ing.Status.LoadBalancer.Ingress {
		ip := p.Index(i)
		if lb.IP != "" {
			errs = append(errs, validation.IsValidIPForLegacyField(ip.Child("ip"), lb.IP, true, oldIPs)...)
		}
		if lb.Hostname != "" {
			for _, msg := range validation.IsDNS1123Subdomain(lb.Hostname) {
				errs = append(errs, field.Invalid(ip.Child("hostname"), lb.Hostname, msg))
			}
			if netutils.ParseIPSloppy(lb.Hostname) != nil {
				errs = append(errs, field.Invalid(ip.Child("hostname"), lb.Hostname, "must be a DNS name, not an IP address"))
			}
		}
	}
	return errs
}

func (ingressStrategy) Warnings(ctx context.Context, obj, old runtime.Object) []string {
	ing, ok := obj.(*networkingv1.Ingress)
	if !ok || old != nil {
		return nil
	}
	if _, set := ing.Annotations[ingressClassAnnotation]; set && ing.Spec.IngressClassName == nil {
		return []string{fmt.Sprintf("annotation %q is deprecated, please use 'spec.ingressClassName' instead", ingressClassAnnotation)}
	}
	return nil
}

func validateIngressSpec(spec *networkingv1.IngressSpec, p *field.Path, opts ingressOptions) field.ErrorList {
	var errs field.ErrorList
	if len(spec.Rules) == 0 && spec.DefaultBackend == nil {
		errs = append(errs, field.Invalid(p, spec.Rules, "either `defaultBackend` or `rules` must be specified"))
	}
	if spec.DefaultBackend != nil {
		errs = append(errs, validateIngressBackend(spec.DefaultBackend, p.Child("defaultBackend"))...)
	}
	for i := range spec.Rules {
		errs = append(errs, validateIngressRule(&spec.Rules[i], p.Child("rules").Index(i), opts)...)
	}
	for i, tls := range spec.TLS {
		tp := p.Child("tls").Index(i)
		for k, host := range tls.Hosts {
			errs = append(errs, validateHost(host, tp.Child("hosts").Index(k))...)
		}
		if !opts.allowInvalidSecretName {
			for _, msg := range validateTLSSecretName(tls.SecretName) {
				errs = append(errs, field.Invalid(tp.Child("secretName"), tls.SecretName, msg))
			}
		}
	}
	if spec.IngressClassName != nil {
		for _, msg := range apimachineryvalidation.NameIsDNSSubdomain(*spec.IngressClassName, false) {
			errs = append(errs, field.Invalid(p.Child("ingressClassName"), *spec.IngressClassName, msg))
		}
	}
	return errs
}

// validateHost accepts a DNS subdomain, or one whose first label is "*".
func validateHost(host string, p *field.Path) field.ErrorList {
	check := validation.IsDNS1123Subdomain
	if strings.Contains(host, "*") {
		check = validation.IsWildcardDNS1123Subdomain
	}
	var errs field.ErrorList
	for _, msg := range check(host) {
		errs = append(errs, field.Invalid(p, host, msg))
	}
	return errs
}

func validateTLSSecretName(name string) []string {
	if name == "" {
		return nil
	}
	return apimachineryvalidation.NameIsDNSSubdomain(name, false)
}

func validateIngressRule(rule *networkingv1.IngressRule, p *field.Path, opts ingressOptions) field.ErrorList {
	var errs field.ErrorList
	wildcard := false
	if rule.Host != "" {
		hp := p.Child("host")
		if netutils.ParseIPSloppy(rule.Host) != nil {
			errs = append(errs, field.Invalid(hp, rule.Host, "must be a DNS name, not an IP address"))
		}
		wildcard = strings.Contains(rule.Host, "*")
		errs = append(errs, validateHost(rule.Host, hp)...)
	}
	if !wildcard || !opts.allowInvalidWildcardHostRule {
		errs = append(errs, validateIngressRuleValue(&rule.IngressRuleValue, p)...)
	}
	return errs
}

func validateIngressRuleValue(v *networkingv1.IngressRuleValue, p *field.Path) field.ErrorList {
	if v.HTTP == nil {
		return nil
	}
	var errs field.ErrorList
	hp := p.Child("http", "paths")
	if len(v.HTTP.Paths) == 0 {
		errs = append(errs, field.Required(hp, ""))
	}
	for i := range v.HTTP.Paths {
		errs = append(errs, validateHTTPIngressPath(&v.HTTP.Paths[i], hp.Index(i))...)
	}
	return errs
}

func validateHTTPIngressPath(path *networkingv1.HTTPIngressPath, p *field.Path) field.ErrorList {
	if path.PathType == nil {
		return field.ErrorList{field.Required(p.Child("pathType"), "pathType must be specified")}
	}
	var errs field.ErrorList
	pp := p.Child("path")
	switch *path.PathType {
	case networkingv1.PathTypeExact, networkingv1.PathTypePrefix:
		// Paths that normalise to something else would route unexpectedly.
		if !strings.HasPrefix(path.Path, "/") {
			errs = append(errs, field.Invalid(pp, path.Path, "must be an absolute path"))
		}
		for _, seq := range invalidPathSequences {
			if strings.Contains(path.Path, seq) {
				errs = append(errs, field.Invalid(pp, path.Path, fmt.Sprintf("must not contain '%s'", seq)))
			}
		}
		for _, suffix := range invalidPathSuffixes {
			if strings.HasSuffix(path.Path, suffix) {
				errs = append(errs, field.Invalid(pp, path.Path, fmt.Sprintf("cannot end with '%s'", suffix)))
			}
		}
	case networkingv1.PathTypeImplementationSpecific:
		if path.Path != "" && !strings.HasPrefix(path.Path, "/") {
			errs = append(errs, field.Invalid(pp, path.Path, "must be an absolute path"))
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("pathType"), *path.PathType, pathTypes))
	}
	return append(errs, validateIngressBackend(&path.Backend, p.Child("backend"))...)
}

// validateIngressBackend: exactly one of a service (name and a port name
// or number) and a resource reference.
func validateIngressBackend(b *networkingv1.IngressBackend, p *field.Path) field.ErrorList {
	switch {
	case b.Resource != nil && b.Service != nil:
		return field.ErrorList{field.Invalid(p, "", "cannot set both resource and service backends")}
	case b.Resource != nil:
		return validateTypedLocalObjectReference(b.Resource.APIGroup, b.Resource.Kind, b.Resource.Name, p.Child("resource"))
	case b.Service == nil:
		return field.ErrorList{field.Invalid(p, "", "resource or service backend is required")}
	}
	var errs field.ErrorList
	sp := p.Child("service")
	if b.Service.Name == "" {
		errs = append(errs, field.Required(sp.Child("name"), ""))
	} else {
		// RelaxedServiceNameValidation is GA in 1.37: DNS labels.
		for _, msg := range apimachineryvalidation.NameIsDNSLabel(b.Service.Name, false) {
			errs = append(errs, field.Invalid(sp.Child("name"), b.Service.Name, msg))
		}
	}
	port := b.Service.Port
	switch {
	case port.Name != "" && port.Number != 0:
		errs = append(errs, field.Invalid(p, "", "cannot set both port name & port number"))
	case port.Name != "":
		for _, msg := range validation.IsValidPortName(port.Name) {
			errs = append(errs, field.Invalid(sp.Child("port", "name"), port.Name, msg))
		}
	case port.Number != 0:
		for _, msg := range validation.IsValidPortNum(int(port.Number)) {
			errs = append(errs, field.Invalid(sp.Child("port", "number"), port.Number, msg))
		}
	default:
		errs = append(errs, field.Required(p, "port name or number is required"))
	}
	return errs
}

func validateTypedLocalObjectReference(group *string, kind, name string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if group != nil {
		for _, msg := range validation.IsDNS1123Subdomain(*group) {
			errs = append(errs, field.Invalid(p.Child("apiGroup"), *group, msg))
		}
	}
	for _, f := range []struct{ name, value string }{{"kind", kind}, {"name", name}} {
		if f.value == "" {
			errs = append(errs, field.Required(p.Child(f.name), ""))
			continue
		}
		for _, msg := range content.IsPathSegmentName(f.value) {
			errs = append(errs, field.Invalid(p.Child(f.name), f.value, msg))
		}
	}
	return errs
}

func (ingressStrategy) ColumnDefinitions() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Class", Type: "string", Description: "The name of the IngressClass resource that should be used for additional configuration"},
		{Name: "Hosts", Type: "string", Description: "Hosts that incoming requests are matched against before the ingress rule"},
		{Name: "Address", Type: "string", Description: "Address is a list containing ingress points for the load-balancer"},
		{Name: "Ports", Type: "string", Description: "Ports of TLS configurations that open"},
		ageColumn,
	}
}

func (s ingressStrategy) Row(obj runtime.Object) []interface{} {
	ing, ok := obj.(*networkingv1.Ingress)
	if !ok {
		return nil
	}
	class := "<none>"
	if ing.Spec.IngressClassName != nil {
		class = *ing.Spec.IngressClassName
	}
	ports := "80"
	if len(ing.Spec.TLS) != 0 {
		ports = "80, 443"
	}
	return []interface{}{ing.Name, class, ingressHosts(ing.Spec.Rules), ingressAddresses(ing.Status.LoadBalancer), ports, age(s.now(), ing.CreationTimestamp)}
}

// ingressHosts lists up to three rule hosts, "*" when none is set. As
// upstream, the "more" count is of rules, not of hosts.
func ingressHosts(rules []networkingv1.IngressRule) string {
	const max = 3
	var hosts []string
	more := false
	for _, r := range rules {
		if len(hosts) == max {
			more = true
		}
		if !more && r.Host != "" {
			hosts = append(hosts, r.Host)
		}
	}
	if len(hosts) == 0 {
		return "*"
	}
	out := strings.Join(hosts, ",")
	if more {
		out = fmt.Sprintf("%s + %d more...", out, len(rules)-max)
	}
	return out
}

// ingressAddresses joins the distinct load balancer IPs (or hostnames),
// sorted. The server sends the full list; kubectl truncates.
func ingressAddresses(s networkingv1.IngressLoadBalancerStatus) string {
	var addrs []string
	for _, lb := range s.Ingress {
		a := lb.IP
		if a == "" {
			a = lb.Hostname
		}
		if a != "" && !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	sort.Strings(addrs)
	return strings.Join(addrs, ",")
}
