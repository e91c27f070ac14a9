package agent

import (
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/internal/agent/cgroups"
	"skiff.dev/skiff/internal/agent/podconfig"
	"skiff.dev/skiff/internal/agent/runtime"
)

// PodCgroups keeps pods' cgroups (cgroups.Manager). The agent gives each
// pod's sandbox its cgroup as CgroupParent, sets the pod's totals on it
// before the sandbox starts and removes it once the pod's sandboxes are
// gone.
type PodCgroups interface {
	Init(nodeMilliCPU int64) error
	SetBurstableShares(milliCPU int64) error
	PodPath(qos corev1.PodQOSClass, uid types.UID) string
	EnsurePod(qos corev1.PodQOSClass, uid types.UID, limits cgroups.Limits) (string, error)
	RemovePod(uid types.UID) error
}

var _ PodCgroups = (*cgroups.Manager)(nil)

// initCgroups creates the QoS tiers. A node whose cgroups cannot be
// written runs its pods without pod cgroups (as before there were any),
// and says so.
func (a *Agent) initCgroups() {
	if a.cgroups == nil {
		return
	}
	_, allocatable := a.machine.capacity()
	if err := a.cgroups.Init(allocatable.Cpu().MilliValue()); err != nil {
		a.log.Error("pod cgroups disabled: pods run without pod-level limits (no pod PID limit)", "err", err)
		a.cgroups = nil
		return
	}
	a.updateBurstableShares()
}

// podCgroupParent is the CgroupParent of the pod's sandbox ("" without
// pod cgroups). containerd also reads it from the sandbox configuration
// given with each CreateContainer, so it is set on every configuration.
func (a *Agent) podCgroupParent(pod *corev1.Pod) string {
	if a.cgroups == nil {
		return ""
	}
	return a.cgroups.PodPath(podconfig.QOSClass(pod), pod.UID)
}

// ensurePodCgroup creates the pod's cgroup with its limits (the QoS
// tier's shares first, the pod now counting), before its sandbox runs.
func (a *Agent) ensurePodCgroup(pod *corev1.Pod) error {
	if a.cgroups == nil {
		return nil
	}
	if podconfig.QOSClass(pod) == corev1.PodQOSBurstable {
		a.updateBurstableShares()
	}
	r := podconfig.PodCgroupResources(pod, a.cfg.PodPidsLimit)
	_, err := a.cgroups.EnsurePod(podconfig.QOSClass(pod), pod.UID, cgroupLimits(r))
	return err
}

func cgroupLimits(r *runtime.Resources) cgroups.Limits {
	return cgroups.Limits{
		CPUShares: r.CPUShares, CPUQuota: r.CPUQuota, CPUPeriod: r.CPUPeriod,
		MemoryBytes: r.MemoryLimit, PidsMax: r.PidsLimit,
	}
}

// updateBurstableShares sets the burstable tier's cpu.shares to its
// active pods' CPU requests, as upstream's QoS manager does.
func (a *Agent) updateBurstableShares() {
	var milli int64
	for _, obj := range a.pods.GetStore().List() {
		pod, ok := obj.(*corev1.Pod)
		// The informer may be shared by several nodes (Config.Shared).
		if !ok || pod.Spec.NodeName != a.cfg.NodeName || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		if podconfig.QOSClass(pod) == corev1.PodQOSBurstable {
			milli += podconfig.PodCPURequestMilli(pod)
		}
	}
	if err := a.cgroups.SetBurstableShares(milli); err != nil {
		a.log.Warn("set burstable cpu shares", "err", err)
	}
}

// removePodCgroup removes the cgroup of a pod whose sandboxes are gone.
// cgroups.ErrBusy (a process still inside) is returned for a retry.
func (a *Agent) removePodCgroup(uid types.UID) error {
	if a.cgroups == nil {
		return nil
	}
	if err := a.cgroups.RemovePod(uid); err != nil {
		if !errors.Is(err, cgroups.ErrBusy) {
			a.log.Warn("remove pod cgroup", "pod", uid, "err", err)
		}
		return fmt.Errorf("remove pod cgroup: %w", err)
	}
	return nil
}
