package nodelifecycle

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestMarkUnknown(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	hb := metav1.NewTime(now.Add(-time.Minute))
	ready := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: hb}
	tests := []struct {
		name    string
		in      []corev1.NodeCondition
		changed bool
		ready   corev1.NodeCondition
	}{
		{name: "ready goes unknown", in: []corev1.NodeCondition{ready}, changed: true,
			ready: corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: "NodeStatusUnknown", Message: "Kubelet stopped posting node status.", LastHeartbeatTime: hb, LastTransitionTime: metav1.NewTime(now)}},
		{name: "never posted", in: nil, changed: true,
			ready: corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: "NodeStatusNeverUpdated", Message: "Kubelet never posted node status.", LastHeartbeatTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, changed := MarkUnknown(tc.in, now)
			if changed != tc.changed {
				t.Fatalf("changed %v", changed)
			}
			if len(out) != 4 {
				t.Fatalf("%d conditions, want Ready and three pressures", len(out))
			}
			got := out[indexOf(out, corev1.NodeReady)]
			if fmt.Sprint(got) != fmt.Sprint(tc.ready) {
				t.Fatalf("ready\n got %v\nwant %v", got, tc.ready)
			}
			// A second pass changes nothing.
			if _, again := MarkUnknown(out, now.Add(time.Second)); again {
				t.Fatal("changed again")
			}
		})
	}
}

func TestDesiredTaints(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	earlier := metav1.NewTime(now.Add(-time.Hour))
	node := func(ready corev1.ConditionStatus, unschedulable bool, taints ...corev1.Taint) *corev1.Node {
		return &corev1.Node{Spec: corev1.NodeSpec{Unschedulable: unschedulable, Taints: taints},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready}}}}
	}
	user := corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}
	tests := []struct {
		name    string
		node    *corev1.Node
		want    string
		changed bool
	}{
		{name: "ready, none", node: node(corev1.ConditionTrue, false), want: "[]"},
		{name: "unknown", node: node(corev1.ConditionUnknown, false), changed: true,
			want: "[node.kubernetes.io/unreachable:NoExecute@now node.kubernetes.io/unreachable:NoSchedule]"},
		{name: "false", node: node(corev1.ConditionFalse, false, user), changed: true,
			want: "[dedicated=gpu:NoSchedule node.kubernetes.io/not-ready:NoExecute@now node.kubernetes.io/not-ready:NoSchedule]"},
		{name: "unknown to false swaps", node: node(corev1.ConditionFalse, false,
			corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &earlier},
			corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule}), changed: true,
			want: "[node.kubernetes.io/not-ready:NoExecute@now node.kubernetes.io/not-ready:NoSchedule]"},
		{name: "kept taint keeps its time", node: node(corev1.ConditionUnknown, false,
			corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &earlier},
			corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule}),
			want: "[node.kubernetes.io/unreachable:NoExecute@earlier node.kubernetes.io/unreachable:NoSchedule]"},
		{name: "back to ready clears", node: node(corev1.ConditionTrue, false, user,
			corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &earlier}), changed: true,
			want: "[dedicated=gpu:NoSchedule]"},
		{name: "cordoned", node: node(corev1.ConditionTrue, true), changed: true, want: "[node.kubernetes.io/unschedulable:NoSchedule]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, changed := DesiredTaints(tc.node, now)
			var s []string
			for _, t := range out {
				x := t.ToString()
				if t.TimeAdded != nil {
					if t.TimeAdded.Time.Equal(now) {
						x += "@now"
					} else {
						x += "@earlier"
					}
				}
				s = append(s, x)
			}
			if got := fmt.Sprint(s); got != tc.want && !(tc.want == "[]" && len(s) == 0) || changed != tc.changed {
				t.Fatalf("got %v changed=%v, want %s changed=%v", s, changed, tc.want, tc.changed)
			}
		})
	}
}

func TestEvictionDelay(t *testing.T) {
	secs := func(n int64) *int64 { return &n }
	unreachable := []corev1.Taint{{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}}
	both := append([]corev1.Taint{{Key: "maintenance", Value: "x", Effect: corev1.TaintEffectNoExecute}}, unreachable...)
	tol := func(key string, s *int64) corev1.Toleration {
		return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: s}
	}
	tests := []struct {
		name    string
		tols    []corev1.Toleration
		taints  []corev1.Taint
		delay   time.Duration
		forever bool
	}{
		{name: "no toleration: at once", taints: unreachable},
		{name: "default 300 s", tols: []corev1.Toleration{tol(corev1.TaintNodeUnreachable, secs(300))}, taints: unreachable, delay: 300 * time.Second},
		{name: "without seconds: forever", tols: []corev1.Toleration{tol(corev1.TaintNodeUnreachable, nil)}, taints: unreachable, forever: true},
		{name: "one taint untolerated", tols: []corev1.Toleration{tol(corev1.TaintNodeUnreachable, secs(300))}, taints: both},
		{name: "smallest used", tols: []corev1.Toleration{tol(corev1.TaintNodeUnreachable, secs(300)), tol("maintenance", secs(60))}, taints: both, delay: time.Minute},
		{name: "tolerate everything", tols: []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, taints: both, forever: true},
		{name: "negative is zero", tols: []corev1.Toleration{tol(corev1.TaintNodeUnreachable, secs(-5))}, taints: unreachable},
		{name: "NoSchedule toleration does not count", tols: []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}, taints: unreachable},
		{name: "Equal needs the value", tols: []corev1.Toleration{{Key: "maintenance", Value: "y", Effect: corev1.TaintEffectNoExecute}, tol(corev1.TaintNodeUnreachable, nil)}, taints: both},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, f := EvictionDelay(tc.tols, tc.taints)
			if d != tc.delay || f != tc.forever {
				t.Fatalf("delay %v forever %v, want %v %v", d, f, tc.delay, tc.forever)
			}
		})
	}
}
