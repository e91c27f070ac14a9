package replicaset

import (
	"math"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// podDeletionCostAnnotation ranks pods for deletion: lower cost goes
// first (upstream's PodDeletionCost, on by default since 1.22).
const podDeletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost"

func readyCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// IsPodReady reports the pod's Ready condition.
func IsPodReady(p *corev1.Pod) bool {
	c := readyCondition(p)
	return c != nil && c.Status == corev1.ConditionTrue
}

// IsPodAvailable reports whether the pod has been ready for at least
// minReadySeconds at now.
func IsPodAvailable(p *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	if !IsPodReady(p) {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	c := readyCondition(p)
	return !c.LastTransitionTime.IsZero() && !c.LastTransitionTime.Add(time.Duration(minReadySeconds)*time.Second).After(now)
}

// isPodActive: neither finished nor being deleted.
func isPodActive(p *corev1.Pod) bool {
	return p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && p.DeletionTimestamp == nil
}

// isPodTerminating: being deleted but not finished.
func isPodTerminating(p *corev1.Pod) bool {
	return p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && p.DeletionTimestamp != nil
}

// nextAvailabilityCheck is how long until the first ready-but-not-yet-
// available pod becomes available, or false if none will.
func nextAvailabilityCheck(pods []*corev1.Pod, minReadySeconds int32, now time.Time) (time.Duration, bool) {
	var best time.Duration
	found := false
	if minReadySeconds <= 0 {
		return 0, false
	}
	for _, p := range pods {
		if !IsPodReady(p) {
			continue
		}
		c := readyCondition(p)
		if c.LastTransitionTime.IsZero() {
			continue
		}
		d := c.LastTransitionTime.Add(time.Duration(minReadySeconds) * time.Second).Sub(now)
		if d > 0 && (!found || d < best) {
			best, found = d, true
		}
	}
	return best, found
}

var phaseOrdinal = map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}

// podsToDelete picks the diff pods a scale-down removes, in upstream's
// order (ActivePodsWithRanks): unassigned before assigned; Pending before
// Unknown before Running; not ready before ready; lower
// pod-deletion-cost first; pods doubled up on a node with more of the
// owner's related pods first; ready for less time first; more container
// restarts first; newer first. Times compare on a log2 scale from now, so
// pods of about the same age tie and fall back to UID order, which
// spreads deletions pseudo-randomly among equals. related are the active
// pods of every ReplicaSet with the same controller (the Deployment's
// other revisions): doubling up counts them all.
func podsToDelete(pods, related []*corev1.Pod, diff int, now time.Time) []*corev1.Pod {
	if diff >= len(pods) {
		return pods
	}
	onNode := map[string]int{}
	for _, p := range related {
		if isPodActive(p) {
			onNode[p.Spec.NodeName]++
		}
	}
	r := rankedPods{pods: append([]*corev1.Pod(nil), pods...), now: metav1.NewTime(now)}
	r.rank = make([]int, len(r.pods))
	for i, p := range r.pods {
		r.rank[i] = onNode[p.Spec.NodeName]
	}
	sort.Sort(r)
	return r.pods[:diff]
}

type rankedPods struct {
	pods []*corev1.Pod
	rank []int
	now  metav1.Time
}

func (r rankedPods) Len() int { return len(r.pods) }
func (r rankedPods) Swap(i, j int) {
	r.pods[i], r.pods[j] = r.pods[j], r.pods[i]
	r.rank[i], r.rank[j] = r.rank[j], r.rank[i]
}

// Less: pods[i] should be deleted before pods[j].
func (r rankedPods) Less(i, j int) bool {
	a, b := r.pods[i], r.pods[j]
	if a.Spec.NodeName != b.Spec.NodeName && (a.Spec.NodeName == "" || b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	if pa, pb := phaseOrdinal[a.Status.Phase], phaseOrdinal[b.Status.Phase]; pa != pb {
		return pa < pb
	}
	if ra, rb := IsPodReady(a), IsPodReady(b); ra != rb {
		return !ra
	}
	if ca, cb := deletionCost(a), deletionCost(b); ca != cb {
		return ca < cb
	}
	if r.rank[i] != r.rank[j] {
		return r.rank[i] > r.rank[j]
	}
	if IsPodReady(a) && IsPodReady(b) {
		ta, tb := readyTime(a), readyTime(b)
		if !ta.Equal(&tb) {
			if ta.IsZero() || tb.IsZero() {
				return afterOrZero(ta, tb)
			}
			if d := logRankDiff(ta, tb, r.now); d != 0 {
				return d < 0
			}
			return a.UID < b.UID
		}
	}
	ra, sa := maxRestarts(a)
	rb, sb := maxRestarts(b)
	if ra != rb {
		return ra > rb
	}
	if sa != sb {
		return sa > sb
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		if a.CreationTimestamp.IsZero() || b.CreationTimestamp.IsZero() {
			return afterOrZero(a.CreationTimestamp, b.CreationTimestamp)
		}
		if d := logRankDiff(a.CreationTimestamp, b.CreationTimestamp, r.now); d != 0 {
			return d < 0
		}
		return a.UID < b.UID
	}
	return false
}

func deletionCost(p *corev1.Pod) int32 {
	v, ok := p.Annotations[podDeletionCostAnnotation]
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0 // validation rejects such pods; treat as default
	}
	return int32(n)
}

func readyTime(p *corev1.Pod) metav1.Time {
	if c := readyCondition(p); c != nil && c.Status == corev1.ConditionTrue {
		return c.LastTransitionTime
	}
	return metav1.Time{}
}

// afterOrZero: t1 after t2, a zero time counting as the latest.
func afterOrZero(t1, t2 metav1.Time) bool {
	if t1.IsZero() || t2.IsZero() {
		return t1.IsZero()
	}
	return t1.After(t2.Time)
}

func logRankDiff(t1, t2, now metav1.Time) int64 {
	rank := func(t metav1.Time) int64 {
		if d := now.Sub(t.Time); d > 0 {
			return int64(math.Log2(float64(d)))
		}
		return -1
	}
	return rank(t1) - rank(t2)
}

// maxRestarts is the highest restart count among regular containers and
// among sidecars (restartable init containers).
func maxRestarts(p *corev1.Pod) (regular, sidecar int32) {
	for _, c := range p.Status.ContainerStatuses {
		regular = max(regular, c.RestartCount)
	}
	sidecars := map[string]bool{}
	for _, c := range p.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars[c.Name] = true
		}
	}
	for _, c := range p.Status.InitContainerStatuses {
		if sidecars[c.Name] {
			sidecar = max(sidecar, c.RestartCount)
		}
	}
	return regular, sidecar
}
