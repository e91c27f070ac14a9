package disruption

import (
	"errors"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestCompute(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pod := func(name string, ready bool, deleting bool) *corev1.Pod {
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
			Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}}}
		if deleting {
			ts := metav1.NewTime(now)
			p.DeletionTimestamp = &ts
		}
		return p
	}
	three := []*corev1.Pod{pod("a", true, false), pod("b", true, false), pod("c", false, false)}
	scale := func(n int32) func([]*corev1.Pod) (int32, error) {
		return func([]*corev1.Pod) (int32, error) { return n, nil }
	}
	iv, pv := intstr.FromInt32, intstr.FromString
	ptr := func(v intstr.IntOrString) *intstr.IntOrString { return &v }
	tests := []struct {
		name      string
		spec      policyv1.PodDisruptionBudgetSpec
		disrupted map[string]metav1.Time
		pods      []*corev1.Pod
		scale     func([]*corev1.Pod) (int32, error)
		want      string // expected/desired/current/allowed
		err       bool
	}{
		{name: "minAvailable number", spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr(iv(1))}, pods: three, want: "3/1/2/1"},
		{name: "minAvailable not met", spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr(iv(3))}, pods: three, want: "3/3/2/0"},
		{name: "minAvailable percent rounds up", spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr(pv("50%"))}, pods: three, scale: scale(3), want: "3/2/2/0"},
		{name: "maxUnavailable number", spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr(iv(1))}, pods: three, scale: scale(4), want: "4/3/2/0"},
		{name: "maxUnavailable percent", spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr(pv("50%"))}, pods: three, scale: scale(3), want: "3/1/2/1"},
		{name: "maxUnavailable beyond scale", spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr(iv(5))}, pods: three, scale: scale(3), want: "3/0/2/2"},
		{name: "no pods", spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr(iv(0))}, want: "0/0/0/0"},
		{name: "deleting pods are not healthy", spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr(iv(1))},
			pods: []*corev1.Pod{pod("a", true, true), pod("b", true, false)}, want: "2/1/1/0"},
		{name: "recent disruption counts as unhealthy", spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr(iv(1))},
			disrupted: map[string]metav1.Time{"a": metav1.NewTime(now.Add(-time.Minute))}, pods: three, want: "3/1/1/0"},
		{name: "expired disruption forgotten", spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr(iv(1))},
			disrupted: map[string]metav1.Time{"a": metav1.NewTime(now.Add(-3 * time.Minute))}, pods: three, want: "3/1/2/1"},
		{name: "unknown controller", spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr(iv(1))}, pods: three,
			scale: func([]*corev1.Pod) (int32, error) { return 0, errors.New("found no controller ref") }, err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pdb := &policyv1.PodDisruptionBudget{Spec: tc.spec, Status: policyv1.PodDisruptionBudgetStatus{DisruptedPods: tc.disrupted}}
			b, err := Compute(pdb, tc.pods, tc.scale, now)
			if tc.err {
				if err == nil {
					t.Fatal("no error")
				}
				st := FailSafe(pdb, err)
				if st.DisruptionsAllowed != 0 || st.Conditions[0].Reason != policyv1.SyncFailedReason {
					t.Fatalf("fail-safe status %+v", st)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprintf("%d/%d/%d/%d", b.Expected, b.DesiredHealthy, b.CurrentHealthy, b.DisruptionsAllowed); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
			st := Status(pdb, b)
			wantCond := policyv1.InsufficientPodsReason
			if b.DisruptionsAllowed > 0 {
				wantCond = policyv1.SufficientPodsReason
			}
			if len(st.Conditions) != 1 || st.Conditions[0].Type != policyv1.DisruptionAllowedCondition || st.Conditions[0].Reason != wantCond {
				t.Fatalf("conditions %+v", st.Conditions)
			}
		})
	}
}
