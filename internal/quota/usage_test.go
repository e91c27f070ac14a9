package quota

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func res(cpu, mem string) corev1.ResourceList {
	l := corev1.ResourceList{}
	if cpu != "" {
		l[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		l[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	return l
}

func container(req, lim corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: "c", Resources: corev1.ResourceRequirements{Requests: req, Limits: lim}}
}

func TestPodUsage(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	sidecar := container(res("200m", ""), nil)
	sidecar.RestartPolicy = &always
	tests := []struct {
		name string
		pod  corev1.PodSpec
		want map[corev1.ResourceName]string
	}{
		{name: "containers summed", pod: corev1.PodSpec{Containers: []corev1.Container{container(res("100m", "64Mi"), res("1", "128Mi")), container(res("250m", ""), nil)}},
			want: map[corev1.ResourceName]string{"pods": "1", "cpu": "350m", "requests.cpu": "350m", "memory": "64Mi", "requests.memory": "64Mi", "limits.cpu": "1", "limits.memory": "128Mi"}},
		{name: "big init container wins", pod: corev1.PodSpec{InitContainers: []corev1.Container{container(res("2", ""), nil)}, Containers: []corev1.Container{container(res("100m", ""), nil)}},
			want: map[corev1.ResourceName]string{"requests.cpu": "2"}},
		{name: "sidecar adds up", pod: corev1.PodSpec{InitContainers: []corev1.Container{sidecar}, Containers: []corev1.Container{container(res("100m", ""), nil)}},
			want: map[corev1.ResourceName]string{"requests.cpu": "300m"}},
		{name: "overhead", pod: corev1.PodSpec{Overhead: res("50m", ""), Containers: []corev1.Container{container(res("100m", ""), nil)}},
			want: map[corev1.ResourceName]string{"requests.cpu": "150m"}},
		{name: "extended resource", pod: corev1.PodSpec{Containers: []corev1.Container{container(corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("2")}, nil)}},
			want: map[corev1.ResourceName]string{"requests.nvidia.com/gpu": "2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := PodUsage(&corev1.Pod{Spec: tc.pod})
			for name, want := range tc.want {
				q, ok := got[name]
				if !ok || q.Cmp(resource.MustParse(want)) != 0 {
					t.Errorf("%s = %v, want %s", name, q.String(), want)
				}
			}
		})
	}
}

func TestPodCounts(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	grace := int64(30)
	deleting := func(ago time.Duration) *corev1.Pod {
		ts := metav1.NewTime(now.Add(-ago))
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &ts, DeletionGracePeriodSeconds: &grace}}
	}
	tests := []struct {
		name string
		pod  *corev1.Pod
		want bool
	}{
		{"running", &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning}}, true},
		{"succeeded", &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}, false},
		{"failed", &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed}}, false},
		{"terminating within grace", deleting(10 * time.Second), true},
		{"terminating past grace", deleting(time.Minute), false},
	}
	for _, tc := range tests {
		if got := PodCounts(tc.pod, now); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestScopes(t *testing.T) {
	ads := int64(60)
	be := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{container(nil, nil)}}}
	burst := &corev1.Pod{Spec: corev1.PodSpec{ActiveDeadlineSeconds: &ads, PriorityClassName: "high", Containers: []corev1.Container{container(res("1", ""), nil)}}}
	quota := func(scopes []corev1.ResourceQuotaScope, sel ...corev1.ScopedResourceSelectorRequirement) *corev1.ResourceQuota {
		q := &corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Scopes: scopes}}
		if len(sel) > 0 {
			q.Spec.ScopeSelector = &corev1.ScopeSelector{MatchExpressions: sel}
		}
		return q
	}
	tests := []struct {
		name      string
		q         *corev1.ResourceQuota
		be, burst bool
	}{
		{"no scopes", quota(nil), true, true},
		{"BestEffort", quota([]corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}), true, false},
		{"NotBestEffort", quota([]corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeNotBestEffort}), false, true},
		{"Terminating", quota([]corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeTerminating}), false, true},
		{"NotTerminating", quota([]corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeNotTerminating}), true, false},
		{"PriorityClass In", quota(nil, corev1.ScopedResourceSelectorRequirement{ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpIn, Values: []string{"high"}}), false, true},
		{"PriorityClass DoesNotExist", quota(nil, corev1.ScopedResourceSelectorRequirement{ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpDoesNotExist}), true, false},
	}
	for _, tc := range tests {
		if got := PodMatchesScopes(be, tc.q); got != tc.be {
			t.Errorf("%s: best-effort pod %v, want %v", tc.name, got, tc.be)
		}
		if got := PodMatchesScopes(burst, tc.q); got != tc.burst {
			t.Errorf("%s: burstable pod %v, want %v", tc.name, got, tc.burst)
		}
	}
}

func TestServiceUsage(t *testing.T) {
	ports := []corev1.ServicePort{{Port: 80}, {Port: 443}}
	u := ServiceUsage(&corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: ports}})
	lb, np := u[corev1.ResourceServicesLoadBalancers], u[corev1.ResourceServicesNodePorts]
	if lb.Value() != 1 || np.Value() != 2 {
		t.Fatalf("load balancer: lbs %v nodeports %v", lb.Value(), np.Value())
	}
	u = ServiceUsage(&corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Ports: ports}})
	np = u[corev1.ResourceServicesNodePorts]
	if np.Value() != 0 {
		t.Fatalf("cluster IP uses %v node ports", np.Value())
	}
}

func TestPVCUsage(t *testing.T) {
	gold := "gold"
	for _, tc := range []struct {
		name  string
		class *string
		want  map[corev1.ResourceName]string
	}{
		{name: "no class", want: map[corev1.ResourceName]string{
			"persistentvolumeclaims": "1", "count/persistentvolumeclaims": "1", "requests.storage": "1Gi",
		}},
		{name: "class", class: &gold, want: map[corev1.ResourceName]string{
			"persistentvolumeclaims": "1", "count/persistentvolumeclaims": "1", "requests.storage": "1Gi",
			"gold.storageclass.storage.k8s.io/persistentvolumeclaims": "1",
			"gold.storageclass.storage.k8s.io/requests.storage":       "1Gi",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pvc := &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{
				StorageClassName: tc.class,
				Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			}}
			got := PVCUsage(pvc)
			if len(got) != len(tc.want) {
				t.Fatalf("usage %v, want %v", got, tc.want)
			}
			for name, v := range tc.want {
				if q := got[name]; q.Cmp(resource.MustParse(v)) != 0 {
					t.Errorf("%s = %s, want %s", name, q.String(), v)
				}
			}
			if !IsStorageClassResource("gold.storageclass.storage.k8s.io/requests.storage") || IsStorageClassResource("requests.storage") {
				t.Error("IsStorageClassResource")
			}
		})
	}
}
