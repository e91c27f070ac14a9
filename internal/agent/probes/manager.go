package probes

import (
	"context"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// Kind is the kind of a probe.
type Kind int

const (
	Liveness Kind = iota
	Readiness
	Startup
)

// String is the name upstream puts in probe events ("Liveness probe
// failed: ...").
func (k Kind) String() string {
	switch k {
	case Liveness:
		return "Liveness"
	case Readiness:
		return "Readiness"
	}
	return "Startup"
}

// StatusSource gives workers the pod status the agent last computed for a
// pod: the phase, and for each container its containerID, state and
// started flag. ok is false while the agent has no status for the pod.
// It is called from worker goroutines.
type StatusSource interface {
	PodStatus(uid types.UID) (status corev1.PodStatus, ok bool)
}

// Update is a change of a container probe's result. ContainerID is as in
// the container status ("containerd://<id>").
type Update struct {
	PodUID        types.UID
	ContainerName string
	ContainerID   string
	Kind          Kind
	Result        Result
}

// Event is a warning to record on the pod, for the container: reason
// "Unhealthy" (e.g. "Liveness probe failed: HTTP probe failed with
// statuscode: 500") or "ProbeWarning".
type Event struct {
	Pod           *corev1.Pod
	ContainerName string
	Reason        string
	Message       string
}

// Config configures a Manager.
type Config struct {
	Prober *Prober
	Status StatusSource
	// Clock drives probe periods and initial delays; nil is the real clock.
	Clock clock.WithTicker
	// OnEvent receives probe events from worker goroutines; it must not
	// block for long. Nil drops them.
	OnEvent func(Event)
}

// Manager runs one worker goroutine per probe of each pod's containers
// (regular containers and restartable init containers), keeps the latest
// result per container and probe kind, and sends every change on
// Updates(). Its methods are safe for concurrent use.
type Manager struct {
	cfg     Config
	updates chan Update

	mu      sync.Mutex
	workers map[workerKey]*worker
	results map[resultKey]Result
	wg      sync.WaitGroup

	// onLoop, when set (tests), is called after each pass of a worker's
	// loop, probed or not.
	onLoop func(workerKey)
}

type workerKey struct {
	uid       types.UID
	container string
	kind      Kind
}

type resultKey struct {
	containerID string
	kind        Kind
}

// NewManager returns a Manager with no workers.
func NewManager(cfg Config) *Manager {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Prober == nil {
		cfg.Prober = &Prober{}
	}
	return &Manager{
		cfg:     cfg,
		updates: make(chan Update, 64),
		workers: map[workerKey]*worker{},
		results: map[resultKey]Result{},
	}
}

// Updates delivers every change of a probe result, in the order each
// worker made them. The caller must keep receiving: a worker whose update
// does not fit the buffer waits (until its pod is removed).
func (m *Manager) Updates() <-chan Update { return m.updates }

// AddPod starts a worker for each probe of the pod's containers that has
// none. It is idempotent: call it on every pod update.
func (m *Manager) AddPod(pod *corev1.Pod) {
	m.mu.Lock()
	defer m.mu.Unlock()
	add := func(c *corev1.Container) {
		for kind, spec := range map[Kind]*corev1.Probe{Liveness: c.LivenessProbe, Readiness: c.ReadinessProbe, Startup: c.StartupProbe} {
			if spec == nil {
				continue
			}
			key := workerKey{pod.UID, c.Name, kind}
			if _, ok := m.workers[key]; ok {
				continue
			}
			w := newWorker(m, key, pod, c, spec)
			m.workers[key] = w
			m.wg.Add(1)
			go w.run()
		}
	}
	for i := range pod.Spec.InitContainers {
		if c := &pod.Spec.InitContainers[i]; c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			add(c)
		}
	}
	for i := range pod.Spec.Containers {
		add(&pod.Spec.Containers[i])
	}
}

// StopLivenessAndStartup stops the pod's liveness and startup workers
// (its containers are being terminated); readiness goes on.
func (m *Manager) StopLivenessAndStartup(uid types.UID) {
	m.stop(func(k workerKey) bool { return k.uid == uid && k.kind != Readiness })
}

