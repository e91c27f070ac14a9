// Package nodeaffinity is the NodeAffinity plug-in: spec.nodeSelector and
// required node affinity filter nodes; preferred node affinity terms
// score them by the sum of the weights they match.
package nodeaffinity

import (
	"context"

	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"skiff.dev/skiff/internal/scheduler/framework"
)

// Name is the plug-in's name, as upstream.
const Name = "NodeAffinity"

// ErrReasonPod is upstream's reason text.
const ErrReasonPod = "node(s) didn't match Pod's node affinity/selector"

// NodeAffinity is the plug-in.
type NodeAffinity struct{}

var (
	_ framework.PreFilterPlugin = NodeAffinity{}
	_ framework.FilterPlugin    = NodeAffinity{}
	_ framework.PreScorePlugin  = NodeAffinity{}
	_ framework.ScorePlugin     = NodeAffinity{}
	_ framework.ScoreNormalizer = NodeAffinity{}
)

func (NodeAffinity) Name() string { return Name }

const (
	filterKey = Name + "/prefilter"
	scoreKey  = Name + "/prescore"
)

type required struct {
	nodeaffinity.RequiredNodeAffinity
}

func (r required) Clone() framework.StateData { return r }

type preferred struct {
	*nodeaffinity.PreferredSchedulingTerms
}

func (p preferred) Clone() framework.StateData { return p }

// PreFilter parses the selector and required terms once; a pod with
// neither skips the filter.
func (NodeAffinity) PreFilter(_ context.Context, state *framework.CycleState, pod *framework.PodInfo, _ *framework.Snapshot) *framework.Status {
	spec := &pod.Pod.Spec
	if len(spec.NodeSelector) == 0 && (spec.Affinity == nil || spec.Affinity.NodeAffinity == nil || spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil) {
		return framework.NewStatus(framework.Skip)
	}
	state.Write(filterKey, required{nodeaffinity.GetRequiredNodeAffinity(pod.Pod)})
	return nil
}

// Filter rejects a node the selector or required terms do not match.
func (NodeAffinity) Filter(_ context.Context, state *framework.CycleState, _ *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	r, ok := state.Read(filterKey).(required)
	if !ok {
		return nil
	}
	if match, _ := r.Match(node.Node); !match {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonPod)
	}
	return nil
}

// PreScore parses the preferred terms; without any, Score is skipped.
func (NodeAffinity) PreScore(_ context.Context, state *framework.CycleState, pod *framework.PodInfo, _ []*framework.NodeInfo, _ *framework.Snapshot) *framework.Status {
	a := pod.Pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || len(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	terms, err := nodeaffinity.NewPreferredSchedulingTerms(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
	if err != nil {
		return framework.AsStatus(err)
	}
	state.Write(scoreKey, preferred{terms})
	return nil
}

// Score sums the weights of the preferred terms node matches.
func (NodeAffinity) Score(_ context.Context, state *framework.CycleState, _ *framework.PodInfo, node *framework.NodeInfo) (int64, *framework.Status) {
	p, ok := state.Read(scoreKey).(preferred)
	if !ok {
		return 0, nil
	}
	return p.Score(node.Node), nil
}

func (NodeAffinity) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *framework.PodInfo, scores []framework.NodeScore) *framework.Status {
	framework.DefaultNormalizeScore(false, scores)
	return nil
}
