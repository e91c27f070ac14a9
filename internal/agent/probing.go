package agent

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/internal/agent/probes"
	"skiff.dev/skiff/internal/agent/runtime"
)

// statusCache holds the status each pod worker last computed: the probe
// workers read it (which container ID to probe, whether it started, the
// pod IP) from their own goroutines.
type statusCache struct {
	mu sync.Mutex
	m  map[types.UID]corev1.PodStatus
}

var _ probes.StatusSource = (*statusCache)(nil)

func newStatusCache() *statusCache { return &statusCache{m: map[types.UID]corev1.PodStatus{}} }

func (c *statusCache) PodStatus(uid types.UID) (corev1.PodStatus, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.m[uid]
	return st, ok
}

// set stores st; the cache keeps it, so the caller must not modify it
// afterwards.
func (c *statusCache) set(uid types.UID, st corev1.PodStatus) {
	c.mu.Lock()
	c.m[uid] = st
	c.mu.Unlock()
}

func (c *statusCache) delete(uid types.UID) {
	c.mu.Lock()
	delete(c.m, uid)
	c.mu.Unlock()
}

// probeUpdates wakes the pod's worker on every probe result change, so
// readiness reaches the pod's status and a failed liveness or startup
// probe restarts the container. It must never stop receiving while probe
// workers run (they block on a full channel), hence its own goroutine.
func (a *Agent) probeUpdates(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case u := <-a.probes.Updates():
			a.wake(ctx, u.PodUID)
		}
	}
}

// probeEvent records a probe's Unhealthy or ProbeWarning event on the
// container, as upstream (both are warnings).
func (a *Agent) probeEvent(e probes.Event) {
	a.event(e.Pod, containerSpec(e.Pod, e.ContainerName), corev1.EventTypeWarning, e.Reason, e.Message)
}

// statusID is a runtime container ID as container statuses and probe
// results carry it: "<runtime>://<id>".
func (a *Agent) statusID(id string) string { return a.runtimeName + "://" + id }

// probeState tells the pod's probes which pod they belong to, and says
// which running containers failed a liveness or startup probe and must be
// restarted (the planner's Unhealthy input, with upstream's messages).
func (a *Agent) probeState(pod *corev1.Pod, cs []*runtime.Container) map[string]string {
	if a.cfg.DisableProbes {
		return nil
	}
	if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		// Terminating: nothing restarts, readiness goes on (upstream).
		a.probes.StopLivenessAndStartup(pod.UID)
		return nil
	}
	a.probes.AddPod(pod)
	var unhealthy map[string]string
	for _, c := range cs {
		if c.State != runtime.ContainerRunning {
			continue
		}
		for _, k := range []probes.Kind{probes.Liveness, probes.Startup} {
			if r, ok := a.probes.Result(a.statusID(c.ID), k); ok && r == probes.Failure {
				if unhealthy == nil {
					unhealthy = map[string]string{}
				}
				unhealthy[c.ID] = fmt.Sprintf("Container %s failed %s probe", c.Name, map[probes.Kind]string{probes.Liveness: "liveness", probes.Startup: "startup"}[k])
				break
			}
		}
	}
	return unhealthy
}

// probedStarted and probedReady are status.Input's Started and Ready: the
// startup and readiness probes' verdicts on a running container.
func (a *Agent) probedStarted(uid types.UID) func(*corev1.Container, string) bool {
	if a.cfg.DisableProbes {
		return nil // started once running
	}
	return func(c *corev1.Container, id string) bool {
		return a.probes.ContainerStarted(uid, a.runningStatus(c, id))
	}
}

func (a *Agent) probedReady(uid types.UID) func(*corev1.Container, string) bool {
	if a.cfg.DisableProbes {
		return nil // ready once started
	}
	return func(c *corev1.Container, id string) bool {
		return a.probes.ContainerReady(uid, a.runningStatus(c, id))
	}
}

func (a *Agent) runningStatus(c *corev1.Container, id string) *corev1.ContainerStatus {
	return &corev1.ContainerStatus{
		Name: c.Name, ContainerID: a.statusID(id),
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
	}
}
