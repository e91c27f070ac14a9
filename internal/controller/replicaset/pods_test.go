package replicaset

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

type podOpt func(*corev1.Pod)

func onNode(n string) podOpt { return func(p *corev1.Pod) { p.Spec.NodeName = n } }
func phase(ph corev1.PodPhase) podOpt {
	return func(p *corev1.Pod) { p.Status.Phase = ph }
}
func readyAt(t time.Time) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t)}}
	}
}
func created(t time.Time) podOpt {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(t) }
}
func restarts(n int32) podOpt {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", RestartCount: n}}
	}
}
func cost(v string) podOpt {
	return func(p *corev1.Pod) { p.Annotations = map[string]string{podDeletionCostAnnotation: v} }
}

func pod(name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name)}}
	p.Status.Phase = corev1.PodRunning
	for _, o := range opts {
		o(p)
	}
	return p
}

func TestPodsToDeleteRanking(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	hourAgo, dayAgo := now.Add(-time.Hour), now.Add(-24*time.Hour)
	tests := []struct {
		name  string
		pods  []*corev1.Pod
		first string // the pod deleted first
	}{
		{"unassigned before assigned", []*corev1.Pod{pod("a", onNode("n")), pod("b")}, "b"},
		{"pending before unknown before running", []*corev1.Pod{
			pod("run", onNode("n"), phase(corev1.PodRunning)), pod("unk", onNode("n"), phase(corev1.PodUnknown)),
		}, "unk"},
		{"pending first", []*corev1.Pod{
			pod("unk", onNode("n"), phase(corev1.PodUnknown)), pod("pend", onNode("n"), phase(corev1.PodPending)),
		}, "pend"},
		{"not ready before ready", []*corev1.Pod{pod("r", onNode("n"), readyAt(hourAgo)), pod("nr", onNode("n"))}, "nr"},
		{"lower deletion cost first", []*corev1.Pod{
			pod("hi", onNode("n"), cost("10")), pod("lo", onNode("m"), cost("-5")),
		}, "lo"},
		{"doubled up first", []*corev1.Pod{
			pod("alone", onNode("n1"), readyAt(dayAgo)), pod("dbl", onNode("n2"), readyAt(dayAgo)), pod("dbl2", onNode("n2"), readyAt(dayAgo)),
		}, "dbl"},
		{"ready for less time first", []*corev1.Pod{
			pod("old", onNode("n1"), readyAt(dayAgo)), pod("new", onNode("n2"), readyAt(now.Add(-time.Minute))),
		}, "new"},
		{"more restarts first", []*corev1.Pod{pod("calm", onNode("n1"), restarts(0)), pod("crashy", onNode("n2"), restarts(5))}, "crashy"},
		{"newer first", []*corev1.Pod{pod("old", onNode("n1"), created(dayAgo)), pod("young", onNode("n2"), created(now.Add(-time.Minute)))}, "young"},
		{"same log-scale age: UID order", []*corev1.Pod{
			pod("b", onNode("n1"), created(now.Add(-40*time.Minute))), pod("a", onNode("n2"), created(now.Add(-50*time.Minute))),
		}, "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := podsToDelete(tt.pods, tt.pods, 1, now)
			if len(got) != 1 || got[0].Name != tt.first {
				t.Fatalf("deleted %v first, want %s", got[0].Name, tt.first)
			}
		})
	}
}

func TestSlowStartBatch(t *testing.T) {
	var calls atomic.Int32
	n, err := slowStartBatch(10, 1, func() error { calls.Add(1); return nil })
	if n != 10 || err != nil || calls.Load() != 10 {
		t.Fatalf("got %d %v calls %d", n, err, calls.Load())
	}
	// Failing from the 4th call: batches 1, 2 succeed; batch of 4 has
	// failures; nothing after.
	calls.Store(0)
	n, err = slowStartBatch(100, 1, func() error {
		if calls.Add(1) > 3 {
			return errors.New("quota")
		}
		return nil
	})
	if err == nil || n != 3 || calls.Load() != 7 {
		t.Fatalf("got %d successes, %d calls, err %v; want 3, 7, error", n, calls.Load(), err)
	}
}
