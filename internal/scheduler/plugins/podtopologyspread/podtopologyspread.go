// Package podtopologyspread is the PodTopologySpread plug-in: a pod's
// DoNotSchedule constraints filter nodes by skew (maxSkew, minDomains,
// nodeAffinityPolicy and nodeTaintsPolicy with upstream's defaults); its
// ScheduleAnyway constraints, or, when it has none, upstream's system
// default constraints over its workload's selector, score nodes so the
// workload spreads across hosts and zones.
package podtopologyspread

import (
	"context"
	"math"

	"github.com/go-logr/logr"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"skiff.dev/skiff/internal/scheduler/framework"
)

// Name is the plug-in's name, as upstream.
const Name = "PodTopologySpread"

// Upstream's reason texts.
const (
	ErrReasonConstraintsNotMatch = "node(s) didn't match pod topology spread constraints"
	ErrReasonNodeLabelNotMatch   = ErrReasonConstraintsNotMatch + " (missing required label)"
)

// WorkloadSelector returns the selector of the workload a pod belongs to
// (its services, replication controller, replica set or stateful set,
// as upstream's DefaultSelector), or an empty selector. It must be safe
// for concurrent use.
type WorkloadSelector interface {
	SelectorFor(pod *v1.Pod) labels.Selector
}

// PodTopologySpread is the plug-in. Workloads may be nil: then pods
// without constraints are not spread by default.
type PodTopologySpread struct {
	Workloads WorkloadSelector

	domains domainCounts
}

var (
	_ framework.PreFilterPlugin     = (*PodTopologySpread)(nil)
	_ framework.FilterPlugin        = (*PodTopologySpread)(nil)
	_ framework.PreFilterExtensions = (*PodTopologySpread)(nil)
	_ framework.PreScorePlugin      = (*PodTopologySpread)(nil)
	_ framework.ScorePlugin         = (*PodTopologySpread)(nil)
	_ framework.ScoreNormalizer     = (*PodTopologySpread)(nil)
)

func (*PodTopologySpread) Name() string { return Name }

// systemDefaults are upstream's default constraints for pods without
// their own (zone skew 5, host skew 3, ScheduleAnyway).
var systemDefaults = []v1.TopologySpreadConstraint{
	{TopologyKey: v1.LabelTopologyZone, WhenUnsatisfiable: v1.ScheduleAnyway, MaxSkew: 5},
	{TopologyKey: v1.LabelHostname, WhenUnsatisfiable: v1.ScheduleAnyway, MaxSkew: 3},
}

type constraint struct {
	maxSkew       int64
	key           string
	selector      labels.Selector
	selectorKey   string // selector.String(), for NodeInfo.CountMatching
	minDomains    int64
	honorAffinity bool
	honorTaints   bool
}

func buildConstraints(pod *v1.Pod, in []v1.TopologySpreadConstraint, action v1.UnsatisfiableConstraintAction, sel labels.Selector) ([]constraint, error) {
	var out []constraint
	for _, c := range in {
		if c.WhenUnsatisfiable != action {
			continue
		}
		s := sel
		if s == nil {
			var err error
			if s, err = metav1.LabelSelectorAsSelector(c.LabelSelector); err != nil {
				return nil, err
			}
			for _, k := range c.MatchLabelKeys {
				if v, ok := pod.Labels[k]; ok {
					if r, err := labels.NewRequirement(k, "=", []string{v}); err == nil {
						s = s.Add(*r)
					}
				}
			}
		}
		minDomains := int64(1)
		if c.MinDomains != nil {
			minDomains = int64(*c.MinDomains)
		}
		out = append(out, constraint{
			maxSkew: int64(c.MaxSkew), key: c.TopologyKey, selector: s, selectorKey: s.String(), minDomains: minDomains,
			honorAffinity: c.NodeAffinityPolicy == nil || *c.NodeAffinityPolicy == v1.NodeInclusionPolicyHonor,
			honorTaints:   c.NodeTaintsPolicy != nil && *c.NodeTaintsPolicy == v1.NodeInclusionPolicyHonor,
		})
	}
	return out, nil
}

// eligible applies the node inclusion policies.
func (c *constraint) eligible(pod *v1.Pod, affinity nodeaffinity.RequiredNodeAffinity, node *v1.Node) bool {
	if c.honorAffinity {
		if ok, _ := affinity.Match(node); !ok {
			return false
		}
	}
	if c.honorTaints {
		if _, untolerated := corev1helpers.FindMatchingUntoleratedTaint(logr.Discard(), node.Spec.Taints, pod.Spec.Tolerations, func(t *v1.Taint) bool {
			return t.Effect == v1.TaintEffectNoSchedule || t.Effect == v1.TaintEffectNoExecute
		}, false); untolerated {
			return false
		}
	}
	return true
}

