package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	"skiff.dev/skiff/internal/agent/cgroups"
	"skiff.dev/skiff/internal/agent/podconfig"
	"skiff.dev/skiff/internal/agent/podsync"
	"skiff.dev/skiff/internal/agent/runtime"
	"skiff.dev/skiff/internal/agent/status"
)

// minGracePeriod is upstream's floor for a container's stop timeout.
const minGracePeriod = 2 * time.Second

// podWorker owns one pod: it alone changes the pod's sandboxes and
// containers and writes its status, so none of its state needs a lock.
type podWorker struct {
	a   *Agent
	uid types.UID
	// poke wakes the worker; buffered 1, so wakes coalesce.
	poke chan struct{}
	// wokeAt is when the first poke not yet synced came (Unix ns; 0:
	// none), for the debug trace.
	wokeAt atomic.Int64

	backoff     *podsync.Backoff // container restarts
	pullBackoff *podsync.Backoff // image pulls, keyed by image
	pullErrs    map[string]string
	waiting     map[string]podsync.Waiting
	// written is the last status the worker wrote and the pod's
	// resourceVersion after the write.
	written   *corev1.PodStatus
	writtenRV string
	deleted   bool
	// volumesAt is when the pod's volumes were last set up successfully;
	// they are refreshed every PodResyncPeriod so that config map and
	// secret updates reach the files.
	volumesAt time.Time
}

func newPodWorker(a *Agent, uid types.UID) *podWorker {
	return &podWorker{
		a: a, uid: uid, poke: make(chan struct{}, 1),
		backoff:     podsync.NewBackoff(podsync.InitialBackoff, podsync.MaxBackoff),
		pullBackoff: podsync.NewBackoff(podsync.InitialBackoff, podsync.MaxBackoff),
		pullErrs:    map[string]string{},
		waiting:     map[string]podsync.Waiting{},
	}
}

// run syncs the pod whenever poked, when a back-off ends, and every
// PodResyncPeriod, until the pod is gone and cleaned up or ctx ends.
func (w *podWorker) run(ctx context.Context) {
	timer := w.a.clock.NewTimer(w.a.cfg.PodResyncPeriod)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.poke:
		case <-timer.C():
		}
		var woke time.Time
		if ns := w.wokeAt.Swap(0); ns != 0 {
			woke = time.Unix(0, ns)
		}
		next, done := w.sync(ctx, woke)
		if done && w.a.retire(w) {
			return
		}
		if !timer.Stop() {
			select {
			case <-timer.C():
			default:
			}
		}
		timer.Reset(next)
	}
}

