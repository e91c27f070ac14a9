// Package tainttoleration is the TaintToleration plug-in: it filters out
// nodes with a NoSchedule or NoExecute taint the pod does not tolerate,
// and scores nodes by how few PreferNoSchedule taints the pod does not
// tolerate.
package tainttoleration

import (
	"context"

	"github.com/go-logr/logr"
	v1 "k8s.io/api/core/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"

	"skiff.dev/skiff/internal/scheduler/framework"
)

// Name is the plug-in's name, as upstream.
const Name = "TaintToleration"

// ErrReasonUntolerated is kube-scheduler 1.37's reason text (older
// releases named the taint; 1.37 does not, so counts aggregate).
const ErrReasonUntolerated = "node(s) had untolerated taint(s)"

// TaintToleration is the plug-in.
type TaintToleration struct{}

var (
	_ framework.FilterPlugin    = TaintToleration{}
	_ framework.PreScorePlugin  = TaintToleration{}
	_ framework.ScorePlugin     = TaintToleration{}
	_ framework.ScoreNormalizer = TaintToleration{}
)

func (TaintToleration) Name() string { return Name }

func doNotSchedule(t *v1.Taint) bool {
	return t.Effect == v1.TaintEffectNoSchedule || t.Effect == v1.TaintEffectNoExecute
}

// Filter rejects a node with an untolerated NoSchedule/NoExecute taint.
func (TaintToleration) Filter(_ context.Context, _ *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	if len(node.Node.Spec.Taints) == 0 {
		return nil
	}
	if _, untolerated := corev1helpers.FindMatchingUntoleratedTaint(logr.Discard(), node.Node.Spec.Taints, pod.Pod.Spec.Tolerations, doNotSchedule, false); untolerated {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonUntolerated)
	}
	return nil
}

const stateKey = Name + "/prescore"

type preScoreState []v1.Toleration

func (s preScoreState) Clone() framework.StateData { return s }

// PreScore keeps the tolerations that apply to PreferNoSchedule.
func (TaintToleration) PreScore(_ context.Context, state *framework.CycleState, pod *framework.PodInfo, _ []*framework.NodeInfo, _ *framework.Snapshot) *framework.Status {
	var tols preScoreState
	for _, t := range pod.Pod.Spec.Tolerations {
		if t.Effect == "" || t.Effect == v1.TaintEffectPreferNoSchedule {
			tols = append(tols, t)
		}
	}
	state.Write(stateKey, tols)
	return nil
}

// Score counts the PreferNoSchedule taints the pod does not tolerate;
// NormalizeScore reverses it so fewer is better.
func (TaintToleration) Score(_ context.Context, state *framework.CycleState, _ *framework.PodInfo, node *framework.NodeInfo) (int64, *framework.Status) {
	tols, _ := state.Read(stateKey).(preScoreState)
	var n int64
	for i := range node.Node.Spec.Taints {
		t := &node.Node.Spec.Taints[i]
		if t.Effect == v1.TaintEffectPreferNoSchedule && !corev1helpers.TolerationsTolerateTaint(logr.Discard(), tols, t, false) {
			n++
		}
	}
	return n, nil
}

func (TaintToleration) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *framework.PodInfo, scores []framework.NodeScore) *framework.Status {
	framework.DefaultNormalizeScore(true, scores)
	return nil
}
