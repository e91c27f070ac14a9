package disruption

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// DeletionTimeout is how long a pod the eviction subresource recorded in
// status.disruptedPods counts as disrupted before its deletion is
// presumed lost (upstream's two minutes).
const DeletionTimeout = 2 * time.Minute

// Budget is the counting a PodDisruptionBudget's status reports.
type Budget struct {
	Expected, DesiredHealthy, CurrentHealthy, DisruptionsAllowed int32
	// DisruptedPods are the recorded disruptions still pending.
	DisruptedPods map[string]metav1.Time
	// RecheckAt is when the oldest pending disruption expires (zero if
	// none), so the controller looks again then.
	RecheckAt time.Time
}

// Compute counts pdb's pods as upstream's disruption controller: with
// minAvailable as a number, expected pods are the selected pods and
// desiredHealthy the number; with a percentage or with maxUnavailable,
// expected pods are the sum of the scales of the pods' controllers
// (scale(pods), which fails for pods without a known controller) and the
// percentage rounds up. Healthy pods are Ready, not being deleted and not
// recently disrupted; disruptionsAllowed is currentHealthy minus
// desiredHealthy, at least zero, and zero with no expected pods.
func Compute(pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod, scale func([]*corev1.Pod) (int32, error), now time.Time) (Budget, error) {
	var b Budget
	switch {
	case pdb.Spec.MaxUnavailable != nil:
		n, err := scale(pods)
		if err != nil {
			return b, err
		}
		maxUnavailable, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, int(n), true)
		if err != nil {
			return b, err
		}
		b.Expected, b.DesiredHealthy = n, max(n-int32(maxUnavailable), 0)
	case pdb.Spec.MinAvailable != nil && pdb.Spec.MinAvailable.Type == intstr.Int:
		b.Expected, b.DesiredHealthy = int32(len(pods)), pdb.Spec.MinAvailable.IntVal
	case pdb.Spec.MinAvailable != nil:
		n, err := scale(pods)
		if err != nil {
			return b, err
		}
		minAvailable, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, int(n), true)
		if err != nil {
			return b, err
		}
		b.Expected, b.DesiredHealthy = n, int32(minAvailable)
	default:
		return b, fmt.Errorf("neither minAvailable nor maxUnavailable is set")
	}
	b.DisruptedPods = map[string]metav1.Time{}
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		if at, ok := pdb.Status.DisruptedPods[p.Name]; ok {
			if expiry := at.Add(DeletionTimeout); expiry.After(now) {
				b.DisruptedPods[p.Name] = at
				if b.RecheckAt.IsZero() || expiry.Before(b.RecheckAt) {
					b.RecheckAt = expiry
				}
				continue
			}
		}
		if isReady(p) {
			b.CurrentHealthy++
		}
	}
	b.DisruptionsAllowed = b.CurrentHealthy - b.DesiredHealthy
	if b.Expected <= 0 || b.DisruptionsAllowed < 0 {
		b.DisruptionsAllowed = 0
	}
	return b, nil
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Status is pdb's status for b: the counts, observedGeneration and the
// DisruptionAllowed condition (SufficientPods or InsufficientPods).
func Status(pdb *policyv1.PodDisruptionBudget, b Budget) policyv1.PodDisruptionBudgetStatus {
	st := *pdb.Status.DeepCopy()
	st.ObservedGeneration = pdb.Generation
	st.ExpectedPods, st.DesiredHealthy, st.CurrentHealthy = b.Expected, b.DesiredHealthy, b.CurrentHealthy
	st.DisruptionsAllowed = b.DisruptionsAllowed
	st.DisruptedPods = b.DisruptedPods
	if len(st.DisruptedPods) == 0 {
		st.DisruptedPods = nil
	}
	cond := metav1.Condition{Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionFalse,
		Reason: policyv1.InsufficientPodsReason, ObservedGeneration: pdb.Generation}
	if b.DisruptionsAllowed > 0 {
		cond.Status, cond.Reason = metav1.ConditionTrue, policyv1.SufficientPodsReason
	}
	apimeta.SetStatusCondition(&st.Conditions, cond)
	return st
}

// FailSafe is pdb's status when its pods cannot be counted: no
// disruptions allowed and the condition False with reason SyncFailed and
// the error, as upstream.
func FailSafe(pdb *policyv1.PodDisruptionBudget, err error) policyv1.PodDisruptionBudgetStatus {
	st := *pdb.Status.DeepCopy()
	st.ObservedGeneration = pdb.Generation
	st.DisruptionsAllowed = 0
	apimeta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: policyv1.DisruptionAllowedCondition,
		Status: metav1.ConditionFalse, Reason: policyv1.SyncFailedReason, Message: err.Error(), ObservedGeneration: pdb.Generation})
	return st
}
