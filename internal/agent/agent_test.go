package agent_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"

	"skiff.dev/skiff/internal/agent"
	"skiff.dev/skiff/internal/agent/runtime"
	"skiff.dev/skiff/internal/agent/runtime/fake"
	"skiff.dev/skiff/internal/testserver"
)

var machine = &agent.Machine{
	CPUs: 4, MemoryBytes: 8 << 30, EphemeralStorage: 100 << 30, Hostname: "n1",
	KernelVersion: "6.1.0", OSImage: "Test Linux", MachineID: "m", SystemUUID: "u", BootID: "b",
}

// startAgent runs an agent for node name until the returned stop is
// called or the test ends.
func startAgent(t *testing.T, s *testserver.Server, name string, rt runtime.Runtime, clk clock.WithTicker) (stop func()) {
	t.Helper()
	_, stop = runAgent(t, s, agent.Config{NodeName: name, Runtime: rt, Clock: clk})
	return stop
}

// runAgent runs an agent configured by cfg (with the test's defaults
// for the fields left zero) until stop is called or the test ends.
func runAgent(t *testing.T, s *testserver.Server, cfg agent.Config) (a *agent.Agent, stop func()) {
	t.Helper()
	if cfg.Client == nil {
		cfg.Client = kubernetes.NewForConfigOrDie(s.Config(t, "system:node:"+cfg.NodeName, "system:nodes", "system:masters"))
	}
	if cfg.NodeIP == "" {
		cfg.NodeIP = "192.168.0.10"
	}
	if cfg.Machine == nil {
		cfg.Machine = machine
	}
	if cfg.RelistPeriod == 0 {
		cfg.RelistPeriod = 20 * time.Millisecond
	}
	if cfg.NodeStatusCheck == 0 {
		cfg.NodeStatusCheck = 100 * time.Millisecond
	}
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	}
	t.Cleanup(stop)
	return a, stop
}

// eventually polls cond until it holds or 20 s pass.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
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

func createPod(t *testing.T, c kubernetes.Interface, node, name string, policy corev1.RestartPolicy, containers ...string) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       corev1.PodSpec{NodeName: node, RestartPolicy: policy},
	}
	for _, n := range containers {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{
			Name: n, Image: "busybox", Command: []string{"sh", "-c", "echo $(GREETING)"},
			Env: []corev1.EnvVar{{Name: "GREETING", Value: "hi"}},
		})
	}
	out, err := c.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func getPod(t *testing.T, c kubernetes.Interface, name string) *corev1.Pod {
	t.Helper()
	pod, err := c.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pod
}

