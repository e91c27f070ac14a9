package endpointslice_test

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"skiff.dev/skiff/internal/controller/controllertest"
	"skiff.dev/skiff/internal/controller/endpointslice"
)

func start(t *testing.T) *controllertest.Env {
	env := controllertest.Start(t)
	c, err := endpointslice.New(env.Client, env.Factory, env.Recorder("endpoint-slice-controller"), env.Log)
	if err != nil {
		t.Fatal(err)
	}
	env.StartInformers(t)
	go c.Run(env.Ctx, 2)
	return env
}

func slices(t *testing.T, env *controllertest.Env) []discoveryv1.EndpointSlice {
	l, err := env.Client.DiscoveryV1().EndpointSlices("default").List(env.Ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

// endpointStates is "name:ready/serving/terminating" per endpoint of
// the service's slices.
func endpointStates(ss []discoveryv1.EndpointSlice) map[string]string {
	out := map[string]string{}
	for _, s := range ss {
		for _, e := range s.Endpoints {
			c := e.Conditions
			out[e.TargetRef.Name] = fmt.Sprintf("%v/%v/%v", *c.Ready, *c.Serving, *c.Terminating)
		}
	}
	return out
}

func TestSlicesFollowPods(t *testing.T) {
	env := start(t)
	ctx, c := env.Ctx, env.Client
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}}},
	}
	svc, err := c.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// No pods: one placeholder slice.
	controllertest.Eventually(t, 20*time.Second, func() error {
		ss := slices(t, env)
		if len(ss) != 1 || len(ss[0].Endpoints) != 0 || len(ss[0].Ports) != 0 {
			return fmt.Errorf("slices %+v", ss)
		}
		s := ss[0]
		if s.Labels[discoveryv1.LabelManagedBy] != endpointslice.ControllerName || !metav1.IsControlledBy(&s, svc) {
			return fmt.Errorf("slice meta %+v", s.ObjectMeta)
		}
		return nil
	})
	pods := map[string]*corev1.Pod{}
	for i := 0; i < 2; i++ {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d", i), Namespace: "default", Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}}},
		}
		if p, err = c.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// As a kubelet: the sandbox's IP first, then readiness.
		p.Status.PodIP = fmt.Sprintf("10.1.0.%d", i+1)
		p.Status.PodIPs = []corev1.PodIP{{IP: p.Status.PodIP}}
		if _, err := c.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		pods[p.Name] = p
	}
	// p0 turning ready is the last change: its transition is the
	// slice's trigger time.
	if err := controllertest.SetPodReady(ctx, c, pods["p1"], "n1", false, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := controllertest.SetPodReady(ctx, c, pods["p0"], "n1", true, time.Now()); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"p0": "true/true/false", "p1": "false/false/false"}
	controllertest.Eventually(t, 20*time.Second, func() error {
		ss := slices(t, env)
		if len(ss) != 1 || fmt.Sprint(endpointStates(ss)) != fmt.Sprint(want) {
			return fmt.Errorf("%d slices, endpoints %v", len(ss), endpointStates(ss))
		}
		s := ss[0]
		if len(s.Ports) != 1 || *s.Ports[0].Port != 8080 || *s.Ports[0].Name != "http" {
			return fmt.Errorf("ports %+v", s.Ports)
		}
		if _, err := time.Parse(time.RFC3339Nano, s.Annotations[corev1.EndpointsLastChangeTriggerTime]); err != nil {
			return fmt.Errorf("trigger time: %v", err)
		}
		return nil
	})

	// A graceful deletion of a pod on a node leaves it terminating: its
	// endpoint stays, serving but not ready.
	if err := c.CoreV1().Pods("default").Delete(ctx, "p0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want["p0"] = "false/true/true"
	controllertest.Eventually(t, 20*time.Second, func() error {
		if got := endpointStates(slices(t, env)); fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("endpoints %v", got)
		}
		return nil
	})

	// A managed slice deleted by someone else comes back.
	ss := slices(t, env)
	if err := c.DiscoveryV1().EndpointSlices("default").Delete(ctx, ss[0].Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, 20*time.Second, func() error {
		ss := slices(t, env)
		if len(ss) != 1 || fmt.Sprint(endpointStates(ss)) != fmt.Sprint(want) {
			return fmt.Errorf("%d slices, endpoints %v", len(ss), endpointStates(ss))
		}
		return nil
	})
}

func TestSelectorlessServiceGetsNoSlices(t *testing.T) {
	env := start(t)
	ctx, c := env.Ctx, env.Client
	for _, name := range []string{"web", "other"} {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}}}
		if name == "other" {
			svc.Spec.Selector = map[string]string{"app": "x"}
		}
		if _, err := c.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	controllertest.Eventually(t, 20*time.Second, func() error {
		l, err := c.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=other"})
		if err != nil || len(l.Items) != 1 {
			return fmt.Errorf("other's slices: %v %v", l, err)
		}
		return nil
	})
	if ss := slices(t, env); len(ss) != 0 {
		t.Fatalf("selector-less service got slices: %+v", ss)
	}
	_, err := c.DiscoveryV1().EndpointSlices("default").Get(ctx, "web", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("get: %v", err)
	}
}
