package probes

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// worker probes one container's probe of one kind, in its own goroutine,
// every period until its pod is removed or terminal.
type worker struct {
	m         *Manager
	key       workerKey
	pod       *corev1.Pod
	container *corev1.Container
	spec      corev1.Probe

	ctx      context.Context
	cancel   context.CancelFunc
	manualCh chan struct{}

	// Owned by the worker goroutine.
	containerID string // status form, "containerd://<id>"
	lastResult  Result
	resultRun   int
	onHold      bool
}

func newWorker(m *Manager, key workerKey, pod *corev1.Pod, c *corev1.Container, spec *corev1.Probe) *worker {
	ctx, cancel := context.WithCancel(context.Background())
	return &worker{
		m: m, key: key, pod: pod.DeepCopy(), container: c.DeepCopy(), spec: withDefaults(spec),
		ctx: ctx, cancel: cancel, manualCh: make(chan struct{}, 1),
	}
}

// initial is the result a new container starts with: not ready, alive,
// and not known to have started.
func (w *worker) initial() Result {
	switch w.key.kind {
	case Readiness:
		return Failure
	case Liveness:
		return Success
	}
	return Unknown
}

// trigger asks for a probe now (readiness with no result yet).
func (w *worker) trigger() {
	select {
	case w.manualCh <- struct{}{}:
	default:
	}
}

func (w *worker) run() {
	defer w.m.wg.Done()
	ticker := w.m.cfg.Clock.NewTicker(time.Duration(w.spec.PeriodSeconds) * time.Second)
	defer func() {
		ticker.Stop()
		if w.containerID != "" {
			w.m.forget(w.containerID, w.key.kind)
		}
		w.m.removeWorker(w)
		w.cancel()
	}()
	for {
		keepGoing := w.doProbe()
		if w.m.onLoop != nil {
			w.m.onLoop(w.key)
		}
		if !keepGoing {
			return
		}
		select {
		case <-w.ctx.Done():
			return
		case <-ticker.C():
		case <-w.manualCh:
		}
	}
}

// doProbe runs one pass: find the container, decide whether to probe,
// probe, apply the thresholds. It reports whether to keep going.
func (w *worker) doProbe() (keepGoing bool) {
	status, ok := w.m.cfg.Status.PodStatus(w.key.uid)
	if !ok {
		return true // not created yet, or already gone
	}
	if status.Phase == corev1.PodFailed || status.Phase == corev1.PodSucceeded {
		return false
	}
	cs, ok := containerStatus(status.ContainerStatuses, w.key.container)
	if !ok || cs.ContainerID == "" {
		if cs, ok = containerStatus(status.InitContainerStatuses, w.key.container); !ok || cs.ContainerID == "" {
			return true // not created yet
		}
	}
	if w.containerID != cs.ContainerID {
		if w.containerID != "" {
			w.m.forget(w.containerID, w.key.kind)
		}
		w.containerID = cs.ContainerID
		w.m.set(w.ctx, w.key, w.containerID, w.initial())
		w.onHold = false // a new container: probe again
	}
	if w.onHold {
		return true // the failed container is being restarted
	}
	if cs.State.Running == nil {
		w.m.set(w.ctx, w.key, w.containerID, Failure)
		// Stop for good when the container will not run again.
		return cs.State.Terminated == nil || w.willRestart(cs.State.Terminated.ExitCode)
	}
	if w.pod.DeletionTimestamp != nil && w.key.kind != Readiness {
		// Terminating: report alive so that nothing restarts it.
		w.m.set(w.ctx, w.key, w.containerID, Success)
		return false
	}
	if int32(w.m.cfg.Clock.Since(cs.State.Running.StartedAt.Time).Seconds()) < w.spec.InitialDelaySeconds {
		return true
	}
	started := cs.Started != nil && *cs.Started
	if started == (w.key.kind == Startup) {
		// Startup probes stop once started; the others wait for it.
		return true
	}

	result, ok := w.probe()
	if !ok {
		return true // the probe errored: its result is thrown away
	}
	if w.lastResult == result {
		w.resultRun++
	} else {
		w.lastResult, w.resultRun = result, 1
	}
	if (result == Failure && w.resultRun < int(w.spec.FailureThreshold)) ||
		(result == Success && w.resultRun < int(w.spec.SuccessThreshold)) {
		return true
	}
	w.m.set(w.ctx, w.key, w.containerID, result)
	if result == Failure && w.key.kind != Readiness {
		// The container will be restarted: stop probing it, so as not to
		// exec into a container being stopped, until a new one appears.
		w.onHold, w.resultRun = true, 0
	}
	return true
}

// probe runs the probe once and records upstream's events. ok is false
// when the probe errored (its result must not count).
func (w *worker) probe() (r Result, ok bool) {
	t := target{Pod: w.pod, Container: w.container, ContainerID: runtimeID(w.containerID)}
	if status, found := w.m.cfg.Status.PodStatus(w.key.uid); found {
		t.PodIP = status.PodIP
	}
	o, output, err := w.m.cfg.Prober.run(w.ctx, &w.spec, t)
	kind := w.key.kind.String()
	if err != nil {
		if w.ctx.Err() == nil {
			w.m.event(w.pod, w.container.Name, "Unhealthy", fmt.Sprintf("%s probe errored and resulted in %s state: %s", kind, o, err))
		}
		return Failure, false
	}
	switch o {
	case outcomeSuccess:
		return Success, true
	case outcomeWarning:
		w.m.event(w.pod, w.container.Name, "ProbeWarning", fmt.Sprintf("%s probe warning: %s", kind, output))
		return Success, true
	case outcomeFailure:
		w.m.event(w.pod, w.container.Name, "Unhealthy", fmt.Sprintf("%s probe failed: %s", kind, output))
	default:
		w.m.event(w.pod, w.container.Name, "Unhealthy", fmt.Sprintf("%s probe errored and resulted in %s state: %s", kind, o, output))
	}
	return Failure, true
}

// willRestart reports whether a container that exited with code will be
// started again: restartable init containers always, others by the pod's
// restart policy.
func (w *worker) willRestart(code int32) bool {
	policy := w.pod.Spec.RestartPolicy
	if p := w.container.RestartPolicy; p != nil && *p == corev1.ContainerRestartPolicyAlways {
		policy = corev1.RestartPolicyAlways
	}
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return code != 0
	}
	return true
}

func containerStatus(list []corev1.ContainerStatus, name string) (corev1.ContainerStatus, bool) {
	for _, cs := range list {
		if cs.Name == name {
			return cs, true
		}
	}
	return corev1.ContainerStatus{}, false
}
