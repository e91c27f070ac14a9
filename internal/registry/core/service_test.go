package core

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// prepared runs a new service through Default and PrepareForCreate, as
// the handler does before validation.
func prepared(svc *corev1.Service) *corev1.Service {
	s := serviceStrategy{clock: testClock}
	s.Default(svc)
	s.PrepareForCreate(context.Background(), svc)
	return svc
}

func TestServiceDefaults(t *testing.T) {
	svc := prepared(&corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeNodePort,
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Port: 80}, {Name: "metrics", Port: 9090, TargetPort: intstr.FromString("m")}},
		},
	})
	sp := svc.Spec
	if sp.SessionAffinity != corev1.ServiceAffinityNone {
		t.Errorf("sessionAffinity = %q", sp.SessionAffinity)
	}
	if sp.Ports[0].Protocol != corev1.ProtocolTCP || sp.Ports[0].TargetPort != intstr.FromInt32(80) {
		t.Errorf("port 0 = %+v", sp.Ports[0])
	}
	if sp.Ports[1].TargetPort != intstr.FromString("m") {
		t.Errorf("named targetPort overwritten: %+v", sp.Ports[1])
	}
	if sp.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster {
		t.Errorf("externalTrafficPolicy = %q", sp.ExternalTrafficPolicy)
	}
	if sp.InternalTrafficPolicy == nil || *sp.InternalTrafficPolicy != corev1.ServiceInternalTrafficPolicyCluster {
		t.Errorf("internalTrafficPolicy = %v", sp.InternalTrafficPolicy)
	}
	if sp.IPFamilyPolicy == nil || *sp.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack || !reflect.DeepEqual(sp.IPFamilies, []corev1.IPFamily{corev1.IPv4Protocol}) {
		t.Errorf("families = %v %v", sp.IPFamilyPolicy, sp.IPFamilies)
	}
	if got := ServiceNodePortsNeeded(svc); !reflect.DeepEqual(got, []int{0, 1}) {
		t.Errorf("node ports needed = %v", got)
	}
	if !ServiceNeedsClusterIP(svc) {
		t.Error("cluster IP not needed?")
	}

	cip := prepared(&corev1.Service{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}})
	if cip.Spec.Type != corev1.ServiceTypeClusterIP || cip.Spec.ExternalTrafficPolicy != "" || ServiceNodePortsNeeded(cip) != nil {
		t.Errorf("ClusterIP service: %+v", cip.Spec)
	}

	headless := prepared(&corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: "None"}})
	if *headless.Spec.IPFamilyPolicy != corev1.IPFamilyPolicyRequireDualStack ||
		!reflect.DeepEqual(headless.Spec.IPFamilies, []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}) ||
		!reflect.DeepEqual(headless.Spec.ClusterIPs, []string{"None"}) {
		t.Errorf("headless selectorless: %v %v %v", *headless.Spec.IPFamilyPolicy, headless.Spec.IPFamilies, headless.Spec.ClusterIPs)
	}
	if ServiceNeedsClusterIP(headless) {
		t.Error("headless service needs no cluster IP")
	}

	ext := prepared(&corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}})
	if ext.Spec.IPFamilyPolicy != nil || ext.Spec.IPFamilies != nil || ext.Spec.InternalTrafficPolicy != nil {
		t.Errorf("ExternalName got families: %+v", ext.Spec)
	}
	expectErrs(t, serviceStrategy{}.Validate(context.Background(), ext))

	lb := prepared(&corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}}}})
	if lb.Spec.AllocateLoadBalancerNodePorts == nil || !*lb.Spec.AllocateLoadBalancerNodePorts {
		t.Errorf("allocateLoadBalancerNodePorts = %v", lb.Spec.AllocateLoadBalancerNodePorts)
	}
}

