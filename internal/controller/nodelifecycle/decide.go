package nodelifecycle

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Upstream's reasons and messages for conditions the controller sets
// when the kubelet goes quiet.
const (
	reasonUnknown      = "NodeStatusUnknown"
	messageUnknown     = "Kubelet stopped posting node status."
	reasonNeverUpdated = "NodeStatusNeverUpdated"
	messageNever       = "Kubelet never posted node status."
)

// watchedConditions are the kubelet's conditions that go Unknown with
// it, in upstream's order.
var watchedConditions = []corev1.NodeConditionType{
	corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure,
}

// MarkUnknown returns the conditions of a node whose kubelet has not been
// heard from within its grace period: each watched condition that is not
// already Unknown becomes Unknown (reason NodeStatusUnknown, its
// heartbeat kept), a missing one is added as NodeStatusNeverUpdated.
// changed is false when there is nothing to write.
func MarkUnknown(conds []corev1.NodeCondition, now time.Time) (out []corev1.NodeCondition, changed bool) {
	out = append([]corev1.NodeCondition(nil), conds...)
	t := metav1.NewTime(now)
	for _, typ := range watchedConditions {
		i := indexOf(out, typ)
		if i < 0 {
			out = append(out, corev1.NodeCondition{Type: typ, Status: corev1.ConditionUnknown,
				Reason: reasonNeverUpdated, Message: messageNever, LastHeartbeatTime: t, LastTransitionTime: t})
			changed = true
			continue
		}
		if out[i].Status == corev1.ConditionUnknown {
			continue
		}
		out[i].Status = corev1.ConditionUnknown
		out[i].Reason = reasonUnknown
		out[i].Message = messageUnknown
		out[i].LastTransitionTime = t
		changed = true
	}
	return out, changed
}

func indexOf(conds []corev1.NodeCondition, typ corev1.NodeConditionType) int {
	for i := range conds {
		if conds[i].Type == typ {
			return i
		}
	}
	return -1
}

// readyStatus is the node's Ready condition status ("" when absent).
func readyStatus(n *corev1.Node) corev1.ConditionStatus {
	if i := indexOf(n.Status.Conditions, corev1.NodeReady); i >= 0 {
		return n.Status.Conditions[i].Status
	}
	return ""
}

// Taints the controller owns, by key and effect.
var (
	unreachableNoExecute = corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}
	notReadyNoExecute    = corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}
)

// noScheduleByCondition maps condition states to the NoSchedule taints
// upstream's controller keeps in step with them.
var noScheduleByCondition = []struct {
	typ    corev1.NodeConditionType
	status corev1.ConditionStatus
	key    string
}{
	{corev1.NodeReady, corev1.ConditionFalse, corev1.TaintNodeNotReady},
	{corev1.NodeReady, corev1.ConditionUnknown, corev1.TaintNodeUnreachable},
	{corev1.NodeMemoryPressure, corev1.ConditionTrue, corev1.TaintNodeMemoryPressure},
	{corev1.NodeDiskPressure, corev1.ConditionTrue, corev1.TaintNodeDiskPressure},
	{corev1.NodeNetworkUnavailable, corev1.ConditionTrue, corev1.TaintNodeNetworkUnavailable},
	{corev1.NodePIDPressure, corev1.ConditionTrue, corev1.TaintNodePIDPressure},
}

