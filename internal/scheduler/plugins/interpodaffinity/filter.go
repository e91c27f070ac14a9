// Package interpodaffinity is the InterPodAffinity plug-in: required pod
// affinity and anti-affinity (the pod's own and existing pods'
// anti-affinity towards it) filter nodes by topology domain; preferred
// terms, both ways, score them.
package interpodaffinity

import (
	"context"
	"maps"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"skiff.dev/skiff/internal/scheduler/framework"
)

// Name is the plug-in's name, as upstream.
const Name = "InterPodAffinity"

// Upstream's reason texts.
const (
	ErrReasonExistingAntiAffinityRulesNotMatch = "node(s) didn't satisfy existing pods anti-affinity rules"
	ErrReasonAffinityRulesNotMatch             = "node(s) didn't match pod affinity rules"
	ErrReasonAntiAffinityRulesNotMatch         = "node(s) didn't match pod anti-affinity rules"
)

// hardPodAffinityWeight is upstream's default weight given, in scoring,
// to an existing pod's required affinity term that matches the new pod.
const hardPodAffinityWeight = 1

// NamespaceLabeler gives a namespace's labels, for terms with a
// namespaceSelector. It must be safe for concurrent use.
type NamespaceLabeler interface {
	NamespaceLabels(namespace string) labels.Set
}

// InterPodAffinity is the plug-in. Namespaces may be nil: then a term's
// namespaceSelector matches no namespace unless it is empty.
type InterPodAffinity struct {
	Namespaces NamespaceLabeler
}

var (
	_ framework.PreFilterPlugin     = (*InterPodAffinity)(nil)
	_ framework.FilterPlugin        = (*InterPodAffinity)(nil)
	_ framework.PreFilterExtensions = (*InterPodAffinity)(nil)
	_ framework.PreScorePlugin      = (*InterPodAffinity)(nil)
	_ framework.ScorePlugin         = (*InterPodAffinity)(nil)
	_ framework.ScoreNormalizer     = (*InterPodAffinity)(nil)
)

func (*InterPodAffinity) Name() string { return Name }

func (pl *InterPodAffinity) nsLabels(ns string) labels.Set {
	if pl.Namespaces == nil {
		return labels.Set{}
	}
	return pl.Namespaces.NamespaceLabels(ns)
}

type topologyPair struct{ key, value string }

type counts map[topologyPair]int64

func (c counts) add(terms []framework.AffinityTerm, node *v1.Node, delta int64) {
	for i := range terms {
		if v, ok := node.Labels[terms[i].TopologyKey]; ok {
			c[topologyPair{terms[i].TopologyKey, v}] += delta
		}
	}
}

const filterKey = Name + "/prefilter"

type filterState struct {
	existingAnti counts // existing pods' required anti-affinity matching the pod
	affinity     counts // pods matching all the pod's required affinity terms
	anti         counts // pods matching the pod's required anti-affinity terms
	nsLabels     labels.Set
}

func (s *filterState) Clone() framework.StateData {
	return &filterState{existingAnti: maps.Clone(s.existingAnti), affinity: maps.Clone(s.affinity), anti: maps.Clone(s.anti), nsLabels: s.nsLabels}
}

// PreFilter counts, per topology domain, the existing pods that matter
// to the pod's required terms and the existing anti-affinity towards it.
func (pl *InterPodAffinity) PreFilter(_ context.Context, state *framework.CycleState, pod *framework.PodInfo, snap *framework.Snapshot) *framework.Status {
	if pod.ParseError != nil {
		return framework.AsStatus(pod.ParseError)
	}
	s := &filterState{existingAnti: counts{}, affinity: counts{}, anti: counts{}, nsLabels: pl.nsLabels(pod.Pod.Namespace)}
	for _, n := range snap.WithRequiredAntiAffinity {
		for _, ex := range n.PodsWithRequiredAntiAffinity {
			s.addExisting(pod, ex, n.Node, 1)
		}
	}
	if len(pod.RequiredAffinity)+len(pod.RequiredAntiAffinity) > 0 {
		for _, n := range snap.Nodes {
			for _, ex := range n.Pods {
				pl.addIncoming(s, pod, ex, n.Node, 1)
			}
		}
	} else if len(s.existingAnti) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	state.Write(filterKey, s)
	return nil
}

