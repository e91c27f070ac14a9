package endpoints_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/skiff/internal/controller/controllertest"
	"skiff.dev/skiff/internal/controller/endpoints"
)

func pod(name, ip string, ready bool, mut ...func(*corev1.Pod)) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "nginx", Ports: []corev1.ContainerPort{
			{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
	for _, m := range mut {
		m(p)
	}
	return p
}

func svc(mut ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, ClusterIP: "10.0.0.10",
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}}},
	}
	for _, m := range mut {
		m(s)
	}
	return s
}

func ips(as []corev1.EndpointAddress) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.IP)
	}
	return out
}

func TestSubsets(t *testing.T) {
	deleting := func(p *corev1.Pod) { now := metav1.Now(); p.DeletionTimestamp = &now }
	tests := []struct {
		name            string
		svc             *corev1.Service
		pods            []*corev1.Pod
		ready, notReady []string
		port            int32
		hostname        string
		wantNoSubsets   bool
	}{
		{name: "ready and not ready", svc: svc(), pods: []*corev1.Pod{pod("b", "10.1.0.2", true), pod("a", "10.1.0.1", false)},
			ready: []string{"10.1.0.2"}, notReady: []string{"10.1.0.1"}, port: 8080},
		{name: "no IP yet", svc: svc(), pods: []*corev1.Pod{pod("a", "", true)}, wantNoSubsets: true},
		{name: "succeeded pod", svc: svc(), pods: []*corev1.Pod{pod("a", "10.1.0.1", true, func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded })}, wantNoSubsets: true},
		{name: "terminating pod left out", svc: svc(), pods: []*corev1.Pod{pod("a", "10.1.0.1", true, deleting)}, wantNoSubsets: true},
		{name: "publishNotReadyAddresses keeps terminating and unready", svc: svc(func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true }),
			pods: []*corev1.Pod{pod("a", "10.1.0.1", false, deleting)}, ready: []string{"10.1.0.1"}, port: 8080},
		{name: "named port missing on pod", svc: svc(func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("grpc") }),
			pods: []*corev1.Pod{pod("a", "10.1.0.1", true)}, wantNoSubsets: true},
		{name: "numeric target port", svc: svc(func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromInt32(9000) }),
			pods: []*corev1.Pod{pod("a", "10.1.0.1", true)}, ready: []string{"10.1.0.1"}, port: 9000},
		{name: "headless without ports, hostname by subdomain", svc: svc(func(s *corev1.Service) { s.Spec.ClusterIP = "None"; s.Spec.Ports = nil }),
			pods:  []*corev1.Pod{pod("a", "10.1.0.1", true, func(p *corev1.Pod) { p.Spec.Hostname = "a0"; p.Spec.Subdomain = "web" })},
			ready: []string{"10.1.0.1"}, hostname: "a0"},
		{name: "cluster IP without ports", svc: svc(func(s *corev1.Service) { s.Spec.Ports = nil }),
			pods: []*corev1.Pod{pod("a", "10.1.0.1", true)}, wantNoSubsets: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := endpoints.Subsets(tc.svc, tc.pods)
			if tc.wantNoSubsets {
				if len(got) != 0 {
					t.Fatalf("subsets %+v, want none", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("%d subsets %+v, want 1", len(got), got)
			}
			s := got[0]
			if fmt.Sprint(ips(s.Addresses)) != fmt.Sprint(tc.ready) || fmt.Sprint(ips(s.NotReadyAddresses)) != fmt.Sprint(tc.notReady) {
				t.Fatalf("ready %v notReady %v, want %v %v", ips(s.Addresses), ips(s.NotReadyAddresses), tc.ready, tc.notReady)
			}
			if tc.port != 0 && (len(s.Ports) != 1 || s.Ports[0].Port != tc.port || s.Ports[0].Name != "http") {
				t.Fatalf("ports %+v, want http:%d", s.Ports, tc.port)
			}
			all := append(append([]corev1.EndpointAddress{}, s.Addresses...), s.NotReadyAddresses...)
			if all[0].Hostname != tc.hostname || all[0].TargetRef == nil || all[0].TargetRef.Kind != "Pod" || *all[0].NodeName != "n1" {
				t.Fatalf("address %+v", all[0])
			}
		})
	}
}

