package job

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition messages, as upstream.
const (
	msgBackoffLimitExceeded = "Job has reached the specified backoff limit"
	msgDeadlineExceeded     = "Job was active longer than specified deadline"
	msgCompletionsReached   = "Reached expected number of succeeded pods"
)

const completionIndexEnv = "JOB_COMPLETION_INDEX"

// indexSet is a set of completion indexes.
type indexSet map[int]struct{}

// parseIndexes reads upstream's compressed interval notation
// ("1,3-5,7"), keeping indexes below completions.
func parseIndexes(s string, completions int) indexSet {
	out := indexSet{}
	if s == "" {
		return out
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		for i := a; i <= b && i < completions; i++ {
			if i >= 0 {
				out[i] = struct{}{}
			}
		}
	}
	return out
}

// String is the compressed interval notation, ascending.
func (s indexSet) String() string {
	idx := make([]int, 0, len(s))
	for i := range s {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	var b strings.Builder
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(idx[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(idx[j]))
		}
		i = j + 1
	}
	return b.String()
}

// completionIndex is the pod's index from its annotation (or label), -1
// if it has none.
func completionIndex(p *corev1.Pod) int {
	v, ok := p.Annotations[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		v, ok = p.Labels[batchv1.JobCompletionIndexAnnotation]
	}
	if !ok {
		return -1
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 {
		return -1
	}
	return i
}

// backoffRecord is a Job's failures since its last success.
type backoffRecord struct {
	failures    int
	lastFailure time.Time
}

// remaining is how long pod creation must still wait, as upstream's
// getRemainingTime: base·2^(failures-1) after the last failure, capped.
func (r backoffRecord) remaining(now time.Time, base, max time.Duration) time.Duration {
	if r.failures == 0 {
		return 0
	}
	d := max
	if exp := r.failures - 1; exp < 62 {
		if f := float64(base) * math.Pow(2, float64(exp)); f < float64(max) {
			d = time.Duration(f)
		}
	}
	left := r.lastFailure.Add(d).Sub(now)
	if left < 0 {
		return 0
	}
	return left
}

// finishTime is when a finished pod finished: its containers' latest
// termination, else its deletion, else now.
func finishTime(p *corev1.Pod, now time.Time) time.Time {
	var t time.Time
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if term := cs.State.Terminated; term != nil && term.FinishedAt.Time.After(t) {
			t = term.FinishedAt.Time
		}
	}
	if t.IsZero() && p.DeletionTimestamp != nil {
		t = p.DeletionTimestamp.Time
	}
	if t.IsZero() {
		t = now
	}
	return t
}

// update folds newly failed and succeeded pods into the record, in
// finishing order: a success resets the count.
func (r backoffRecord) update(failed, succeeded []time.Time) backoffRecord {
	type ev struct {
		t  time.Time
		ok bool
	}
	var evs []ev
	for _, t := range failed {
		evs = append(evs, ev{t, false})
	}
	for _, t := range succeeded {
		evs = append(evs, ev{t, true})
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].t.Before(evs[j].t) })
	for _, e := range evs {
		if e.ok {
			r = backoffRecord{}
			continue
		}
		r.failures++
		if e.t.After(r.lastFailure) {
			r.lastFailure = e.t
		}
	}
	return r
}

func isFinished(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// isFailed is upstream's isPodFailed with the default pod replacement
// policy: a pod being deleted before it succeeded counts as failed.
func isFailed(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodFailed || (p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded)
}

func isActive(p *corev1.Pod) bool { return !isFinished(p) && p.DeletionTimestamp == nil }

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func hasFinalizer(p *corev1.Pod) bool {
	for _, f := range p.Finalizers {
		if f == trackingFinalizer {
			return true
		}
	}
	return false
}

// restarts sums the container restarts of active pods, which count
// against backoffLimit with restartPolicy OnFailure.
func restarts(active []*corev1.Pod) int32 {
	var n int32
	for _, p := range active {
		for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			n += cs.RestartCount
		}
	}
	return n
}

