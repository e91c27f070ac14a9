package status

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/agent/podsync"
	"skiff.dev/skiff/internal/agent/runtime"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func pod(policy corev1.RestartPolicy, init []string, containers ...string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "uid-1", Generation: 1},
		Spec:       corev1.PodSpec{RestartPolicy: policy, NodeName: "n1"},
		Status: corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSBestEffort, Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0.Add(-time.Hour))},
		}},
	}
	for _, n := range init {
		p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: n, Image: "busybox"})
	}
	for _, n := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: n, Image: "busybox"})
	}
	return p
}

var readySandbox = []*runtime.Sandbox{{ID: "sb", State: runtime.SandboxReady, IP: "10.42.0.5", CreatedAt: t0}}

func ctr(id, name string, restarts int, state runtime.ContainerState, exit int32) *runtime.Container {
	c := &runtime.Container{
		ID: id, SandboxID: "sb", Name: name, State: state, ExitCode: exit, ImageRef: "docker.io/library/busybox@sha256:ab",
		CreatedAt: t0.Add(time.Duration(restarts) * time.Second), StartedAt: t0.Add(time.Duration(restarts) * time.Second),
		Annotations: map[string]string{runtime.AnnotationRestartCount: strconv.Itoa(restarts)},
	}
	if state == runtime.ContainerExited {
		c.FinishedAt = c.StartedAt.Add(time.Second)
		c.Reason = "Completed"
		if exit != 0 {
			c.Reason = "Error"
		}
	}
	return c
}

type cond struct {
	status          corev1.ConditionStatus
	reason, message string
}