func (s *filterState) addExisting(pod, ex *framework.PodInfo, node *v1.Node, delta int64) {
	for i := range ex.RequiredAntiAffinity {
		t := &ex.RequiredAntiAffinity[i]
		if t.Matches(pod.Pod, s.nsLabels) {
			if v, ok := node.Labels[t.TopologyKey]; ok {
				s.existingAnti[topologyPair{t.TopologyKey, v}] += delta
			}
		}
	}
}

func (pl *InterPodAffinity) addIncoming(s *filterState, pod, ex *framework.PodInfo, node *v1.Node, delta int64) {
	if len(pod.RequiredAffinity) > 0 {
		exNs := pl.termNsLabels(pod.RequiredAffinity, ex.Pod.Namespace)
		all := true
		for i := range pod.RequiredAffinity {
			if !pod.RequiredAffinity[i].Matches(ex.Pod, exNs) {
				all = false
				break
			}
		}
		if all {
			s.affinity.add(pod.RequiredAffinity, node, delta)
		}
	}
	if len(pod.RequiredAntiAffinity) > 0 {
		exNs := pl.termNsLabels(pod.RequiredAntiAffinity, ex.Pod.Namespace)
		for i := range pod.RequiredAntiAffinity {
			t := &pod.RequiredAntiAffinity[i]
			if t.Matches(ex.Pod, exNs) {
				if v, ok := node.Labels[t.TopologyKey]; ok {
					s.anti[topologyPair{t.TopologyKey, v}] += delta
				}
			}
		}
	}
}

// termNsLabels looks a namespace's labels up only when a term needs them.
func (pl *InterPodAffinity) termNsLabels(terms []framework.AffinityTerm, ns string) labels.Set {
	for i := range terms {
		if terms[i].NamespaceSelector != nil {
			return pl.nsLabels(ns)
		}
	}
	return nil
}

// AddPod updates the counts for a pod a simulation places on node.
func (pl *InterPodAffinity) AddPod(state *framework.CycleState, pod, added *framework.PodInfo, node *framework.NodeInfo) {
	pl.update(state, pod, added, node, 1)
}

// RemovePod updates the counts for a pod a simulation removes from node.
func (pl *InterPodAffinity) RemovePod(state *framework.CycleState, pod, removed *framework.PodInfo, node *framework.NodeInfo) {
	pl.update(state, pod, removed, node, -1)
}

func (pl *InterPodAffinity) update(state *framework.CycleState, pod, ex *framework.PodInfo, node *framework.NodeInfo, delta int64) {
	s, ok := state.Read(filterKey).(*filterState)
	if !ok {
		return
	}
	s.addExisting(pod, ex, node.Node, delta)
	pl.addIncoming(s, pod, ex, node.Node, delta)
}

// Filter checks the three rules in upstream's order.
func (pl *InterPodAffinity) Filter(_ context.Context, state *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	s, ok := state.Read(filterKey).(*filterState)
	if !ok {
		return nil
	}
	if !satisfiesAffinity(s, pod, node.Node) {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonAffinityRulesNotMatch)
	}
	for i := range pod.RequiredAntiAffinity {
		t := &pod.RequiredAntiAffinity[i]
		if v, ok := node.Node.Labels[t.TopologyKey]; ok && s.anti[topologyPair{t.TopologyKey, v}] > 0 {
			return framework.NewStatus(framework.Unschedulable, ErrReasonAntiAffinityRulesNotMatch)
		}
	}
	if len(s.existingAnti) > 0 {
		for k, v := range node.Node.Labels {
			if s.existingAnti[topologyPair{k, v}] > 0 {
				return framework.NewStatus(framework.Unschedulable, ErrReasonExistingAntiAffinityRulesNotMatch)
			}
		}
	}
	return nil
}

// satisfiesAffinity: every term's domain on node must hold a matching
// pod; the node must carry every term's topology key. The first pod of a
// group with affinity to itself is let through when no pod anywhere
// matches and it matches its own terms.
func satisfiesAffinity(s *filterState, pod *framework.PodInfo, node *v1.Node) bool {
	exist := true
	for i := range pod.RequiredAffinity {
		t := &pod.RequiredAffinity[i]
		v, ok := node.Labels[t.TopologyKey]
		if !ok {
			return false
		}
		if s.affinity[topologyPair{t.TopologyKey, v}] <= 0 {
			exist = false
		}
	}
	if exist {
		return true
	}
	if len(s.affinity) != 0 {
		return false
	}
	for i := range pod.RequiredAffinity {
		if !pod.RequiredAffinity[i].Matches(pod.Pod, s.nsLabels) {
			return false
		}
	}
	return true
}
