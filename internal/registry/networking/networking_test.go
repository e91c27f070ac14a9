package networking

import (
	"context"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	fixedNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	clock    = func() time.Time { return fixedNow }
	hourAgo  = metav1.NewTime(fixedNow.Add(-time.Hour))
)

type want struct {
	typ    field.ErrorType
	path   string
	detail string
}

func checkErrors(t *testing.T, got field.ErrorList, wants []want) {
	t.Helper()
	var g, w []string
	for _, e := range got {
		g = append(g, string(e.Type)+" "+e.Field)
	}
	for _, e := range wants {
		w = append(w, string(e.typ)+" "+e.path)
	}
	sort.Strings(g)
	sort.Strings(w)
	if strings.Join(g, "\n") != strings.Join(w, "\n") {
		t.Fatalf("errors:\n got  %v\n want %v\n full: %v", g, w, got.ToAggregate())
	}
	for _, e := range wants {
		found := false
		for _, ge := range got {
			found = found || (ge.Type == e.typ && ge.Field == e.path && strings.Contains(ge.Error(), e.detail))
		}
		if !found {
			t.Errorf("no %s error at %s containing %q in %v", e.typ, e.path, e.detail, got.ToAggregate())
		}
	}
}

func ptrTo[T any](v T) *T { return &v }

func newIngress() *networkingv1.Ingress {
	prefix := networkingv1.PathTypePrefix
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", CreationTimestamp: hourAgo},
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptrTo("nginx"),
			Rules: []networkingv1.IngressRule{{
				Host: "example.com",
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
					Path: "/", PathType: &prefix,
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}},
				}}}},
			}},
			TLS: []networkingv1.IngressTLS{{Hosts: []string{"example.com"}, SecretName: "web-tls"}},
		},
	}
}

func TestIngressValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*networkingv1.Ingress)
		want   []want
	}{
		{"valid", func(*networkingv1.Ingress) {}, nil},
		{"pathType required", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].PathType = nil }, []want{
			{field.ErrorTypeRequired, "spec.rules[0].http.paths[0].pathType", "pathType must be specified"},
		}},
		{"pathType unknown", func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].HTTP.Paths[0].PathType = ptrTo(networkingv1.PathType("Regex"))
		}, []want{{field.ErrorTypeNotSupported, "spec.rules[0].http.paths[0].pathType", `"Exact", "ImplementationSpecific", "Prefix"`}}},
		{"relative and dotted paths", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Path = "a/../b/." }, []want{
			{field.ErrorTypeInvalid, "spec.rules[0].http.paths[0].path", "must be an absolute path"},
			{field.ErrorTypeInvalid, "spec.rules[0].http.paths[0].path", "must not contain '/../'"},
			{field.ErrorTypeInvalid, "spec.rules[0].http.paths[0].path", "cannot end with '/.'"},
		}},
		{"no port", func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port = networkingv1.ServiceBackendPort{}
		}, []want{
			{field.ErrorTypeRequired, "spec.rules[0].http.paths[0].backend", "port name or number is required"},
		}},
		{"port name and number", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port.Name = "http" }, []want{
			{field.ErrorTypeInvalid, "spec.rules[0].http.paths[0].backend", "cannot set both port name & port number"},
		}},
		{"bad port number", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port.Number = 70000 }, []want{
			{field.ErrorTypeInvalid, "spec.rules[0].http.paths[0].backend.service.port.number", ""},
		}},
		{"service name", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name = "web.svc" }, []want{
			{field.ErrorTypeInvalid, "spec.rules[0].http.paths[0].backend.service.name", ""},
		}},
		{"digit-first service name is a DNS label", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name = "1web" }, nil},
		{"no backend", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Backend = networkingv1.IngressBackend{} }, []want{
			{field.ErrorTypeInvalid, "spec.rules[0].http.paths[0].backend", "resource or service backend is required"},
		}},
		{"resource backend", func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].HTTP.Paths[0].Backend = networkingv1.IngressBackend{Resource: &corev1.TypedLocalObjectReference{APIGroup: ptrTo("k8s.example.com"), Kind: "StorageBucket"}}
		}, []want{{field.ErrorTypeRequired, "spec.rules[0].http.paths[0].backend.resource.name", ""}}},
		{"IP host", func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "10.0.0.1" }, []want{
			{field.ErrorTypeInvalid, "spec.rules[0].host", "must be a DNS name, not an IP address"},
		}},
		{"wildcard host", func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "*.example.com" }, nil},
		{"bad wildcard", func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "foo.*.com" }, []want{{field.ErrorTypeInvalid, "spec.rules[0].host", ""}}},
		{"no rules nor default", func(i *networkingv1.Ingress) { i.Spec.Rules = nil }, []want{
			{field.ErrorTypeInvalid, "spec", "either `defaultBackend` or `rules` must be specified"},
		}},
		{"empty http paths", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths = nil }, []want{{field.ErrorTypeRequired, "spec.rules[0].http.paths", ""}}},
		{"TLS", func(i *networkingv1.Ingress) {
			i.Spec.TLS[0] = networkingv1.IngressTLS{Hosts: []string{"Bad_Host"}, SecretName: "Bad_Secret"}
		}, []want{
			{field.ErrorTypeInvalid, "spec.tls[0].hosts[0]", ""},
			{field.ErrorTypeInvalid, "spec.tls[0].secretName", ""},
		}},
		{"class annotation disagrees", func(i *networkingv1.Ingress) { i.Annotations = map[string]string{ingressClassAnnotation: "traefik"} }, []want{
			{field.ErrorTypeInvalid, "annotations.kubernetes.io/ingress.class", "must match `ingressClassName` when both are specified"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ing := newIngress()
			tc.mutate(ing)
			checkErrors(t, ingressStrategy{}.Validate(context.Background(), ing), tc.want)
		})
	}
}