// sync runs one pass: plan, act, report. It returns when to sync again,
// and done once the pod is gone from the API and from the runtime.
func (w *podWorker) sync(ctx context.Context, woke time.Time) (time.Duration, bool) {
	a := w.a
	tr := a.newSyncTrace(ctx, woke)
	pod := a.podByUID(w.uid)
	sbs, cs, err := a.runtimeState(ctx, w.uid)
	tr.step("state")
	if err != nil {
		a.log.Warn("runtime state", "pod", w.uid, "err", err)
		return time.Second, false
	}
	if pod == nil {
		// Deleted from the API (by us after termination, or forcibly):
		// stop and remove whatever is left.
		a.probes.RemovePod(w.uid)
		a.statuses.delete(w.uid)
		if !w.cleanup(ctx, sbs, cs) {
			return 5 * time.Second, false
		}
		return 0, true
	}
	now := a.clock.Now()
	unhealthy := a.probeState(pod, cs)
	plan := podsync.Compute(podsync.Input{Pod: pod, Sandboxes: sbs, Containers: cs, Now: now, Backoff: w.backoff, Unhealthy: unhealthy})
	for name, wt := range plan.Waiting {
		w.waiting[name] = wt
		if wt.Reason == podsync.CrashLoopBackOff {
			a.event(pod, containerSpec(pod, name), corev1.EventTypeWarning, "BackOff",
				fmt.Sprintf("Back-off restarting failed container %s in pod %s", name, podsync.FormatPod(pod)))
		}
	}
	acted := plan.KillPod || len(plan.Kill) > 0 || plan.CreateSandbox || len(plan.Start) > 0 ||
		len(plan.RemoveContainers) > 0 || len(plan.RemoveSandboxes) > 0
	requeue := a.cfg.PodResyncPeriod
	if plan.RequeueAfter > 0 {
		requeue = min(requeue, plan.RequeueAfter)
	}

	if plan.KillPod {
		w.killPod(ctx, pod, sbs, cs)
	}
	for _, k := range plan.Kill {
		w.killContainer(ctx, pod, findContainer(cs, k.ID), k.Message, gracePeriod(pod))
	}
	// Volumes come before the sandbox, as upstream's: a pod whose volumes
	// cannot be set up stays ContainerCreating, with FailedMount events.
	if pod.DeletionTimestamp == nil && !plan.Done &&
		(len(plan.Start) > 0 || a.clock.Since(w.volumesAt) >= a.cfg.PodResyncPeriod) {
		tr.step("plan")
		if a.setUpVolumes(ctx, pod) {
			w.volumesAt = now
		} else {
			plan.Start = nil
			requeue = min(requeue, 2*time.Second)
		}
		tr.step("volumes")
	}
	sandboxID := plan.SandboxID
	sbCfg, sbErr := a.sandboxConfig(pod, plan.SandboxAttempt, plan.CreateSandbox && len(plan.Start) > 0)
	podIPs := podIPsOf(sbs, sandboxID)
	if sbErr != nil && len(plan.Start) > 0 {
		a.event(pod, nil, corev1.EventTypeWarning, "FailedCreatePodSandBox", fmt.Sprintf("Failed to create pod sandbox: %v", sbErr))
		plan.Start = nil
		requeue = min(requeue, 10*time.Second)
	}
	if plan.CreateSandbox && len(plan.Start) > 0 {
		tr.step("sandboxConfig")
		id, err := a.createSandbox(ctx, pod, sbCfg)
		tr.step("sandbox")
		if err != nil {
			a.event(pod, nil, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: "+runtime.ErrorMessage(err))
			plan.Start = nil
			requeue = min(requeue, 10*time.Second)
		} else {
			sandboxID = id
			if s, err := a.rt.SandboxStatus(ctx, id); err == nil && s.IP != "" {
				podIPs = append([]string{s.IP}, s.AdditionalIPs...)
			}
			tr.step("sandboxStatus")
		}
	}
	for _, s := range plan.Start {
		if err := w.startContainer(ctx, pod, sandboxID, sbCfg, s, podIPs, tr); err != nil {
			a.log.Debug("start container", "pod", klogPod(pod), "container", s.Name, "err", err)
			if d := w.pullRetry(pod, s); d > 0 {
				requeue = min(requeue, d)
			}
			if s.Init {
				break // init containers run strictly in order
			}
		}
	}
	for _, id := range plan.RemoveContainers {
		if err := a.rt.RemoveContainer(ctx, id); err != nil {
			a.log.Warn("remove dead container", "pod", klogPod(pod), "id", id, "err", err)
		}
	}
	for _, id := range plan.RemoveSandboxes {
		if err := a.rt.RemoveSandbox(ctx, id); err != nil {
			a.log.Warn("remove dead sandbox", "pod", klogPod(pod), "id", id, "err", err)
		}
	}

	if acted {
		tr.step("acted")
		if sbs, cs, err = a.runtimeState(ctx, w.uid); err != nil {
			a.log.Warn("runtime state", "pod", klogPod(pod), "err", err)
			return time.Second, false
		}
		tr.step("restate")
	}
	terminal := plan.Done && !anyRunning(cs)
	st := status.Compute(status.Input{
		Pod: w.latest(pod), Sandboxes: sbs, Containers: cs, RuntimeName: a.runtimeName, Waiting: w.waiting,
		Started: a.probedStarted(pod.UID), Ready: a.probedReady(pod.UID),
		HostIPs: a.hostIPs, Terminal: terminal, Now: a.clock.Now(),
	})
	st.QOSClass = podconfig.QOSClass(pod)
	a.statuses.set(pod.UID, *st.DeepCopy())
	tr.step("status")
	patched, err := w.writeStatus(ctx, pod, st)
	if err != nil {
		a.log.Warn("write pod status", "pod", klogPod(pod), "err", err)
		requeue = min(requeue, time.Second)
	}
	if patched {
		tr.step("patch")
	}
	if acted || patched {
		tr.log(ctx, a, klogPod(pod), "phase", st.Phase, "ready", podReady(&st))
	}
	if pod.DeletionTimestamp != nil && terminal && !w.deleted {
		// Everything has stopped: the API may forget the pod. Grace 0
		// and the UID precondition, as the kubelet does, so a new pod of
		// the same name is never deleted by mistake.
		uid := pod.UID
		err := a.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
			GracePeriodSeconds: new(int64), Preconditions: &metav1.Preconditions{UID: &uid},
		})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			a.log.Warn("delete terminated pod", "pod", klogPod(pod), "err", err)
			return time.Second, false
		}
		w.deleted = true
	}
	return requeue, false
}

