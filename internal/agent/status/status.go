// Package status computes a pod's status as upstream's kubelet reports it
// (generateAPIPodStatus): phase, the kubelet's conditions, container and
// init container statuses, pod and host IPs. It is pure: the runtime's
// containers, the waiting reasons of the last sync, probe results and the
// time come in; a corev1.PodStatus comes out for the agent to write
// through pods/status.
package status

import (
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/agent/podsync"
	"skiff.dev/skiff/internal/agent/runtime"
)

// Upstream's condition reasons and default waiting reasons.
const (
	PodCompleted             = "PodCompleted"
	PodFailed                = "PodFailed"
	ContainersNotReady       = "ContainersNotReady"
	ContainersNotInitialized = "ContainersNotInitialized"
	ReadinessGatesNotReady   = "ReadinessGatesNotReady"
	PodSandboxNotReady       = "PodSandboxNotReady"
	ContainerCreating        = "ContainerCreating"
	PodInitializing          = "PodInitializing"
	ContainerStatusUnknown   = "ContainerStatusUnknown"
)

// Input is what a pod's status is computed from.
type Input struct {
	// Pod is the API's pod; its status is the old status.
	Pod        *corev1.Pod
	Sandboxes  []*runtime.Sandbox
	Containers []*runtime.Container
	// RuntimeName prefixes container IDs: "containerd://<id>".
	RuntimeName string
	// Waiting are the reasons containers could not start in the last
	// sync (ErrImagePull, CrashLoopBackOff, CreateContainerConfigError
	// ...), by container name.
	Waiting map[string]podsync.Waiting
	// Started and Ready report probe results for a running container
	// (startup; readiness). Nil means the container has no such probe:
	// started and ready once running.
	Started func(c *corev1.Container, id string) bool
	Ready   func(c *corev1.Container, id string) bool
	// HostIPs are the node's addresses, first the primary.
	HostIPs []string
	// Terminal: the agent has stopped everything of the pod for good
	// (deleted, or finished per its restart policy).
	Terminal bool
	Now      time.Time
}

// Compute returns the pod's new status.
func Compute(in Input) corev1.PodStatus {
	pod := in.Pod
	old := pod.Status
	s := corev1.PodStatus{
		QOSClass:                    old.QOSClass,
		NominatedNodeName:           old.NominatedNodeName,
		StartTime:                   old.StartTime,
		ObservedGeneration:          pod.Generation,
		Resize:                      old.Resize, //nolint:staticcheck // kept as the API server has it
		ResourceClaimStatuses:       old.ResourceClaimStatuses,
		ExtendedResourceClaimStatus: old.ExtendedResourceClaimStatus,
	}
	if s.StartTime == nil {
		s.StartTime = &metav1.Time{Time: in.Now.Truncate(time.Second)}
	}
	s.InitContainerStatuses = containerStatuses(in, pod.Spec.InitContainers, old.InitContainerStatuses, true)
	s.ContainerStatuses = containerStatuses(in, pod.Spec.Containers, old.ContainerStatuses, false)
	s.EphemeralContainerStatuses = old.EphemeralContainerStatuses

	all := append(slices.Clone(s.InitContainerStatuses), s.ContainerStatuses...)
	s.Phase = phase(pod, s.InitContainerStatuses, s.ContainerStatuses, in.Terminal)
	if s.Phase != corev1.PodFailed && s.Phase != corev1.PodSucceeded &&
		(old.Phase == corev1.PodFailed || old.Phase == corev1.PodSucceeded) {
		s.Phase = old.Phase // terminal phases are final
	}
	if s.Phase == old.Phase {
		s.Reason, s.Message = old.Reason, old.Message
	}

	// Conditions the kubelet does not own stay, first, as upstream keeps
	// them; then the kubelet's in upstream's order.
	for _, c := range old.Conditions {
		if !kubeletCondition(c.Type) {
			s.Conditions = append(s.Conditions, c)
		}
	}
	ready, why := podsync.SandboxReady(pod, in.Sandboxes)
	sandboxCond := corev1.PodCondition{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionTrue}
	if !ready {
		sandboxCond = corev1.PodCondition{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionFalse, Reason: PodSandboxNotReady, Message: why}
	}
	s.Conditions = append(s.Conditions, sandboxCond, initializedCondition(pod, s.InitContainerStatuses, all, s.Phase))
	containersReady := containersReadyCondition(pod, s.InitContainerStatuses, s.ContainerStatuses, s.Phase)
	s.Conditions = append(s.Conditions, readyCondition(pod, s.Conditions, containersReady), containersReady,
		corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue})
	for i := range s.Conditions {
		c := &s.Conditions[i]
		if !kubeletCondition(c.Type) {
			continue
		}
		c.ObservedGeneration = pod.Generation
		c.LastTransitionTime = metav1.Time{Time: in.Now.Truncate(time.Second)}
		for _, o := range old.Conditions {
			if o.Type == c.Type && o.Status == c.Status && !o.LastTransitionTime.IsZero() {
				c.LastTransitionTime = o.LastTransitionTime
			}
		}
	}

	// Addresses: the node's, and the sandbox's (kept once the sandbox is
	// gone, as upstream does).
	if len(in.HostIPs) > 0 {
		s.HostIP = in.HostIPs[0]
		for _, ip := range in.HostIPs {
			s.HostIPs = append(s.HostIPs, corev1.HostIP{IP: ip})
		}
	}
	var podIPs []string
	if pod.Spec.HostNetwork {
		podIPs = in.HostIPs
	} else if sb := podsync.LatestSandbox(in.Sandboxes); sb != nil && sb.State == runtime.SandboxReady && sb.IP != "" {
		podIPs = append([]string{sb.IP}, sb.AdditionalIPs...)
	}
	if len(podIPs) == 0 {
		s.PodIP, s.PodIPs = old.PodIP, old.PodIPs
	} else {
		s.PodIP = podIPs[0]
		for _, ip := range podIPs {
			s.PodIPs = append(s.PodIPs, corev1.PodIP{IP: ip})
		}
	}
	return s
}