func TestValidateService(t *testing.T) {
	cases := []struct {
		name string
		svc  corev1.ServiceSpec
		want []string
	}{
		{"valid", corev1.ServiceSpec{Selector: map[string]string{"a": "b"}, Ports: []corev1.ServicePort{{Port: 80}}}, nil},
		{"no ports", corev1.ServiceSpec{}, []string{"FieldValueRequired spec.ports"}},
		{"headless without ports ok", corev1.ServiceSpec{ClusterIP: "None", Selector: map[string]string{"a": "b"}}, nil},
		{"bad port and protocol", corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 0, Protocol: "ICMP"}}},
			[]string{"FieldValueInvalid spec.ports[0].port", "FieldValueNotSupported spec.ports[0].protocol", "FieldValueInvalid spec.ports[0].targetPort"}},
		{"multiple ports need names", corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}, {Name: "b", Port: 81}}},
			[]string{"FieldValueRequired spec.ports[0].name"}},
		{"duplicate port", corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "a", Port: 80}, {Name: "b", Port: 80}}},
			[]string{"FieldValueDuplicate spec.ports[1]"}},
		{"bad type", corev1.ServiceSpec{Type: "Magic", Ports: []corev1.ServicePort{{Port: 80}}},
			[]string{"FieldValueNotSupported spec.type"}},
		{"nodePort on ClusterIP", corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80, NodePort: 30080}}},
			[]string{"FieldValueForbidden spec.ports[0].nodePort"}},
		{"invalid cluster IP", corev1.ServiceSpec{ClusterIP: "10.0.0.300", Ports: []corev1.ServicePort{{Port: 80}}},
			[]string{"FieldValueInvalid spec.clusterIPs[0]"}},
		{"headless NodePort", corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIP: "None", Ports: []corev1.ServicePort{{Port: 80}}},
			[]string{"FieldValueInvalid spec.clusterIPs[0]"}},
		{"bad selector", corev1.ServiceSpec{Selector: map[string]string{"a b": "c"}, Ports: []corev1.ServicePort{{Port: 80}}},
			[]string{"FieldValueInvalid spec.selector"}},
		{"external name required", corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName},
			[]string{"FieldValueRequired spec.externalName"}},
		{"dual stack unsupported", corev1.ServiceSpec{IPFamilyPolicy: ptr(corev1.IPFamilyPolicyRequireDualStack), Ports: []corev1.ServicePort{{Port: 80}}},
			[]string{"FieldValueInvalid spec.ipFamilyPolicy"}},
		{"source ranges only for LB", corev1.ServiceSpec{LoadBalancerSourceRanges: []string{"10.0.0.0/8"}, Ports: []corev1.ServicePort{{Port: 80}}},
			[]string{"FieldValueForbidden spec.LoadBalancerSourceRanges"}},
	}
	s := serviceStrategy{clock: testClock}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			svc := prepared(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "d"}, Spec: tc.svc})
			expectErrs(t, s.Validate(context.Background(), svc), tc.want...)
		})
	}
}

// TestServiceDuplicatePortMessages checks the text and order upstream
// gives: node ports before ports, and the duplicate port rendered as its
// untagged internal struct.
func TestServiceDuplicatePortMessages(t *testing.T) {
	svc := prepared(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "d"}, Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeNodePort,
		Ports: []corev1.ServicePort{
			{Name: "a", Port: 80, NodePort: 30001},
			{Name: "b", Port: 80, NodePort: 30002},
			{Name: "c", Port: 81, NodePort: 30001},
		},
	}})
	errs := serviceStrategy{clock: testClock}.Validate(context.Background(), svc)
	want := []string{
		`spec.ports[2].nodePort: Duplicate value: 30001`,
		`spec.ports[1]: Duplicate value: {"Name":"","Protocol":"TCP","AppProtocol":null,"Port":80,"TargetPort":0,"NodePort":0}`,
	}
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestServiceUpdateKeepsAllocations(t *testing.T) {
	s := serviceStrategy{clock: testClock}
	old := prepared(&corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}})
	old.Spec.ClusterIP, old.Spec.ClusterIPs = "10.96.0.10", []string{"10.96.0.10"}
	old.Spec.Ports[0].NodePort = 30080
	// A client re-applies its original manifest, without the allocations.
	upd := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
	s.Default(upd)
	s.PrepareForUpdate(context.Background(), upd, old)
	if upd.Spec.ClusterIP != "10.96.0.10" || upd.Spec.Ports[0].NodePort != 30080 || !reflect.DeepEqual(upd.Spec.ClusterIPs, old.Spec.ClusterIPs) {
		t.Errorf("allocations lost: %+v", upd.Spec)
	}
	expectErrs(t, s.ValidateUpdate(context.Background(), upd, old))

	changed := upd.DeepCopy()
	changed.Spec.ClusterIP, changed.Spec.ClusterIPs = "10.96.0.11", []string{"10.96.0.11"}
	expectErrs(t, s.ValidateUpdate(context.Background(), changed, old), "FieldValueInvalid spec.clusterIPs[0]")
}