// RemovePod stops all the pod's workers and forgets their results.
func (m *Manager) RemovePod(uid types.UID) {
	m.stop(func(k workerKey) bool { return k.uid == uid })
}

// Stop stops every worker and waits for them to return.
func (m *Manager) Stop() {
	m.stop(func(workerKey) bool { return true })
	m.wg.Wait()
}

func (m *Manager) stop(match func(workerKey) bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, w := range m.workers {
		if match(k) {
			w.cancel()
			delete(m.workers, k)
		}
	}
}

// Result returns the latest result of a container's probe of kind; ok is
// false when there is none (no such probe, or no container yet).
func (m *Manager) Result(containerID string, kind Kind) (Result, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.results[resultKey{containerID, kind}]
	return r, ok
}

// ContainerStarted is the container status's started field, as upstream:
// false unless running; then the startup probe's success, or true when
// the container has no startup probe.
func (m *Manager) ContainerStarted(uid types.UID, cs *corev1.ContainerStatus) bool {
	if cs.State.Running == nil {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.results[resultKey{cs.ContainerID, Startup}]; ok {
		return r == Success
	}
	_, probed := m.workers[workerKey{uid, cs.Name, Startup}]
	return !probed
}

// ContainerReady is the container status's ready field, as upstream:
// false unless running and started; then the readiness probe's success,
// or true when the container has no readiness probe. A readiness probe
// that has no result yet is run at once.
func (m *Manager) ContainerReady(uid types.UID, cs *corev1.ContainerStatus) bool {
	if cs.State.Running == nil || !m.ContainerStarted(uid, cs) {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.results[resultKey{cs.ContainerID, Readiness}]; ok && r == Success {
		return true
	}
	w, probed := m.workers[workerKey{uid, cs.Name, Readiness}]
	if probed {
		w.trigger()
	}
	return !probed
}

// set records a result and sends an Update when it changed. It blocks
// while the updates buffer is full, unless the worker is stopped.
func (m *Manager) set(ctx context.Context, key workerKey, containerID string, r Result) {
	m.mu.Lock()
	prev, ok := m.results[resultKey{containerID, key.kind}]
	m.results[resultKey{containerID, key.kind}] = r
	m.mu.Unlock()
	if ok && prev == r {
		return
	}
	select {
	case m.updates <- Update{PodUID: key.uid, ContainerName: key.container, ContainerID: containerID, Kind: key.kind, Result: r}:
	case <-ctx.Done():
	}
}

func (m *Manager) forget(containerID string, kind Kind) {
	m.mu.Lock()
	delete(m.results, resultKey{containerID, kind})
	m.mu.Unlock()
}

// removeWorker drops w from the table if it is still the registered one.
func (m *Manager) removeWorker(w *worker) {
	m.mu.Lock()
	if m.workers[w.key] == w {
		delete(m.workers, w.key)
	}
	m.mu.Unlock()
}

func (m *Manager) event(pod *corev1.Pod, container, reason, msg string) {
	if m.cfg.OnEvent != nil {
		m.cfg.OnEvent(Event{Pod: pod, ContainerName: container, Reason: reason, Message: msg})
	}
}

// runtimeID strips the "<runtime>://" prefix of a status's containerID.
func runtimeID(containerID string) string {
	if _, id, ok := strings.Cut(containerID, "://"); ok {
		return id
	}
	return containerID
}

// defaults of a probe's timing, as the API sets them.
func withDefaults(p *corev1.Probe) corev1.Probe {
	s := *p
	if s.PeriodSeconds <= 0 {
		s.PeriodSeconds = 10
	}
	if s.TimeoutSeconds <= 0 {
		s.TimeoutSeconds = 1
	}
	if s.SuccessThreshold <= 0 {
		s.SuccessThreshold = 1
	}
	if s.FailureThreshold <= 0 {
		s.FailureThreshold = 3
	}
	return s
}