func hasKeys(node *v1.Node, cs []constraint) bool {
	for i := range cs {
		if _, ok := node.Labels[cs[i].key]; !ok {
			return false
		}
	}
	return true
}

// countMatching counts the non-terminating pods of namespace ns on n
// that c selects.
func (c *constraint) countMatching(n *framework.NodeInfo, ns string) int64 {
	return n.CountMatching(ns, c.selector, c.selectorKey)
}

const filterKey = Name + "/prefilter"

type filterState struct {
	constraints []constraint
	affinity    nodeaffinity.RequiredNodeAffinity
	// counts[i] maps a domain of constraint i to its matching pods;
	// every eligible domain is present, with zero if empty.
	counts []map[string]int64
	// min[i] is the global minimum used for skew.
	min []int64
}

func (s *filterState) Clone() framework.StateData {
	c := &filterState{constraints: s.constraints, affinity: s.affinity, counts: make([]map[string]int64, len(s.counts)), min: append([]int64(nil), s.min...)}
	for i, m := range s.counts {
		c.counts[i] = make(map[string]int64, len(m))
		for k, v := range m {
			c.counts[i][k] = v
		}
	}
	return c
}

func (s *filterState) recomputeMin(i int) {
	m := s.counts[i]
	if int64(len(m)) < s.constraints[i].minDomains {
		s.min[i] = 0
		return
	}
	min := int64(math.MaxInt32)
	for _, v := range m {
		if v < min {
			min = v
		}
	}
	s.min[i] = min
}

// PreFilter counts matching pods per domain over every eligible node.
func (pl *PodTopologySpread) PreFilter(_ context.Context, state *framework.CycleState, pod *framework.PodInfo, snap *framework.Snapshot) *framework.Status {
	cs, err := buildConstraints(pod.Pod, pod.Pod.Spec.TopologySpreadConstraints, v1.DoNotSchedule, nil)
	if err != nil {
		return framework.AsStatus(err)
	}
	if len(cs) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	s := &filterState{constraints: cs, affinity: nodeaffinity.GetRequiredNodeAffinity(pod.Pod), counts: make([]map[string]int64, len(cs)), min: make([]int64, len(cs))}
	for i := range s.counts {
		s.counts[i] = map[string]int64{}
	}
	for _, n := range snap.Nodes {
		if !hasKeys(n.Node, cs) {
			continue
		}
		for i := range cs {
			if !cs[i].eligible(pod.Pod, s.affinity, n.Node) {
				continue
			}
			s.counts[i][n.Node.Labels[cs[i].key]] += cs[i].countMatching(n, pod.Pod.Namespace)
		}
	}
	for i := range cs {
		s.recomputeMin(i)
	}
	state.Write(filterKey, s)
	return nil
}

// AddPod and RemovePod keep the counts right during preemption's
// simulation.
func (pl *PodTopologySpread) AddPod(state *framework.CycleState, pod, added *framework.PodInfo, node *framework.NodeInfo) {
	pl.update(state, pod, added, node, 1)
}

func (pl *PodTopologySpread) RemovePod(state *framework.CycleState, pod, removed *framework.PodInfo, node *framework.NodeInfo) {
	pl.update(state, pod, removed, node, -1)
}

func (pl *PodTopologySpread) update(state *framework.CycleState, pod, p *framework.PodInfo, node *framework.NodeInfo, delta int64) {
	s, ok := state.Read(filterKey).(*filterState)
	if !ok || p.Pod.Namespace != pod.Pod.Namespace || !hasKeys(node.Node, s.constraints) {
		return
	}
	for i := range s.constraints {
		c := &s.constraints[i]
		if !c.eligible(pod.Pod, s.affinity, node.Node) || !c.selector.Matches(labels.Set(p.Pod.Labels)) {
			continue
		}
		s.counts[i][node.Node.Labels[c.key]] += delta
		s.recomputeMin(i)
	}
}

// Filter rejects a node lacking a constraint's key, or whose domain would
// exceed maxSkew over the global minimum with the pod added.
func (pl *PodTopologySpread) Filter(_ context.Context, state *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	s, ok := state.Read(filterKey).(*filterState)
	if !ok {
		return nil
	}
	podLabels := labels.Set(pod.Pod.Labels)
	for i := range s.constraints {
		c := &s.constraints[i]
		v, ok := node.Node.Labels[c.key]
		if !ok {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonNodeLabelNotMatch)
		}
		var self int64
		if c.selector.Matches(podLabels) {
			self = 1
		}
		if s.counts[i][v]+self-s.min[i] > c.maxSkew {
			return framework.NewStatus(framework.Unschedulable, ErrReasonConstraintsNotMatch)
		}
	}
	return nil
}
