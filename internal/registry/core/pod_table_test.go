package core

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPodRow(t *testing.T) {
	created := metav1.NewTime(testNow.Add(-3 * time.Hour))
	base := func() *corev1.Pod {
		p := validPod()
		p.CreationTimestamp = created
		return p
	}
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	cases := []struct {
		name   string
		mutate func(*corev1.Pod)
		want   []interface{}
	}{
		{"pending", func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending },
			[]interface{}{"web", "0/1", "Pending", "0", "3h", "<none>", "<none>", "<none>", "<none>"}},
		{"running and ready", func(p *corev1.Pod) {
			p.Spec.NodeName = "n1"
			p.Status.Phase = corev1.PodRunning
			p.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.7"}}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "nginx", Ready: true, State: running, RestartCount: 2,
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: metav1.NewTime(testNow.Add(-5 * time.Minute))}}}}
		}, []interface{}{"web", "1/1", "Running", "2 (5m ago)", "3h", "10.0.0.7", "n1", "<none>", "<none>"}},
		{"container creating", func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodPending
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "nginx", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}
		}, []interface{}{"web", "0/1", "ContainerCreating", "0", "3h", "<none>", "<none>", "<none>", "<none>"}},
		{"crash loop", func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "nginx", RestartCount: 4, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}
		}, []interface{}{"web", "0/1", "CrashLoopBackOff", "4", "3h", "<none>", "<none>", "<none>", "<none>"}},
		{"init progress", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "i1"}, {Name: "i2"}}
			p.Status.Phase = corev1.PodPending
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{
				{Name: "i1", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}},
				{Name: "i2", State: running},
			}
		}, []interface{}{"web", "0/1", "Init:1/2", "0", "3h", "<none>", "<none>", "<none>", "<none>"}},
		{"init failing", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "i1"}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{
				{Name: "i1", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}
		}, []interface{}{"web", "0/1", "Init:CrashLoopBackOff", "0", "3h", "<none>", "<none>", "<none>", "<none>"}},
		{"completed", func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodSucceeded
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "nginx", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}}}
		}, []interface{}{"web", "0/1", "Completed", "0", "3h", "<none>", "<none>", "<none>", "<none>"}},
		{"error exit", func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodFailed
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "nginx", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3}}}}
		}, []interface{}{"web", "0/1", "ExitCode:3", "0", "3h", "<none>", "<none>", "<none>", "<none>"}},
		{"terminating", func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			now := metav1.NewTime(testNow)
			p.DeletionTimestamp = &now
		}, []interface{}{"web", "0/1", "Terminating", "0", "3h", "<none>", "<none>", "<none>", "<none>"}},
		{"sidecar counts", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "proxy", RestartPolicy: ptr(corev1.ContainerRestartPolicyAlways)}}
			p.Status.Phase = corev1.PodRunning
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "proxy", Ready: true, Started: ptr(true), State: running}}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "nginx", Ready: true, State: running}}
		}, []interface{}{"web", "2/2", "Running", "0", "3h", "<none>", "<none>", "<none>", "<none>"}},
		{"readiness gates", func(p *corev1.Pod) {
			p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "a"}, {ConditionType: "b"}}
			p.Status.Phase = corev1.PodRunning
			p.Status.Conditions = []corev1.PodCondition{{Type: "a", Status: corev1.ConditionTrue}}
		}, []interface{}{"web", "0/1", "Running", "0", "3h", "<none>", "<none>", "<none>", "1/2"}},
		{"scheduling gated", func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodPending
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Reason: "SchedulingGated"}}
		}, []interface{}{"web", "0/1", "SchedulingGated", "0", "3h", "<none>", "<none>", "<none>", "<none>"}},
	}
	s := podStrategy{testClock}
	if n := len(s.ColumnDefinitions()); n != 9 {
		t.Fatalf("columns = %d", n)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := base()
			tc.mutate(p)
			if got := s.Row(p); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("row:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}