func TestCompute(t *testing.T) {
	gated := pod(corev1.RestartPolicyAlways, nil, "app")
	gated.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}}

	tests := []struct {
		name       string
		pod        *corev1.Pod
		sandboxes  []*runtime.Sandbox
		containers []*runtime.Container
		waiting    map[string]podsync.Waiting
		terminal   bool
		phase      corev1.PodPhase
		conds      map[corev1.PodConditionType]cond
		// state of the first container: "running", "waiting:<reason>", "terminated:<reason>"
		state        string
		lastState    string
		restartCount int32
		ready        bool
		podIP        string
	}{{
		name:  "new pod before its sandbox",
		pod:   pod(corev1.RestartPolicyAlways, nil, "app"),
		phase: corev1.PodPending,
		conds: map[corev1.PodConditionType]cond{
			corev1.PodReadyToStartContainers: {corev1.ConditionFalse, "PodSandboxNotReady", "no pod sandbox exists"},
			corev1.PodInitialized:            {corev1.ConditionTrue, "", ""},
			corev1.PodReady:                  {corev1.ConditionFalse, "ContainersNotReady", "containers with unready status: [app]"},
			corev1.ContainersReady:           {corev1.ConditionFalse, "ContainersNotReady", "containers with unready status: [app]"},
			corev1.PodScheduled:              {corev1.ConditionTrue, "", ""},
		},
		state: "waiting:ContainerCreating",
	}, {
		name:       "running",
		pod:        pod(corev1.RestartPolicyAlways, nil, "app"),
		sandboxes:  readySandbox,
		containers: []*runtime.Container{ctr("c1", "app", 0, runtime.ContainerRunning, 0)},
		phase:      corev1.PodRunning,
		conds: map[corev1.PodConditionType]cond{
			corev1.PodReadyToStartContainers: {corev1.ConditionTrue, "", ""},
			corev1.PodInitialized:            {corev1.ConditionTrue, "", ""},
			corev1.PodReady:                  {corev1.ConditionTrue, "", ""},
			corev1.ContainersReady:           {corev1.ConditionTrue, "", ""},
		},
		state: "running", ready: true, podIP: "10.42.0.5",
	}, {
		name:       "readiness gate not met",
		pod:        gated,
		sandboxes:  readySandbox,
		containers: []*runtime.Container{ctr("c1", "app", 0, runtime.ContainerRunning, 0)},
		phase:      corev1.PodRunning,
		conds: map[corev1.PodConditionType]cond{
			corev1.PodReady:        {corev1.ConditionFalse, "ReadinessGatesNotReady", `corresponding condition of pod readiness gate "example.com/lb" does not exist.`},
			corev1.ContainersReady: {corev1.ConditionTrue, "", ""},
		},
		state: "running", ready: true, podIP: "10.42.0.5",
	}, {
		name:       "restartPolicy Never, exit 0: Succeeded",
		pod:        pod(corev1.RestartPolicyNever, nil, "app"),
		sandboxes:  readySandbox,
		containers: []*runtime.Container{ctr("c1", "app", 0, runtime.ContainerExited, 0)},
		phase:      corev1.PodSucceeded,
		conds: map[corev1.PodConditionType]cond{
			corev1.PodInitialized:  {corev1.ConditionTrue, "PodCompleted", ""},
			corev1.PodReady:        {corev1.ConditionFalse, "PodCompleted", ""},
			corev1.ContainersReady: {corev1.ConditionFalse, "PodCompleted", ""},
		},
		state: "terminated:Completed", podIP: "10.42.0.5",
	}, {
		name:       "restartPolicy Never, exit 1: Failed",
		pod:        pod(corev1.RestartPolicyNever, nil, "app"),
		sandboxes:  readySandbox,
		containers: []*runtime.Container{ctr("c1", "app", 0, runtime.ContainerExited, 1)},
		phase:      corev1.PodFailed,
		conds: map[corev1.PodConditionType]cond{
			corev1.PodReady:        {corev1.ConditionFalse, "PodFailed", ""},
			corev1.ContainersReady: {corev1.ConditionFalse, "PodFailed", ""},
		},
		state: "terminated:Error", podIP: "10.42.0.5",
	}, {
		name:      "crash loop: waiting with the last termination, still Running",
		pod:       pod(corev1.RestartPolicyAlways, nil, "app"),
		sandboxes: readySandbox,
		containers: []*runtime.Container{
			ctr("c1", "app", 2, runtime.ContainerExited, 1),
			ctr("c0", "app", 1, runtime.ContainerExited, 1),
		},
		waiting: map[string]podsync.Waiting{"app": {Reason: "CrashLoopBackOff", Message: "back-off 20s restarting failed container=app pod=web_default(uid-1)"}},
		phase:   corev1.PodRunning,
		conds: map[corev1.PodConditionType]cond{
			corev1.PodReady: {corev1.ConditionFalse, "ContainersNotReady", "containers with unready status: [app]"},
		},
		state: "waiting:CrashLoopBackOff", lastState: "terminated:Error", restartCount: 2, podIP: "10.42.0.5",
	}, {
		name:      "image pull error: Pending",
		pod:       pod(corev1.RestartPolicyAlways, nil, "app"),
		sandboxes: readySandbox,
		waiting:   map[string]podsync.Waiting{"app": {Reason: "ErrImagePull", Message: "not found"}},
		phase:     corev1.PodPending,
		state:     "waiting:ErrImagePull",
		podIP:     "10.42.0.5",
	}, {
		name:       "init container running",
		pod:        pod(corev1.RestartPolicyAlways, []string{"i1"}, "app"),
		sandboxes:  readySandbox,
		containers: []*runtime.Container{ctr("i", "i1", 0, runtime.ContainerRunning, 0)},
		phase:      corev1.PodPending,
		conds: map[corev1.PodConditionType]cond{
			corev1.PodInitialized: {corev1.ConditionFalse, "ContainersNotInitialized", "containers with incomplete status: [i1]"},
		},
		state: "waiting:PodInitializing", podIP: "10.42.0.5",
	}, {
		name:       "deleted while running: terminal, Failed",
		pod:        pod(corev1.RestartPolicyAlways, nil, "app"),
		containers: []*runtime.Container{ctr("c1", "app", 0, runtime.ContainerExited, 137)},
		terminal:   true,
		phase:      corev1.PodFailed,
		state:      "terminated:Error",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Compute(Input{Pod: tt.pod, Sandboxes: tt.sandboxes, Containers: tt.containers, RuntimeName: "containerd",
				Waiting: tt.waiting, HostIPs: []string{"192.168.1.10"}, Terminal: tt.terminal, Now: t0.Add(time.Minute)})
			if s.Phase != tt.phase {
				t.Errorf("phase %s, want %s", s.Phase, tt.phase)
			}
			want := []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.PodReady, corev1.ContainersReady, corev1.PodScheduled}
			if len(s.Conditions) != len(want) {
				t.Fatalf("conditions %+v", s.Conditions)
			}
			for i, c := range s.Conditions {
				if c.Type != want[i] {
					t.Errorf("condition %d is %s, want %s", i, c.Type, want[i])
				}
				if w, ok := tt.conds[c.Type]; ok && (c.Status != w.status || c.Reason != w.reason || c.Message != w.message) {
					t.Errorf("%s = %s %q %q, want %s %q %q", c.Type, c.Status, c.Reason, c.Message, w.status, w.reason, w.message)
				}
				if c.Type == corev1.PodScheduled && !c.LastTransitionTime.Equal(&metav1.Time{Time: t0.Add(-time.Hour)}) {
					t.Errorf("PodScheduled's transition time changed: %v", c.LastTransitionTime)
				}
				if c.ObservedGeneration != 1 {
					t.Errorf("%s observedGeneration %d", c.Type, c.ObservedGeneration)
				}
			}
			cs := s.ContainerStatuses[0]
			if got := describe(cs.State); got != tt.state {
				t.Errorf("state %s, want %s", got, tt.state)
			}
			if tt.lastState != "" {
				if got := describe(cs.LastTerminationState); got != tt.lastState {
					t.Errorf("last state %s, want %s", got, tt.lastState)
				}
			}
			if cs.RestartCount != tt.restartCount || cs.Ready != tt.ready || cs.Started == nil || *cs.Started != (cs.State.Running != nil) {
				t.Errorf("restartCount %d ready %v started %v", cs.RestartCount, cs.Ready, cs.Started)
			}
			if cs.State.Running != nil && (cs.ContainerID != "containerd://c1" || cs.ImageID != "docker.io/library/busybox@sha256:ab" || cs.Image != "busybox") {
				t.Errorf("ids: %q %q %q", cs.ContainerID, cs.ImageID, cs.Image)
			}
			if s.PodIP != tt.podIP || s.HostIP != "192.168.1.10" || s.QOSClass != corev1.PodQOSBestEffort || s.StartTime == nil {
				t.Errorf("podIP %q hostIP %q qos %q start %v", s.PodIP, s.HostIP, s.QOSClass, s.StartTime)
			}
		})
	}
}

