package discovery

import (
	"context"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func ptrTo[T any](v T) *T { return &v }

func keys(errs field.ErrorList) string {
	var out []string
	for _, e := range errs {
		out = append(out, string(e.Type)+" "+e.Field)
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

func newSlice() *discoveryv1.EndpointSlice {
	eps := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "web-abc12", Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.42.0.5"}, NodeName: ptrTo("node-1"), Conditions: discoveryv1.EndpointConditions{Ready: ptrTo(true)}},
			{Addresses: []string{"10.42.1.7"}, Hints: &discoveryv1.EndpointHints{ForZones: []discoveryv1.ForZone{{Name: "zone-a"}}}},
		},
		Ports: []discoveryv1.EndpointPort{{Name: ptrTo("http"), Port: ptrTo[int32](8080)}, {Port: ptrTo[int32](9090)}},
	}
	endpointSliceStrategy{}.Default(eps)
	return eps
}

func TestDefault(t *testing.T) {
	eps := newSlice()
	if *eps.Ports[1].Name != "" || *eps.Ports[0].Protocol != corev1.ProtocolTCP {
		t.Fatalf("ports = %+v", eps.Ports)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*discoveryv1.EndpointSlice)
		want   string
	}{
		{"valid", func(*discoveryv1.EndpointSlice) {}, ""},
		{"address type required", func(e *discoveryv1.EndpointSlice) { e.AddressType = "" }, "FieldValueRequired addressType"},
		{"address type unknown", func(e *discoveryv1.EndpointSlice) { e.AddressType = "MAC" }, "FieldValueNotSupported addressType"},
		{"IPv6 in an IPv4 slice", func(e *discoveryv1.EndpointSlice) { e.Endpoints[0].Addresses = []string{"fd00::1"} }, "FieldValueInvalid endpoints[0].addresses"},
		{"not an IP", func(e *discoveryv1.EndpointSlice) { e.Endpoints[0].Addresses = []string{"web"} }, "FieldValueInvalid endpoints[0].addresses[0]"},
		{"loopback", func(e *discoveryv1.EndpointSlice) { e.Endpoints[0].Addresses = []string{"127.0.0.1"} }, "FieldValueInvalid endpoints[0].addresses[0]"},
		{"no addresses", func(e *discoveryv1.EndpointSlice) { e.Endpoints[0].Addresses = nil }, "FieldValueRequired endpoints[0].addresses"},
		{"FQDN", func(e *discoveryv1.EndpointSlice) {
			e.AddressType = discoveryv1.AddressTypeFQDN
			e.Endpoints = []discoveryv1.Endpoint{{Addresses: []string{"db.example.com", "not_a_name"}}}
		}, "FieldValueInvalid endpoints[0].addresses[1]"},
		{"bad node name and hostname", func(e *discoveryv1.EndpointSlice) {
			e.Endpoints[0].NodeName = ptrTo("Node_1")
			e.Endpoints[0].Hostname = ptrTo("a.b")
		}, "FieldValueInvalid endpoints[0].hostname; FieldValueInvalid endpoints[0].nodeName"},
		{"duplicate port name", func(e *discoveryv1.EndpointSlice) { e.Ports[1].Name = ptrTo("http") }, "FieldValueDuplicate ports[1].name"},
		{"port protocol", func(e *discoveryv1.EndpointSlice) { e.Ports[0].Protocol = ptrTo(corev1.Protocol("QUIC")) }, "FieldValueNotSupported ports[0].protocol"},
		{"app protocol", func(e *discoveryv1.EndpointSlice) { e.Ports[0].AppProtocol = ptrTo("kubernetes.io/h2c") }, ""},
		{"duplicate zone hint", func(e *discoveryv1.EndpointSlice) {
			e.Endpoints[1].Hints.ForZones = append(e.Endpoints[1].Hints.ForZones, discoveryv1.ForZone{Name: "zone-a"})
		}, "FieldValueDuplicate endpoints[1].hints.forZones[1].name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eps := newSlice()
			tc.mutate(eps)
			if got := keys(endpointSliceStrategy{}.Validate(context.Background(), eps)); got != tc.want {
				t.Fatalf("errors = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestUpdate(t *testing.T) {
	ctx := context.Background()
	old := newSlice()
	old.Generation = 2
	old.Endpoints[0].Addresses = []string{"127.0.0.1"} // stored by a laxer server
	eps := old.DeepCopy()
	eps.Labels["extra"] = "x"
	eps.AddressType = discoveryv1.AddressTypeIPv6
	if got := keys(endpointSliceStrategy{}.ValidateUpdate(ctx, eps, old)); got != "FieldValueInvalid addressType" {
		t.Fatalf("errors = %q (unchanged endpoints must not be re-checked)", got)
	}
	endpointSliceStrategy{}.PrepareForUpdate(ctx, eps, old)
	if eps.Generation != 3 {
		t.Fatalf("generation = %d after a label change", eps.Generation)
	}
}

func TestDeprecatedTopologyDropped(t *testing.T) {
	ctx := context.Background()
	old := newSlice()
	old.Endpoints[1].DeprecatedTopology = map[string]string{corev1.LabelHostname: "node-2"}
	eps := old.DeepCopy()
	eps.Endpoints = append(eps.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.42.2.2"}})
	endpointSliceStrategy{}.PrepareForUpdate(ctx, eps, old)
	if eps.Endpoints[1].DeprecatedTopology != nil || eps.Endpoints[1].NodeName == nil || *eps.Endpoints[1].NodeName != "node-2" {
		t.Fatalf("endpoint = %+v", eps.Endpoints[1])
	}
	created := newSlice()
	created.Endpoints[0].DeprecatedTopology = map[string]string{"a": "b"}
	endpointSliceStrategy{}.PrepareForCreate(ctx, created)
	if created.Endpoints[0].DeprecatedTopology != nil {
		t.Fatal("deprecatedTopology kept on create")
	}
}

func TestRowAndWarnings(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := endpointSliceStrategy{now: func() time.Time { return now }}
	eps := newSlice()
	eps.CreationTimestamp = metav1.NewTime(now.Add(-10 * time.Minute))
	eps.Endpoints = append(eps.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.42.2.1", "10.42.2.2"}})
	want := []interface{}{"web-abc12", "IPv4", "8080,9090", "10.42.0.5,10.42.1.7,10.42.2.1 + 1 more...", "10m"}
	if row := s.Row(eps); !reflect.DeepEqual(row, want) {
		t.Fatalf("row = %#v", row)
	}
	if got := s.Row(&discoveryv1.EndpointSlice{}); got[2] != "<unset>" || got[3] != "<unset>" {
		t.Fatalf("empty row = %#v", got)
	}
	eps.Endpoints[0].Addresses = []string{"010.042.000.005"}
	if w := s.Warnings(context.Background(), eps, nil); len(w) != 1 {
		t.Fatalf("warnings = %v", w)
	}
	eps.Labels[discoveryv1.LabelManagedBy] = "endpointslice-controller.k8s.io"
	if w := s.Warnings(context.Background(), eps, nil); len(w) != 0 {
		t.Fatalf("warnings for the controller's slice = %v", w)
	}
}
