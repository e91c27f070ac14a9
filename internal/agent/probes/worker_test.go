package probes

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

// statusTable is a StatusSource the test writes to.
type statusTable struct {
	mu sync.Mutex
	m  map[types.UID]corev1.PodStatus
}

func (s *statusTable) PodStatus(uid types.UID) (corev1.PodStatus, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.m[uid]
	return *st.DeepCopy(), ok
}

func (s *statusTable) set(uid types.UID, st corev1.PodStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[types.UID]corev1.PodStatus{}
	}
	s.m[uid] = st
}

// commandExec answers exec probes by command: exit codes the test sets,
// counting runs.
type commandExec struct {
	mu    sync.Mutex
	codes map[string]int
	runs  map[string]int
}

func (e *commandExec) ExecSync(_ context.Context, _ string, cmd []string, _ time.Duration) ([]byte, []byte, int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	name := strings.Join(cmd, " ")
	e.runs[name]++
	if e.codes[name] != 0 {
		return nil, []byte(name + " says no"), e.codes[name], nil
	}
	return nil, nil, 0, nil
}

func (e *commandExec) setCode(cmd string, code int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.codes[cmd] = code
}

func (e *commandExec) count(cmd string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.runs[cmd]
}

type harness struct {
	t      *testing.T
	clock  *testingclock.FakeClock
	status *statusTable
	exec   *commandExec
	m      *Manager
	loops  map[Kind]chan struct{}

	mu     sync.Mutex
	events []string
}

func newHarness(t *testing.T) *harness {
	h := &harness{
		t: t, clock: testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		status: &statusTable{}, exec: &commandExec{codes: map[string]int{}, runs: map[string]int{}},
		loops: map[Kind]chan struct{}{Liveness: make(chan struct{}, 100), Readiness: make(chan struct{}, 100), Startup: make(chan struct{}, 100)},
	}
	h.m = NewManager(Config{
		Prober: &Prober{Exec: h.exec}, Status: h.status, Clock: h.clock,
		OnEvent: func(e Event) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.events = append(h.events, e.ContainerName+" "+e.Reason+": "+e.Message)
		},
	})
	h.m.onLoop = func(k workerKey) { h.loops[k.kind] <- struct{}{} }
	t.Cleanup(h.m.Stop)
	return h
}

// loop waits for the worker of kind to finish its next pass.
func (h *harness) loop(kind Kind) {
	h.t.Helper()
	select {
	case <-h.loops[kind]:
	case <-time.After(10 * time.Second):
		h.t.Fatalf("%s worker did not run", kind)
	}
}

// tick advances the clock one period and waits for the passes of kinds.
func (h *harness) tick(d time.Duration, kinds ...Kind) {
	h.t.Helper()
	h.clock.Step(d)
	for _, k := range kinds {
		h.loop(k)
	}
}

func (h *harness) update(want Update) {
	h.t.Helper()
	select {
	case got := <-h.m.Updates():
		if got != want {
			h.t.Fatalf("update %+v, want %+v", got, want)
		}
	case <-time.After(10 * time.Second):
		h.t.Fatalf("no update, want %+v", want)
	}
}

// noUpdate checks that the passes waited for produced no update: set
// sends before the pass ends, so there is nothing to wait for.
func (h *harness) noUpdate() {
	h.t.Helper()
	select {
	case got := <-h.m.Updates():
		h.t.Fatalf("unexpected update %+v", got)
	default:
	}
}

func (h *harness) takeEvents() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.events
	h.events = nil
	return e
}

func execSpec(cmd string) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: strings.Fields(cmd)}}, PeriodSeconds: 10}
}

func probePod(c corev1.Container) *corev1.Pod {
	c.Name = "app"
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "uid"}, Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}
}

func running(id string, startedAt time.Time, started bool) corev1.PodStatus {
	return corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "127.0.0.1", ContainerStatuses: []corev1.ContainerStatus{{
		Name: "app", ContainerID: id, Started: ptr.To(started),
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(startedAt)}},
	}}}
}

const period = 10 * time.Second

