package scheduler

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/skiff/internal/testserver"
)

// startScheduler runs a scheduler against srv until the test ends.
func startScheduler(t testing.TB, client kubernetes.Interface) *Scheduler {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactory(client, 0)
	// The bare API server has no Priority admission plug-in.
	s := New(client, factory, Options{ResolvePriorityClasses: true})
	factory.Start(ctx.Done())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; factory.Shutdown() })
	return s
}

type nodeOpt func(*v1.Node)

func withLabels(kv ...string) nodeOpt {
	return func(n *v1.Node) {
		for i := 0; i+1 < len(kv); i += 2 {
			n.Labels[kv[i]] = kv[i+1]
		}
	}
}

func withTaint(key, value string, effect v1.TaintEffect) nodeOpt {
	return func(n *v1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, v1.Taint{Key: key, Value: value, Effect: effect})
	}
}

func newNode(name, cpu, mem string, opts ...nodeOpt) *v1.Node {
	n := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1.LabelHostname: name}},
		Status: v1.NodeStatus{
			Capacity:    v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu), v1.ResourceMemory: resource.MustParse(mem), v1.ResourcePods: resource.MustParse("110")},
			Allocatable: v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu), v1.ResourceMemory: resource.MustParse(mem), v1.ResourcePods: resource.MustParse("110")},
			Conditions:  []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}},
		},
	}
	for _, o := range opts {
		o(n)
	}
	return n
}

func createNode(t testing.TB, c kubernetes.Interface, n *v1.Node) {
	t.Helper()
	if _, err := c.CoreV1().Nodes().Create(context.Background(), n, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create node %s: %v", n.Name, err)
	}
}

type podOpt func(*v1.Pod)

func newPod(name, cpu string, opts ...podOpt) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec:       v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "nginx"}}},
	}
	if cpu != "" {
		p.Spec.Containers[0].Resources.Requests = v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu)}
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func createPod(t testing.TB, c kubernetes.Interface, p *v1.Pod) *v1.Pod {
	t.Helper()
	out, err := c.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", p.Name, err)
	}
	return out
}

// eventually polls cond until it holds or 20 s pass.
func eventually(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last: %s", what, last)
}

func getPod(t testing.TB, c kubernetes.Interface, name string) *v1.Pod {
	t.Helper()
	p, err := c.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get pod %s: %v", name, err)
	}
	return p
}

func waitBound(t testing.TB, c kubernetes.Interface, name string) string {
	t.Helper()
	var node string
	eventually(t, "pod "+name+" bound", func() (bool, string) {
		p := getPod(t, c, name)
		node = p.Spec.NodeName
		return node != "", fmt.Sprintf("%+v", p.Status.Conditions)
	})
	return node
}

func waitUnschedulable(t testing.TB, c kubernetes.Interface, name string) v1.PodCondition {
	t.Helper()
	var cond v1.PodCondition
	eventually(t, "pod "+name+" unschedulable", func() (bool, string) {
		p := getPod(t, c, name)
		for _, pc := range p.Status.Conditions {
			if pc.Type == v1.PodScheduled && pc.Status == v1.ConditionFalse {
				cond = pc
				return true, ""
			}
		}
		return false, fmt.Sprintf("node %q conditions %+v", p.Spec.NodeName, p.Status.Conditions)
	})
	return cond
}

func TestSchedulesOnlyWhereResourcesFit(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Client
	createNode(t, c, newNode("small-1", "1", "4Gi"))
	createNode(t, c, newNode("small-2", "1", "4Gi"))
	createNode(t, c, newNode("big", "4", "8Gi"))
	startScheduler(t, c)
	createPod(t, c, newPod("needs-2cpu", "2"))
	if got := waitBound(t, c, "needs-2cpu"); got != "big" {
		t.Fatalf("bound to %s, want big", got)
	}
	// The assumed/bound pod's request counts: a second 3-cpu pod no longer
	// fits on big.
	createPod(t, c, newPod("needs-3cpu", "3"))
	cond := waitUnschedulable(t, c, "needs-3cpu")
	want := "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling."
	if cond.Message != want || cond.Reason != v1.PodReasonUnschedulable {
		t.Fatalf("condition = %s %q\nwant Unschedulable %q", cond.Reason, cond.Message, want)
	}
}

