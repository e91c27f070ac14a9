// Package preemption is upstream's DefaultPreemption as a pure function:
// when a pod fits nowhere, find the node where evicting the fewest and
// least important lower-priority pods makes it fit, preferring victims
// whose PodDisruptionBudgets allow the disruption. The driver deletes the
// victims and records the nomination; this package only decides.
package preemption

import (
	"context"
	"math"
	"sort"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"skiff.dev/skiff/internal/scheduler/framework"
)

// Upstream's texts.
const (
	ReasonNotHelpful        = "Preemption is not helpful for scheduling"
	ReasonNoVictims         = "No preemption victims found for incoming pod"
	msgPolicyNever          = "not eligible due to preemptionPolicy=Never."
	msgTerminatingNominated = "not eligible due to a terminating pod on the nominated node."
)

// Decision is the outcome of Preempt.
type Decision struct {
	// Node is where the pod is nominated; empty when preemption cannot
	// help.
	Node string
	// Victims are the pods to delete, most important first.
	Victims []*v1.Pod
	// ClearNominated are lower-priority pods nominated to Node that no
	// longer have room there; their nomination is cleared.
	ClearNominated []*v1.Pod
	// Message is upstream's PostFilter message ("preemption: ..."),
	// appended to the FitError; empty on success.
	Message string
	// Eligible is false when the pod may not preempt (policy Never, or
	// its earlier victims are still terminating): keep its nomination.
	Eligible bool
}

// Preempt decides preemption for pod, which diag says fits nowhere in
// snap. state is the cycle's PreFilter state; it is cloned, not changed.
func Preempt(ctx context.Context, fw *framework.Framework, state *framework.CycleState, snap *framework.Snapshot, pod *framework.PodInfo, diag *framework.Diagnosis, pdbs []*policyv1.PodDisruptionBudget) Decision {
	if ok, msg := eligible(pod, snap, diag); !ok {
		return Decision{Message: "preemption: " + msg}
	}
	var potential []*framework.NodeInfo
	for _, n := range snap.Nodes {
		st, ok := diag.NodeToStatus[n.Node.Name]
		if !ok {
			st = diag.AbsentStatus
		}
		if st.Code() == framework.Unschedulable {
			potential = append(potential, n)
		}
	}
	type candidate struct {
		node          string
		victims       []*framework.PodInfo
		pdbViolations int
	}
	var (
		mu         sync.Mutex
		candidates []candidate
		statuses   = map[string]*framework.Status{}
	)
	fw.Parallel(len(potential), func(i int) {
		node := potential[i].Clone()
		victims, violations, st := SelectVictimsOnNode(ctx, fw, state.Clone(), snap, pod, node, pdbs)
		mu.Lock()
		defer mu.Unlock()
		if st.IsSuccess() {
			candidates = append(candidates, candidate{node.Node.Name, victims, violations})
		} else {
			statuses[node.Node.Name] = st
		}
	})
	if len(candidates) == 0 {
		fe := &framework.FitError{NumAllNodes: len(snap.Nodes), Diagnosis: framework.Diagnosis{
			NodeToStatus: statuses,
			AbsentStatus: framework.NewStatus(framework.UnschedulableAndUnresolvable, ReasonNotHelpful),
		}}
		return Decision{Message: "preemption: " + fe.Error(), Eligible: true}
	}
	sort.Slice(candidates, func(i, j int) bool { return candidates[i].node < candidates[j].node })
	best := 0
	if len(candidates) > 1 {
		byNode := map[string][]*framework.PodInfo{}
		viol := map[string]int{}
		names := make([]string, len(candidates))
		for i, c := range candidates {
			byNode[c.node], viol[c.node], names[i] = c.victims, c.pdbViolations, c.node
		}
		pick := pickOneNode(names, byNode, viol)
		for i, c := range candidates {
			if c.node == pick {
				best = i
			}
		}
	}
	c := candidates[best]
	d := Decision{Node: c.node, Eligible: true}
	for _, v := range c.victims {
		d.Victims = append(d.Victims, v.Pod)
	}
	for _, np := range snap.Nominated[c.node] {
		if np.Priority < pod.Priority && np.Pod.UID != pod.Pod.UID {
			d.ClearNominated = append(d.ClearNominated, np.Pod)
		}
	}
	return d
}

// eligible is upstream's PodEligibleToPreemptOthers.
func eligible(pod *framework.PodInfo, snap *framework.Snapshot, diag *framework.Diagnosis) (bool, string) {
	if p := pod.Pod.Spec.PreemptionPolicy; p != nil && *p == v1.PreemptNever {
		return false, msgPolicyNever
	}
	nn := pod.Pod.Status.NominatedNodeName
	if nn == "" {
		return true, ""
	}
	if st, ok := diag.NodeToStatus[nn]; ok && st.Code() == framework.UnschedulableAndUnresolvable {
		return true, ""
	}
	if n := snap.Get(nn); n != nil {
		for _, p := range n.Pods {
			if p.Pod.DeletionTimestamp != nil && p.Priority < pod.Priority {
				return false, msgTerminatingNominated
			}
		}
	}
	return true, ""
}

