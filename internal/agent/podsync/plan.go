// Package podsync is the agent's pod sync planner: given the pod the API
// wants, what the runtime has for it and the time, it decides what to do
// next — create the sandbox, run the next init container, start, restart
// or kill containers, back off, clean up dead containers. It does no I/O
// (time comes in as a value, back-off state as a value the caller keeps),
// so every decision is a table test. The agent's pod worker executes the
// plan against the runtime and then computes the pod's status.
//
// The decisions follow upstream's kubelet (computePodActions,
// ShouldContainerBeRestarted, doBackOff) for pods without ephemeral
// containers, in-place resize or per-container restart rules.
package podsync

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"

	"skiff.dev/skiff/internal/agent/podconfig"
	"skiff.dev/skiff/internal/agent/runtime"
)

// Input is one sync's view of a pod.
type Input struct {
	Pod *corev1.Pod
	// Sandboxes and Containers are everything the runtime has for the
	// pod's UID, in any order.
	Sandboxes  []*runtime.Sandbox
	Containers []*runtime.Container
	Now        time.Time
	// Backoff is the pod's crash-loop back-off; Plan records restarts in
	// it.
	Backoff *Backoff
	// Unhealthy maps a running container's ID to why it must be restarted
	// (a failed liveness or startup probe: "Container c failed liveness
	// probe").
	Unhealthy map[string]string
}

// Plan is what one sync should do, in order: kill, create the sandbox,
// start, remove.
type Plan struct {
	// KillPod stops every running container (with the grace period) and
	// the sandbox.
	KillPod bool
	// CreateSandbox creates a new sandbox with SandboxAttempt; otherwise
	// SandboxID is the live one.
	CreateSandbox  bool
	SandboxAttempt uint32
	SandboxID      string
	// SandboxReason says why the sandbox is not usable, when it is not
	// (upstream's PodReadyToStartContainers message).
	SandboxReason string
	// Kill are containers to stop (a changed spec, a failed liveness
	// probe) that KillPod does not already cover.
	Kill []Kill
	// Start are containers to create and start, in order. Init containers
	// come one at a time.
	Start []Start
	// Waiting are containers held back, by name, with upstream's reason
	// and message (CrashLoopBackOff).
	Waiting map[string]Waiting
	// Remove are dead containers and sandboxes nobody needs any more.
	RemoveContainers []string
	RemoveSandboxes  []string
	// RequeueAfter > 0 asks for another sync then (a back-off ends).
	RequeueAfter time.Duration
	// Done: nothing of the pod will run again (every container finished
	// and the restart policy says no, or the pod is being deleted).
	Done bool
}

// Kill is a container to stop.
type Kill struct {
	ID, Name string
	// Message is the Killing event's message.
	Message string
}

// Start is a container to create and start.
type Start struct {
	Name string
	Init bool
	// Index in spec.initContainers or spec.containers.
	Index int
	// RestartCount is the new container's restart count (the previous
	// one's plus one); it is also its CRI attempt.
	RestartCount int32
}

// Waiting is a container status' waiting reason and message.
type Waiting struct{ Reason, Message string }

// CrashLoopBackOff is the waiting reason of a container in restart
// back-off.
const CrashLoopBackOff = "CrashLoopBackOff"

