package podsync

import (
	"reflect"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/agent/podconfig"
	"skiff.dev/skiff/internal/agent/runtime"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func testPod(policy corev1.RestartPolicy, init []string, containers ...string) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "uid-1"},
		Spec:       corev1.PodSpec{RestartPolicy: policy},
	}
	for _, n := range init {
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, corev1.Container{Name: n, Image: "busybox"})
	}
	for _, n := range containers {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: n, Image: "busybox"})
	}
	return pod
}

func sandbox(id string, attempt uint32, ready bool) *runtime.Sandbox {
	s := &runtime.Sandbox{ID: id, Attempt: attempt, State: runtime.SandboxReady, IP: "10.42.0.2", CreatedAt: t0.Add(time.Duration(attempt) * time.Second)}
	if !ready {
		s.State = runtime.SandboxNotReady
	}
	return s
}

// ctr builds a runtime container for spec container name of pod, created
// at t0+created seconds.
func ctr(pod *corev1.Pod, id, name string, restarts int, state runtime.ContainerState, exit int32, created int) *runtime.Container {
	c := &runtime.Container{
		ID: id, SandboxID: "sb", Name: name, State: state, ExitCode: exit, Attempt: uint32(restarts),
		CreatedAt: t0.Add(time.Duration(created) * time.Second), StartedAt: t0.Add(time.Duration(created) * time.Second),
		Annotations: map[string]string{runtime.AnnotationRestartCount: strconv.Itoa(restarts)},
	}
	if state == runtime.ContainerExited {
		c.FinishedAt = t0.Add(time.Duration(created+1) * time.Second)
	}
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			if cs[i].Name == name {
				c.Annotations[runtime.AnnotationContainerHash] = podconfig.ContainerHash(&cs[i])
			}
		}
	}
	return c
}

