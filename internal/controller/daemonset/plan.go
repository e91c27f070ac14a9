package daemonset

import (
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"skiff.dev/skiff/internal/controller/history"
)

// nodeState is one node as a sync sees it: whether the DaemonSet should
// run there and its pods there (not being deleted), oldest first.
type nodeState struct {
	name      string
	run, keep bool
	pods      []*corev1.Pod
}

// plan is what a sync does: create a pod on these nodes, delete these
// pods (failed ones reported apart, for their event).
type plan struct {
	create []string
	delete []*corev1.Pod
	failed []*corev1.Pod
}

func isReady(p *corev1.Pod) (bool, time.Time) {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue, c.LastTransitionTime.Time
		}
	}
	return false, time.Time{}
}

func isAvailable(p *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	ready, since := isReady(p)
	if !ready {
		return false
	}
	return minReadySeconds == 0 || (!since.IsZero() && !since.Add(time.Duration(minReadySeconds)*time.Second).After(now))
}

func isUpdated(p *corev1.Pod, hash string) bool { return p.Labels[history.HashLabel] == hash }

func byAge(pods []*corev1.Pod) {
	sort.SliceStable(pods, func(i, j int) bool {
		if !pods[i].CreationTimestamp.Equal(&pods[j].CreationTimestamp) {
			return pods[i].CreationTimestamp.Before(&pods[j].CreationTimestamp)
		}
		return pods[i].Name < pods[j].Name
	})
}

// surging: a RollingUpdate with maxSurge lets an old and a new pod share
// a node while the new one becomes available.
func surging(ds *appsv1.DaemonSet) bool {
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	return ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType && ru != nil &&
		ru.MaxSurge != nil && ru.MaxSurge.String() != "0" && ru.MaxSurge.String() != "0%"
}

// manage is upstream's podsShouldBeOnNode over all nodes: a pod where
// one should run and none does; failed pods deleted (their replacement
// comes with the next sync); extra pods deleted, the oldest kept (with
// surge, the oldest updated one too); every pod deleted where the
// DaemonSet may not keep running.
func manage(ds *appsv1.DaemonSet, nodes []nodeState, hash string) plan {
	var p plan
	surge := surging(ds)
	for _, n := range nodes {
		switch {
		case n.run && len(n.pods) == 0:
			p.create = append(p.create, n.name)
		case n.keep:
			var alive []*corev1.Pod
			for _, pod := range n.pods {
				if pod.Status.Phase == corev1.PodFailed {
					p.failed = append(p.failed, pod)
					p.delete = append(p.delete, pod)
				} else {
					alive = append(alive, pod)
				}
			}
			if len(alive) <= 1 {
				continue
			}
			keptOld, keptNew := false, false
			for _, pod := range alive {
				switch {
				case surge && isUpdated(pod, hash) && !keptNew:
					keptNew = true
				case surge && !isUpdated(pod, hash) && !keptOld:
					keptOld = true
				case !surge && !keptOld:
					keptOld = true
				default:
					p.delete = append(p.delete, pod)
				}
			}
		default:
			p.delete = append(p.delete, n.pods...)
		}
	}
	return p
}

// budget resolves maxSurge and maxUnavailable against the desired
// number of scheduled pods, rounding up, as upstream; both zero means
// one unavailable.
func budget(ds *appsv1.DaemonSet, desired int) (surge, unavailable int) {
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	one := intstr.FromInt32(1)
	s, u := intstr.FromInt32(0), one
	if ru != nil && ru.MaxSurge != nil {
		s = *ru.MaxSurge
	}
	if ru != nil && ru.MaxUnavailable != nil {
		u = *ru.MaxUnavailable
	}
	surge, _ = intstr.GetScaledValueFromIntOrPercent(&s, desired, true)
	unavailable, _ = intstr.GetScaledValueFromIntOrPercent(&u, desired, true)
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return surge, unavailable
}