func TestUnschedulableReasonsEventAndRetryOnNewNode(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Client
	createNode(t, c, newNode("w1", "1", "4Gi"))
	createNode(t, c, newNode("w2", "1", "4Gi"))
	createNode(t, c, newNode("cp", "8", "8Gi", withTaint("node-role.kubernetes.io/control-plane", "", v1.TaintEffectNoSchedule)))
	startScheduler(t, c)
	createPod(t, c, newPod("big", "2"))

	cond := waitUnschedulable(t, c, "big")
	want := "0/3 nodes are available: 1 node(s) had untolerated taint(s), 2 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
	if cond.Message != want {
		t.Fatalf("message:\n got %q\nwant %q", cond.Message, want)
	}
	eventually(t, "FailedScheduling event", func() (bool, string) {
		evs, err := c.EventsV1().Events("default").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, e := range evs.Items {
			if e.Reason == "FailedScheduling" && e.Regarding.Name == "big" {
				ok := e.Type == v1.EventTypeWarning && e.ReportingController == "default-scheduler" && e.Note == want
				return ok, fmt.Sprintf("%s %s %q", e.Type, e.ReportingController, e.Note)
			}
		}
		return false, fmt.Sprintf("%d events", len(evs.Items))
	})

	createNode(t, c, newNode("w3", "4", "8Gi"))
	if got := waitBound(t, c, "big"); got != "w3" {
		t.Fatalf("bound to %s, want w3", got)
	}
}