func describe(s corev1.ContainerState) string {
	switch {
	case s.Running != nil:
		return "running"
	case s.Terminated != nil:
		return "terminated:" + s.Terminated.Reason
	case s.Waiting != nil:
		return "waiting:" + s.Waiting.Reason
	}
	return ""
}

func TestTransitionTimesAndTerminalPhaseStick(t *testing.T) {
	p := pod(corev1.RestartPolicyAlways, nil, "app")
	in := Input{Pod: p, Sandboxes: readySandbox, RuntimeName: "containerd", Now: t0,
		Containers: []*runtime.Container{ctr("c1", "app", 0, runtime.ContainerRunning, 0)}}
	p.Status = Compute(in)
	in.Now = t0.Add(time.Hour)
	s := Compute(in)
	for _, c := range s.Conditions {
		if c.Type != corev1.PodScheduled && !c.LastTransitionTime.Time.Equal(t0) {
			t.Errorf("%s moved to %v with no change", c.Type, c.LastTransitionTime)
		}
	}
	p.Status.Phase = corev1.PodFailed
	if s := Compute(in); s.Phase != corev1.PodFailed {
		t.Errorf("a Failed pod went %s", s.Phase)
	}
}

// A status must come back from the API (JSON, times in whole seconds)
// equal to what was computed: the agent writes only when they differ.
func TestStatusSurvivesTheAPIRoundTrip(t *testing.T) {
	started := t0.Add(1234567 * time.Microsecond) // the runtime's precision
	running := ctr("c1", "app", 0, runtime.ContainerRunning, 0)
	running.StartedAt, running.CreatedAt = started, started
	exited := ctr("c2", "side", 1, runtime.ContainerExited, 3)
	exited.StartedAt, exited.FinishedAt = started, started.Add(1500*time.Millisecond)
	p := pod(corev1.RestartPolicyAlways, nil, "app", "side")
	st := Compute(Input{Pod: p, Sandboxes: readySandbox, RuntimeName: "containerd", Now: t0.Add(987 * time.Millisecond),
		Containers: []*runtime.Container{running, exited}})
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var back corev1.PodStatus
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !apiequality.Semantic.DeepEqual(st, back) {
		t.Errorf("the status changed on its way through JSON:\ncomputed %s\nreturned %+v", b, back)
	}
}
