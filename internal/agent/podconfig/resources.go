package podconfig

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"skiff.dev/skiff/internal/agent/runtime"
)

// cgroup v1 CPU constants, as upstream's kubelet uses them.
const (
	minShares     = 2
	maxShares     = 262144
	sharesPerCPU  = 1024
	milliCPUToCPU = 1000
	// QuotaPeriod is the CFS period in microseconds (100ms).
	QuotaPeriod    = 100000
	minQuotaPeriod = 1000
)

// OOM score adjustments per QoS tier.
const (
	guaranteedOOMScoreAdj = -997
	besteffortOOMScoreAdj = 1000
)

// ContainerResources returns the container's cgroup settings as upstream
// computes them on cgroup v1: CPU shares from the request (the limit when
// only a limit is set; minimum 2), a CFS quota from the limit over a
// 100ms period (0, unlimited, without a limit), the memory limit, and the
// OOM score adjustment of the pod's QoS class. memoryCapacity is the
// node's memory in bytes (for the Burstable OOM score).
func ContainerResources(pod *corev1.Pod, c *corev1.Container, memoryCapacity int64) *runtime.Resources {
	cpuReq := c.Resources.Requests.Cpu()
	cpuLim := c.Resources.Limits.Cpu()
	var shares int64
	if cpuReq.IsZero() && !cpuLim.IsZero() {
		shares = MilliCPUToShares(cpuLim.MilliValue())
	} else {
		shares = MilliCPUToShares(cpuReq.MilliValue())
	}
	return &runtime.Resources{
		CPUShares:   shares,
		CPUQuota:    MilliCPUToQuota(cpuLim.MilliValue(), QuotaPeriod),
		CPUPeriod:   QuotaPeriod,
		MemoryLimit: c.Resources.Limits.Memory().Value(),
		OOMScoreAdj: OOMScoreAdj(pod, c, memoryCapacity),
	}
}

// MilliCPUToShares converts a CPU request to cgroup v1 cpu.shares. Zero
// maps to the minimum (2), not the kernel's default of 1024.
func MilliCPUToShares(milliCPU int64) int64 {
	if milliCPU == 0 {
		return minShares
	}
	shares := milliCPU * sharesPerCPU / milliCPUToCPU
	return min(max(shares, minShares), maxShares)
}

// MilliCPUToQuota converts a CPU limit to a CFS quota over period (both in
// microseconds); 0 means no limit. The quota is at least 1ms.
func MilliCPUToQuota(milliCPU, period int64) int64 {
	if milliCPU == 0 {
		return 0
	}
	return max(milliCPU*period/milliCPUToCPU, minQuotaPeriod)
}

// OOMScoreAdj returns the container's oom_score_adj: -997 for Guaranteed
// pods and node-critical pods, 1000 for BestEffort, and for Burstable
// 1000 - 1000*memoryRequest/memoryCapacity, kept within [3, 999].
func OOMScoreAdj(pod *corev1.Pod, c *corev1.Container, memoryCapacity int64) int64 {
	if isNodeCritical(pod) {
		return guaranteedOOMScoreAdj
	}
	switch QOSClass(pod) {
	case corev1.PodQOSGuaranteed:
		return guaranteedOOMScoreAdj
	case corev1.PodQOSBestEffort:
		return besteffortOOMScoreAdj
	}
	if memoryCapacity <= 0 {
		return besteffortOOMScoreAdj - 1
	}
	adj := 1000 - (1000*c.Resources.Requests.Memory().Value())/memoryCapacity
	// A Guaranteed container using all memory scores about 3; keep
	// Burstable above it, and below BestEffort.
	if adj < 1000+guaranteedOOMScoreAdj {
		return 1000 + guaranteedOOMScoreAdj
	}
	if adj == besteffortOOMScoreAdj {
		return adj - 1
	}
	return adj
}

// systemCriticalPriority is the priority from which a pod is critical.
const systemCriticalPriority = 2 * 1000000000

func isNodeCritical(pod *corev1.Pod) bool {
	return pod.Spec.PriorityClassName == "system-node-critical" &&
		pod.Spec.Priority != nil && *pod.Spec.Priority >= systemCriticalPriority
}

// QOSClass returns the pod's QoS class: status.qosClass when set (it is
// immutable once set), otherwise ComputeQOSClass.
func QOSClass(pod *corev1.Pod) corev1.PodQOSClass {
	if pod.Status.QOSClass != "" {
		return pod.Status.QOSClass
	}
	return ComputeQOSClass(pod)
}

// ComputeQOSClass classifies a pod by upstream's rules, over cpu and memory
// only: BestEffort when no container (init containers included) requests
// or limits either; Guaranteed when every container limits both and the
// pod's summed requests equal its summed limits; Burstable otherwise.
// Pod-level resources, when set, are used instead of the containers'.
func ComputeQOSClass(pod *corev1.Pod) corev1.PodQOSClass {
	requests := corev1.ResourceList{}
	limits := corev1.ResourceList{}
	guaranteed := true
	add := func(list corev1.ResourceList, name corev1.ResourceName, q resource.Quantity) {
		sum := q.DeepCopy()
		if prev, ok := list[name]; ok {
			sum.Add(prev)
		}
		list[name] = sum
	}
	account := func(r corev1.ResourceRequirements) {
		for name, q := range r.Requests {
			if qosResource(name) && q.Sign() > 0 {
				add(requests, name, q)
			}
		}
		found := 0
		for name, q := range r.Limits {
			if qosResource(name) && q.Sign() > 0 {
				found++
				add(limits, name, q)
			}
		}
		if found < 2 {
			guaranteed = false
		}
	}
	if pr := pod.Spec.Resources; pr != nil {
		for name, q := range pr.Requests {
			if qosResource(name) && q.Sign() > 0 {
				add(requests, name, q)
			}
		}
		if len(pr.Limits) > 0 {
			account(corev1.ResourceRequirements{Limits: pr.Limits})
		}
	} else {
		for _, cs := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
			for _, c := range cs {
				account(c.Resources)
			}
		}
	}
	if len(requests) == 0 && len(limits) == 0 {
		return corev1.PodQOSBestEffort
	}
	if guaranteed {
		for name, req := range requests {
			if lim, ok := limits[name]; !ok || lim.Cmp(req) != 0 {
				guaranteed = false
				break
			}
		}
	}
	if guaranteed && len(requests) == len(limits) {
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

func qosResource(name corev1.ResourceName) bool {
	return name == corev1.ResourceCPU || name == corev1.ResourceMemory
}