func TestCompute(t *testing.T) {
	always := testPod(corev1.RestartPolicyAlways, nil, "app", "side")
	never := testPod(corev1.RestartPolicyNever, nil, "app")
	onFailure := testPod(corev1.RestartPolicyOnFailure, nil, "app")
	withInit := testPod(corev1.RestartPolicyAlways, []string{"i1", "i2"}, "app")
	neverInit := testPod(corev1.RestartPolicyNever, []string{"i1"}, "app")
	deleting := always.DeepCopy()
	deleting.DeletionTimestamp = &metav1.Time{Time: t0}
	changed := always.DeepCopy()
	changed.Spec.Containers[0].Image = "busybox:2"
	running := func(p *corev1.Pod, name string) *runtime.Container {
		return ctr(p, name+"-1", name, 0, runtime.ContainerRunning, 0, 2)
	}

	tests := []struct {
		name       string
		pod        *corev1.Pod
		sandboxes  []*runtime.Sandbox
		containers []*runtime.Container
		unhealthy  map[string]string
		want       Plan
	}{{
		name: "new pod: sandbox and every container",
		pod:  always,
		want: Plan{KillPod: true, CreateSandbox: true, SandboxReason: "no pod sandbox exists",
			Start: []Start{{Name: "app", Index: 0}, {Name: "side", Index: 1}}},
	}, {
		name: "new pod with init containers: sandbox and the first init container",
		pod:  withInit,
		want: Plan{KillPod: true, CreateSandbox: true, SandboxReason: "no pod sandbox exists",
			Start: []Start{{Name: "i1", Init: true}}},
	}, {
		name:       "steady state: nothing to do",
		pod:        always,
		sandboxes:  []*runtime.Sandbox{sandbox("sb", 0, true)},
		containers: []*runtime.Container{running(always, "app"), running(always, "side")},
		want:       Plan{SandboxID: "sb"},
	}, {
		name:       "a missing container starts",
		pod:        always,
		sandboxes:  []*runtime.Sandbox{sandbox("sb", 0, true)},
		containers: []*runtime.Container{running(always, "app")},
		want:       Plan{SandboxID: "sb", Start: []Start{{Name: "side", Index: 1}}},
	}, {
		name:       "first init done: the second runs",
		pod:        withInit,
		sandboxes:  []*runtime.Sandbox{sandbox("sb", 0, true)},
		containers: []*runtime.Container{ctr(withInit, "i1-0", "i1", 0, runtime.ContainerExited, 0, 1)},
		want:       Plan{SandboxID: "sb", Start: []Start{{Name: "i2", Init: true, Index: 1}}},
	}, {
		name:       "an init container running: wait",
		pod:        withInit,
		sandboxes:  []*runtime.Sandbox{sandbox("sb", 0, true)},
		containers: []*runtime.Container{ctr(withInit, "i1-0", "i1", 0, runtime.ContainerRunning, 0, 1)},
		want:       Plan{SandboxID: "sb"},
	}, {
		name:      "all init containers done: the app starts",
		pod:       withInit,
		sandboxes: []*runtime.Sandbox{sandbox("sb", 0, true)},
		containers: []*runtime.Container{
			ctr(withInit, "i1-0", "i1", 0, runtime.ContainerExited, 0, 1),
			ctr(withInit, "i2-0", "i2", 0, runtime.ContainerExited, 0, 3),
		},
		want: Plan{SandboxID: "sb", Start: []Start{{Name: "app"}}},
	}, {
		name:       "a failed init container with restartPolicy Never fails the pod",
		pod:        neverInit,
		sandboxes:  []*runtime.Sandbox{sandbox("sb", 0, true)},
		containers: []*runtime.Container{ctr(neverInit, "i1-0", "i1", 0, runtime.ContainerExited, 1, 1)},
		want:       Plan{SandboxID: "sb", KillPod: true, Done: true},
	}, {
		name:       "a failed init container with restartPolicy Always restarts",
		pod:        withInit,
		sandboxes:  []*runtime.Sandbox{sandbox("sb", 0, true)},
		containers: []*runtime.Container{ctr(withInit, "i1-0", "i1", 0, runtime.ContainerExited, 1, 1)},
		want:       Plan{SandboxID: "sb", Start: []Start{{Name: "i1", Init: true, RestartCount: 1}}},
	}, {
		name:       "restartPolicy Never: an exited container stays, the pod is done",
		pod:        never,
		sandboxes:  []*runtime.Sandbox{sandbox("sb", 0, true)},
		containers: []*runtime.Container{ctr(never, "a0", "app", 0, runtime.ContainerExited, 0, 1)},
		want:       Plan{SandboxID: "sb", KillPod: true, Done: true},
	}, {
		name:       "restartPolicy OnFailure: success is final",
		pod:        onFailure,
		sandboxes:  []*runtime.Sandbox{sandbox("sb", 0, true)},
		containers: []*runtime.Container{ctr(onFailure, "a0", "app", 0, runtime.ContainerExited, 0, 1)},
		want:       Plan{SandboxID: "sb", KillPod: true, Done: true},
	}, {
		name:       "restartPolicy OnFailure: a failure restarts",
		pod:        onFailure,
		sandboxes:  []*runtime.Sandbox{sandbox("sb", 0, true)},
		containers: []*runtime.Container{ctr(onFailure, "a0", "app", 0, runtime.ContainerExited, 2, 1)},
		want:       Plan{SandboxID: "sb", Start: []Start{{Name: "app", RestartCount: 1}}},
	}, {
		name:       "a changed spec restarts the container",
		pod:        changed,
		sandboxes:  []*runtime.Sandbox{sandbox("sb", 0, true)},
		containers: []*runtime.Container{running(always, "app"), running(always, "side")},
		want: Plan{SandboxID: "sb",
			Kill:  []Kill{{ID: "app-1", Name: "app", Message: "Container app definition changed, will be restarted"}},
			Start: []Start{{Name: "app", RestartCount: 1}}},
	}, {
		name:       "a failed liveness probe restarts the container",
		pod:        always,
		sandboxes:  []*runtime.Sandbox{sandbox("sb", 0, true)},
		containers: []*runtime.Container{running(always, "app"), running(always, "side")},
		unhealthy:  map[string]string{"side-1": "Container side failed liveness probe"},
		want: Plan{SandboxID: "sb",
			Kill:  []Kill{{ID: "side-1", Name: "side", Message: "Container side failed liveness probe, will be restarted"}},
			Start: []Start{{Name: "side", Index: 1, RestartCount: 1}}},
	}, {
		name:       "a dead sandbox is recreated with the next attempt",
		pod:        always,
		sandboxes:  []*runtime.Sandbox{sandbox("sb", 0, false)},
		containers: []*runtime.Container{ctr(always, "a0", "app", 0, runtime.ContainerExited, 137, 1)},
		want: Plan{KillPod: true, CreateSandbox: true, SandboxAttempt: 1, SandboxID: "sb", SandboxReason: "pod sandbox is not ready",
			Start: []Start{{Name: "app", RestartCount: 1}, {Name: "side", Index: 1}}},
	}, {
		name:       "restartPolicy Never: a dead sandbox after containers ran is final",
		pod:        never,
		sandboxes:  []*runtime.Sandbox{sandbox("sb", 1, false)},
		containers: []*runtime.Container{ctr(never, "a0", "app", 0, runtime.ContainerExited, 0, 1)},
		want:       Plan{KillPod: true, Done: true, SandboxID: "sb", SandboxReason: "pod sandbox is not ready"},
	}, {
		name:       "a deleted pod is killed",
		pod:        deleting,
		sandboxes:  []*runtime.Sandbox{sandbox("sb", 0, true)},
		containers: []*runtime.Container{running(always, "app")},
		want:       Plan{KillPod: true, Done: true},
	}, {
		name:      "dead containers beyond the last state are removed, with stale sandboxes",
		pod:       always,
		sandboxes: []*runtime.Sandbox{sandbox("old", 0, false), sandbox("sb", 1, true)},
		containers: []*runtime.Container{
			ctr(always, "a0", "app", 0, runtime.ContainerExited, 1, 1),
			ctr(always, "a1", "app", 1, runtime.ContainerExited, 1, 3),
			ctr(always, "a2", "app", 2, runtime.ContainerRunning, 0, 5),
			ctr(always, "s0", "side", 0, runtime.ContainerRunning, 0, 5),
		},
		want: Plan{SandboxID: "sb", RemoveContainers: []string{"a0"}, RemoveSandboxes: []string{"old"}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Compute(Input{Pod: tt.pod, Sandboxes: tt.sandboxes, Containers: tt.containers, Now: t0.Add(time.Minute),
				Backoff: NewBackoff(InitialBackoff, MaxBackoff), Unhealthy: tt.unhealthy})
			if tt.want.Waiting == nil {
				tt.want.Waiting = map[string]Waiting{}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("plan\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestCrashLoopBackOff walks a crashing container through upstream's
// back-off: the first restart at once, then 10 s, 20 s, 40 s ... 5 min.
func TestCrashLoopBackOff(t *testing.T) {
	pod := testPod(corev1.RestartPolicyAlways, nil, "app")
	sb := []*runtime.Sandbox{sandbox("sb", 0, true)}
	bo := NewBackoff(InitialBackoff, MaxBackoff)
	now := t0
	restarts := 0
	var waits []time.Duration
	for range 8 {
		// The container exits one second after it starts.
		dead := ctr(pod, "c"+strconv.Itoa(restarts), "app", restarts, runtime.ContainerExited, 1, 0)
		dead.FinishedAt = now
		in := Input{Pod: pod, Sandboxes: sb, Containers: []*runtime.Container{dead}, Backoff: bo, Now: now}
		p := Compute(in)
		if len(p.Start) == 0 {
			w, ok := p.Waiting["app"]
			if !ok || w.Reason != CrashLoopBackOff || p.RequeueAfter <= 0 {
				t.Fatalf("neither started nor waiting: %+v", p)
			}
			wantMsg := "back-off " + bo.Get(BackoffKey(pod, "app")).String() + " restarting failed container=app pod=web_default(uid-1)"
			if w.Message != wantMsg {
				t.Fatalf("message %q, want %q", w.Message, wantMsg)
			}
			waits = append(waits, p.RequeueAfter)
			in.Now = now.Add(p.RequeueAfter)
			p = Compute(in)
			if len(p.Start) != 1 {
				t.Fatalf("not started after the back-off: %+v", p)
			}
			now = in.Now
		} else {
			waits = append(waits, 0)
		}
		if got := p.Start[0].RestartCount; got != int32(restarts+1) {
			t.Fatalf("restart count %d, want %d", got, restarts+1)
		}
		restarts++
	}
	want := []time.Duration{0, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 300 * time.Second, 300 * time.Second}
	if !reflect.DeepEqual(waits, want) {
		t.Errorf("waits %v, want %v", waits, want)
	}
}

func TestBackoffExpires(t *testing.T) {
	b := NewBackoff(InitialBackoff, MaxBackoff)
	b.Next("k", t0, t0)
	b.Next("k", t0, t0)
	if b.Get("k") != 20*time.Second {
		t.Fatalf("backoff %v", b.Get("k"))
	}
	// A failure long after the last one starts over.
	later := t0.Add(11 * time.Minute)
	if b.InBackoffSince("k", later, later) {
		t.Error("still in back-off after twice the cap")
	}
	b.Next("k", later, later)
	if b.Get("k") != InitialBackoff {
		t.Errorf("backoff after expiry %v", b.Get("k"))
	}
}