// pullRetry is how long until an image pull of s may be retried, or 0.
func (w *podWorker) pullRetry(pod *corev1.Pod, s podsync.Start) time.Duration {
	c := containerSpec(pod, s.Name)
	if c == nil {
		return 0
	}
	if d := w.pullBackoff.Get(c.Image); d > 0 {
		return d
	}
	return 0
}

// cleanup stops and removes what the runtime has of a pod the API no
// longer has, then its cgroup and volumes. It reports false while the
// cgroup still holds a process: the pod's directory is kept until then,
// so that a restarted agent still finds the pod.
func (w *podWorker) cleanup(ctx context.Context, sbs []*runtime.Sandbox, cs []*runtime.Container) bool {
	a := w.a
	var wg sync.WaitGroup
	for _, c := range cs {
		if c.State == runtime.ContainerRunning || c.State == runtime.ContainerCreated {
			wg.Go(func() {
				if err := a.rt.StopContainer(ctx, c.ID, minGracePeriod); err != nil {
					a.log.Warn("stop orphaned container", "id", c.ID, "err", err)
				}
			})
		}
	}
	wg.Wait()
	for _, c := range cs {
		if err := a.rt.RemoveContainer(ctx, c.ID); err != nil {
			a.log.Warn("remove orphaned container", "id", c.ID, "err", err)
		}
	}
	for _, s := range sbs {
		if err := a.rt.StopSandbox(ctx, s.ID); err != nil {
			a.log.Warn("stop orphaned sandbox", "id", s.ID, "err", err)
		}
		if err := a.rt.RemoveSandbox(ctx, s.ID); err != nil {
			a.log.Warn("remove orphaned sandbox", "id", s.ID, "err", err)
		}
	}
	if err := a.removePodCgroup(w.uid); errors.Is(err, cgroups.ErrBusy) {
		a.log.Debug("pod cgroup busy", "pod", w.uid, "err", err)
		return false
	}
	a.tearDownVolumes(w.uid)
	return true
}

// killPod stops every live container of the pod in parallel, each with
// the grace period, then its sandboxes.
func (w *podWorker) killPod(ctx context.Context, pod *corev1.Pod, sbs []*runtime.Sandbox, cs []*runtime.Container) {
	grace := gracePeriod(pod)
	var wg sync.WaitGroup
	for _, c := range cs {
		if c.State == runtime.ContainerRunning || c.State == runtime.ContainerCreated {
			wg.Go(func() { w.killContainer(ctx, pod, c, "", grace) })
		}
	}
	wg.Wait()
	for _, s := range sbs {
		if s.State == runtime.SandboxReady {
			if err := w.a.rt.StopSandbox(ctx, s.ID); err != nil {
				w.a.log.Warn("stop sandbox", "pod", klogPod(pod), "err", err)
			}
		}
	}
}

// killContainer runs the preStop hook within the grace period, then stops
// the container with what is left of it (at least upstream's 2 s).
func (w *podWorker) killContainer(ctx context.Context, pod *corev1.Pod, c *runtime.Container, message string, grace time.Duration) {
	if c == nil {
		return
	}
	a := w.a
	spec := containerSpec(pod, c.Name)
	if message == "" {
		message = "Stopping container " + c.Name
	}
	if c.State == runtime.ContainerRunning {
		a.event(pod, spec, corev1.EventTypeNormal, "Killing", message)
	}
	if spec != nil && spec.Lifecycle != nil && spec.Lifecycle.PreStop != nil && grace > 0 && c.State == runtime.ContainerRunning {
		start := a.clock.Now()
		if err := a.runHook(ctx, pod, spec, c.ID, spec.Lifecycle.PreStop, grace); err != nil {
			a.event(pod, spec, corev1.EventTypeWarning, "FailedPreStopHook", "PreStopHook failed")
			a.log.Info("preStop hook failed", "pod", klogPod(pod), "container", c.Name, "err", err)
		}
		grace -= a.clock.Since(start)
	}
	if err := a.rt.StopContainer(ctx, c.ID, max(grace, minGracePeriod)); err != nil {
		a.log.Warn("stop container", "pod", klogPod(pod), "container", c.Name, "err", err)
	}
}