func TestIngressUpdateToleratesStoredSecretName(t *testing.T) {
	old := newIngress()
	old.Spec.TLS[0].SecretName = "Legacy_Name"
	ing := old.DeepCopy()
	ing.Spec.Rules[0].Host = "example.org"
	checkErrors(t, ingressStrategy{}.ValidateUpdate(context.Background(), ing, old), nil)
}

func TestIngressStatus(t *testing.T) {
	old := newIngress()
	ing := old.DeepCopy()
	ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "10.0.0.010"}, {Hostname: "10.0.0.2"}, {IP: "192.168.1.5"}}
	checkErrors(t, ingressStrategy{}.ValidateStatusUpdate(context.Background(), ing, old), []want{
		{field.ErrorTypeInvalid, "status.loadBalancer.ingress[0].ip", ""},
		{field.ErrorTypeInvalid, "status.loadBalancer.ingress[1].hostname", "must be a DNS name, not an IP address"},
	})
}

func TestIngressTable(t *testing.T) {
	s := ingressStrategy{now: clock}
	ing := newIngress()
	ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "192.168.1.5"}, {IP: "10.0.0.1"}, {IP: "10.0.0.1"}}
	wantRow := []interface{}{"web", "nginx", "example.com", "10.0.0.1,192.168.1.5", "80, 443", "60m"}
	if row := s.Row(ing); !reflect.DeepEqual(row, wantRow) {
		t.Fatalf("row = %#v", row)
	}
	rules := []networkingv1.IngressRule{{Host: "a"}, {}, {Host: "b"}, {Host: "c"}, {Host: "d"}}
	if got := ingressHosts(rules); got != "a,b,c + 2 more..." {
		t.Fatalf("hosts = %q", got)
	}
	if got := ingressHosts([]networkingv1.IngressRule{{}}); got != "*" {
		t.Fatalf("hosts = %q", got)
	}
	if w := s.Warnings(context.Background(), &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{ingressClassAnnotation: "x"}}}, nil); len(w) != 1 {
		t.Fatalf("warnings = %v", w)
	}
}

func TestIngressClass(t *testing.T) {
	ctx := context.Background()
	s := ingressClassStrategy{now: clock}
	ic := &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: "nginx", CreationTimestamp: hourAgo, Annotations: map[string]string{networkingv1.AnnotationIsDefaultIngressClass: "true"}},
		Spec: networkingv1.IngressClassSpec{
			Controller: "k8s.io/ingress-nginx",
			Parameters: &networkingv1.IngressClassParametersReference{APIGroup: ptrTo("k8s.example.com"), Kind: "IngressParameters", Name: "external"},
		},
	}
	s.Default(ic)
	if *ic.Spec.Parameters.Scope != networkingv1.IngressClassParametersReferenceScopeCluster {
		t.Fatal("scope not defaulted")
	}
	checkErrors(t, s.Validate(ctx, ic), nil)
	wantRow := []interface{}{"nginx (default)", "k8s.io/ingress-nginx", "IngressParameters.k8s.example.com/external", "60m"}
	if row := s.Row(ic); !reflect.DeepEqual(row, wantRow) {
		t.Fatalf("row = %#v", row)
	}

	bad := ic.DeepCopy()
	bad.Spec.Controller = "nginx"
	bad.Spec.Parameters.Scope = ptrTo(networkingv1.IngressClassParametersReferenceScopeNamespace)
	checkErrors(t, s.ValidateUpdate(ctx, bad, ic), []want{
		{field.ErrorTypeInvalid, "spec.controller", "field is immutable"},
		{field.ErrorTypeInvalid, "spec.controller", "domain-prefixed path"},
		{field.ErrorTypeRequired, "spec.parameters.namespace", "`parameters.scope` is set to 'Namespace'"},
	})
	bad.Spec.Controller = ic.Spec.Controller
	bad.Spec.Parameters.Scope = ptrTo("Galaxy")
	checkErrors(t, s.ValidateUpdate(ctx, bad, ic), []want{{field.ErrorTypeNotSupported, "spec.parameters.scope", ""}})
}

