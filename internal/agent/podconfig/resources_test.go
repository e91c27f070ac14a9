package podconfig

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/internal/agent/runtime"
)

func rl(kv ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return l
}

func res(req, lim corev1.ResourceList) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{Requests: req, Limits: lim}
}

func TestComputeQOSClass(t *testing.T) {
	tests := []struct {
		name       string
		containers []corev1.ResourceRequirements
		init       []corev1.ResourceRequirements
		podLevel   *corev1.ResourceRequirements
		want       corev1.PodQOSClass
	}{
		{name: "nothing", containers: []corev1.ResourceRequirements{{}}, want: corev1.PodQOSBestEffort},
		{name: "only extended resources", containers: []corev1.ResourceRequirements{res(rl("nvidia.com/gpu", "1"), rl("nvidia.com/gpu", "1"))}, want: corev1.PodQOSBestEffort},
		{name: "zero quantities", containers: []corev1.ResourceRequirements{res(rl("cpu", "0"), rl("memory", "0"))}, want: corev1.PodQOSBestEffort},
		{name: "equal requests and limits", containers: []corev1.ResourceRequirements{
			res(rl("cpu", "100m", "memory", "64Mi"), rl("cpu", "100m", "memory", "64Mi")),
			res(rl("cpu", "1", "memory", "1Gi"), rl("cpu", "1", "memory", "1Gi")),
		}, want: corev1.PodQOSGuaranteed},
		{name: "limits only (requests defaulted by the API are absent here)", containers: []corev1.ResourceRequirements{res(nil, rl("cpu", "1", "memory", "1Gi"))}, want: corev1.PodQOSBurstable},
		{name: "one container without limits", containers: []corev1.ResourceRequirements{
			res(rl("cpu", "1", "memory", "1Gi"), rl("cpu", "1", "memory", "1Gi")), {},
		}, want: corev1.PodQOSBurstable},
		{name: "cpu limit only", containers: []corev1.ResourceRequirements{res(rl("cpu", "1"), rl("cpu", "1"))}, want: corev1.PodQOSBurstable},
		{name: "request below limit", containers: []corev1.ResourceRequirements{res(rl("cpu", "500m", "memory", "1Gi"), rl("cpu", "1", "memory", "1Gi"))}, want: corev1.PodQOSBurstable},
		{name: "init container breaks guarantee", containers: []corev1.ResourceRequirements{res(rl("cpu", "1", "memory", "1Gi"), rl("cpu", "1", "memory", "1Gi"))},
			init: []corev1.ResourceRequirements{res(rl("cpu", "1"), nil)}, want: corev1.PodQOSBurstable},
		{name: "pod level guaranteed", containers: []corev1.ResourceRequirements{{}},
			podLevel: &corev1.ResourceRequirements{Requests: rl("cpu", "1", "memory", "1Gi"), Limits: rl("cpu", "1", "memory", "1Gi")}, want: corev1.PodQOSGuaranteed},
		{name: "pod level burstable", containers: []corev1.ResourceRequirements{res(rl("cpu", "1", "memory", "1Gi"), rl("cpu", "1", "memory", "1Gi"))},
			podLevel: &corev1.ResourceRequirements{Requests: rl("cpu", "1")}, want: corev1.PodQOSBurstable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{Resources: tc.podLevel}}
			for _, r := range tc.containers {
				pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Resources: r})
			}
			for _, r := range tc.init {
				pod.Spec.InitContainers = append(pod.Spec.InitContainers, corev1.Container{Resources: r})
			}
			if got := ComputeQOSClass(pod); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
			pod.Status.QOSClass = "Recorded"
			if got := QOSClass(pod); got != "Recorded" {
				t.Fatalf("QOSClass ignores status: %s", got)
			}
		})
	}
}

func TestContainerResources(t *testing.T) {
	const gi = int64(1 << 30)
	tests := []struct {
		name  string
		pods  []corev1.ResourceRequirements // the pod's containers; the first is measured
		prio  *int32
		class string
		want  runtime.Resources
	}{
		{name: "best effort", pods: []corev1.ResourceRequirements{{}},
			want: runtime.Resources{CPUShares: 2, CPUPeriod: 100000, OOMScoreAdj: 1000}},
		{name: "guaranteed", pods: []corev1.ResourceRequirements{res(rl("cpu", "500m", "memory", "256Mi"), rl("cpu", "500m", "memory", "256Mi"))},
			want: runtime.Resources{CPUShares: 512, CPUQuota: 50000, CPUPeriod: 100000, MemoryLimit: 256 << 20, OOMScoreAdj: -997}},
		{name: "burstable: 1Gi of 4Gi", pods: []corev1.ResourceRequirements{res(rl("cpu", "2", "memory", "1Gi"), rl("cpu", "4"))},
			want: runtime.Resources{CPUShares: 2048, CPUQuota: 400000, CPUPeriod: 100000, OOMScoreAdj: 750}},
		{name: "burstable: limit only sets shares", pods: []corev1.ResourceRequirements{res(nil, rl("cpu", "250m"))},
			want: runtime.Resources{CPUShares: 256, CPUQuota: 25000, CPUPeriod: 100000, OOMScoreAdj: 999}},
		{name: "burstable: tiny cpu", pods: []corev1.ResourceRequirements{res(rl("cpu", "1m"), rl("cpu", "1m"))},
			want: runtime.Resources{CPUShares: 2, CPUQuota: 1000, CPUPeriod: 100000, OOMScoreAdj: 999}},
		{name: "burstable: huge request floors at 3", pods: []corev1.ResourceRequirements{res(rl("memory", "8Gi"), nil)},
			want: runtime.Resources{CPUShares: 2, CPUPeriod: 100000, OOMScoreAdj: 3}},
		{name: "max shares", pods: []corev1.ResourceRequirements{res(rl("cpu", "1000"), nil)},
			want: runtime.Resources{CPUShares: 262144, CPUPeriod: 100000, OOMScoreAdj: 999}},
		{name: "node critical", pods: []corev1.ResourceRequirements{{}}, prio: ptr.To[int32](2000001000), class: "system-node-critical",
			want: runtime.Resources{CPUShares: 2, CPUPeriod: 100000, OOMScoreAdj: -997}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{Priority: tc.prio, PriorityClassName: tc.class}}
			for _, r := range tc.pods {
				pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Resources: r})
			}
			got := ContainerResources(pod, &pod.Spec.Containers[0], 4*gi)
			if *got != tc.want {
				t.Fatalf("got  %+v\nwant %+v", *got, tc.want)
			}
		})
	}
}