func TestLivenessFailureThresholdHoldAndNewContainer(t *testing.T) {
	h := newHarness(t)
	live := execSpec("check live")
	live.FailureThreshold = 3
	h.exec.setCode("check live", 1)
	h.status.set("uid", running("containerd://a", h.clock.Now(), true))
	h.m.AddPod(probePod(corev1.Container{LivenessProbe: live}))

	h.loop(Liveness)
	h.update(Update{PodUID: "uid", ContainerName: "app", ContainerID: "containerd://a", Kind: Liveness, Result: Success})
	h.tick(period, Liveness)
	h.noUpdate()
	h.tick(period, Liveness)
	h.update(Update{PodUID: "uid", ContainerName: "app", ContainerID: "containerd://a", Kind: Liveness, Result: Failure})
	if r, ok := h.m.Result("containerd://a", Liveness); !ok || r != Failure {
		t.Fatalf("Result = %v %v", r, ok)
	}
	if ev := h.takeEvents(); len(ev) != 3 || ev[0] != "app Unhealthy: Liveness probe failed: check live says no" {
		t.Fatalf("events %q", ev)
	}

	// On hold until the container is replaced.
	h.tick(period, Liveness)
	h.tick(period, Liveness)
	if n := h.exec.count("check live"); n != 3 {
		t.Fatalf("probed %d times while on hold", n)
	}
	h.exec.setCode("check live", 0)
	h.status.set("uid", running("containerd://b", h.clock.Now(), true))
	h.tick(period, Liveness)
	h.update(Update{PodUID: "uid", ContainerName: "app", ContainerID: "containerd://b", Kind: Liveness, Result: Success})
	if n := h.exec.count("check live"); n != 4 {
		t.Fatalf("new container probed %d times in all, want 4", n)
	}
	if _, ok := h.m.Result("containerd://a", Liveness); ok {
		t.Fatal("the old container's result is kept")
	}
}

func TestReadinessInitialDelayAndThresholds(t *testing.T) {
	h := newHarness(t)
	ready := execSpec("check ready")
	ready.InitialDelaySeconds = 15
	ready.SuccessThreshold = 2
	ready.FailureThreshold = 1
	h.status.set("uid", running("containerd://a", h.clock.Now(), true))
	h.m.AddPod(probePod(corev1.Container{ReadinessProbe: ready}))

	h.loop(Readiness)
	h.update(Update{PodUID: "uid", ContainerName: "app", ContainerID: "containerd://a", Kind: Readiness, Result: Failure})
	h.tick(period, Readiness) // 10s < 15s initial delay
	if n := h.exec.count("check ready"); n != 0 {
		t.Fatalf("probed during the initial delay")
	}
	h.tick(period, Readiness) // 20s: first success
	h.noUpdate()
	h.tick(period, Readiness) // second success
	h.update(Update{PodUID: "uid", ContainerName: "app", ContainerID: "containerd://a", Kind: Readiness, Result: Success})
	cs := running("containerd://a", h.clock.Now(), true).ContainerStatuses[0]
	if !h.m.ContainerReady("uid", &cs) {
		t.Fatal("not ready after the success threshold")
	}
	h.exec.setCode("check ready", 2)
	h.tick(period, Readiness)
	h.update(Update{PodUID: "uid", ContainerName: "app", ContainerID: "containerd://a", Kind: Readiness, Result: Failure})
	if h.m.ContainerReady("uid", &cs) {
		t.Fatal("ready after a failure")
	}
	// Asking for readiness without a success runs the probe at once.
	h.loop(Readiness)
	if n := h.exec.count("check ready"); n != 4 {
		t.Fatalf("probed %d times, want 4 (the triggered run included)", n)
	}
	// Readiness failures do not hold the worker.
	h.exec.setCode("check ready", 0)
	h.tick(period, Readiness)
	h.tick(period, Readiness)
	h.update(Update{PodUID: "uid", ContainerName: "app", ContainerID: "containerd://a", Kind: Readiness, Result: Success})
	if ev := h.takeEvents(); len(ev) != 2 || ev[0] != "app Unhealthy: Readiness probe failed: check ready says no" {
		t.Fatalf("events %q", ev)
	}
}