func condition(pod *corev1.Pod, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range pod.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

func TestNodeRegistersWithCapacityConditionsAndLease(t *testing.T) {
	s := testserver.Start(t)
	startAgent(t, s, "n1", fake.New(fake.Options{}), nil)
	ctx := context.Background()
	var node *corev1.Node
	eventually(t, "node", func() (bool, string) {
		var err error
		node, err = s.Client.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
		return err == nil, fmt.Sprint(err)
	})
	if got := node.Status.Capacity; got.Cpu().Value() != 4 || got.Memory().Value() != 8<<30 || got.Pods().Value() != 110 || got.StorageEphemeral().Value() != 100<<30 {
		t.Errorf("capacity %v", got)
	}
	if got := node.Status.Allocatable; got.Memory().Value() != 8<<30-100<<20 || got.StorageEphemeral().Value() != 90<<30+(100<<30)/10*0 {
		t.Errorf("allocatable %v", got)
	}
	want := map[corev1.NodeConditionType]string{
		corev1.NodeReady: "KubeletReady", corev1.NodeMemoryPressure: "KubeletHasSufficientMemory",
		corev1.NodeDiskPressure: "KubeletHasNoDiskPressure", corev1.NodePIDPressure: "KubeletHasSufficientPID",
	}
	for _, c := range node.Status.Conditions {
		if want[c.Type] != c.Reason {
			t.Errorf("condition %s reason %q", c.Type, c.Reason)
		}
		if (c.Type == corev1.NodeReady) != (c.Status == corev1.ConditionTrue) {
			t.Errorf("condition %s is %s", c.Type, c.Status)
		}
		delete(want, c.Type)
	}
	if len(want) > 0 {
		t.Errorf("missing conditions %v", want)
	}
	info := node.Status.NodeInfo
	if info.KubeletVersion != agent.KubeletVersion || info.ContainerRuntimeVersion != "skiff-simulated://1.0.0" || info.OperatingSystem != "linux" || info.KernelVersion != "6.1.0" {
		t.Errorf("nodeInfo %+v", info)
	}
	if p, err := netip.ParsePrefix(node.Spec.PodCIDR); err != nil || p.Bits() != 24 || !netip.MustParsePrefix("10.42.0.0/16").Contains(p.Addr()) {
		t.Errorf("podCIDR %q", node.Spec.PodCIDR)
	}
	addrs := fmt.Sprint(node.Status.Addresses)
	if !strings.Contains(addrs, "InternalIP 192.168.0.10") || !strings.Contains(addrs, "Hostname n1") {
		t.Errorf("addresses %s", addrs)
	}
	eventually(t, "lease", func() (bool, string) {
		l, err := s.Client.CoordinationV1().Leases("kube-node-lease").Get(ctx, "n1", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		ok := *l.Spec.HolderIdentity == "n1" && *l.Spec.LeaseDurationSeconds == 40 && l.Spec.RenewTime != nil &&
			len(l.OwnerReferences) == 1 && l.OwnerReferences[0].UID == node.UID
		return ok, fmt.Sprintf("%+v %+v", l.Spec, l.OwnerReferences)
	})
	// Upstream's kubelet events about its node, found as kubectl describe
	// node finds them (the node's name as UID), each once.
	eventually(t, "node events", func() (bool, string) {
		l, err := s.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{
			FieldSelector: "involvedObject.kind=Node,involvedObject.name=n1,involvedObject.uid=n1"})
		if err != nil {
			return false, err.Error()
		}
		var got []string
		for _, e := range l.Items {
			got = append(got, fmt.Sprintf("%s x%d: %s", e.Reason, e.Count, e.Message))
		}
		slices.Sort(got)
		want := []string{
			"NodeHasNoDiskPressure x1: Node n1 status is now: NodeHasNoDiskPressure",
			"NodeHasSufficientMemory x1: Node n1 status is now: NodeHasSufficientMemory",
			"NodeHasSufficientPID x1: Node n1 status is now: NodeHasSufficientPID",
			"NodeReady x1: Node n1 status is now: NodeReady",
			"Starting x1: Starting kubelet.",
		}
		return slices.Equal(got, want), fmt.Sprintf("%q", got)
	})
}

func TestPodRunsWithConditionsAndStatuses(t *testing.T) {
	s := testserver.Start(t)
	startAgent(t, s, "n1", fake.New(fake.Options{PodCIDR: netip.MustParsePrefix("10.42.7.0/24")}), nil)
	createPod(t, s.Client, "n1", "web", corev1.RestartPolicyAlways, "app", "side")
	eventually(t, "pod Running and Ready", func() (bool, string) {
		pod := getPod(t, s.Client, "web")
		return pod.Status.Phase == corev1.PodRunning && condition(pod, corev1.PodReady) == corev1.ConditionTrue, fmt.Sprintf("%+v", pod.Status)
	})
	pod := getPod(t, s.Client, "web")
	for _, ct := range []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.ContainersReady, corev1.PodScheduled} {
		if condition(pod, ct) != corev1.ConditionTrue {
			t.Errorf("condition %s = %q", ct, condition(pod, ct))
		}
	}
	if !strings.HasPrefix(pod.Status.PodIP, "10.42.7.") || pod.Status.HostIP != "192.168.0.10" || pod.Status.StartTime == nil {
		t.Errorf("podIP %q hostIP %q", pod.Status.PodIP, pod.Status.HostIP)
	}
	if len(pod.Status.ContainerStatuses) != 2 {
		t.Fatalf("container statuses %+v", pod.Status.ContainerStatuses)
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.State.Running == nil || !cs.Ready || cs.Started == nil || !*cs.Started || cs.RestartCount != 0 ||
			!strings.HasPrefix(cs.ContainerID, "skiff-simulated://") || !strings.HasPrefix(cs.ImageID, "docker.io/library/busybox@sha256:") || cs.Image != "busybox" {
			t.Errorf("container status %+v", cs)
		}
	}
	eventually(t, "events", func() (bool, string) {
		evs, err := s.Client.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		seen := map[string]bool{}
		for _, e := range evs.Items {
			if e.Source.Component == "kubelet" && e.Source.Host == "n1" && e.InvolvedObject.Name == "web" {
				seen[e.Reason+":"+e.Message+":"+e.InvolvedObject.FieldPath] = true
			}
		}
		return seen["Created:Container created:spec.containers{app}"] && seen["Started:Container started:spec.containers{side}"] &&
			seen[`Pulling:Pulling image "busybox":spec.containers{app}`], fmt.Sprint(seen)
	})
}

