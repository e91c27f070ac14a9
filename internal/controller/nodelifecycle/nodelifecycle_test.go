package nodelifecycle_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/skiff/internal/controller/controllertest"
	"skiff.dev/skiff/internal/controller/nodelifecycle"
)

// grace is short for fast tests, yet ten renewal periods (200 ms) long so
// that a loaded machine does not make a live node look dead.
const grace = 2 * time.Second

func start(t *testing.T) *controllertest.Env {
	env := controllertest.Start(t)
	c, err := nodelifecycle.New(env.Client, env.Factory, env.Recorder("node-controller"),
		nodelifecycle.Config{MonitorGracePeriod: grace, StartupGracePeriod: grace, MonitorPeriod: 200 * time.Millisecond}, env.Log)
	if err != nil {
		t.Fatal(err)
	}
	env.StartInformers(t)
	go c.Run(env.Ctx, 2)
	return env
}

// addNode registers a Ready node with its Lease, as a kubelet does.
func addNode(t *testing.T, ctx context.Context, c kubernetes.Interface, name string, ready corev1.ConditionStatus) {
	t.Helper()
	n, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready, Reason: "KubeletReady", LastHeartbeatTime: now, LastTransitionTime: now}}
	if _, err := c.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	renew(t, ctx, c, name)
}

// renew creates or renews the node's Lease.
func renew(t *testing.T, ctx context.Context, c kubernetes.Interface, name string) {
	t.Helper()
	if err := renewLease(ctx, c, name); err != nil {
		t.Fatal(err)
	}
}

func renewLease(ctx context.Context, c kubernetes.Interface, name string) error {
	now := metav1.NewMicroTime(time.Now())
	leases := c.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	l, err := leases.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		secs := int32(40)
		_, err = leases.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: &name, LeaseDurationSeconds: &secs, RenewTime: &now}}, metav1.CreateOptions{})
	} else if err == nil {
		l.Spec.RenewTime = &now
		_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
	}
	return err
}

// keepRenewing renews the node's Lease every 200 ms until the test ends.
func keepRenewing(t *testing.T, ctx context.Context, c kubernetes.Interface, name string) {
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				_ = renewLease(ctx, c, name) // a failed renewal is a missed heartbeat
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}

func addPod(t *testing.T, ctx context.Context, c kubernetes.Interface, name, node string, tols ...corev1.Toleration) {
	t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: node, Tolerations: tols, Containers: []corev1.Container{{Name: "c", Image: "nginx"}}}}
	p, err := c.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := controllertest.SetPodReady(ctx, c, p, node, true, time.Now()); err != nil {
		t.Fatal(err)
	}
}

func taintsOf(n *corev1.Node) string {
	var s []string
	for _, t := range n.Spec.Taints {
		s = append(s, t.ToString())
	}
	return strings.Join(s, ",")
}

func TestQuietNodeGoesUnknownAndItsPodsAreEvicted(t *testing.T) {
	env := start(t)
	ctx, c := env.Ctx, env.Client
	addNode(t, ctx, c, "quiet", corev1.ConditionTrue)
	addNode(t, ctx, c, "alive", corev1.ConditionTrue)
	secs := func(n int64) *int64 { return &n }
	addPod(t, ctx, c, "intolerant", "quiet")
	addPod(t, ctx, c, "patient", "quiet", corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs(2)})
	addPod(t, ctx, c, "stubborn", "quiet", corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute})
	addPod(t, ctx, c, "elsewhere", "alive")

	// "alive" keeps renewing its Lease while "quiet" goes quiet.
	keepRenewing(t, ctx, c, "alive")

	controllertest.Eventually(t, 20*time.Second, func() error {
		n, err := c.CoreV1().Nodes().Get(ctx, "quiet", metav1.GetOptions{})
		if err != nil {
			return err
		}
		var ready corev1.NodeCondition
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				ready = cond
			}
		}
		if ready.Status != corev1.ConditionUnknown || ready.Reason != "NodeStatusUnknown" || ready.Message != "Kubelet stopped posting node status." {
			return fmt.Errorf("ready %+v", ready)
		}
		if got := taintsOf(n); got != "node.kubernetes.io/unreachable:NoExecute,node.kubernetes.io/unreachable:NoSchedule" {
			return fmt.Errorf("taints %s", got)
		}
		return nil
	})
	evicted := func(name string) func() error {
		return func() error {
			p, err := c.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			if err != nil {
				return err
			}
			if p.DeletionTimestamp == nil {
				return fmt.Errorf("%s not being deleted", name)
			}
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.DisruptionTarget && cond.Reason == "DeletionByTaintManager" {
					return nil
				}
			}
			return fmt.Errorf("%s has no DisruptionTarget condition: %+v", name, p.Status.Conditions)
		}
	}
	controllertest.Eventually(t, 20*time.Second, evicted("intolerant"))
	// The controller said it took on each node, once.
	for _, node := range []string{"quiet", "alive"} {
		msgs, err := controllertest.EventMessages(ctx, c, "default", node)
		if err != nil {
			t.Fatal(err)
		}
		want := "RegisteredNode: Node " + node + " event: Registered Node " + node + " in Controller"
		if n := slices.Index(msgs, want); n < 0 || slices.Index(msgs[n+1:], want) >= 0 {
			t.Errorf("events about %s: %q, want %q once", node, msgs, want)
		}
	}
	// The patient pod goes once its toleration seconds have passed.
	controllertest.Eventually(t, 20*time.Second, evicted("patient"))
	for _, name := range []string{"stubborn", "elsewhere"} {
		p, err := c.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil || p.DeletionTimestamp != nil {
			t.Fatalf("%s: %v %v", name, err, p.DeletionTimestamp)
		}
	}
	// The stubborn pod, left on the node, was marked not ready.
	p, _ := c.CoreV1().Pods("default").Get(ctx, "stubborn", metav1.GetOptions{})
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady && cond.Status != corev1.ConditionFalse {
			t.Fatalf("stubborn pod still ready: %+v", cond)
		}
	}
	n, _ := c.CoreV1().Nodes().Get(ctx, "alive", metav1.GetOptions{})
	if taintsOf(n) != "" {
		t.Fatalf("alive node tainted: %s", taintsOf(n))
	}
	msgs, _ := controllertest.EventMessages(ctx, c, "default", "intolerant")
	if !strings.Contains(strings.Join(msgs, "\n"), "TaintManagerEviction: Marking for deletion Pod default/intolerant") {
		t.Fatalf("events %q", msgs)
	}
}

func TestNotReadyNodeTaintsAndRecovery(t *testing.T) {
	env := start(t)
	ctx, c := env.Ctx, env.Client
	addNode(t, ctx, c, "sick", corev1.ConditionFalse)
	waitTaints := func(want string) {
		controllertest.Eventually(t, 20*time.Second, func() error {
			n, err := c.CoreV1().Nodes().Get(ctx, "sick", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if got := taintsOf(n); got != want {
				return fmt.Errorf("taints %q, want %q", got, want)
			}
			return nil
		})
	}
	waitTaints("node.kubernetes.io/not-ready:NoExecute,node.kubernetes.io/not-ready:NoSchedule")
	// The kubelet recovers: heartbeat and Lease renewed, Ready=True.
	n, _ := c.CoreV1().Nodes().Get(ctx, "sick", metav1.GetOptions{})
	now := metav1.Now()
	n.Status.Conditions[0].Status, n.Status.Conditions[0].LastHeartbeatTime = corev1.ConditionTrue, now
	if _, err := c.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	keepRenewing(t, ctx, c, "sick")
	waitTaints("")
}