// SelectVictimsOnNode finds the fewest lower-priority pods to remove from
// node (a clone it may change) so pod fits: remove all, check the fit,
// then put back as many as still fit, most important first, PDB-protected
// pods before others. It returns the victims and how many of them break a
// PodDisruptionBudget.
func SelectVictimsOnNode(ctx context.Context, fw *framework.Framework, state *framework.CycleState, snap *framework.Snapshot, pod *framework.PodInfo, node *framework.NodeInfo, pdbs []*policyv1.PodDisruptionBudget) ([]*framework.PodInfo, int, *framework.Status) {
	var potential []*framework.PodInfo
	for _, p := range append([]*framework.PodInfo(nil), node.Pods...) {
		if p.Priority < pod.Priority {
			potential = append(potential, p)
			node.RemovePod(p.Pod.UID)
			fw.RemovePodFromState(state, pod, p, node)
		}
	}
	if len(potential) == 0 {
		return nil, 0, framework.NewStatus(framework.UnschedulableAndUnresolvable, ReasonNoVictims)
	}
	if st := fw.RunFiltersWithNominated(ctx, state, pod, node, snap); !st.IsSuccess() {
		return nil, 0, st
	}
	sort.SliceStable(potential, func(i, j int) bool { return moreImportant(potential[i], potential[j]) })
	violating, nonViolating := splitByPDB(potential, pdbs)
	var victims []*framework.PodInfo
	reprieve := func(p *framework.PodInfo) bool {
		node.AddPod(p)
		fw.AddPodToState(state, pod, p, node)
		if fw.RunFiltersWithNominated(ctx, state, pod, node, snap).IsSuccess() {
			return true
		}
		node.RemovePod(p.Pod.UID)
		fw.RemovePodFromState(state, pod, p, node)
		victims = append(victims, p)
		return false
	}
	numViolating := 0
	for _, p := range violating {
		if !reprieve(p) {
			numViolating++
		}
	}
	for _, p := range nonViolating {
		reprieve(p)
	}
	return victims, numViolating, nil
}

// moreImportant orders by priority, then by earlier start.
func moreImportant(a, b *framework.PodInfo) bool {
	if a.Priority != b.Priority {
		return a.Priority > b.Priority
	}
	return startTime(a.Pod).Before(startTime(b.Pod))
}

func startTime(p *v1.Pod) time.Time {
	if p.Status.StartTime != nil {
		return p.Status.StartTime.Time
	}
	return time.Now()
}

// splitByPDB is upstream's filterPodsWithPDBViolation: a pod violates a
// budget when removing it (after the ones before it) would take the
// budget's allowed disruptions below zero.
func splitByPDB(pods []*framework.PodInfo, pdbs []*policyv1.PodDisruptionBudget) (violating, nonViolating []*framework.PodInfo) {
	allowed := make([]int32, len(pdbs))
	selectors := make([]labels.Selector, len(pdbs))
	for i, pdb := range pdbs {
		allowed[i] = pdb.Status.DisruptionsAllowed
		if s, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); err == nil {
			selectors[i] = s
		}
	}
	for _, p := range pods {
		violated := false
		if len(p.Pod.Labels) != 0 {
			for i, pdb := range pdbs {
				s := selectors[i]
				if pdb.Namespace != p.Pod.Namespace || s == nil || s.Empty() || !s.Matches(labels.Set(p.Pod.Labels)) {
					continue
				}
				if _, done := pdb.Status.DisruptedPods[p.Pod.Name]; done {
					continue
				}
				allowed[i]--
				if allowed[i] < 0 {
					violated = true
				}
			}
		}
		if violated {
			violating = append(violating, p)
		} else {
			nonViolating = append(nonViolating, p)
		}
	}
	return violating, nonViolating
}

// pickOneNode is upstream's pickOneNodeForPreemption: fewest PDB
// violations, then the lowest highest-priority victim, the smallest sum
// of priorities, the fewest victims, the latest start among the most
// important victims; then the first.
func pickOneNode(names []string, victims map[string][]*framework.PodInfo, violations map[string]int) string {
	scoreFuncs := []func(string) int64{
		func(n string) int64 { return -int64(violations[n]) },
		func(n string) int64 { return -int64(victims[n][0].Priority) },
		func(n string) int64 {
			var sum int64
			for _, p := range victims[n] {
				sum += int64(p.Priority) + int64(math.MaxInt32+1)
			}
			return -sum
		},
		func(n string) int64 { return -int64(len(victims[n])) },
		func(n string) int64 {
			vs := victims[n]
			top := vs[0].Priority
			earliest := startTime(vs[0].Pod)
			for _, p := range vs[1:] {
				if p.Priority == top && startTime(p.Pod).Before(earliest) {
					earliest = startTime(p.Pod)
				}
			}
			return earliest.UnixNano()
		},
	}
	for _, f := range scoreFuncs {
		var selected []string
		max := int64(math.MinInt64)
		for _, n := range names {
			s := f(n)
			if s > max {
				max, selected = s, selected[:0]
			}
			if s == max {
				selected = append(selected, n)
			}
		}
		if len(selected) == 1 {
			return selected[0]
		}
		names = selected
	}
	return names[0]
}