// pastBackoffLimit: more failures than backoffLimit, or (OnFailure) the
// restarts of running pods reach it, as upstream.
func pastBackoffLimit(j *batchv1.Job, failed int32, active []*corev1.Pod) bool {
	limit := int32(6)
	if j.Spec.BackoffLimit != nil {
		limit = *j.Spec.BackoffLimit
	}
	if failed > limit {
		return true
	}
	if j.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
		return false
	}
	r := restarts(active)
	if limit == 0 {
		return r > 0
	}
	return r >= limit
}

// pastDeadline returns whether the Job ran out of activeDeadlineSeconds
// and, if not, how long it has left.
func pastDeadline(j *batchv1.Job, now time.Time) (bool, time.Duration) {
	if j.Spec.ActiveDeadlineSeconds == nil || j.Status.StartTime == nil {
		return false, 0
	}
	left := j.Status.StartTime.Add(time.Duration(*j.Spec.ActiveDeadlineSeconds) * time.Second).Sub(now)
	return left <= 0, left
}

func parallelism(j *batchv1.Job) int {
	if j.Spec.Parallelism == nil {
		return 1
	}
	return int(*j.Spec.Parallelism)
}

func isIndexed(j *batchv1.Job) bool {
	return j.Spec.CompletionMode != nil && *j.Spec.CompletionMode == batchv1.IndexedCompletion
}

// wantActive is how many pods should run, as upstream's manageJob: up
// to parallelism, no more than the completions still missing; with no
// completions (a work queue) none are added once one succeeded.
func wantActive(j *batchv1.Job, active, succeeded int) int {
	par := parallelism(j)
	if j.Spec.Completions == nil {
		if succeeded > 0 {
			return min(active, par)
		}
		return par
	}
	return max(0, min(par, int(*j.Spec.Completions)-succeeded))
}

// completed: the Job met its completions.
func completed(j *batchv1.Job, succeeded, active int) bool {
	if j.Spec.Completions == nil {
		return succeeded > 0 && active == 0
	}
	return succeeded >= int(*j.Spec.Completions)
}

func findCondition(st *batchv1.JobStatus, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t && st.Conditions[i].Status == corev1.ConditionTrue {
			return &st.Conditions[i]
		}
	}
	return nil
}

// setCondition adds or updates a condition; the transition time changes
// only with the status.
func setCondition(st *batchv1.JobStatus, t batchv1.JobConditionType, s corev1.ConditionStatus, reason, msg string, now time.Time) bool {
	for i := range st.Conditions {
		c := &st.Conditions[i]
		if c.Type != t {
			continue
		}
		if c.Status == s && c.Reason == reason && c.Message == msg {
			return false
		}
		if c.Status != s {
			c.LastTransitionTime = metav1.NewTime(now)
		}
		c.Status, c.Reason, c.Message, c.LastProbeTime = s, reason, msg, metav1.NewTime(now)
		return true
	}
	st.Conditions = append(st.Conditions, batchv1.JobCondition{Type: t, Status: s, Reason: reason, Message: msg,
		LastProbeTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now)})
	return true
}

// IsFinished reports whether a Job has its Complete or Failed condition,
// and when it got it.
func IsFinished(j *batchv1.Job) (bool, time.Time) {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true, c.LastTransitionTime.Time
		}
	}
	return false, time.Time{}
}

// deletionOrder ranks active pods for removal as upstream's ActivePods
// ordering, first to go first: unscheduled, pending, not ready, newer.
func deletionOrder(pods []*corev1.Pod) {
	rank := func(p *corev1.Pod) int {
		r := 0
		if p.Spec.NodeName != "" {
			r += 4
		}
		if p.Status.Phase == corev1.PodRunning {
			r += 2
		}
		if isReady(p) {
			r++
		}
		return r
	}
	sort.SliceStable(pods, func(i, j int) bool {
		ri, rj := rank(pods[i]), rank(pods[j])
		if ri != rj {
			return ri < rj
		}
		return pods[j].CreationTimestamp.Before(&pods[i].CreationTimestamp)
	})
}
