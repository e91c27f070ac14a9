package podconfig

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/internal/agent/runtime"
)

func TestPodCgroupResources(t *testing.T) {
	const mi = 1 << 20
	sidecar := ptr.To(corev1.ContainerRestartPolicyAlways)
	tests := []struct {
		name       string
		containers []corev1.ResourceRequirements
		init       []corev1.Container
		overhead   corev1.ResourceList
		podLevel   *corev1.ResourceRequirements
		pids       int64
		want       runtime.Resources
	}{
		{name: "best effort: minimum shares, no quota, no memory limit, the PID limit",
			containers: []corev1.ResourceRequirements{{}, {}}, pids: 4096,
			want: runtime.Resources{CPUShares: 2, PidsLimit: 4096}},
		{name: "unlimited PIDs (-1)", containers: []corev1.ResourceRequirements{{}}, pids: -1,
			want: runtime.Resources{CPUShares: 2}},
		{name: "best effort with overhead keeps the minimum", containers: []corev1.ResourceRequirements{{}},
			overhead: rl("cpu", "250m", "memory", "120Mi"),
			want:     runtime.Resources{CPUShares: 2}},
		{name: "guaranteed: sums of requests and limits", pids: 100, containers: []corev1.ResourceRequirements{
			res(rl("cpu", "100m", "memory", "64Mi"), rl("cpu", "100m", "memory", "64Mi")),
			res(rl("cpu", "1", "memory", "1Gi"), rl("cpu", "1", "memory", "1Gi")),
		}, want: runtime.Resources{CPUShares: 1126, CPUQuota: 110000, CPUPeriod: 100000, MemoryLimit: 1088 * mi, PidsLimit: 100}},
		{name: "guaranteed with overhead", containers: []corev1.ResourceRequirements{
			res(rl("cpu", "1", "memory", "1Gi"), rl("cpu", "1", "memory", "1Gi")),
		}, overhead: rl("cpu", "250m", "memory", "120Mi"),
			want: runtime.Resources{CPUShares: 1280, CPUQuota: 125000, CPUPeriod: 100000, MemoryLimit: 1144 * mi}},
		{name: "burstable, every container limited: quota and memory limit", containers: []corev1.ResourceRequirements{
			res(rl("cpu", "100m", "memory", "32Mi"), rl("cpu", "200m", "memory", "64Mi")),
			res(rl("cpu", "100m"), rl("cpu", "300m", "memory", "64Mi")),
		}, want: runtime.Resources{CPUShares: 204, CPUQuota: 50000, CPUPeriod: 100000, MemoryLimit: 128 * mi}},
		{name: "burstable, one container without limits: shares only", containers: []corev1.ResourceRequirements{
			res(rl("cpu", "500m", "memory", "32Mi"), rl("cpu", "1", "memory", "64Mi")),
			res(rl("cpu", "250m"), nil),
		}, want: runtime.Resources{CPUShares: 768}},
		{name: "burstable, memory limited everywhere, cpu not", containers: []corev1.ResourceRequirements{
			res(rl("cpu", "100m"), rl("memory", "64Mi")),
			res(nil, rl("memory", "16Mi")),
		}, want: runtime.Resources{CPUShares: 102, MemoryLimit: 80 * mi}},
		{name: "a limit without a request counts as the request", containers: []corev1.ResourceRequirements{
			res(nil, rl("cpu", "1")),
		}, want: runtime.Resources{CPUShares: 1024, CPUQuota: 100000, CPUPeriod: 100000}},
		{name: "an init container larger than the containers sets the totals",
			containers: []corev1.ResourceRequirements{res(rl("cpu", "100m", "memory", "64Mi"), rl("cpu", "100m", "memory", "64Mi"))},
			init:       []corev1.Container{{Resources: res(rl("cpu", "2", "memory", "1Gi"), rl("cpu", "2", "memory", "1Gi"))}},
			want:       runtime.Resources{CPUShares: 2048, CPUQuota: 200000, CPUPeriod: 100000, MemoryLimit: 1024 * mi}},
		{name: "sidecars add to the containers and to later init containers",
			containers: []corev1.ResourceRequirements{res(rl("cpu", "100m", "memory", "64Mi"), rl("cpu", "100m", "memory", "64Mi"))},
			init: []corev1.Container{
				{RestartPolicy: sidecar, Resources: res(rl("cpu", "100m", "memory", "64Mi"), rl("cpu", "100m", "memory", "64Mi"))},
				{Resources: res(rl("cpu", "150m", "memory", "16Mi"), rl("cpu", "150m", "memory", "16Mi"))},
			},
			// containers+sidecar = 200m/128Mi; init beside the sidecar = 250m/80Mi.
			want: runtime.Resources{CPUShares: 256, CPUQuota: 25000, CPUPeriod: 100000, MemoryLimit: 128 * mi}},
		{name: "pod-level resources replace the containers'", containers: []corev1.ResourceRequirements{{}},
			podLevel: &corev1.ResourceRequirements{Requests: rl("cpu", "500m", "memory", "256Mi"), Limits: rl("cpu", "1", "memory", "512Mi")},
			want:     runtime.Resources{CPUShares: 512, CPUQuota: 100000, CPUPeriod: 100000, MemoryLimit: 512 * mi}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{Overhead: tc.overhead, Resources: tc.podLevel, InitContainers: tc.init}}
			for _, r := range tc.containers {
				pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Resources: r})
			}
			got := PodCgroupResources(pod, tc.pids)
			if *got != tc.want {
				t.Errorf("PodCgroupResources = %+v, want %+v", *got, tc.want)
			}
		})
	}
}

func TestPodCPURequestMilli(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Resources: res(rl("cpu", "250m"), nil)}, {Resources: res(nil, rl("cpu", "500m"))}},
		Overhead:   rl("cpu", "10m"),
	}}
	if got := PodCPURequestMilli(pod); got != 760 {
		t.Errorf("PodCPURequestMilli = %d, want 760", got)
	}
}
