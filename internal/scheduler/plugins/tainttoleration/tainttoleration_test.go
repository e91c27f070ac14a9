package tainttoleration

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/scheduler/framework"
)

func TestTaintToleration(t *testing.T) {
	taint := func(k, v string, e v1.TaintEffect) v1.Taint { return v1.Taint{Key: k, Value: v, Effect: e} }
	tests := []struct {
		name   string
		taints []v1.Taint
		tols   []v1.Toleration
		code   framework.Code
		score  int64 // raw PreferNoSchedule count
	}{
		{"no taints", nil, nil, framework.Success, 0},
		{"untolerated NoSchedule", []v1.Taint{taint("dedicated", "gpu", v1.TaintEffectNoSchedule)}, nil, framework.UnschedulableAndUnresolvable, 0},
		{"untolerated NoExecute", []v1.Taint{taint("k", "", v1.TaintEffectNoExecute)}, nil, framework.UnschedulableAndUnresolvable, 0},
		{"tolerated by Equal", []v1.Taint{taint("dedicated", "gpu", v1.TaintEffectNoSchedule)},
			[]v1.Toleration{{Key: "dedicated", Operator: v1.TolerationOpEqual, Value: "gpu", Effect: v1.TaintEffectNoSchedule}}, framework.Success, 0},
		{"tolerated by Exists without effect", []v1.Taint{taint("dedicated", "gpu", v1.TaintEffectNoSchedule)},
			[]v1.Toleration{{Key: "dedicated", Operator: v1.TolerationOpExists}}, framework.Success, 0},
		{"wrong value", []v1.Taint{taint("dedicated", "gpu", v1.TaintEffectNoSchedule)},
			[]v1.Toleration{{Key: "dedicated", Operator: v1.TolerationOpEqual, Value: "cpu"}}, framework.UnschedulableAndUnresolvable, 0},
		{"PreferNoSchedule only scores", []v1.Taint{taint("a", "", v1.TaintEffectPreferNoSchedule), taint("b", "", v1.TaintEffectPreferNoSchedule)},
			[]v1.Toleration{{Key: "a", Operator: v1.TolerationOpExists}}, framework.Success, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := framework.NewPodInfo(&v1.Pod{Spec: v1.PodSpec{Tolerations: tt.tols}}, 0)
			node := framework.NewNodeInfo(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Spec: v1.NodeSpec{Taints: tt.taints}})
			st := TaintToleration{}.Filter(context.Background(), nil, pod, node)
			if st.Code() != tt.code {
				t.Fatalf("filter = %v %q, want %v", st.Code(), st.Reasons(), tt.code)
			}
			if !st.IsSuccess() && st.Message() != ErrReasonUntolerated {
				t.Errorf("reason %q", st.Message())
			}
			state := framework.NewCycleState()
			TaintToleration{}.PreScore(context.Background(), state, pod, nil, nil)
			if got, _ := (TaintToleration{}).Score(context.Background(), state, pod, node); got != tt.score {
				t.Errorf("score = %d, want %d", got, tt.score)
			}
		})
	}
}

func TestNormalizeReverses(t *testing.T) {
	scores := []framework.NodeScore{{Name: "a", Score: 0}, {Name: "b", Score: 1}, {Name: "c", Score: 2}}
	TaintToleration{}.NormalizeScore(context.Background(), nil, nil, scores)
	if scores[0].Score != 100 || scores[1].Score != 50 || scores[2].Score != 0 {
		t.Fatalf("normalized %+v", scores)
	}
}