func TestTaintsTolerationsAndNodeAffinity(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Client
	createNode(t, c, newNode("plain", "4", "8Gi", withLabels("disk", "hdd")))
	createNode(t, c, newNode("gpu", "4", "8Gi", withLabels("disk", "ssd"), withTaint("gpu", "true", v1.TaintEffectNoSchedule)))
	createNode(t, c, newNode("cordoned", "4", "8Gi", withLabels("disk", "ssd")))
	if _, err := c.CoreV1().Nodes().Patch(context.Background(), "cordoned", "application/merge-patch+json", []byte(`{"spec":{"unschedulable":true}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	startScheduler(t, c)

	createPod(t, c, newPod("wants-ssd", "", func(p *v1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }))
	cond := waitUnschedulable(t, c, "wants-ssd")
	want := "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint(s), 1 node(s) were unschedulable. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
	if cond.Message != want {
		t.Fatalf("message:\n got %q\nwant %q", cond.Message, want)
	}

	createPod(t, c, newPod("tolerates-gpu", "", func(p *v1.Pod) {
		p.Spec.Tolerations = []v1.Toleration{{Key: "gpu", Operator: v1.TolerationOpEqual, Value: "true", Effect: v1.TaintEffectNoSchedule}}
		p.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{
			NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchExpressions: []v1.NodeSelectorRequirement{{Key: "disk", Operator: v1.NodeSelectorOpIn, Values: []string{"ssd"}}}}},
		}}}
	}))
	if got := waitBound(t, c, "tolerates-gpu"); got != "gpu" {
		t.Fatalf("bound to %s, want gpu", got)
	}
}

func TestSpreadAndAntiAffinity(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Client
	for _, n := range []string{"a", "b"} {
		createNode(t, c, newNode(n, "8", "16Gi"))
	}
	startScheduler(t, c)

	spread := func(p *v1.Pod) {
		p.Labels = map[string]string{"app": "spread"}
		p.Spec.TopologySpreadConstraints = []v1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: v1.LabelHostname, WhenUnsatisfiable: v1.DoNotSchedule,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "spread"}},
		}}
	}
	count := map[string]int{}
	for i := range 4 {
		name := fmt.Sprintf("spread-%d", i)
		createPod(t, c, newPod(name, "", spread))
		count[waitBound(t, c, name)]++
	}
	if count["a"] != 2 || count["b"] != 2 {
		t.Fatalf("spread = %v, want 2 and 2", count)
	}

	anti := func(p *v1.Pod) {
		p.Labels = map[string]string{"app": "solo"}
		p.Spec.Affinity = &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
			TopologyKey: v1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "solo"}},
		}}}}
	}
	used := map[string]bool{}
	for i := range 2 {
		name := fmt.Sprintf("solo-%d", i)
		createPod(t, c, newPod(name, "", anti))
		used[waitBound(t, c, name)] = true
	}
	if len(used) != 2 {
		t.Fatalf("anti-affinity pods share a node: %v", used)
	}
	createPod(t, c, newPod("solo-2", "", anti))
	cond := waitUnschedulable(t, c, "solo-2")
	if want := "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules."; !strings.HasPrefix(cond.Message, want) {
		t.Fatalf("message %q, want prefix %q", cond.Message, want)
	}

	// Required affinity to the solo pods' node.
	createPod(t, c, newPod("follower", "", func(p *v1.Pod) {
		p.Spec.Affinity = &v1.Affinity{PodAffinity: &v1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
			TopologyKey: v1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"name": "solo-0"}},
		}}}}
	}))
	if _, err := c.CoreV1().Pods("default").Patch(context.Background(), "solo-0", "application/merge-patch+json", []byte(`{"metadata":{"labels":{"name":"solo-0"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, want := waitBound(t, c, "follower"), getPod(t, c, "solo-0").Spec.NodeName; got != want {
		t.Fatalf("follower on %s, want %s", got, want)
	}
}

func TestPreemptionEvictsLowerPriority(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Client
	ctx := context.Background()
	for name, value := range map[string]int32{"low": 10, "high": 1000} {
		if _, err := c.SchedulingV1().PriorityClasses().Create(ctx, &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	createNode(t, c, newNode("only", "2", "4Gi"))
	startScheduler(t, c)
	createPod(t, c, newPod("victim", "1500m", func(p *v1.Pod) { p.Spec.PriorityClassName = "low" }))
	createPod(t, c, newPod("bystander", "500m", func(p *v1.Pod) { p.Spec.PriorityClassName = "high" }))
	waitBound(t, c, "victim")
	waitBound(t, c, "bystander")

	createPod(t, c, newPod("important", "1", func(p *v1.Pod) { p.Spec.PriorityClassName = "high" }))
	eventually(t, "victim deleted gracefully and important nominated", func() (bool, string) {
		v, err := c.CoreV1().Pods("default").Get(ctx, "victim", metav1.GetOptions{})
		gone := apierrors.IsNotFound(err) || err == nil && v.DeletionTimestamp != nil
		imp := getPod(t, c, "important")
		return gone && imp.Status.NominatedNodeName == "only", fmt.Sprintf("victim gone=%v nominated=%q", gone, imp.Status.NominatedNodeName)
	})
	if p := getPod(t, c, "bystander"); p.DeletionTimestamp != nil {
		t.Fatal("bystander of equal priority was preempted")
	}
	// Play the kubelet: finish the graceful deletion.
	zero := int64(0)
	if err := c.CoreV1().Pods("default").Delete(ctx, "victim", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	if got := waitBound(t, c, "important"); got != "only" {
		t.Fatalf("important bound to %s", got)
	}
}

func TestOnlyOwnSchedulerName(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Client
	createNode(t, c, newNode("n", "4", "8Gi"))
	createPod(t, c, newPod("elsewhere", "", func(p *v1.Pod) { p.Spec.SchedulerName = "other-scheduler" }))
	startScheduler(t, c)
	createPod(t, c, newPod("ours", ""))
	waitBound(t, c, "ours")
	if p := getPod(t, c, "elsewhere"); p.Spec.NodeName != "" || len(p.Status.Conditions) != 0 {
		t.Fatalf("pod for another scheduler was touched: node %q conditions %+v", p.Spec.NodeName, p.Status.Conditions)
	}
}

func TestLeaderElectionHandsOver(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Client
	ctxA, cancelA := context.WithCancel(context.Background())
	defer cancelA()
	ctxB, cancelB := context.WithCancel(context.Background())
	defer cancelB()
	leading := make(chan string, 4)
	run := func(id string) func(context.Context) {
		return func(ctx context.Context) { leading <- id; <-ctx.Done() }
	}
	doneA := make(chan struct{})
	go func() { RunElected(ctxA, c, "a", run("a")); close(doneA) }()
	if got := <-leading; got != "a" {
		t.Fatalf("first leader %s", got)
	}
	go RunElected(ctxB, c, "b", run("b"))
	lease, err := c.CoordinationV1().Leases(LeaseNamespace).Get(context.Background(), LeaseName, metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != "a" {
		t.Fatalf("lease %+v, %v", lease, err)
	}
	cancelA()
	<-doneA
	select {
	case got := <-leading:
		if got != "b" {
			t.Fatalf("second leader %s", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("b never led after a released the lease")
	}
}