func TestRestartPolicyNeverEndsSucceededOrFailed(t *testing.T) {
	s := testserver.Start(t)
	rt := fake.New(fake.Options{Behavior: func(sb *runtime.SandboxConfig, c *runtime.ContainerConfig) fake.Behavior {
		if sb.Name == "fails" {
			return fake.Behavior{ExitAfter: -1, ExitCode: 3}
		}
		return fake.Behavior{ExitAfter: -1}
	}})
	startAgent(t, s, "n1", rt, nil)
	createPod(t, s.Client, "n1", "works", corev1.RestartPolicyNever, "app")
	createPod(t, s.Client, "n1", "fails", corev1.RestartPolicyNever, "app")
	for name, want := range map[string]corev1.PodPhase{"works": corev1.PodSucceeded, "fails": corev1.PodFailed} {
		eventually(t, name+" "+string(want), func() (bool, string) {
			pod := getPod(t, s.Client, name)
			return pod.Status.Phase == want, fmt.Sprintf("%+v", pod.Status)
		})
		cs := getPod(t, s.Client, name).Status.ContainerStatuses[0]
		term := cs.State.Terminated
		if term == nil || (want == corev1.PodSucceeded) != (term.ExitCode == 0 && term.Reason == "Completed") || (want == corev1.PodFailed && (term.ExitCode != 3 || term.Reason != "Error")) {
			t.Errorf("%s: state %+v", name, cs.State)
		}
		if cs.RestartCount != 0 {
			t.Errorf("%s restarted %d times", name, cs.RestartCount)
		}
	}
}

func TestCrashLoopBackOff(t *testing.T) {
	s := testserver.Start(t)
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rt := fake.New(fake.Options{Clock: clk, Behavior: func(*runtime.SandboxConfig, *runtime.ContainerConfig) fake.Behavior {
		return fake.Behavior{ExitAfter: -1, ExitCode: 1}
	}})
	startAgent(t, s, "n1", rt, clk)
	pod := createPod(t, s.Client, "n1", "crash", corev1.RestartPolicyAlways, "app")
	// waitBackOff waits for the container to show the given back-off.
	// With advance it moves the clock on while waiting: in small steps,
	// since the worker may arm its timer after the status is visible.
	waitBackOff := func(restarts int32, backoff string, advance bool) {
		t.Helper()
		want := fmt.Sprintf("back-off %s restarting failed container=app pod=crash_default(%s)", backoff, pod.UID)
		eventually(t, "CrashLoopBackOff "+backoff, func() (bool, string) {
			p := getPod(t, s.Client, "crash")
			if len(p.Status.ContainerStatuses) == 0 {
				return false, "no statuses"
			}
			cs := p.Status.ContainerStatuses[0]
			w := cs.State.Waiting
			ok := w != nil && w.Reason == "CrashLoopBackOff" && w.Message == want && cs.RestartCount == restarts &&
				cs.LastTerminationState.Terminated != nil && cs.LastTerminationState.Terminated.ExitCode == 1 &&
				p.Status.Phase == corev1.PodRunning && condition(p, corev1.PodReady) == corev1.ConditionFalse
			if !ok && advance {
				clk.Step(500 * time.Millisecond)
			}
			return ok, fmt.Sprintf("%s %+v", p.Status.Phase, cs)
		})
	}
	waitBackOff(1, "10s", false)
	waitBackOff(2, "20s", true)
	waitBackOff(3, "40s", true)
	eventually(t, "BackOff event", func() (bool, string) {
		evs, _ := s.Client.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{FieldSelector: "reason=BackOff"})
		for _, e := range evs.Items {
			if e.Message == fmt.Sprintf("Back-off restarting failed container app in pod crash_default(%s)", pod.UID) && e.Type == corev1.EventTypeWarning {
				return true, ""
			}
		}
		return false, fmt.Sprint(len(evs.Items))
	})
}

