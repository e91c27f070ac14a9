package podtopologyspread

import (
	"context"
	"math"

	v1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"skiff.dev/skiff/internal/scheduler/framework"
)

const scoreKey = Name + "/prescore"

type scoreState struct {
	constraints []constraint
	ignored     map[string]bool
	// counts[i] maps a domain of a non-hostname constraint to its
	// matching pods; hostname domains are counted on the node in Score.
	counts  []map[string]int64
	weights []float64
}

func (s *scoreState) Clone() framework.StateData { return s }

// PreScore picks the constraints (the pod's ScheduleAnyway ones, or the
// system defaults over its workload's selector), and counts matching
// pods per domain across all nodes.
func (pl *PodTopologySpread) PreScore(_ context.Context, state *framework.CycleState, pod *framework.PodInfo, feasible []*framework.NodeInfo, snap *framework.Snapshot) *framework.Status {
	var cs []constraint
	requireAll := len(pod.Pod.Spec.TopologySpreadConstraints) > 0
	if requireAll {
		var err error
		if cs, err = buildConstraints(pod.Pod, pod.Pod.Spec.TopologySpreadConstraints, v1.ScheduleAnyway, nil); err != nil {
			return framework.AsStatus(err)
		}
	} else if pl.Workloads != nil {
		if sel := pl.Workloads.SelectorFor(pod.Pod); sel != nil && !sel.Empty() {
			cs, _ = buildConstraints(pod.Pod, systemDefaults, v1.ScheduleAnyway, sel)
		}
	}
	if len(cs) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	s := &scoreState{constraints: cs, ignored: map[string]bool{}, counts: make([]map[string]int64, len(cs)), weights: make([]float64, len(cs))}
	for i := range s.counts {
		s.counts[i] = map[string]int64{}
	}
	for _, n := range feasible {
		if requireAll && !hasKeys(n.Node, cs) {
			s.ignored[n.Node.Name] = true
			continue
		}
		for i := range cs {
			if cs[i].key == v1.LabelHostname {
				continue
			}
			if v, ok := n.Node.Labels[cs[i].key]; ok {
				s.counts[i][v] += 0
			}
		}
	}
	for i := range cs {
		size := len(s.counts[i])
		if cs[i].key == v1.LabelHostname {
			size = len(feasible) - len(s.ignored)
		}
		s.weights[i] = math.Log(float64(size + 2))
	}
	affinity := nodeaffinity.GetRequiredNodeAffinity(pod.Pod)
	if !requireAll && allEligible(pod.Pod, cs) {
		for i := range cs {
			c := &cs[i]
			if c.key == v1.LabelHostname || len(s.counts[i]) == 0 {
				continue
			}
			totals := pl.domains.totals(c, pod.Pod.Namespace, snap)
			for v := range s.counts[i] {
				s.counts[i][v] = totals[v]
			}
		}
		state.Write(scoreKey, s)
		return nil
	}
	for _, n := range snap.Nodes {
		// An empty node adds nothing; most nodes are empty while a large
		// workload is being placed.
		if len(n.Pods) == 0 || requireAll && !hasKeys(n.Node, cs) {
			continue
		}
		for i := range cs {
			c := &cs[i]
			if c.key == v1.LabelHostname || len(s.counts[i]) == 0 {
				continue
			}
			v, ok := n.Node.Labels[c.key]
			if !ok {
				continue
			}
			if _, tracked := s.counts[i][v]; !tracked || !c.eligible(pod.Pod, affinity, n.Node) {
				continue
			}
			s.counts[i][v] += c.countMatching(n, pod.Pod.Namespace)
		}
	}
	state.Write(scoreKey, s)
	return nil
}

// allEligible reports whether every node is eligible for pod under the
// constraints' inclusion policies: the pod has no required node affinity
// or node selector where affinity is honoured, and taints are not.
func allEligible(pod *v1.Pod, cs []constraint) bool {
	noAffinity := len(pod.Spec.NodeSelector) == 0 &&
		(pod.Spec.Affinity == nil || pod.Spec.Affinity.NodeAffinity == nil || pod.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil)
	for i := range cs {
		if cs[i].honorTaints || cs[i].honorAffinity && !noAffinity {
			return false
		}
	}
	return true
}

// Score is higher for more matching pods in node's domains (Normalize
// reverses it): count × log(domains+2) + maxSkew - 1 per constraint.
func (pl *PodTopologySpread) Score(_ context.Context, state *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) (int64, *framework.Status) {
	s, ok := state.Read(scoreKey).(*scoreState)
	if !ok || s.ignored[node.Node.Name] {
		return 0, nil
	}
	var score float64
	for i := range s.constraints {
		c := &s.constraints[i]
		v, ok := node.Node.Labels[c.key]
		if !ok {
			continue
		}
		var cnt int64
		if c.key == v1.LabelHostname {
			cnt = c.countMatching(node, pod.Pod.Namespace)
		} else {
			cnt = s.counts[i][v]
		}
		score += float64(cnt)*s.weights[i] + float64(c.maxSkew-1)
	}
	return int64(math.Round(score)), nil
}

// NormalizeScore: fewer matching pods scores higher; ignored nodes get 0.
func (pl *PodTopologySpread) NormalizeScore(_ context.Context, state *framework.CycleState, _ *framework.PodInfo, scores []framework.NodeScore) *framework.Status {
	s, ok := state.Read(scoreKey).(*scoreState)
	if !ok {
		return nil
	}
	min, max := int64(math.MaxInt64), int64(0)
	for _, sc := range scores {
		if s.ignored[sc.Name] {
			continue
		}
		if sc.Score < min {
			min = sc.Score
		}
		if sc.Score > max {
			max = sc.Score
		}
	}
	for i := range scores {
		switch {
		case s.ignored[scores[i].Name]:
			scores[i].Score = 0
		case max == 0:
			scores[i].Score = framework.MaxNodeScore
		default:
			scores[i].Score = framework.MaxNodeScore * (max + min - scores[i].Score) / max
		}
	}
	return nil
}
