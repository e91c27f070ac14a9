package endpointslice

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func testService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "svc-uid", Labels: map[string]string{"team": "a"}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, ClusterIP: "10.0.0.10",
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}}},
	}
}

func testPod(i int, ready bool) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%03d", i), Namespace: "default", UID: types.UID(fmt.Sprintf("uid-%03d", i)), Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{
			{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: fmt.Sprintf("10.1.%d.%d", i/250, i%250+1),
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
}

func pods(n int) []*corev1.Pod {
	var out []*corev1.Pod
	for i := 0; i < n; i++ {
		out = append(out, testPod(i, true))
	}
	return out
}

// asExisting names the planned creations as the API server would.
func asExisting(p Plan) []*discoveryv1.EndpointSlice {
	var out []*discoveryv1.EndpointSlice
	for i, s := range p.Create {
		s = s.DeepCopy()
		s.Name = fmt.Sprintf("%s%05d", s.GenerateName, i)
		s.UID = types.UID(s.Name)
		out = append(out, s)
	}
	return out
}

func noZone(string) string { return "" }

func plan(existing []*discoveryv1.EndpointSlice, svc *corev1.Service, pods []*corev1.Pod) Plan {
	return Reconcile(existing, Desired(svc, pods, noZone), MaxEndpointsPerSlice, sliceMeta(svc))
}

func sizes(ss []*discoveryv1.EndpointSlice) string {
	var out []int
	for _, s := range ss {
		out = append(out, len(s.Endpoints))
	}
	return fmt.Sprint(out)
}

func TestReconcile(t *testing.T) {
	svc := testService()
	first := asExisting(plan(nil, svc, pods(150))) // [100 50]
	tests := []struct {
		name                    string
		existing                []*discoveryv1.EndpointSlice
		svc                     *corev1.Service
		pods                    []*corev1.Pod
		create, update, delete_ string
	}{
		{name: "250 endpoints in slices of 100", pods: pods(250), create: "[100 100 50]", update: "[]", delete_: "[]"},
		{name: "no endpoints: a placeholder", pods: nil, create: "[0]", update: "[]", delete_: "[]"},
		{name: "placeholder replaced", existing: asExisting(plan(nil, svc, nil)), pods: pods(1), create: "[1]", update: "[]", delete_: "[0]"},
		{name: "placeholder kept", existing: asExisting(plan(nil, svc, nil)), pods: nil, create: "[]", update: "[]", delete_: "[]"},
		{name: "unchanged", existing: first, pods: pods(150), create: "[]", update: "[]", delete_: "[]"},
		{name: "new endpoint fills the slice with room", existing: first, pods: pods(151), create: "[]", update: "[51]", delete_: "[]"},
		{name: "removed endpoint updates its slice only", existing: first, pods: pods(150)[1:], create: "[]", update: "[99]", delete_: "[]"},
		{name: "all gone: slices deleted, placeholder created", existing: first, pods: nil, create: "[0]", update: "[]", delete_: "[100 50]"},
		{name: "readiness change updates in place", existing: first, pods: append(pods(149), testPod(149, false)), create: "[]", update: "[50]", delete_: "[]"},
		{name: "port change moves endpoints", existing: first, svc: func() *corev1.Service {
			s := testService()
			s.Spec.Ports[0].TargetPort = intstr.FromInt32(9000)
			return s
		}(), pods: pods(150), create: "[100 50]", update: "[]", delete_: "[100 50]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := svc
			if tc.svc != nil {
				s = tc.svc
			}
			p := plan(tc.existing, s, tc.pods)
			if got := sizes(p.Create); got != tc.create {
				t.Errorf("create %s, want %s", got, tc.create)
			}
			if got := sizes(p.Update); got != tc.update {
				t.Errorf("update %s, want %s", got, tc.update)
			}
			if got := sizes(p.Delete); got != tc.delete_ {
				t.Errorf("delete %s, want %s", got, tc.delete_)
			}
			for _, c := range append(p.Create, p.Update...) {
				if c.Labels[discoveryv1.LabelServiceName] != "web" || c.Labels[discoveryv1.LabelManagedBy] != ControllerName || c.Labels["team"] != "a" {
					t.Errorf("labels %v", c.Labels)
				}
				if len(c.OwnerReferences) != 1 || c.OwnerReferences[0].UID != "svc-uid" || !*c.OwnerReferences[0].Controller {
					t.Errorf("owner %v", c.OwnerReferences)
				}
			}
		})
	}
}

func TestEndpointConditions(t *testing.T) {
	now := metav1.Now()
	terminating := func(p *corev1.Pod) *corev1.Pod { p.DeletionTimestamp = &now; return p }
	tests := []struct {
		name                          string
		pod                           *corev1.Pod
		publishNotReady               bool
		ready, serving, terminatingOK bool
	}{
		{name: "ready", pod: testPod(1, true), ready: true, serving: true},
		{name: "not ready", pod: testPod(1, false)},
		{name: "terminating and serving", pod: terminating(testPod(1, true)), serving: true, terminatingOK: true},
		{name: "terminating, publishNotReadyAddresses", pod: terminating(testPod(1, false)), publishNotReady: true, ready: true, terminatingOK: true},
		{name: "not ready, publishNotReadyAddresses", pod: testPod(1, false), publishNotReady: true, ready: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc := testService()
			svc.Spec.PublishNotReadyAddresses = tc.publishNotReady
			var ep discoveryv1.Endpoint
			for _, g := range Desired(svc, []*corev1.Pod{tc.pod}, func(string) string { return "z1" }) {
				for _, e := range g.endpoints {
					ep = e
				}
			}
			c := ep.Conditions
			if c.Ready == nil || *c.Ready != tc.ready || *c.Serving != tc.serving || *c.Terminating != tc.terminatingOK {
				t.Fatalf("conditions ready=%v serving=%v terminating=%v", *c.Ready, *c.Serving, *c.Terminating)
			}
			if *ep.Zone != "z1" || *ep.NodeName != "n1" || ep.TargetRef.Name != "p001" {
				t.Fatalf("endpoint %+v", ep)
			}
		})
	}
}

func TestHeadlessHostnameAndLabel(t *testing.T) {
	svc := testService()
	svc.Spec.ClusterIP = corev1.ClusterIPNone
	p := testPod(0, true)
	p.Spec.Hostname, p.Spec.Subdomain = "web-0", "web"
	pl := plan(nil, svc, []*corev1.Pod{p})
	if len(pl.Create) != 1 {
		t.Fatalf("plan %+v", pl)
	}
	s := pl.Create[0]
	if _, ok := s.Labels[corev1.IsHeadlessService]; !ok {
		t.Fatalf("labels %v", s.Labels)
	}
	if h := s.Endpoints[0].Hostname; h == nil || *h != "web-0" {
		t.Fatalf("hostname %v", h)
	}
	if s.GenerateName != "web-" || s.AddressType != discoveryv1.AddressTypeIPv4 {
		t.Fatalf("slice %s %s", s.GenerateName, s.AddressType)
	}
}
