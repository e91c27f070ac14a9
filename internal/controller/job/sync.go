package job

import (
	"context"
	"errors"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"skiff.dev/skiff/internal/controller/ownerref"
)

// finalizerPatch removes the tracking finalizer, as upstream.
var finalizerPatch = []byte(`{"metadata":{"$deleteFromPrimitiveList/finalizers":["` + trackingFinalizer + `"]}}`)

// Reconcile syncs the Job named by key.
func (c *Controller) Reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.jobs.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.Delete(key)
		return nil
	}
	if err != nil {
		return err
	}
	j := cached.DeepCopy()
	if done, _ := IsFinished(j); done {
		// A finished Job lets go of every pod it still holds.
		objs, err := ownerref.Owned(c.pods, j, false)
		if err != nil {
			return err
		}
		var holding []*corev1.Pod
		for _, o := range objs {
			if p := o.(*corev1.Pod); hasFinalizer(p) {
				holding = append(holding, p)
			}
		}
		_, err = c.removeFinalizers(ctx, holding)
		return err
	}
	sel, err := metav1.LabelSelectorAsSelector(j.Spec.Selector)
	if err != nil || sel.Empty() {
		return nil
	}
	pods, err := c.claimPods(ctx, j, sel)
	if err != nil {
		return err
	}
	return c.sync(ctx, key, j, pods)
}

// jobState is one sync's view of a Job's pods.
type jobState struct {
	active      []*corev1.Pod
	terminating int32
	newSucc     []*corev1.Pod
	newFail     []*corev1.Pod
	uncounted   batchv1.UncountedTerminatedPods
	completed   indexSet // Indexed
	succeeded   int
	failed      int32
}

