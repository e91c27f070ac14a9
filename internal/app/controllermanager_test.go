package app

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/skiff/internal/testserver"
)

// TestWorkloadControllersTakeLeaseAndRun: once the controller manager
// holds its Lease, a Deployment gets its ReplicaSet and pods.
func TestWorkloadControllersTakeLeaseAndRun(t *testing.T) {
	s := testserver.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := s.Config(t, "system:kube-controller-manager", "system:masters")
	if err := runControllerManager(ctx, cfg, ControllerManagerOptions{APIServer: APIServerEndpoint{IP: "192.0.2.10", Port: 6443}}, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	createWebDeployment(ctx, t, s.Client)
	deadline := time.Now().Add(30 * time.Second)
	for {
		pods, err := s.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err == nil && len(pods.Items) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pods not created: %v, %v", pods, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	lease, err := s.Client.CoordinationV1().Leases("kube-system").Get(ctx, "kube-controller-manager", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if lease.Spec.HolderIdentity == nil || !strings.Contains(*lease.Spec.HolderIdentity, "_") {
		t.Fatalf("lease holder %v", lease.Spec.HolderIdentity)
	}
	// The service account, endpoints and kubernetes-service controllers
	// run in the same term.
	deadline = time.Now().Add(30 * time.Second)
	for {
		_, errSA := s.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		_, errEP := s.Client.DiscoveryV1().EndpointSlices("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		if errSA == nil && errEP == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("default service account: %v; kubernetes endpoint slice: %v", errSA, errEP)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// createWebDeployment creates default/web, a Deployment of two pods
// labelled app=web, for tests that watch the controllers act on it.
func createWebDeployment(ctx context.Context, t *testing.T, client kubernetes.Interface) {
	t.Helper()
	n := int32(2)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &n,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
			},
		},
	}
	if _, err := client.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