// gracePeriod is the pod's termination grace: the deletion's, else the
// spec's, else upstream's default 30 s.
func gracePeriod(pod *corev1.Pod) time.Duration {
	switch {
	case pod.DeletionGracePeriodSeconds != nil:
		return time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return 30 * time.Second
}

// latest is pod with the freshest status the worker knows of: the
// informer's, or the one the API returned for the worker's last write if
// the informer has not seen that write yet (upstream's status manager
// likewise computes from its own cache, not the informer's). Computing
// from the stale one would take start and transition times anew, differing
// from those just written; the echo of each write would then undo the one
// after it, a status patch per sync for ever on a busy server.
func (w *podWorker) latest(pod *corev1.Pod) *corev1.Pod {
	if w.written == nil || !newerRV(w.writtenRV, pod.ResourceVersion) {
		return pod
	}
	p := *pod
	p.Status = *w.written
	return &p
}

// writeStatus patches pods/status when the status changed, with a
// strategic merge patch from the status the API last had (as the
// kubelet's status manager does), carrying the pod's UID so the patch
// cannot land on a new pod of the same name.
func (w *podWorker) writeStatus(ctx context.Context, pod *corev1.Pod, st corev1.PodStatus) (bool, error) {
	base := pod.Status
	if w.written != nil && newerRV(w.writtenRV, pod.ResourceVersion) {
		base = *w.written
	}
	if apiequality.Semantic.DeepEqual(base, st) {
		return false, nil
	}
	type doc struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
		Status   corev1.PodStatus  `json:"status"`
	}
	oldJSON, err := json.Marshal(doc{Metadata: metav1.ObjectMeta{UID: pod.UID}, Status: base})
	if err != nil {
		return false, err
	}
	newJSON, err := json.Marshal(doc{Metadata: metav1.ObjectMeta{UID: pod.UID}, Status: st})
	if err != nil {
		return false, err
	}
	if bytes.Equal(oldJSON, newJSON) {
		// Equal as the API stores them: the difference was finer than
		// the wire's (times to the second), and a patch would change
		// nothing but cost a write.
		return false, nil
	}
	patch, err := strategicpatch.CreateTwoWayMergePatch(oldJSON, newJSON, corev1.Pod{})
	if err != nil {
		return false, fmt.Errorf("status patch: %w", err)
	}
	// The UID is a precondition: put it in the patch even though it did
	// not change.
	var m map[string]any
	if err := json.Unmarshal(patch, &m); err != nil {
		return false, err
	}
	m["metadata"] = map[string]any{"uid": string(pod.UID)}
	patch, _ = json.Marshal(m)
	out, err := w.a.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	if err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("patch status: %w", err)
	}
	w.written, w.writtenRV = out.Status.DeepCopy(), out.ResourceVersion
	return true, nil
}

// newerRV reports whether resourceVersion a is newer than b (Skiff's are
// store revisions, increasing integers).
func newerRV(a, b string) bool {
	x, err1 := strconv.ParseUint(a, 10, 64)
	y, err2 := strconv.ParseUint(b, 10, 64)
	return err1 == nil && err2 == nil && x > y
}

// podReady is the status's Ready condition, for the debug trace.
func podReady(st *corev1.PodStatus) bool {
	for _, c := range st.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func anyRunning(cs []*runtime.Container) bool {
	for _, c := range cs {
		if c.State == runtime.ContainerRunning || c.State == runtime.ContainerCreated {
			return true
		}
	}
	return false
}

func findContainer(cs []*runtime.Container, id string) *runtime.Container {
	for _, c := range cs {
		if c.ID == id {
			return c
		}
	}
	return nil
}

// containerSpec finds a container of the pod by name, init or regular.
func containerSpec(pod *corev1.Pod, name string) *corev1.Container {
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

func podIPsOf(sbs []*runtime.Sandbox, id string) []string {
	for _, s := range sbs {
		if s.ID == id && s.IP != "" {
			return append([]string{s.IP}, s.AdditionalIPs...)
		}
	}
	return nil
}

func klogPod(pod *corev1.Pod) string { return pod.Namespace + "/" + pod.Name }
