package podconfig

import (
	corev1 "k8s.io/api/core/v1"

	"skiff.dev/skiff/internal/agent/runtime"
)

// DefaultPodPidsLimit is the agent's pod PID limit when none is given.
// Upstream's kubelet leaves pods unlimited (-1), which lets one pod's
// fork bomb take every PID of the node (pid_max is 32768 on many
// kernels) and stop the agent, containerd and every other pod from
// forking. 4096 is OpenShift's default podPidsLimit: far above what
// ordinary workloads use (threads count, and a busy JVM has a few hundred
// to a couple of thousand), far below a node's pid_max, so several pods
// must misbehave at once to exhaust the node.
const DefaultPodPidsLimit = 4096

// PodCgroupResources returns the settings of the pod's own cgroup
// (kubepods[/<qos>]/pod<uid>), as upstream's kubelet computes them with
// cgroupsPerQOS (cm.ResourceConfigForPod):
//
//   - CPU shares from the pod's CPU requests (2, the minimum, for
//     BestEffort pods);
//   - a CFS quota from the pod's CPU limits, only when every container
//     has one (Guaranteed pods always do); 0 otherwise (no quota);
//   - a memory limit, the sum of the limits plus the pod's overhead,
//     only when every container has one; 0 otherwise (no limit);
//   - PidsLimit: podPidsLimit when positive, 0 (unlimited) otherwise.
//
// The pod's requests and limits count init containers as upstream
// does: the largest of the regular containers' sum (sidecars included)
// and each init container's (with the sidecars started before it), plus
// spec.overhead. Pod-level resources, when set, replace the containers'
// for the resources they name.
func PodCgroupResources(pod *corev1.Pod, podPidsLimit int64) *runtime.Resources {
	requests, limits := podRequests(pod), podLimits(pod)
	cpuLimited, memLimited := true, true
	for _, c := range pod.Spec.Containers {
		if c.Resources.Limits.Cpu().IsZero() {
			cpuLimited = false
		}
		if c.Resources.Limits.Memory().IsZero() {
			memLimited = false
		}
	}
	if pr := pod.Spec.Resources; pr != nil {
		if q, ok := pr.Limits[corev1.ResourceCPU]; ok && !q.IsZero() {
			cpuLimited = true
		}
		if q, ok := pr.Limits[corev1.ResourceMemory]; ok && !q.IsZero() {
			memLimited = true
		}
	}
	out := &runtime.Resources{CPUShares: minShares}
	if podPidsLimit > 0 {
		out.PidsLimit = podPidsLimit
	}
	switch QOSClass(pod) {
	case corev1.PodQOSBestEffort:
		return out
	case corev1.PodQOSGuaranteed:
		cpuLimited, memLimited = true, true
	}
	out.CPUShares = MilliCPUToShares(requests.Cpu().MilliValue())
	if cpuLimited {
		out.CPUQuota = MilliCPUToQuota(limits.Cpu().MilliValue(), QuotaPeriod)
		out.CPUPeriod = QuotaPeriod
	}
	if memLimited {
		out.MemoryLimit = limits.Memory().Value()
	}
	return out
}

// PodCPURequestMilli is the pod's CPU request in millicores, as
// PodCgroupResources counts it: the Burstable tier's cpu.shares are the
// sum over its pods.
func PodCPURequestMilli(pod *corev1.Pod) int64 {
	requests := podRequests(pod)
	return requests.Cpu().MilliValue()
}

// podRequests is the pod's effective requests (upstream's
// resource.PodRequests). A container with a limit but no request counts
// its limit, as the API's defaulting would have made it.
func podRequests(pod *corev1.Pod) corev1.ResourceList {
	return podTotal(pod, func(r corev1.ResourceRequirements) corev1.ResourceList {
		out := r.Requests.DeepCopy()
		if out == nil {
			out = corev1.ResourceList{}
		}
		for name, q := range r.Limits {
			if _, ok := out[name]; !ok {
				out[name] = q.DeepCopy()
			}
		}
		return out
	}, func(pr *corev1.ResourceRequirements) corev1.ResourceList { return pr.Requests })
}

// podLimits is the pod's effective limits (upstream's resource.PodLimits).
func podLimits(pod *corev1.Pod) corev1.ResourceList {
	return podTotal(pod, func(r corev1.ResourceRequirements) corev1.ResourceList { return r.Limits },
		func(pr *corev1.ResourceRequirements) corev1.ResourceList { return pr.Limits })
}

// podTotal aggregates one side (requests or limits) of the pod's
// containers: regular containers and sidecars add up; an init container
// runs alone beside the sidecars before it, so the pod needs the largest
// of those sums. Overhead is added; pod-level values win.
func podTotal(pod *corev1.Pod, of func(corev1.ResourceRequirements) corev1.ResourceList, podLevel func(*corev1.ResourceRequirements) corev1.ResourceList) corev1.ResourceList {
	total := corev1.ResourceList{}
	for _, c := range pod.Spec.Containers {
		addList(total, of(c.Resources))
	}
	sidecars, initMax := corev1.ResourceList{}, corev1.ResourceList{}
	for _, c := range pod.Spec.InitContainers {
		var during corev1.ResourceList
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			addList(total, of(c.Resources))
			addList(sidecars, of(c.Resources))
			during = sidecars.DeepCopy()
		} else {
			during = sidecars.DeepCopy()
			addList(during, of(c.Resources))
		}
		maxList(initMax, during)
	}
	maxList(total, initMax)
	if pr := pod.Spec.Resources; pr != nil {
		for name, q := range podLevel(pr) {
			if qosResource(name) {
				total[name] = q.DeepCopy()
			}
		}
	}
	addList(total, pod.Spec.Overhead)
	return total
}

func addList(dst, src corev1.ResourceList) {
	for name, q := range src {
		sum := q.DeepCopy()
		if prev, ok := dst[name]; ok {
			sum.Add(prev)
		}
		dst[name] = sum
	}
}

func maxList(dst, src corev1.ResourceList) {
	for name, q := range src {
		if prev, ok := dst[name]; !ok || q.Cmp(prev) > 0 {
			dst[name] = q.DeepCopy()
		}
	}
}