func TestStartupGatesLiveness(t *testing.T) {
	h := newHarness(t)
	h.exec.setCode("started", 1)
	h.status.set("uid", running("containerd://a", h.clock.Now(), false))
	pod := probePod(corev1.Container{StartupProbe: execSpec("started"), LivenessProbe: execSpec("alive")})
	h.m.AddPod(pod)
	h.m.AddPod(pod) // idempotent
	h.loop(Startup)
	h.loop(Liveness)
	cs := running("containerd://a", h.clock.Now(), false).ContainerStatuses[0]
	if h.m.ContainerStarted("uid", &cs) {
		t.Fatal("started before the startup probe passed")
	}
	h.tick(period, Startup, Liveness)
	if h.exec.count("alive") != 0 {
		t.Fatal("liveness probed before the container started")
	}
	h.exec.setCode("started", 0)
	h.tick(period, Startup, Liveness)
	if !h.m.ContainerStarted("uid", &cs) {
		t.Fatal("not started after the startup probe passed")
	}
	// The status now says started: liveness runs, startup stops.
	h.status.set("uid", running("containerd://a", h.clock.Now(), true))
	h.tick(period, Startup, Liveness)
	h.tick(period, Startup, Liveness)
	if h.exec.count("alive") != 2 || h.exec.count("started") != 3 {
		t.Fatalf("alive %d started %d", h.exec.count("alive"), h.exec.count("started"))
	}
	var got []Update
	for len(h.m.Updates()) > 0 {
		got = append(got, <-h.m.Updates())
	}
	want := map[Update]bool{
		{PodUID: "uid", ContainerName: "app", ContainerID: "containerd://a", Kind: Startup, Result: Unknown}:  true,
		{PodUID: "uid", ContainerName: "app", ContainerID: "containerd://a", Kind: Liveness, Result: Success}: true,
		{PodUID: "uid", ContainerName: "app", ContainerID: "containerd://a", Kind: Startup, Result: Success}:  true,
	}
	if len(got) != len(want) {
		t.Fatalf("updates %+v", got)
	}
	for _, u := range got {
		if !want[u] {
			t.Fatalf("unexpected update %+v in %+v", u, got)
		}
	}
}

func TestWorkerStopsWhenContainerWillNotRestart(t *testing.T) {
	tests := []struct {
		name     string
		policy   corev1.RestartPolicy
		exitCode int32
		stops    bool
	}{
		{"never", corev1.RestartPolicyNever, 1, true},
		{"on failure, succeeded", corev1.RestartPolicyOnFailure, 0, true},
		{"on failure, failed", corev1.RestartPolicyOnFailure, 1, false},
		{"always", corev1.RestartPolicyAlways, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			pod := probePod(corev1.Container{ReadinessProbe: execSpec("ready")})
			pod.Spec.RestartPolicy = tc.policy
			h.status.set("uid", corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
				Name: "app", ContainerID: "containerd://a",
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: tc.exitCode}},
			}}})
			h.m.AddPod(pod)
			h.loop(Readiness)
			h.update(Update{PodUID: "uid", ContainerName: "app", ContainerID: "containerd://a", Kind: Readiness, Result: Failure})
			if !tc.stops {
				h.tick(period, Readiness)
				return
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				h.m.mu.Lock()
				n := len(h.m.workers)
				h.m.mu.Unlock()
				if n == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("worker still registered")
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
}

func TestHTTPLivenessEventAndRemovePod(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	defer srv.Close()
	host, port := hostPort(t, srv.URL)
	h := newHarness(t)
	st := running("containerd://a", h.clock.Now(), true)
	st.PodIP = host
	h.status.set("uid", st)
	live := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt(port)}}, FailureThreshold: 1}
	h.m.AddPod(probePod(corev1.Container{LivenessProbe: live}))
	h.loop(Liveness)
	h.update(Update{PodUID: "uid", ContainerName: "app", ContainerID: "containerd://a", Kind: Liveness, Result: Success})
	h.update(Update{PodUID: "uid", ContainerName: "app", ContainerID: "containerd://a", Kind: Liveness, Result: Failure})
	if ev := h.takeEvents(); len(ev) != 1 || ev[0] != "app Unhealthy: Liveness probe failed: HTTP probe failed with statuscode: 500" {
		t.Fatalf("events %q", ev)
	}
	h.m.RemovePod("uid")
	h.m.Stop()
	if _, ok := h.m.Result("containerd://a", Liveness); ok {
		t.Fatal("result kept after RemovePod")
	}
}

func TestContainerReadyWithoutProbes(t *testing.T) {
	h := newHarness(t)
	h.m.AddPod(probePod(corev1.Container{}))
	cs := running("containerd://a", h.clock.Now(), true).ContainerStatuses[0]
	if !h.m.ContainerStarted("uid", &cs) || !h.m.ContainerReady("uid", &cs) {
		t.Fatal("a running container without probes is started and ready")
	}
	cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{}}
	if h.m.ContainerStarted("uid", &cs) || h.m.ContainerReady("uid", &cs) {
		t.Fatal("a waiting container is neither")
	}
}