// TestServiceTypeChange: a patch of spec.type alone (kubectl patch svc
// -p '{"spec":{"type":...}}') sheds what the old type was given, as
// upstream; values the client changed as well stay and are validated.
func TestServiceTypeChange(t *testing.T) {
	ctx := context.Background()
	s := serviceStrategy{clock: testClock}
	stored := func(typ corev1.ServiceType) *corev1.Service {
		svc := prepared(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "d"}, Spec: corev1.ServiceSpec{
			Type: typ, Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Name: "http", Port: 80}},
		}})
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "10.43.0.20", []string{"10.43.0.20"}
		if typ == corev1.ServiceTypeNodePort || typ == corev1.ServiceTypeLoadBalancer {
			svc.Spec.Ports[0].NodePort = 30080
		}
		if typ == corev1.ServiceTypeLoadBalancer {
			svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.1"}}
		}
		return svc
	}
	cases := []struct {
		name    string
		from    corev1.ServiceType
		mutate  func(*corev1.Service)
		check   func(*testing.T, *corev1.Service)
		wantErr []string
	}{
		{"NodePort to ClusterIP", corev1.ServiceTypeNodePort, func(svc *corev1.Service) { svc.Spec.Type = corev1.ServiceTypeClusterIP },
			func(t *testing.T, svc *corev1.Service) {
				if svc.Spec.Ports[0].NodePort != 0 || svc.Spec.ExternalTrafficPolicy != "" || svc.Spec.ClusterIP != "10.43.0.20" {
					t.Errorf("spec = %+v", svc.Spec)
				}
			}, nil},
		{"LoadBalancer to ClusterIP", corev1.ServiceTypeLoadBalancer, func(svc *corev1.Service) { svc.Spec.Type = corev1.ServiceTypeClusterIP },
			func(t *testing.T, svc *corev1.Service) {
				if svc.Spec.Ports[0].NodePort != 0 || svc.Spec.AllocateLoadBalancerNodePorts != nil || len(svc.Status.LoadBalancer.Ingress) != 0 {
					t.Errorf("spec = %+v, status = %+v", svc.Spec, svc.Status)
				}
			}, nil},
		{"LoadBalancer to NodePort keeps node ports", corev1.ServiceTypeLoadBalancer, func(svc *corev1.Service) { svc.Spec.Type = corev1.ServiceTypeNodePort },
			func(t *testing.T, svc *corev1.Service) {
				if svc.Spec.Ports[0].NodePort != 30080 || svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster {
					t.Errorf("spec = %+v", svc.Spec)
				}
			}, nil},
		{"ClusterIP to ExternalName", corev1.ServiceTypeClusterIP, func(svc *corev1.Service) {
			svc.Spec.Type, svc.Spec.ExternalName = corev1.ServiceTypeExternalName, "db.example.com"
		}, func(t *testing.T, svc *corev1.Service) {
			if svc.Spec.ClusterIP != "" || svc.Spec.ClusterIPs != nil || svc.Spec.IPFamilies != nil || svc.Spec.IPFamilyPolicy != nil {
				t.Errorf("spec = %+v", svc.Spec)
			}
		}, nil},
		{"a node port named in the same patch stays and is refused", corev1.ServiceTypeNodePort, func(svc *corev1.Service) {
			svc.Spec.Type = corev1.ServiceTypeClusterIP
			svc.Spec.Ports[0].NodePort = 30090
		}, nil, []string{"FieldValueForbidden spec.ports[0].nodePort"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := stored(tc.from)
			svc := old.DeepCopy()
			tc.mutate(svc)
			s.Default(svc)
			s.PrepareForUpdate(ctx, svc, old)
			if tc.check != nil {
				tc.check(t, svc)
			}
			expectErrs(t, s.ValidateUpdate(ctx, svc, old), tc.wantErr...)
		})
	}
}

func TestServiceRow(t *testing.T) {
	s := serviceStrategy{clock: testClock}
	created := metav1.NewTime(testNow.Add(-90 * time.Second))
	cases := []struct {
		name string
		svc  *corev1.Service
		want []interface{}
	}{
		{"cluster ip", &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", CreationTimestamp: created},
			Spec: corev1.ServiceSpec{Type: "ClusterIP", ClusterIPs: []string{"10.96.0.1"}, Ports: []corev1.ServicePort{{Port: 443, Protocol: "TCP"}}}},
			[]interface{}{"kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP", "90s", "<none>"}},
		{"node port", &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", CreationTimestamp: created},
			Spec: corev1.ServiceSpec{Type: "NodePort", ClusterIPs: []string{"10.96.0.2"}, Selector: map[string]string{"b": "2", "a": "1"},
				Ports: []corev1.ServicePort{{Port: 80, NodePort: 30080, Protocol: "TCP"}, {Port: 53, Protocol: "UDP"}}}},
			[]interface{}{"web", "NodePort", "10.96.0.2", "<none>", "80:30080/TCP,53/UDP", "90s", "a=1,b=2"}},
		{"pending LB", &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "lb", CreationTimestamp: created},
			Spec: corev1.ServiceSpec{Type: "LoadBalancer", ClusterIPs: []string{"10.96.0.3"}, Ports: []corev1.ServicePort{{Port: 80, NodePort: 31000, Protocol: "TCP"}}}},
			[]interface{}{"lb", "LoadBalancer", "10.96.0.3", "<pending>", "80:31000/TCP", "90s", "<none>"}},
		{"external name", &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "ext", CreationTimestamp: created},
			Spec: corev1.ServiceSpec{Type: "ExternalName", ExternalName: "example.com"}},
			[]interface{}{"ext", "ExternalName", "<none>", "example.com", "<none>", "90s", "<none>"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.Row(tc.svc); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("row:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}
