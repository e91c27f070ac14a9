package kubernetesendpoints_test

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/controller/controllertest"
	"skiff.dev/skiff/internal/controller/kubernetesendpoints"
)

func TestKubernetesServiceEndpoints(t *testing.T) {
	env := controllertest.Start(t)
	c, err := kubernetesendpoints.New(env.Client, env.Factory, "192.0.2.10", 6443, env.Log)
	if err != nil {
		t.Fatal(err)
	}
	env.StartInformers(t)
	go c.Run(env.Ctx)
	ctx, cl := env.Ctx, env.Client
	check := func() error {
		ep, err := cl.CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(ep.Subsets) != 1 || ep.Subsets[0].Addresses[0].IP != "192.0.2.10" || ep.Subsets[0].Ports[0].Port != 6443 || ep.Subsets[0].Ports[0].Name != "https" {
			return fmt.Errorf("endpoints %+v", ep.Subsets)
		}
		s, err := cl.DiscoveryV1().EndpointSlices("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(s.Endpoints) != 1 || s.Endpoints[0].Addresses[0] != "192.0.2.10" || *s.Ports[0].Port != 6443 || s.Labels["kubernetes.io/service-name"] != "kubernetes" {
			return fmt.Errorf("slice %+v", s)
		}
		return nil
	}
	controllertest.Eventually(t, 20*time.Second, check)

	// Someone edits the Endpoints: put back.
	ep, _ := cl.CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	ep.Subsets[0].Addresses[0].IP = "198.51.100.1"
	if _, err := cl.CoreV1().Endpoints("default").Update(ctx, ep, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cl.DiscoveryV1().EndpointSlices("default").Delete(ctx, "kubernetes", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, 20*time.Second, check)
}

func TestRejectsBadAddress(t *testing.T) {
	env := controllertest.Start(t)
	for _, ip := range []string{"localhost", "127.0.0.1", "0.0.0.0", "::1"} {
		if _, err := kubernetesendpoints.New(env.Client, env.Factory, ip, 6443, env.Log); err == nil {
			t.Errorf("%s accepted", ip)
		}
	}
}