func kubeletCondition(t corev1.PodConditionType) bool {
	switch t {
	case corev1.PodScheduled, corev1.PodReady, corev1.PodInitialized, corev1.ContainersReady,
		corev1.PodReadyToStartContainers, corev1.PodResizePending, corev1.PodResizeInProgress:
		return true
	}
	return false
}

func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// containerStatuses converts the runtime's containers of one kind (init
// or regular) to API statuses, in spec order, as upstream's
// convertToAPIContainerStatuses does.
func containerStatuses(in Input, specs []corev1.Container, previous []corev1.ContainerStatus, init bool) []corev1.ContainerStatus {
	if len(specs) == 0 {
		return nil
	}
	pod := in.Pod
	oldByName := map[string]corev1.ContainerStatus{}
	for _, st := range previous {
		oldByName[st.Name] = st
	}
	defaultWaiting := ContainerCreating
	if len(pod.Spec.InitContainers) > 0 {
		defaultWaiting = PodInitializing
	}
	out := make([]corev1.ContainerStatus, 0, len(specs))
	for i := range specs {
		spec := &specs[i]
		st := corev1.ContainerStatus{
			Name: spec.Name, Image: spec.Image,
			State:        corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: defaultWaiting}},
			VolumeMounts: volumeMounts(spec),
		}
		old, hadOld := oldByName[spec.Name]
		if hadOld {
			if old.State.Terminated != nil {
				st = *old.DeepCopy()
			} else {
				st.RestartCount = old.RestartCount
				st.LastTerminationState = *old.LastTerminationState.DeepCopy()
			}
		}
		runtimeContainers := podsync.ByName(in.Containers, spec.Name)
		if len(runtimeContainers) == 0 && hadOld && old.State.Running != nil &&
			st.State.Waiting != nil && st.State.Waiting.Reason == defaultWaiting && st.LastTerminationState.Terminated == nil {
			// It ran and vanished: it terminated, even if nobody saw how.
			st.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{
				Reason:   ContainerStatusUnknown,
				Message:  "The container could not be located when the pod was deleted.  The container used to be Running",
				ExitCode: 137,
			}
			if pod.DeletionTimestamp == nil {
				st.RestartCount++
			}
		}
		for n, c := range runtimeContainers {
			if n >= 2 {
				break
			}
			cs := convert(in, spec, c, st.VolumeMounts)
			if n == 0 {
				st = cs
			} else {
				st.LastTerminationState = cs.State
			}
		}
		// A container the next sync starts again waits, with the reason
		// it could not start.
		latestOK := len(runtimeContainers) > 0 && runtimeContainers[0].State == runtime.ContainerExited && runtimeContainers[0].ExitCode == 0
		if !(init && latestOK && !isSidecar(spec)) && podsync.ShouldRestart(pod, in.Containers, spec.Name) {
			if w, ok := in.Waiting[spec.Name]; ok {
				if st.State.Terminated != nil {
					st.LastTerminationState = st.State
				}
				st.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: w.Reason, Message: w.Message}}
			}
		}
		started := st.State.Running != nil
		if started && in.Started != nil && len(runtimeContainers) > 0 {
			started = in.Started(spec, runtimeContainers[0].ID)
		}
		st.Started = &started
		switch {
		case init && !isSidecar(spec):
			st.Ready = st.State.Terminated != nil && st.State.Terminated.ExitCode == 0
		case started && in.Ready != nil:
			st.Ready = in.Ready(spec, runtimeContainers[0].ID)
		default:
			st.Ready = started
		}
		out = append(out, st)
	}
	return out
}

