package podendpoints

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestFindPort(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{
		{Ports: []corev1.ContainerPort{{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP}}},
		{Ports: []corev1.ContainerPort{{Name: "dns", ContainerPort: 5353, Protocol: corev1.ProtocolTCP}, {Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}},
	}}}
	tests := []struct {
		name string
		sp   corev1.ServicePort
		want int32
		err  bool
	}{
		{"number", corev1.ServicePort{Port: 80, TargetPort: intstr.FromInt32(9090), Protocol: corev1.ProtocolTCP}, 9090, false},
		{"unset is the port", corev1.ServicePort{Port: 80, Protocol: corev1.ProtocolTCP}, 80, false},
		{"name", corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}, 8080, false},
		{"name by protocol", corev1.ServicePort{Port: 53, TargetPort: intstr.FromString("dns"), Protocol: corev1.ProtocolUDP}, 53, false},
		{"name by protocol tcp", corev1.ServicePort{Port: 53, TargetPort: intstr.FromString("dns"), Protocol: corev1.ProtocolTCP}, 5353, false},
		{"missing name", corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("grpc"), Protocol: corev1.ProtocolTCP}, 0, true},
	}
	for _, tc := range tests {
		got, err := FindPort(pod, &tc.sp)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("%s: %d, %v; want %d (error %v)", tc.name, got, err, tc.want, tc.err)
		}
	}
}

func TestIncludeAndHostname(t *testing.T) {
	now := metav1.Now()
	running := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1"}}
	deleting := running.DeepCopy()
	deleting.DeletionTimestamp = &now
	done := running.DeepCopy()
	done.Status.Phase = corev1.PodFailed
	noIP := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending}}
	for _, tc := range []struct {
		name        string
		pod         *corev1.Pod
		terminating bool
		want        bool
	}{
		{"running", running, false, true},
		{"terminating excluded", deleting, false, false},
		{"terminating included", deleting, true, true},
		{"finished", done, true, false},
		{"no IP", noIP, true, false},
	} {
		if got := Include(tc.pod, tc.terminating); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "ns"}}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns"}, Spec: corev1.PodSpec{Hostname: "db-0", Subdomain: "db"}}
	if Hostname(p, svc) != "db-0" {
		t.Error("hostname not set for matching subdomain")
	}
	p.Spec.Subdomain = "other"
	if Hostname(p, svc) != "" {
		t.Error("hostname set for another subdomain")
	}
}

func TestTriggerTime(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(t0)}}
	pod := func(name string, readyAt time.Time) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.PodStatus{Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(readyAt)}}}}
	}
	tr := NewTriggerTimeTracker()
	pods := []*corev1.Pod{pod("a", t0.Add(time.Minute))}
	got, _ := tr.Compute("k", svc, pods)
	if !got.Equal(t0) {
		t.Fatalf("first: %v, want the service's creation", got)
	}
	// Not committed (the write failed): the retry gets the same time.
	got, commit := tr.Compute("k", svc, pods)
	if !got.Equal(t0) {
		t.Fatalf("retry: %v, want the service's creation", got)
	}
	commit()
	if got, _ := tr.Compute("k", svc, pods); !got.IsZero() {
		t.Fatalf("unchanged: %v, want zero", got)
	}
	got, _ = tr.Compute("k", svc, []*corev1.Pod{pod("a", t0.Add(3*time.Minute)), pod("b", t0.Add(2*time.Minute))})
	if !got.Equal(t0.Add(2 * time.Minute)) {
		t.Fatalf("two changes: %v, want the earliest", got)
	}
}