// updatedAndOld finds a node's updated and old pod; false if the node has
// more than one of either (manage settles that first).
func updatedAndOld(pods []*corev1.Pod, hash string) (updated, old *corev1.Pod, ok bool) {
	for _, p := range pods {
		if p.Status.Phase == corev1.PodFailed {
			continue
		}
		if isUpdated(p, hash) {
			if updated != nil {
				return nil, nil, false
			}
			updated = p
		} else {
			if old != nil {
				return nil, nil, false
			}
			old = p
		}
	}
	return updated, old, true
}

// rollingUpdate is upstream's: without surge, delete old pods while at
// most maxUnavailable pods are unavailable (unavailable old pods go at
// once, outside the budget); with surge, create updated pods beside old
// ones on at most maxSurge nodes and delete each old pod once its
// replacement is available.
func rollingUpdate(ds *appsv1.DaemonSet, nodes []nodeState, hash string, now time.Time) plan {
	desired := 0
	for _, n := range nodes {
		if n.run {
			desired++
		}
	}
	maxSurge, maxUnavailable := budget(ds, desired)
	minReady := ds.Spec.MinReadySeconds
	var p plan
	if maxSurge == 0 {
		unavailable := 0
		var allowed, candidates []*corev1.Pod
		for _, n := range nodes {
			if !n.keep || len(n.pods) == 0 {
				continue
			}
			updated, old, ok := updatedAndOld(n.pods, hash)
			switch {
			case !ok:
				unavailable++
			case old == nil && updated != nil:
				if !isAvailable(updated, minReady, now) {
					unavailable++
				}
			case old != nil && updated == nil:
				if !isAvailable(old, minReady, now) {
					allowed = append(allowed, old)
				} else {
					candidates = append(candidates, old)
				}
			}
		}
		room := max(0, min(maxUnavailable-unavailable, len(candidates)))
		p.delete = append(allowed, candidates[:room]...)
		return p
	}
	surged := 0
	var allowedNodes, candidateNodes []string
	for _, n := range nodes {
		if !n.run {
			continue
		}
		updated, old, ok := updatedAndOld(n.pods, hash)
		switch {
		case !ok:
			surged++
		case old == nil:
		case updated == nil:
			if !isAvailable(old, minReady, now) {
				allowedNodes = append(allowedNodes, n.name)
			} else {
				candidateNodes = append(candidateNodes, n.name)
			}
		default:
			if isAvailable(updated, minReady, now) {
				p.delete = append(p.delete, old)
			} else {
				surged++
			}
		}
	}
	room := max(0, min(maxSurge-surged, len(candidateNodes)))
	p.create = append(allowedNodes, candidateNodes[:room]...)
	return p
}

// computeStatus is upstream's updateDaemonSetStatus count.
func computeStatus(ds *appsv1.DaemonSet, nodes []nodeState, hash string, now time.Time) appsv1.DaemonSetStatus {
	st := appsv1.DaemonSetStatus{ObservedGeneration: ds.Generation, CollisionCount: ds.Status.CollisionCount, Conditions: ds.Status.Conditions}
	for _, n := range nodes {
		scheduled := len(n.pods) > 0
		if !n.run {
			if scheduled {
				st.NumberMisscheduled++
			}
			continue
		}
		st.DesiredNumberScheduled++
		if !scheduled {
			continue
		}
		st.CurrentNumberScheduled++
		pod := n.pods[0] // the oldest
		if ready, _ := isReady(pod); ready {
			st.NumberReady++
			if isAvailable(pod, ds.Spec.MinReadySeconds, now) {
				st.NumberAvailable++
			}
		}
		for _, p := range n.pods {
			if isUpdated(p, hash) {
				st.UpdatedNumberScheduled++
				break
			}
		}
	}
	st.NumberUnavailable = st.DesiredNumberScheduled - st.NumberAvailable
	return st
}