func TestDeletedPodIsStoppedAndRemoved(t *testing.T) {
	s := testserver.Start(t)
	rt := fake.New(fake.Options{})
	a, _ := runAgent(t, s, agent.Config{NodeName: "n1", Runtime: rt})
	createPod(t, s.Client, "n1", "web", corev1.RestartPolicyAlways, "app")
	eventually(t, "running", func() (bool, string) {
		p := getPod(t, s.Client, "web")
		return p.Status.Phase == corev1.PodRunning, string(p.Status.Phase)
	})
	if p, ok := a.Pod("default", "web"); !ok || p.Name != "web" {
		t.Errorf("Pod(default, web) = %v, %v", p, ok)
	}
	if _, ok := a.Pod("default", "nope"); ok {
		t.Error("Pod(default, nope) found")
	}
	ctx := context.Background()
	if err := s.Client.CoreV1().Pods("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "pod object gone", func() (bool, string) {
		_, err := s.Client.CoreV1().Pods("default").Get(ctx, "web", metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	eventually(t, "pod gone from the agent's cache", func() (bool, string) {
		_, ok := a.Pod("default", "web")
		return !ok, ""
	})
	eventually(t, "containers and sandboxes removed", func() (bool, string) {
		cs, _ := rt.ListContainers(ctx)
		sbs, _ := rt.ListSandboxes(ctx)
		return len(cs) == 0 && len(sbs) == 0, fmt.Sprintf("%d containers, %d sandboxes", len(cs), len(sbs))
	})
	eventually(t, "Killing event", func() (bool, string) {
		evs, _ := s.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "reason=Killing"})
		return len(evs.Items) > 0 && evs.Items[0].Message == "Stopping container app", fmt.Sprint(evs.Items)
	})
}

func TestRestartedAgentAdoptsRunningContainers(t *testing.T) {
	s := testserver.Start(t)
	rt := fake.New(fake.Options{})
	stop := startAgent(t, s, "n1", rt, nil)
	createPod(t, s.Client, "n1", "web", corev1.RestartPolicyAlways, "app")
	var before string
	eventually(t, "running", func() (bool, string) {
		p := getPod(t, s.Client, "web")
		if len(p.Status.ContainerStatuses) > 0 {
			before = p.Status.ContainerStatuses[0].ContainerID
		}
		return p.Status.Phase == corev1.PodRunning && before != "", string(p.Status.Phase)
	})
	stop()
	// The new agent finds the running container by its labels and keeps
	// it: same container ID, no restart.
	startAgent(t, s, "n1", rt, nil)
	createPod(t, s.Client, "n1", "after", corev1.RestartPolicyAlways, "app")
	eventually(t, "the new agent runs a new pod", func() (bool, string) {
		p := getPod(t, s.Client, "after")
		return p.Status.Phase == corev1.PodRunning, string(p.Status.Phase)
	})
	p := getPod(t, s.Client, "web")
	if cs := p.Status.ContainerStatuses[0]; cs.ContainerID != before || cs.RestartCount != 0 || cs.State.Running == nil {
		t.Errorf("after restart: %+v, want container %s kept", cs, before)
	}
	cs, _ := rt.ListContainers(context.Background())
	if len(cs) != 2 {
		t.Errorf("%d containers, want 2", len(cs))
	}
}