func (c *Controller) observe(j *batchv1.Job, pods []*corev1.Pod) *jobState {
	s := &jobState{}
	if u := j.Status.UncountedTerminatedPods; u != nil {
		s.uncounted = *u.DeepCopy()
	}
	inUncounted := map[types.UID]bool{}
	for _, u := range append(append([]types.UID{}, s.uncounted.Succeeded...), s.uncounted.Failed...) {
		inUncounted[u] = true
	}
	completions := 0
	if j.Spec.Completions != nil {
		completions = int(*j.Spec.Completions)
	}
	if isIndexed(j) {
		s.completed = parseIndexes(j.Status.CompletedIndexes, completions)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range pods {
		if p.DeletionTimestamp != nil && !isFinished(p) {
			s.terminating++
		}
		if _, ok := c.removing[p.UID]; ok {
			continue // counted; the cache has not seen its finalizer go yet
		}
		if isActive(p) {
			s.active = append(s.active, p)
			continue
		}
		if !hasFinalizer(p) || inUncounted[p.UID] {
			continue
		}
		if p.Status.Phase == corev1.PodSucceeded {
			s.newSucc = append(s.newSucc, p)
			s.uncounted.Succeeded = append(s.uncounted.Succeeded, p.UID)
			if isIndexed(j) {
				if ix := completionIndex(p); ix >= 0 && ix < completions {
					s.completed[ix] = struct{}{}
				}
			}
		} else if isFailed(p) {
			s.newFail = append(s.newFail, p)
			s.uncounted.Failed = append(s.uncounted.Failed, p.UID)
		}
	}
	if isIndexed(j) {
		s.succeeded = len(s.completed)
	} else {
		s.succeeded = int(j.Status.Succeeded) + len(s.uncounted.Succeeded)
	}
	s.failed = j.Status.Failed + int32(len(s.uncounted.Failed))
	return s
}

func (c *Controller) sync(ctx context.Context, key string, j *batchv1.Job, pods []*corev1.Pod) error {
	now := c.now()
	s := c.observe(j, pods)
	c.recordBackoff(key, s, now)
	st := j.Status.DeepCopy()
	suspended := j.Spec.Suspend != nil && *j.Spec.Suspend

	if st.StartTime == nil && !suspended {
		st.StartTime = &metav1.Time{Time: now}
	}
	j.Status.StartTime = st.StartTime
	failureTarget := findCondition(st, batchv1.JobFailureTarget)
	successMet := findCondition(st, batchv1.JobSuccessCriteriaMet)
	if failureTarget == nil && successMet == nil {
		switch past, _ := pastDeadline(j, now); {
		case pastBackoffLimit(j, s.failed, s.active):
			setCondition(st, batchv1.JobFailureTarget, corev1.ConditionTrue, batchv1.JobReasonBackoffLimitExceeded, msgBackoffLimitExceeded, now)
		case past:
			setCondition(st, batchv1.JobFailureTarget, corev1.ConditionTrue, batchv1.JobReasonDeadlineExceeded, msgDeadlineExceeded, now)
		case completed(j, s.succeeded, len(s.active)):
			setCondition(st, batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue, batchv1.JobReasonCompletionsReached, msgCompletionsReached, now)
		}
		failureTarget = findCondition(st, batchv1.JobFailureTarget)
		successMet = findCondition(st, batchv1.JobSuccessCriteriaMet)
	}
	finishing := failureTarget != nil || successMet != nil

	var manageErr error
	activeAfter, deleted := len(s.active), 0
	switch {
	case finishing || suspended:
		n, err := c.deletePods(ctx, j, s.active)
		deleted, activeAfter, manageErr = n, len(s.active)-n, err
	case c.exp.Satisfied(key):
		var created int
		created, deleted, manageErr = c.manage(ctx, key, j, s)
		activeAfter = len(s.active) + created - deleted
	}
	c.syncSuspended(j, st, suspended, now)

	st.Active = int32(activeAfter)
	ready := int32(0)
	for _, p := range s.active {
		if isReady(p) && p.DeletionTimestamp == nil {
			ready++
		}
	}
	st.Ready = &ready
	st.Terminating = &s.terminating
	if isIndexed(j) {
		st.CompletedIndexes = s.completed.String()
		st.Succeeded = int32(s.succeeded)
	}

	// Record the finished pods as uncounted before their finalizers go,
	// so a crash in between cannot lose them; then count them.
	if len(s.newSucc)+len(s.newFail) > 0 {
		st.UncountedTerminatedPods = &s.uncounted
		if err := c.writeStatus(ctx, j, st); err != nil {
			return err
		}
	}
	if err := c.count(ctx, j, st, pods, &s.uncounted); err != nil {
		return err
	}
	if finishing && activeAfter == 0 && deleted == 0 && s.terminating == 0 && uncountedEmpty(st.UncountedTerminatedPods) {
		c.finish(j, st, failureTarget, successMet, now)
	}
	if err := c.writeStatus(ctx, j, st); err != nil {
		return err
	}
	if manageErr != nil {
		return manageErr
	}
	if _, left := pastDeadline(j, now); left > 0 && !finishing {
		c.loop.AddAfter(key, left)
	}
	return nil
}

func uncountedEmpty(u *batchv1.UncountedTerminatedPods) bool {
	return u == nil || len(u.Succeeded)+len(u.Failed) == 0
}

// count removes the tracking finalizer from the pods in uncounted and
// moves those it could release into the counters.
func (c *Controller) count(ctx context.Context, j *batchv1.Job, st *batchv1.JobStatus, pods []*corev1.Pod, uncounted *batchv1.UncountedTerminatedPods) error {
	byUID := map[types.UID]*corev1.Pod{}
	for _, p := range pods {
		byUID[p.UID] = p
	}
	var holding []*corev1.Pod
	for _, u := range append(append([]types.UID{}, uncounted.Succeeded...), uncounted.Failed...) {
		if p := byUID[u]; p != nil && hasFinalizer(p) {
			holding = append(holding, p)
		}
	}
	released, err := c.removeFinalizers(ctx, holding)
	keep := map[types.UID]bool{}
	for _, p := range holding {
		if !released[p.UID] {
			keep[p.UID] = true
		}
	}
	next := batchv1.UncountedTerminatedPods{}
	for _, u := range uncounted.Succeeded {
		if keep[u] {
			next.Succeeded = append(next.Succeeded, u)
		} else if !isIndexed(j) {
			st.Succeeded++
		}
	}
	for _, u := range uncounted.Failed {
		if keep[u] {
			next.Failed = append(next.Failed, u)
		} else {
			st.Failed++
		}
	}
	st.UncountedTerminatedPods = &next
	return err
}

// finish turns the interim condition into the terminal one, once no pod
// of the Job is left running, as upstream 1.31+.
func (c *Controller) finish(j *batchv1.Job, st *batchv1.JobStatus, failureTarget, successMet *batchv1.JobCondition, now time.Time) {
	if failureTarget != nil {
		reason, msg := failureTarget.Reason, failureTarget.Message
		setCondition(st, batchv1.JobFailed, corev1.ConditionTrue, reason, msg, now)
		c.recorder.Event(j, corev1.EventTypeWarning, reason, msg)
		return
	}
	setCondition(st, batchv1.JobComplete, corev1.ConditionTrue, successMet.Reason, successMet.Message, now)
	st.CompletionTime = &metav1.Time{Time: now}
	c.recorder.Event(j, corev1.EventTypeNormal, "Completed", "Job completed")
}

// syncSuspended maintains the Suspended condition; a resumed Job starts
// its deadline afresh.
func (c *Controller) syncSuspended(j *batchv1.Job, st *batchv1.JobStatus, suspended bool, now time.Time) {
	if suspended {
		if setCondition(st, batchv1.JobSuspended, corev1.ConditionTrue, "JobSuspended", "Job suspended", now) {
			c.recorder.Event(j, corev1.EventTypeNormal, "Suspended", "Job suspended")
		}
		return
	}
	if findCondition(st, batchv1.JobSuspended) != nil {
		setCondition(st, batchv1.JobSuspended, corev1.ConditionFalse, "JobResumed", "Job resumed", now)
		st.StartTime = &metav1.Time{Time: now}
		c.recorder.Event(j, corev1.EventTypeNormal, "Resumed", "Job resumed")
	}
}

func (c *Controller) recordBackoff(key string, s *jobState, now time.Time) {
	if len(s.newFail)+len(s.newSucc) == 0 {
		return
	}
	var failed, succeeded []time.Time
	for _, p := range s.newFail {
		failed = append(failed, finishTime(p, now))
	}
	for _, p := range s.newSucc {
		succeeded = append(succeeded, finishTime(p, now))
	}
	c.mu.Lock()
	c.backoff[key] = c.backoff[key].update(failed, succeeded)
	c.mu.Unlock()
}

func (c *Controller) writeStatus(ctx context.Context, j *batchv1.Job, st *batchv1.JobStatus) error {
	if apiequality.Semantic.DeepEqual(&j.Status, st) {
		return nil
	}
	j.Status = *st
	out, err := c.client.BatchV1().Jobs(j.Namespace).UpdateStatus(ctx, j, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("update status of job %s/%s: %w", j.Namespace, j.Name, err)
	}
	*j = *out
	*st = *out.Status.DeepCopy()
	return nil
}

// removeFinalizers patches the tracking finalizer off pods, returning
// those released (or gone).
func (c *Controller) removeFinalizers(ctx context.Context, pods []*corev1.Pod) (map[types.UID]bool, error) {
	released := map[types.UID]bool{}
	var errs []error
	for _, p := range pods {
		patch := fmt.Appendf(nil, `{"metadata":{"uid":%q,"$deleteFromPrimitiveList/finalizers":[%q]}}`, p.UID, trackingFinalizer)
		_, err := c.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			errs = append(errs, fmt.Errorf("remove tracking finalizer from pod %s/%s: %w", p.Namespace, p.Name, err))
			continue
		}
		released[p.UID] = true
		if err == nil {
			c.mu.Lock()
			c.removing[p.UID] = struct{}{}
			c.mu.Unlock()
		}
	}
	return released, errors.Join(errs...)
}

func (c *Controller) claimPods(ctx context.Context, j *batchv1.Job, sel labels.Selector) ([]*corev1.Pod, error) {
	objs, err := ownerref.Owned(c.pods, j, true)
	if err != nil {
		return nil, err
	}
	cl := &ownerref.Claimer{
		Controller: j, GVK: controllerKind,
		Match: func(o metav1.Object) bool { return sel.Matches(labels.Set(o.GetLabels())) },
		Patch: func(ctx context.Context, ns, name string, patch []byte) error {
			_, err := c.client.CoreV1().Pods(ns).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			return err
		},
		CanAdopt: ownerref.RecheckDeletion(j.UID, func(ctx context.Context) (metav1.Object, error) {
			return c.client.BatchV1().Jobs(j.Namespace).Get(ctx, j.Name, metav1.GetOptions{})
		}),
	}
	var out []*corev1.Pod
	var errs []error
	for _, o := range objs {
		p := o.(*corev1.Pod)
		ok, err := cl.Claim(ctx, p)
		if err != nil {
			errs = append(errs, err)
		} else if ok {
			out = append(out, p)
		}
	}
	return out, errors.Join(errs...)
}