// convert is one runtime container's API status.
func convert(in Input, spec *corev1.Container, c *runtime.Container, mounts []corev1.VolumeMountStatus) corev1.ContainerStatus {
	id := in.RuntimeName + "://" + c.ID
	st := corev1.ContainerStatus{
		Name: spec.Name, Image: spec.Image, ImageID: c.ImageRef, ContainerID: id,
		RestartCount: podsync.RestartCount(c), VolumeMounts: mounts,
		Resources: spec.Resources.DeepCopy(), AllocatedResources: spec.Resources.Requests.DeepCopy(),
	}
	switch c.State {
	case runtime.ContainerRunning:
		st.State.Running = &corev1.ContainerStateRunning{StartedAt: apiTime(c.StartedAt)}
	case runtime.ContainerExited:
		t := &corev1.ContainerStateTerminated{
			ExitCode: c.ExitCode, Reason: c.Reason, Message: c.Message,
			StartedAt: apiTime(c.StartedAt), FinishedAt: apiTime(c.FinishedAt), ContainerID: id,
		}
		st.State.Terminated = t
	default:
		st.State.Waiting = &corev1.ContainerStateWaiting{}
	}
	return st
}

// apiTime is t as the API keeps it: whole seconds (RFC 3339). The
// runtime's nanoseconds would make every status computed differ from the
// one the API returned, and the agent would send an empty patch on each
// sync (upstream's status manager normalizes its times the same way).
func apiTime(t time.Time) metav1.Time {
	return metav1.NewTime(t.Truncate(time.Second))
}

// volumeMounts is the mount status upstream reports (recursive read-only
// is not supported: Disabled for read-only mounts).
func volumeMounts(c *corev1.Container) []corev1.VolumeMountStatus {
	var out []corev1.VolumeMountStatus
	for _, m := range c.VolumeMounts {
		vs := corev1.VolumeMountStatus{Name: m.Name, MountPath: m.MountPath, ReadOnly: m.ReadOnly}
		if m.ReadOnly {
			d := corev1.RecursiveReadOnlyDisabled
			vs.RecursiveReadOnly = &d
		}
		out = append(out, vs)
	}
	return out
}

// phase is upstream's getPhase (pod-level restart policy only).
func phase(pod *corev1.Pod, initStatuses, statuses []corev1.ContainerStatus, terminal bool) corev1.PodPhase {
	find := func(list []corev1.ContainerStatus, name string) (corev1.ContainerStatus, bool) {
		for _, s := range list {
			if s.Name == name {
				return s, true
			}
		}
		return corev1.ContainerStatus{}, false
	}
	pendingInit, pendingSidecars, failedInit := 0, 0, 0
	unknown, running, waiting, stopped, succeeded := 0, 0, 0, 0, 0
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		st, ok := find(initStatuses, c.Name)
		if isSidecar(c) {
			switch {
			case !ok:
				unknown++
			case st.State.Running != nil:
				if st.Started == nil || !*st.Started {
					pendingSidecars++
				}
				running++
			case st.State.Terminated != nil:
			case st.State.Waiting != nil && st.LastTerminationState.Terminated == nil:
				pendingSidecars++
				waiting++
			case st.State.Waiting == nil:
				pendingSidecars++
				unknown++
			}
			continue
		}
		switch {
		case !ok || st.State.Running != nil:
			pendingInit++
		case st.State.Terminated != nil:
			if st.State.Terminated.ExitCode != 0 {
				failedInit++
			}
		case st.State.Waiting != nil && st.LastTerminationState.Terminated != nil:
			if st.LastTerminationState.Terminated.ExitCode != 0 {
				failedInit++
			}
		default:
			pendingInit++
		}
	}
	for i := range pod.Spec.Containers {
		st, ok := find(statuses, pod.Spec.Containers[i].Name)
		switch {
		case !ok:
			unknown++
		case st.State.Running != nil:
			running++
		case st.State.Terminated != nil:
			stopped++
			if st.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case st.State.Waiting != nil && st.LastTerminationState.Terminated != nil:
			stopped++
		case st.State.Waiting != nil:
			waiting++
		default:
			unknown++
		}
	}
	if failedInit > 0 && pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
		return corev1.PodFailed
	}
	initialized := false
	for _, st := range statuses {
		if st.State.Running != nil || st.State.Terminated != nil {
			initialized = true
		}
	}
	switch {
	case pendingInit > 0 || (pendingSidecars > 0 && !initialized), waiting > 0:
		return corev1.PodPending
	case running > 0 && unknown == 0:
		return corev1.PodRunning
	case running == 0 && stopped > 0 && unknown == 0:
		switch {
		case terminal && stopped == succeeded:
			return corev1.PodSucceeded
		case terminal:
			return corev1.PodFailed
		case pod.Spec.RestartPolicy == corev1.RestartPolicyAlways:
			return corev1.PodRunning
		case stopped == succeeded:
			return corev1.PodSucceeded
		case pod.Spec.RestartPolicy == corev1.RestartPolicyNever:
			return corev1.PodFailed
		}
		return corev1.PodRunning
	}
	return corev1.PodPending
}

