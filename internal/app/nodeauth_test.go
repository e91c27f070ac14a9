package app

import (
	"context"
	"fmt"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/internal/testserver"
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

// TestNodeRestrictionThroughTheServer: with skiff server's authorizer and
// admission chain, a node's certificate updates its own Node and its
// pods' status, and NodeRestriction refuses the rest in upstream's words.
func TestNodeRestrictionThroughTheServer(t *testing.T) {
	w := newRBACWiring()
	srv := testserver.StartWith(t, withRBAC(w), withServiceAccounts, withAdmission(&admissionCaches{}))
	ctx := context.Background()
	adminCS := srv.Client
	n1 := kubernetes.NewForConfigOrDie(srv.Config(t, "system:node:n1", "system:nodes"))

	node := func(name string) *corev1.Node { return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}} }
	if _, err := adminCS.CoreV1().Nodes().Create(ctx, node("n2"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := n1.CoreV1().Nodes().Create(ctx, node("n1"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("n1 registers itself: %v", err)
	}
	forbidden := func(what string, err error, want string) {
		t.Helper()
		if !apierrors.IsForbidden(err) || err.Error() != want {
			t.Errorf("%s: got %v, want %s", what, err, want)
		}
	}
	_, err := n1.CoreV1().Nodes().Create(ctx, node("n3"), metav1.CreateOptions{})
	forbidden("create n3", err, `nodes "n3" is forbidden: node "n1" is not allowed to modify node "n3"`)
	_, err = n1.CoreV1().Nodes().Patch(ctx, "n2", types.MergePatchType, []byte(`{"metadata":{"labels":{"a":"b"}}}`), metav1.PatchOptions{})
	forbidden("label n2", err, `nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"`)
	_, err = n1.CoreV1().Nodes().Patch(ctx, "n1", types.MergePatchType, []byte(`{"spec":{"taints":[]}}`), metav1.PatchOptions{})
	if err != nil {
		t.Errorf("no-op taint patch: %v", err)
	}
	_, err = n1.CoreV1().Nodes().Patch(ctx, "n1", types.MergePatchType, []byte(`{"spec":{"taints":[{"key":"k","effect":"NoSchedule"}]}}`), metav1.PatchOptions{})
	forbidden("taint n1", err, `nodes "n1" is forbidden: node "n1" is not allowed to modify taints`)
	_, err = n1.CoreV1().Nodes().Patch(ctx, "n1", types.MergePatchType, []byte(`{"metadata":{"labels":{"node-restriction.kubernetes.io/pool":"a"}}}`), metav1.PatchOptions{})
	forbidden("restricted label", err, `nodes "n1" is forbidden: is not allowed to modify labels: node-restriction.kubernetes.io/pool`)

	// No service-account controller runs here.
	if _, err := adminCS.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct{ name, node string }{{"mine", "n1"}, {"theirs", "n2"}} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: p.name}, Spec: corev1.PodSpec{
			NodeName: p.node, AutomountServiceAccountToken: ptr.To(false), Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
		if _, err := adminCS.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	status := []byte(`{"status":{"message":"hello"}}`)
	eventually(t, "n1 patches its pod's status", func() error {
		_, err := n1.CoreV1().Pods("default").Patch(ctx, "mine", types.MergePatchType, status, metav1.PatchOptions{}, "status")
		return err
	})
	_, err = n1.CoreV1().Pods("default").Patch(ctx, "theirs", types.MergePatchType, status, metav1.PatchOptions{}, "status")
	forbidden("status of n2's pod", err, `pods "theirs" is forbidden: node "n1" can only update pod status for pods with spec.nodeName set to itself`)
	err = n1.CoreV1().Pods("default").Delete(ctx, "theirs", metav1.DeleteOptions{})
	forbidden("delete n2's pod", err, `pods "theirs" is forbidden: node "n1" can only delete pods with spec.nodeName set to itself`)
	_, err = n1.CoreV1().Pods("default").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "new"}, Spec: corev1.PodSpec{
		NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{})
	forbidden("create a pod", err, `pods "new" is forbidden: pod does not have "kubernetes.io/config.mirror" annotation, node "n1" can only create mirror pods`)
	// Subresource creates with a body of their own kind are admitted too.
	err = n1.PolicyV1().Evictions("default").Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "theirs", Namespace: "default"}})
	forbidden("evict n2's pod", err, `pods "theirs" is forbidden: node n1 can only evict pods with spec.nodeName set to itself`)
	_, err = n1.CoreV1().ServiceAccounts("default").CreateToken(ctx, "default", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	forbidden("unbound token", err, `serviceaccounts "default" is forbidden: node requested token not bound to a pod`)
	if err := n1.CoreV1().Pods("default").Delete(ctx, "mine", metav1.DeleteOptions{}); err != nil {
		t.Errorf("delete own pod: %v", err)
	}
}