func TestNetworkPolicy(t *testing.T) {
	ctx := context.Background()
	s := networkPolicyStrategy{now: clock}
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default", CreationTimestamp: hourAgo},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Egress: []networkingv1.NetworkPolicyEgressRule{{
				Ports: []networkingv1.NetworkPolicyPort{{Port: ptrTo(intstr.FromInt32(5432))}},
				To:    []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"10.1.0.0/16"}}}},
			}},
		},
	}
	s.Default(np)
	if !reflect.DeepEqual(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) || *np.Spec.Egress[0].Ports[0].Protocol != corev1.ProtocolTCP {
		t.Fatalf("defaults: %+v", np.Spec)
	}
	checkErrors(t, s.Validate(ctx, np), nil)
	if row := s.Row(np); !reflect.DeepEqual(row, []interface{}{"db", "app=db", "60m"}) {
		t.Fatalf("row = %#v", row)
	}

	cases := []struct {
		name   string
		mutate func(*networkingv1.NetworkPolicy)
		want   []want
	}{
		{"except not a subset", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Egress[0].To[0].IPBlock.Except = []string{"192.168.0.0/16", "10.0.0.0/8"}
		}, []want{
			{field.ErrorTypeInvalid, "spec.egress[0].to[0].ipBlock.except[0]", "must be a strict subset of `cidr`"},
			{field.ErrorTypeInvalid, "spec.egress[0].to[0].ipBlock.except[1]", "must be a strict subset of `cidr`"},
		}},
		{"bad cidr", func(np *networkingv1.NetworkPolicy) { np.Spec.Egress[0].To[0].IPBlock.CIDR = "10.0.0.0/33" }, []want{
			{field.ErrorTypeInvalid, "spec.egress[0].to[0].ipBlock.cidr", ""},
		}},
		{"ipBlock with another peer", func(np *networkingv1.NetworkPolicy) { np.Spec.Egress[0].To[0].PodSelector = &metav1.LabelSelector{} }, []want{
			{field.ErrorTypeForbidden, "spec.egress[0].to[0]", "may not specify both ipBlock and another peer"},
		}},
		{"empty peer", func(np *networkingv1.NetworkPolicy) { np.Spec.Egress[0].To[0] = networkingv1.NetworkPolicyPeer{} }, []want{
			{field.ErrorTypeRequired, "spec.egress[0].to[0]", "must specify a peer"},
		}},
		{"port range", func(np *networkingv1.NetworkPolicy) { np.Spec.Egress[0].Ports[0].EndPort = ptrTo[int32](100) }, []want{
			{field.ErrorTypeInvalid, "spec.egress[0].ports[0].endPort", "must be greater than or equal to `port`"},
		}},
		{"named port range", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Egress[0].Ports[0] = networkingv1.NetworkPolicyPort{Port: ptrTo(intstr.FromString("pg")), EndPort: ptrTo[int32](6000)}
		}, []want{{field.ErrorTypeInvalid, "spec.egress[0].ports[0].endPort", "may not be specified when `port` is non-numeric"}}},
		{"protocol", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Egress[0].Ports[0].Protocol = ptrTo(corev1.Protocol("ICMP"))
		}, []want{
			{field.ErrorTypeNotSupported, "spec.egress[0].ports[0].protocol", ""},
		}},
		{"policy types", func(np *networkingv1.NetworkPolicy) { np.Spec.PolicyTypes = []networkingv1.PolicyType{"Both"} }, []want{
			{field.ErrorTypeNotSupported, "spec.policyTypes[0]", ""},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := np.DeepCopy()
			tc.mutate(n)
			checkErrors(t, s.Validate(ctx, n), tc.want)
		})
	}
	t.Run("stored sloppy CIDR tolerated on update", func(t *testing.T) {
		old := np.DeepCopy()
		old.Spec.Egress[0].To[0].IPBlock = &networkingv1.IPBlock{CIDR: "010.0.0.0/8"}
		n := old.DeepCopy()
		n.Spec.PodSelector.MatchLabels["tier"] = "data"
		checkErrors(t, s.ValidateUpdate(ctx, n, old), nil)
		checkErrors(t, s.Validate(ctx, n), []want{{field.ErrorTypeInvalid, "spec.egress[0].to[0].ipBlock.cidr", ""}})
	})
}

func TestWrongType(t *testing.T) {
	for _, r := range resources(clock) {
		if errs := r.Strategy.Validate(context.Background(), &corev1.Pod{}); len(errs) != 1 || errs[0].Type != field.ErrorTypeInternal {
			t.Errorf("%s: %v", r.Resource, errs)
		}
	}
}