// Compute decides the next actions for in.Pod.
func Compute(in Input) Plan {
	pod := in.Pod
	p := Plan{Waiting: map[string]Waiting{}}
	latest := latestByName(in.Containers)
	p.RemoveContainers, p.RemoveSandboxes = garbage(in.Sandboxes, in.Containers)

	// A pod being deleted, or one the API already records as finished,
	// only ever stops.
	if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		p.KillPod, p.Done = true, true
		return p
	}

	create, attempt, sandboxID, reason := sandboxChanged(pod, in.Sandboxes)
	p.SandboxID, p.SandboxReason = sandboxID, reason
	if create {
		p.KillPod = true
		// A pod that must not restart, whose sandbox died after its
		// containers ran, is finished.
		if pod.Spec.RestartPolicy == corev1.RestartPolicyNever && attempt != 0 && len(in.Containers) != 0 {
			p.Done = true
			return p
		}
		var toStart []Start
		for i, c := range pod.Spec.Containers {
			if pod.Spec.RestartPolicy == corev1.RestartPolicyOnFailure && succeeded(latest[c.Name]) {
				continue
			}
			toStart = append(toStart, Start{Name: c.Name, Index: i, RestartCount: nextRestartCount(latest[c.Name])})
		}
		if len(toStart) == 0 && anyRegularCreated(pod, latest) {
			p.KillPod, p.Done = true, true
			return p
		}
		p.CreateSandbox, p.SandboxAttempt = true, attempt
		if len(pod.Spec.InitContainers) > 0 {
			c := pod.Spec.InitContainers[0]
			p.Start = []Start{{Name: c.Name, Init: true, Index: 0, RestartCount: nextRestartCount(latest[c.Name])}}
			return p
		}
		p.Start = toStart
		return p
	}

	initialized, initFailed := p.planInit(in, latest)
	if initFailed {
		p.KillPod, p.Done = true, true
		return p
	}
	if !initialized {
		return p
	}

	keep := 0
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		st := latest[c.Name]
		if st == nil || st.State != runtime.ContainerRunning {
			if shouldRestart(pod, st) {
				p.start(in, Start{Name: c.Name, Index: i, RestartCount: nextRestartCount(st)}, st)
			}
			continue
		}
		var msg string
		restart := pod.Spec.RestartPolicy != corev1.RestartPolicyNever
		if st.Annotations[runtime.AnnotationContainerHash] != podconfig.ContainerHash(c) {
			msg, restart = fmt.Sprintf("Container %s definition changed", c.Name), true
		} else if why, ok := in.Unhealthy[st.ID]; ok {
			msg = why
		} else {
			keep++
			continue
		}
		if restart {
			msg += ", will be restarted"
			// A deliberate restart is not a crash: no back-off.
			p.Start = append(p.Start, Start{Name: c.Name, Index: i, RestartCount: nextRestartCount(st)})
		}
		p.Kill = append(p.Kill, Kill{ID: st.ID, Name: c.Name, Message: msg})
	}
	if keep == 0 && len(p.Start) == 0 && len(p.Waiting) == 0 {
		// Everything has finished and nothing restarts.
		p.KillPod, p.Done = true, true
	}
	return p
}

// planInit runs init containers one at a time, in order. It reports
// whether the pod is initialized, and whether an init container failed
// for good (restartPolicy Never).
func (p *Plan) planInit(in Input, latest map[string]*runtime.Container) (initialized, failed bool) {
	pod := in.Pod
	if len(pod.Spec.InitContainers) == 0 || anyRegularCreated(pod, latest) {
		return true, false
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		st := latest[c.Name]
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		switch {
		case st == nil:
			p.Start = append(p.Start, Start{Name: c.Name, Init: true, Index: i})
			return false, false
		case st.State == runtime.ContainerRunning:
			if sidecar {
				continue // a started sidecar lets the next one go
			}
			return false, false
		case st.State == runtime.ContainerExited && st.ExitCode == 0 && !sidecar:
			continue
		}
		// Exited with an error, or a sidecar that stopped, or stuck in
		// created/unknown.
		if !sidecar && st.State == runtime.ContainerExited && pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
			return false, true
		}
		p.start(in, Start{Name: c.Name, Init: true, Index: i, RestartCount: nextRestartCount(st)}, st)
		return false, false
	}
	return true, false
}

// start adds s unless its previous container crashed recently enough to
// be in back-off, in which case the container waits in CrashLoopBackOff
// with upstream's message and the plan asks to be run again when the
// back-off ends.
func (p *Plan) start(in Input, s Start, prev *runtime.Container) {
	if prev != nil && prev.State == runtime.ContainerExited && in.Backoff != nil {
		key := BackoffKey(in.Pod, s.Name)
		if in.Backoff.InBackoffSince(key, prev.FinishedAt, in.Now) {
			d := in.Backoff.Get(key)
			p.Waiting[s.Name] = Waiting{
				Reason:  CrashLoopBackOff,
				Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", d, s.Name, FormatPod(in.Pod)),
			}
			if after := prev.FinishedAt.Add(d).Sub(in.Now); p.RequeueAfter == 0 || after < p.RequeueAfter {
				p.RequeueAfter = after
			}
			return
		}
		in.Backoff.Next(key, prev.FinishedAt, in.Now)
	}
	p.Start = append(p.Start, s)
}

// BackoffKey identifies a container's back-off; a changed spec starts a
// fresh one, as upstream's key includes the container's hash.
func BackoffKey(pod *corev1.Pod, name string) string {
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			if cs[i].Name == name {
				return name + "_" + podconfig.ContainerHash(&cs[i])
			}
		}
	}
	return name
}

// FormatPod is upstream's format.Pod: name_namespace(uid).
func FormatPod(pod *corev1.Pod) string {
	return fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
}

// shouldRestart is upstream's ShouldContainerBeRestarted for a container
// that is not running.
func shouldRestart(pod *corev1.Pod, st *runtime.Container) bool {
	if pod.DeletionTimestamp != nil {
		return false
	}
	if st == nil || st.State == runtime.ContainerCreated || st.State == runtime.ContainerUnknown {
		return true
	}
	switch pod.Spec.RestartPolicy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return st.ExitCode != 0
	}
	return true
}