func TestRepackGroupsByPorts(t *testing.T) {
	// Two ports; pod b serves only one of them (its named port is
	// missing): two subsets.
	s := svc(func(s *corev1.Service) {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "metrics", Port: 9090, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(9090)})
	})
	b := pod("b", "10.1.0.2", true, func(p *corev1.Pod) { p.Spec.Containers[0].Ports = nil })
	got := endpoints.Subsets(s, []*corev1.Pod{pod("a", "10.1.0.1", true), b})
	if len(got) != 2 {
		t.Fatalf("%d subsets, want 2: %+v", len(got), got)
	}
	for _, sub := range got {
		switch len(sub.Ports) {
		case 2:
			if fmt.Sprint(ips(sub.Addresses)) != "[10.1.0.1]" {
				t.Fatalf("two-port subset %v", ips(sub.Addresses))
			}
		case 1:
			if fmt.Sprint(ips(sub.Addresses)) != "[10.1.0.2]" || sub.Ports[0].Port != 9090 {
				t.Fatalf("one-port subset %+v", sub)
			}
		}
	}
}

func TestTruncate(t *testing.T) {
	var ready, notReady []corev1.EndpointAddress
	for i := 0; i < 8; i++ {
		ready = append(ready, corev1.EndpointAddress{IP: fmt.Sprintf("10.0.0.%d", i)})
		notReady = append(notReady, corev1.EndpointAddress{IP: fmt.Sprintf("10.0.1.%d", i)})
	}
	out, cut := endpoints.Truncate([]corev1.EndpointSubset{{Addresses: ready, NotReadyAddresses: notReady}}, 10)
	if !cut || len(out[0].Addresses) != 8 || len(out[0].NotReadyAddresses) != 2 {
		t.Fatalf("cut=%v %d ready %d not ready", cut, len(out[0].Addresses), len(out[0].NotReadyAddresses))
	}
	if _, cut := endpoints.Truncate(out, 10); cut {
		t.Fatal("truncated again at capacity")
	}
}

func start(t *testing.T) *controllertest.Env {
	env := controllertest.Start(t)
	c, err := endpoints.New(env.Client, env.Factory, env.Recorder("endpoint-controller"), env.Log)
	if err != nil {
		t.Fatal(err)
	}
	env.StartInformers(t)
	go c.Run(env.Ctx, 2)
	return env
}

// runPod creates a pod and reports it running with ip, ready or not.
func runPod(t *testing.T, ctx context.Context, c kubernetes.Interface, p *corev1.Pod) {
	t.Helper()
	st := p.Status
	p = p.DeepCopy()
	p.UID = ""
	p.Status = corev1.PodStatus{}
	created, err := c.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	setStatus(t, ctx, c, created, st)
}

func setStatus(t *testing.T, ctx context.Context, c kubernetes.Interface, p *corev1.Pod, st corev1.PodStatus) {
	t.Helper()
	for attempt := 0; ; attempt++ {
		cur, err := c.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cur.Status = st
		for i := range cur.Status.Conditions {
			cur.Status.Conditions[i].LastTransitionTime = metav1.Now()
		}
		_, err = c.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) || attempt > 5 {
			t.Fatal(err)
		}
	}
}