// DesiredTaints returns the node's taints with the controller's own
// brought in line with its conditions, as upstream: Ready=False gives
// node.kubernetes.io/not-ready and Ready=Unknown
// node.kubernetes.io/unreachable, each as NoExecute (timeAdded now) and
// NoSchedule; pressure and network conditions and spec.unschedulable give
// their NoSchedule taints. Other taints are kept as they are; a taint
// that stays keeps its timeAdded.
func DesiredTaints(n *corev1.Node, now time.Time) (out []corev1.Taint, changed bool) {
	want := map[corev1.Taint]bool{} // by key and effect only
	switch readyStatus(n) {
	case corev1.ConditionFalse:
		want[notReadyNoExecute] = true
	case corev1.ConditionUnknown:
		want[unreachableNoExecute] = true
	}
	for _, m := range noScheduleByCondition {
		if i := indexOf(n.Status.Conditions, m.typ); i >= 0 && n.Status.Conditions[i].Status == m.status {
			want[corev1.Taint{Key: m.key, Effect: corev1.TaintEffectNoSchedule}] = true
		}
	}
	if n.Spec.Unschedulable {
		want[corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}] = true
	}
	owned := func(t corev1.Taint) bool {
		k := corev1.Taint{Key: t.Key, Effect: t.Effect}
		if k == unreachableNoExecute || k == notReadyNoExecute {
			return true
		}
		if t.Effect != corev1.TaintEffectNoSchedule {
			return false
		}
		if t.Key == corev1.TaintNodeUnschedulable {
			return true
		}
		for _, m := range noScheduleByCondition {
			if m.key == t.Key {
				return true
			}
		}
		return false
	}
	have := map[corev1.Taint]bool{}
	for _, t := range n.Spec.Taints {
		k := corev1.Taint{Key: t.Key, Effect: t.Effect}
		if owned(t) && !want[k] {
			changed = true
			continue
		}
		have[k] = true
		out = append(out, t)
	}
	tn := metav1.NewTime(now)
	for _, k := range orderedTaints(want) {
		if have[k] {
			continue
		}
		t := k
		if t.Effect == corev1.TaintEffectNoExecute {
			t.TimeAdded = &tn
		}
		out = append(out, t)
		changed = true
	}
	return out, changed
}

// orderedTaints lists a set of taints in a fixed order, so that writes
// do not depend on map iteration.
func orderedTaints(set map[corev1.Taint]bool) []corev1.Taint {
	var out []corev1.Taint
	for _, k := range []corev1.Taint{unreachableNoExecute, notReadyNoExecute} {
		if set[k] {
			out = append(out, k)
		}
	}
	for _, m := range noScheduleByCondition {
		k := corev1.Taint{Key: m.key, Effect: corev1.TaintEffectNoSchedule}
		if set[k] {
			out = append(out, k)
			delete(set, k) // not-ready and unreachable appear once each
		}
	}
	if k := (corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}); set[k] {
		out = append(out, k)
	}
	return out
}

// EvictionDelay is how long a pod may stay on a node with the given
// NoExecute taints, as upstream's taint manager decides: at once when one
// taint is not tolerated, never (forever=true) when every tolerating
// toleration has no tolerationSeconds, else the smallest
// tolerationSeconds among the tolerations used (negative counts as 0).
func EvictionDelay(tolerations []corev1.Toleration, taints []corev1.Taint) (delay time.Duration, forever bool) {
	min := time.Duration(-1)
	for i := range taints {
		t := &taints[i]
		if t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		tolerated := false
		for j := range tolerations {
			tol := &tolerations[j]
			if !tolerates(tol, t) {
				continue
			}
			tolerated = true
			if tol.TolerationSeconds == nil {
				continue
			}
			d := time.Duration(max(*tol.TolerationSeconds, 0)) * time.Second
			if min < 0 || d < min {
				min = d
			}
		}
		if !tolerated {
			return 0, false
		}
	}
	if min < 0 {
		return 0, true
	}
	return min, false
}

// noExecuteTaints are the node's NoExecute taints.
func noExecuteTaints(n *corev1.Node) []corev1.Taint {
	var out []corev1.Taint
	for _, t := range n.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoExecute {
			out = append(out, t)
		}
	}
	return out
}

// tolerates is the toleration-matches-taint rule: an empty effect
// matches every effect, an empty key with Exists every key; Exists
// ignores the value, Equal (the default) compares it.
func tolerates(tol *corev1.Toleration, t *corev1.Taint) bool {
	if tol.Effect != "" && tol.Effect != t.Effect {
		return false
	}
	if tol.Key != "" && tol.Key != t.Key {
		return false
	}
	switch tol.Operator {
	case corev1.TolerationOpExists:
		return true
	case "", corev1.TolerationOpEqual:
		return tol.Key != "" && tol.Value == t.Value
	default:
		return false
	}
}
