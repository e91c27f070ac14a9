package app

import (
	"context"
	"fmt"
	"strings"
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestNodeAuthorization: a node's certificate reads the secret of a pod
// bound to it, and is refused another node's pod's secret, another node's
// lease and the secrets of pods not yet bound; RBAC alone gives nodes
// nothing of the kind (the system:node role is bound to nobody).
func TestNodeAuthorization(t *testing.T) {
	s := startRBACServer(t)
	ctx := context.Background()
	for _, name := range []string{"s-mine", "s-theirs", "s-pending"} {
		if _, err := s.admin.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []struct{ name, node, secret string }{{"mine", "n1", "s-mine"}, {"theirs", "n2", "s-theirs"}, {"pending", "", "s-pending"}} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: p.name}, Spec: corev1.PodSpec{
			NodeName:   p.node,
			Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
			Volumes:    []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: p.secret}}}},
		}}
		if _, err := s.admin.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	n1 := s.client(t, "system:node:n1", "system:nodes")
	// The authorizer reads the watch cache, which follows the store.
	eventually(t, "n1 reads its pod's secret", func() error {
		_, err := n1.CoreV1().Secrets("default").Get(ctx, "s-mine", metav1.GetOptions{})
		return err
	})
	for _, name := range []string{"s-theirs", "s-pending"} {
		_, err := n1.CoreV1().Secrets("default").Get(ctx, name, metav1.GetOptions{})
		want := fmt.Sprintf(`secrets %q is forbidden: User "system:node:n1" cannot get resource "secrets" in API group "" in the namespace "default": no relationship found between node 'n1' and this object`, name)
		if !apierrors.IsForbidden(err) || err.Error() != want {
			t.Errorf("get %s: got %v, want %s", name, err, want)
		}
	}
	if _, err := n1.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("list secrets: got %v, want forbidden", err)
	}
	// Binding the pending pod to n1 makes its secret readable.
	pending, err := s.admin.CoreV1().Pods("default").Get(ctx, "pending", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.admin.CoreV1().Pods("default").Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "pending", UID: pending.UID},
		Target: corev1.ObjectReference{Kind: "Node", Name: "n1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "n1 reads the newly bound pod's secret", func() error {
		_, err := n1.CoreV1().Secrets("default").Get(ctx, "s-pending", metav1.GetOptions{})
		return err
	})

	// Leases: its own only.
	lease := func(name string) *coordinationv1.Lease {
		return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kube-node-lease"}}
	}
	if _, err := s.admin.CoordinationV1().Leases("kube-node-lease").Create(ctx, lease("n2"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := n1.CoordinationV1().Leases("kube-node-lease").Create(ctx, lease("n1"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create own lease: %v", err)
	}
	if _, err := n1.CoordinationV1().Leases("kube-node-lease").Get(ctx, "n2", metav1.GetOptions{}); !apierrors.IsForbidden(err) ||
		!strings.HasSuffix(err.Error(), "can only access node lease with the same name as the requesting node") {
		t.Errorf("get n2's lease: got %v", err)
	}

	// Without the system:nodes group the same name is an ordinary user,
	// to whom RBAC grants nothing of the node's.
	impostor := s.client(t, "system:node:n1")
	if _, err := impostor.CoreV1().Secrets("default").Get(ctx, "s-mine", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("impostor get secret: got %v, want forbidden", err)
	}
	if _, err := impostor.CoreV1().Pods("").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("impostor list pods: got %v, want forbidden", err)
	}
}