// ShouldRestart reports whether the container named name would be
// started again by the next sync (status uses it to show a waiting
// state).
func ShouldRestart(pod *corev1.Pod, containers []*runtime.Container, name string) bool {
	return shouldRestart(pod, latestByName(containers)[name])
}

// sandboxChanged is upstream's PodSandboxChanged: whether a new sandbox is
// needed, its attempt, the live sandbox otherwise, and the reason.
func sandboxChanged(pod *corev1.Pod, sandboxes []*runtime.Sandbox) (create bool, attempt uint32, id, reason string) {
	if len(sandboxes) == 0 {
		return true, 0, "", "no pod sandbox exists"
	}
	sorted := slices.Clone(sandboxes)
	slices.SortFunc(sorted, func(a, b *runtime.Sandbox) int { return b.CreatedAt.Compare(a.CreatedAt) })
	ready := 0
	for _, s := range sorted {
		if s.State == runtime.SandboxReady {
			ready++
		}
	}
	s := sorted[0]
	switch {
	case ready > 1:
		return true, s.Attempt + 1, s.ID, "multiple pod sandboxes are ready and need to be reconciled"
	case s.State != runtime.SandboxReady:
		return true, s.Attempt + 1, s.ID, "pod sandbox is not ready"
	case !pod.Spec.HostNetwork && s.IP == "":
		return true, s.Attempt + 1, s.ID, "pod sandbox has no IP address"
	}
	return false, s.Attempt, s.ID, ""
}

// SandboxReady reports whether the pod has a usable sandbox, and why not
// (PodReadyToStartContainers).
func SandboxReady(pod *corev1.Pod, sandboxes []*runtime.Sandbox) (ready bool, reason string) {
	create, _, _, reason := sandboxChanged(pod, sandboxes)
	return !create, reason
}

// LatestSandbox is the newest sandbox, or nil.
func LatestSandbox(sandboxes []*runtime.Sandbox) *runtime.Sandbox {
	var out *runtime.Sandbox
	for _, s := range sandboxes {
		if out == nil || s.CreatedAt.After(out.CreatedAt) {
			out = s
		}
	}
	return out
}

// latestByName maps each container name to its newest container.
func latestByName(cs []*runtime.Container) map[string]*runtime.Container {
	out := make(map[string]*runtime.Container, len(cs))
	for _, c := range cs {
		if cur, ok := out[c.Name]; !ok || newer(c, cur) {
			out[c.Name] = c
		}
	}
	return out
}

// newer orders containers of one name: by creation time, then attempt.
func newer(a, b *runtime.Container) bool {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c > 0
	}
	return a.Attempt > b.Attempt
}

// ByName returns a pod's containers of one name, newest first.
func ByName(cs []*runtime.Container, name string) []*runtime.Container {
	var out []*runtime.Container
	for _, c := range cs {
		if c.Name == name {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *runtime.Container) int {
		if newer(a, b) {
			return -1
		}
		if newer(b, a) {
			return 1
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}

func succeeded(c *runtime.Container) bool {
	return c != nil && c.State == runtime.ContainerExited && c.ExitCode == 0
}

func anyRegularCreated(pod *corev1.Pod, latest map[string]*runtime.Container) bool {
	for _, c := range pod.Spec.Containers {
		if latest[c.Name] != nil {
			return true
		}
	}
	return false
}

// nextRestartCount is the restart count of a container replacing prev.
func nextRestartCount(prev *runtime.Container) int32 {
	if prev == nil {
		return 0
	}
	return RestartCount(prev) + 1
}

// RestartCount is a container's restart count, from the annotation the
// agent put on it.
func RestartCount(c *runtime.Container) int32 {
	n, err := strconv.ParseInt(c.Annotations[runtime.AnnotationRestartCount], 10, 32)
	if err != nil {
		return int32(c.Attempt)
	}
	return int32(n)
}

// garbage picks what the runtime can drop: for each container name, dead
// containers older than the newest one (which status still reports as
// the last state), and sandboxes that are neither the newest nor holding
// a container that stays.
func garbage(sandboxes []*runtime.Sandbox, cs []*runtime.Container) (containers, sbs []string) {
	seen := map[string]bool{}
	used := map[string]bool{}
	for _, c := range cs {
		if seen[c.Name] {
			continue
		}
		seen[c.Name] = true
		for i, old := range ByName(cs, c.Name) {
			if i < 2 || old.State == runtime.ContainerRunning {
				// The newest two: the current container and the last
				// state, as upstream reports them.
				used[old.SandboxID] = true
				continue
			}
			containers = append(containers, old.ID)
		}
	}
	latest := LatestSandbox(sandboxes)
	for _, s := range sandboxes {
		if s != latest && s.State != runtime.SandboxReady && !used[s.ID] {
			sbs = append(sbs, s.ID)
		}
	}
	slices.Sort(containers)
	slices.Sort(sbs)
	return containers, sbs
}