func waitEndpoints(t *testing.T, env *controllertest.Env, check func(*corev1.Endpoints) error) *corev1.Endpoints {
	t.Helper()
	var ep *corev1.Endpoints
	controllertest.Eventually(t, 20*time.Second, func() error {
		var err error
		ep, err = env.Client.CoreV1().Endpoints("default").Get(env.Ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		return check(ep)
	})
	return ep
}

func TestEndpointsFollowPods(t *testing.T) {
	env := start(t)
	ctx, c := env.Ctx, env.Client
	s := svc(func(s *corev1.Service) { s.Spec.ClusterIP = ""; s.Labels = map[string]string{"team": "a"} })
	if _, err := c.CoreV1().Services("default").Create(ctx, s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitEndpoints(t, env, func(ep *corev1.Endpoints) error {
		if len(ep.Subsets) != 0 || ep.Labels["team"] != "a" {
			return fmt.Errorf("endpoints %+v", ep)
		}
		return nil
	})
	runPod(t, ctx, c, pod("a", "10.1.0.1", true))
	runPod(t, ctx, c, pod("b", "10.1.0.2", false))
	ep := waitEndpoints(t, env, func(ep *corev1.Endpoints) error {
		if len(ep.Subsets) != 1 || fmt.Sprint(ips(ep.Subsets[0].Addresses)) != "[10.1.0.1]" || fmt.Sprint(ips(ep.Subsets[0].NotReadyAddresses)) != "[10.1.0.2]" {
			return fmt.Errorf("subsets %+v", ep.Subsets)
		}
		return nil
	})
	if ep.Subsets[0].Ports[0].Port != 8080 {
		t.Fatalf("ports %+v", ep.Subsets[0].Ports)
	}
	if _, err := time.Parse(time.RFC3339Nano, ep.Annotations[corev1.EndpointsLastChangeTriggerTime]); err != nil {
		t.Fatalf("trigger time annotation: %v (%v)", err, ep.Annotations)
	}

	// b becomes ready; a is deleted.
	b, _ := c.CoreV1().Pods("default").Get(ctx, "b", metav1.GetOptions{})
	st := b.Status
	st.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	setStatus(t, ctx, c, b, st)
	zero := int64(0)
	if err := c.CoreV1().Pods("default").Delete(ctx, "a", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	waitEndpoints(t, env, func(ep *corev1.Endpoints) error {
		if len(ep.Subsets) != 1 || fmt.Sprint(ips(ep.Subsets[0].Addresses)) != "[10.1.0.2]" || len(ep.Subsets[0].NotReadyAddresses) != 0 {
			return fmt.Errorf("subsets %+v", ep.Subsets)
		}
		return nil
	})

	// Deleted behind the controller's back: recreated.
	if err := c.CoreV1().Endpoints("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitEndpoints(t, env, func(ep *corev1.Endpoints) error {
		if len(ep.Subsets) != 1 {
			return fmt.Errorf("subsets %+v", ep.Subsets)
		}
		return nil
	})

	// The service goes: so do its endpoints.
	if err := c.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, 20*time.Second, func() error {
		_, err := c.CoreV1().Endpoints("default").Get(ctx, "web", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("endpoints still there: %v", err)
	})
}

func TestSelectorlessServiceLeftAlone(t *testing.T) {
	env := start(t)
	ctx, c := env.Ctx, env.Client
	s := svc(func(s *corev1.Service) { s.Spec.Selector = nil; s.Spec.ClusterIP = "" })
	if _, err := c.CoreV1().Services("default").Create(ctx, s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	mine := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.0.2.1"}}, Ports: []corev1.EndpointPort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}}}}
	if _, err := c.CoreV1().Endpoints("default").Create(ctx, mine, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	runPod(t, ctx, c, pod("a", "10.1.0.1", true))
	// A service with a selector, created after, proves the controller has
	// run past the selector-less one.
	other := svc(func(s *corev1.Service) { s.Name = "other"; s.Spec.ClusterIP = "" })
	if _, err := c.CoreV1().Services("default").Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, 20*time.Second, func() error {
		_, err := c.CoreV1().Endpoints("default").Get(ctx, "other", metav1.GetOptions{})
		return err
	})
	got, err := c.CoreV1().Endpoints("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil || fmt.Sprint(ips(got.Subsets[0].Addresses)) != "[192.0.2.1]" {
		t.Fatalf("user's endpoints changed: %+v %v", got, err)
	}
}
