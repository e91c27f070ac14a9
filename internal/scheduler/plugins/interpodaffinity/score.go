package interpodaffinity

import (
	"context"
	"math"

	v1 "k8s.io/api/core/v1"

	"skiff.dev/skiff/internal/scheduler/framework"
)

const scoreKey = Name + "/prescore"

// scoreState sums weights per topology key and value.
type scoreState map[string]map[string]int64

func (s scoreState) Clone() framework.StateData { return s }

func (s scoreState) add(key string, node *v1.Node, w int64) {
	v, ok := node.Labels[key]
	if !ok || w == 0 {
		return
	}
	m := s[key]
	if m == nil {
		m = map[string]int64{}
		s[key] = m
	}
	m[v] += w
}

// PreScore sums, per topology domain, the preferred terms of the pod that
// existing pods match and the terms of existing pods the pod matches.
func (pl *InterPodAffinity) PreScore(_ context.Context, state *framework.CycleState, pod *framework.PodInfo, _ []*framework.NodeInfo, snap *framework.Snapshot) *framework.Status {
	hasPreferred := len(pod.PreferredAffinity)+len(pod.PreferredAntiAffinity) > 0
	if !hasPreferred && len(snap.WithAffinity) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	nodes := snap.WithAffinity
	if hasPreferred {
		nodes = snap.Nodes
	}
	podNs := pl.nsLabels(pod.Pod.Namespace)
	s := scoreState{}
	for _, n := range nodes {
		pods := n.PodsWithAffinity
		if hasPreferred {
			pods = n.Pods
		}
		for _, ex := range pods {
			if hasPreferred {
				exNs := pl.nsLabels(ex.Pod.Namespace)
				for i := range pod.PreferredAffinity {
					if t := &pod.PreferredAffinity[i]; t.Matches(ex.Pod, exNs) {
						s.add(t.TopologyKey, n.Node, int64(t.Weight))
					}
				}
				for i := range pod.PreferredAntiAffinity {
					if t := &pod.PreferredAntiAffinity[i]; t.Matches(ex.Pod, exNs) {
						s.add(t.TopologyKey, n.Node, -int64(t.Weight))
					}
				}
			}
			for i := range ex.RequiredAffinity {
				if t := &ex.RequiredAffinity[i]; t.Matches(pod.Pod, podNs) {
					s.add(t.TopologyKey, n.Node, hardPodAffinityWeight)
				}
			}
			for i := range ex.PreferredAffinity {
				if t := &ex.PreferredAffinity[i]; t.Matches(pod.Pod, podNs) {
					s.add(t.TopologyKey, n.Node, int64(t.Weight))
				}
			}
			for i := range ex.PreferredAntiAffinity {
				if t := &ex.PreferredAntiAffinity[i]; t.Matches(pod.Pod, podNs) {
					s.add(t.TopologyKey, n.Node, -int64(t.Weight))
				}
			}
		}
	}
	if len(s) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	state.Write(scoreKey, s)
	return nil
}

// Score sums the weights of node's domains.
func (pl *InterPodAffinity) Score(_ context.Context, state *framework.CycleState, _ *framework.PodInfo, node *framework.NodeInfo) (int64, *framework.Status) {
	s, _ := state.Read(scoreKey).(scoreState)
	var sum int64
	for key, byValue := range s {
		if v, ok := node.Node.Labels[key]; ok {
			sum += byValue[v]
		}
	}
	return sum, nil
}

// NormalizeScore maps [min, max] to [0, 100]; all equal gives 0.
func (pl *InterPodAffinity) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *framework.PodInfo, scores []framework.NodeScore) *framework.Status {
	if len(scores) == 0 {
		return nil
	}
	min, max := int64(math.MaxInt64), int64(math.MinInt64)
	for _, s := range scores {
		if s.Score < min {
			min = s.Score
		}
		if s.Score > max {
			max = s.Score
		}
	}
	diff := max - min
	for i := range scores {
		f := 0.0
		if diff > 0 {
			f = float64(framework.MaxNodeScore) * float64(scores[i].Score-min) / float64(diff)
		}
		scores[i].Score = int64(f)
	}
	return nil
}