func initializedCondition(pod *corev1.Pod, initStatuses, all []corev1.ContainerStatus, ph corev1.PodPhase) corev1.PodCondition {
	var unknown, incomplete []string
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		var st *corev1.ContainerStatus
		for j := range initStatuses {
			if initStatuses[j].Name == c.Name {
				st = &initStatuses[j]
			}
		}
		switch {
		case st == nil:
			unknown = append(unknown, c.Name)
		case isSidecar(c) && (st.Started == nil || !*st.Started), !isSidecar(c) && !st.Ready:
			incomplete = append(incomplete, c.Name)
		}
	}
	cond := corev1.PodCondition{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}
	if ph == corev1.PodSucceeded && len(unknown) == 0 {
		cond.Reason = PodCompleted
		return cond
	}
	for _, st := range all {
		if isRegular(pod, st.Name) && (st.State.Running != nil || st.State.Terminated != nil) {
			return cond
		}
	}
	if msg := unreadyMessage(unknown, "containers with incomplete status: %s", incomplete); msg != "" {
		return corev1.PodCondition{Type: corev1.PodInitialized, Status: corev1.ConditionFalse, Reason: ContainersNotInitialized, Message: msg}
	}
	return cond
}

func isRegular(pod *corev1.Pod, name string) bool {
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			return true
		}
	}
	return false
}

func unreadyMessage(unknown []string, format string, names []string) string {
	var msgs []string
	if len(unknown) > 0 {
		msgs = append(msgs, fmt.Sprintf("containers with unknown status: %s", unknown))
	}
	if len(names) > 0 {
		msgs = append(msgs, fmt.Sprintf(format, names))
	}
	return strings.Join(msgs, ", ")
}

func containersReadyCondition(pod *corev1.Pod, initStatuses, statuses []corev1.ContainerStatus, ph corev1.PodPhase) corev1.PodCondition {
	var unknown, unready []string
	check := func(name string, list []corev1.ContainerStatus) {
		for _, st := range list {
			if st.Name == name {
				if !st.Ready {
					unready = append(unready, name)
				}
				return
			}
		}
		unknown = append(unknown, name)
	}
	for i := range pod.Spec.InitContainers {
		if isSidecar(&pod.Spec.InitContainers[i]) {
			check(pod.Spec.InitContainers[i].Name, initStatuses)
		}
	}
	for _, c := range pod.Spec.Containers {
		check(c.Name, statuses)
	}
	switch {
	case ph == corev1.PodSucceeded && len(unknown) == 0:
		return corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionFalse, Reason: PodCompleted}
	case ph == corev1.PodFailed:
		return corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionFalse, Reason: PodFailed}
	}
	if msg := unreadyMessage(unknown, "containers with unready status: %s", unready); msg != "" {
		return corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionFalse, Reason: ContainersNotReady, Message: msg}
	}
	return corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionTrue}
}

func readyCondition(pod *corev1.Pod, conds []corev1.PodCondition, containersReady corev1.PodCondition) corev1.PodCondition {
	if containersReady.Status != corev1.ConditionTrue {
		return corev1.PodCondition{Type: corev1.PodReady, Status: containersReady.Status, Reason: containersReady.Reason, Message: containersReady.Message}
	}
	var msgs []string
	for _, g := range pod.Spec.ReadinessGates {
		var found *corev1.PodCondition
		for i := range conds {
			if conds[i].Type == g.ConditionType {
				found = &conds[i]
			}
		}
		switch {
		case found == nil:
			msgs = append(msgs, fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", string(g.ConditionType)))
		case found.Status != corev1.ConditionTrue:
			msgs = append(msgs, fmt.Sprintf("the status of pod readiness gate %q is not \"True\", but %v", string(g.ConditionType), found.Status))
		}
	}
	if len(msgs) > 0 {
		return corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: ReadinessGatesNotReady, Message: strings.Join(msgs, ", ")}
	}
	return corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue}
}
