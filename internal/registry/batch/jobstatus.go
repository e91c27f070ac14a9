package batch

import (
	"context"
	"fmt"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Status rules guard the job controller's (and any external controller's,
// via spec.managedBy) bookkeeping. As upstream, most rules apply only when
// an update touches the fields they relate, so that objects stored before
// a rule existed stay writable.

// jobStatusChecks are upstream's JobStatusValidationOptions with the
// JobManagedBy gate on (GA in 1.35); the options that are always on are
// plain code in ValidateStatusUpdate.
type jobStatusChecks struct {
	decreasingSucceeded                                              bool
	invalidCompleted, invalidFailed, failedOverlapsCompleted         bool
	completedForNonIndexed, failedIndexesWithoutBackoffPerIndex      bool
	failedWithoutFailureTarget, completeWithoutSuccessCriteria       bool
	finishedWithActive, finishedWithoutStart, finishedWithUncounted  bool
	startTimeUpdateUnsuspended, completionBeforeStart                bool
	completeWithoutCompletionTime, completionTimeWithoutComplete     bool
	completeAndFailed, completeAndFailureTarget, moreReadyThanActive bool
	finishedWithTerminating                                          bool
}

func statusChecks(j, old *batchv1.Job) jobStatusChecks {
	c, oc := j.Status.Conditions, old.Status.Conditions
	finishedChanged := jobFinished(old) != jobFinished(j)
	completeChanged := conditionTrue(oc, batchv1.JobComplete) != conditionTrue(c, batchv1.JobComplete)
	failedChanged := conditionTrue(oc, batchv1.JobFailed) != conditionTrue(c, batchv1.JobFailed)
	failureTargetChanged := conditionTrue(oc, batchv1.JobFailureTarget) != conditionTrue(c, batchv1.JobFailureTarget)
	successCriteriaChanged := conditionTrue(oc, batchv1.JobSuccessCriteriaMet) != conditionTrue(c, batchv1.JobSuccessCriteriaMet)
	completedIndexesChanged := old.Status.CompletedIndexes != j.Status.CompletedIndexes
	failedIndexesChanged := !equalPtr(old.Status.FailedIndexes, j.Status.FailedIndexes)
	activeChanged := old.Status.Active != j.Status.Active
	startChanged := !apiequality.Semantic.DeepEqual(old.Status.StartTime, j.Status.StartTime)
	completionChanged := !apiequality.Semantic.DeepEqual(old.Status.CompletionTime, j.Status.CompletionTime)
	uncountedChanged := !apiequality.Semantic.DeepEqual(old.Status.UncountedTerminatedPods, j.Status.UncountedTerminatedPods)
	readyChanged := !equalPtr(old.Status.Ready, j.Status.Ready)
	terminatingChanged := !equalPtr(old.Status.Terminating, j.Status.Terminating)
	suspendedWithZeroCompletions := deref(j.Spec.Suspend, false) && equalPtr(j.Spec.Completions, ptrTo[int32](0))
	resuming := conditionTrue(oc, batchv1.JobSuspended) && conditionFalse(c, batchv1.JobSuspended)
	indexed := deref(j.Spec.CompletionMode, batchv1.NonIndexedCompletion) == batchv1.IndexedCompletion
	return jobStatusChecks{
		// An elastic Indexed job (completions scaled with parallelism)
		// may lose succeeded indexes when scaled down.
		decreasingSucceeded:                 !indexed || !equalPtr(j.Spec.Completions, j.Spec.Parallelism),
		invalidCompleted:                    completedIndexesChanged,
		invalidFailed:                       failedIndexesChanged,
		completedForNonIndexed:              completedIndexesChanged,
		failedIndexesWithoutBackoffPerIndex: failedIndexesChanged,
		failedOverlapsCompleted:             failedIndexesChanged || completedIndexesChanged,
		failedWithoutFailureTarget:          failedChanged || failedIndexesChanged,
		completeWithoutSuccessCriteria:      completeChanged || successCriteriaChanged,
		finishedWithActive:                  finishedChanged || activeChanged,
		finishedWithoutStart:                (finishedChanged || startChanged) && !suspendedWithZeroCompletions,
		finishedWithUncounted:               finishedChanged || uncountedChanged,
		startTimeUpdateUnsuspended:          startChanged && !resuming,
		completionBeforeStart:               startChanged || completionChanged,
		completionTimeWithoutComplete:       completeChanged || completionChanged,
		completeWithoutCompletionTime:       completeChanged || completionChanged,
		completeAndFailed:                   completeChanged || failedChanged,
		completeAndFailureTarget:            completeChanged || failureTargetChanged,
		moreReadyThanActive:                 readyChanged || activeChanged,
		finishedWithTerminating:             finishedChanged || terminatingChanged,
	}
}

func (jobStrategy) ValidateStatusUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	j, ok1 := obj.(*batchv1.Job)
	o, ok2 := old.(*batchv1.Job)
	if !ok1 || !ok2 {
		return wrongType(obj, "*v1.Job")
	}
	checks := statusChecks(j, o)
	p := field.NewPath("status")
	errs := validateJobStatus(j, p, checks)
	cp := p.Child("conditions")
	for _, t := range []batchv1.JobConditionType{batchv1.JobFailed, batchv1.JobComplete, batchv1.JobFailureTarget} {
		if conditionTrue(o.Status.Conditions, t) && !conditionTrue(j.Status.Conditions, t) {
			errs = append(errs, field.Invalid(cp, field.OmitValueType{}, fmt.Sprintf("cannot disable the terminal %s=True condition", t)))
		}
	}
	if j.Status.Failed < o.Status.Failed {
		errs = append(errs, field.Invalid(p.Child("failed"), j.Status.Failed, "cannot decrease the failed counter"))
	}
	if checks.decreasingSucceeded && j.Status.Succeeded < o.Status.Succeeded {
		errs = append(errs, field.Invalid(p.Child("succeeded"), j.Status.Succeeded, "cannot decrease the succeeded counter"))
	}
	// completionTime != nil: clearing it is refused by the Complete rule.
	if j.Status.CompletionTime != nil && o.Status.CompletionTime != nil && !j.Status.CompletionTime.Equal(o.Status.CompletionTime) {
		errs = append(errs, field.Invalid(p.Child("completionTime"), j.Status.CompletionTime, "field is immutable"))
	}
	// startTime may go from unset to set, and change when a suspended job
	// resumes.
	if checks.startTimeUpdateUnsuspended && o.Status.StartTime != nil && !deref(j.Spec.Suspend, false) {
		errs = append(errs, field.Invalid(p.Child("startTime"), j.Status.StartTime, "field is immutable for unsuspended job once set"))
	}
	if successCriteriaMet(o) && !successCriteriaMet(j) {
		errs = append(errs, field.Invalid(cp, field.OmitValueType{}, "cannot disable the SuccessCriteriaMet=True condition"))
	}
	if conditionTrue(o.Status.Conditions, batchv1.JobComplete) && !successCriteriaMet(o) && successCriteriaMet(j) {
		errs = append(errs, field.Invalid(cp, field.OmitValueType{}, "cannot set SuccessCriteriaMet=True for Job already has Complete=true conditions"))
	}
	return errs
}

func validateJobStatus(j *batchv1.Job, p *field.Path, checks jobStatusChecks) field.ErrorList {
	s := &j.Status
	errs := nonnegative(int64(s.Active), p.Child("active"))
	errs = append(errs, nonnegative(int64(s.Succeeded), p.Child("succeeded"))...)
	errs = append(errs, nonnegative(int64(s.Failed), p.Child("failed"))...)
	errs = append(errs, nonnegativePtr(s.Ready, p.Child("ready"))...)
	errs = append(errs, nonnegativePtr(s.Terminating, p.Child("terminating"))...)
	if u := s.UncountedTerminatedPods; u != nil {
		up := p.Child("uncountedTerminatedPods")
		seen := map[types.UID]bool{}
		check := func(uids []types.UID, lp *field.Path) {
			for i, uid := range uids {
				switch {
				case uid == "":
					errs = append(errs, field.Invalid(lp.Index(i), uid, "must not be empty"))
				case seen[uid]:
					errs = append(errs, field.Duplicate(lp.Index(i), uid))
				default:
					seen[uid] = true
				}
			}
		}
		check(u.Succeeded, up.Child("succeeded"))
		check(u.Failed, up.Child("failed"))
	}
	cp := p.Child("conditions")
	complete := conditionTrue(s.Conditions, batchv1.JobComplete)
	failed := conditionTrue(s.Conditions, batchv1.JobFailed)
	failureTarget := conditionTrue(s.Conditions, batchv1.JobFailureTarget)
	criteriaMet := successCriteriaMet(j)
	finished := jobFinished(j)
	if checks.completeAndFailed && complete && failed {
		errs = append(errs, field.Invalid(cp, field.OmitValueType{}, "cannot set Complete=True and Failed=true conditions"))
	}
	if checks.completeAndFailureTarget && complete && failureTarget {
		errs = append(errs, field.Invalid(cp, field.OmitValueType{}, "cannot set Complete=True and FailureTarget=true conditions"))
	}
	if checks.completionTimeWithoutComplete && s.CompletionTime != nil && !complete {
		errs = append(errs, field.Invalid(p.Child("completionTime"), s.CompletionTime, "cannot set completionTime when there is no Complete=True condition"))
	}
	if checks.completeWithoutCompletionTime && s.CompletionTime == nil && complete {
		errs = append(errs, field.Required(p.Child("completionTime"), "completionTime is required for Complete jobs"))
	}
	if checks.completionBeforeStart && s.StartTime != nil && s.CompletionTime != nil && s.CompletionTime.Before(s.StartTime) {
		errs = append(errs, field.Invalid(p.Child("completionTime"), s.CompletionTime, "must be equal to or after `startTime`"))
	}
	if checks.failedWithoutFailureTarget && failed && !failureTarget {
		errs = append(errs, field.Invalid(cp, field.OmitValueType{}, "cannot set Failed=True condition without the FailureTarget=true condition"))
	}
	if checks.completeWithoutSuccessCriteria && complete && !criteriaMet {
		errs = append(errs, field.Invalid(cp, field.OmitValueType{}, "cannot set Complete=True condition without the SuccessCriteriaMet=true condition"))
	}
	if checks.finishedWithActive && s.Active > 0 && finished {
		errs = append(errs, field.Invalid(p.Child("active"), s.Active, "active>0 is invalid for finished job"))
	}
	if checks.finishedWithoutStart && s.StartTime == nil && finished {
		errs = append(errs, field.Required(p.Child("startTime"), "startTime is required for finished job"))
	}
	if checks.finishedWithUncounted && finished && s.UncountedTerminatedPods != nil && len(s.UncountedTerminatedPods.Failed)+len(s.UncountedTerminatedPods.Succeeded) > 0 {
		errs = append(errs, field.Invalid(p.Child("uncountedTerminatedPods"), s.UncountedTerminatedPods, "must be empty for finished job"))
	}
	if checks.invalidCompleted && j.Spec.Completions != nil {
		if _, err := parseIndexes(s.CompletedIndexes, *j.Spec.Completions); err != nil {
			errs = append(errs, field.Invalid(p.Child("completedIndexes"), s.CompletedIndexes, "error parsing completedIndexes: "+err.Error()))
		}
	}
	if checks.invalidFailed && j.Spec.Completions != nil && j.Spec.BackoffLimitPerIndex != nil && s.FailedIndexes != nil {
		if _, err := parseIndexes(*s.FailedIndexes, *j.Spec.Completions); err != nil {
			errs = append(errs, field.Invalid(p.Child("failedIndexes"), s.FailedIndexes, "error parsing failedIndexes: "+err.Error()))
		}
	}
	indexed := deref(j.Spec.CompletionMode, batchv1.NonIndexedCompletion) == batchv1.IndexedCompletion
	if checks.completedForNonIndexed && s.CompletedIndexes != "" && !indexed {
		errs = append(errs, field.Invalid(p.Child("completedIndexes"), s.CompletedIndexes, "cannot set non-empty completedIndexes when non-indexed completion mode"))
	}
	if checks.failedIndexesWithoutBackoffPerIndex && j.Spec.BackoffLimitPerIndex == nil && s.FailedIndexes != nil {
		errs = append(errs, field.Invalid(p.Child("failedIndexes"), *s.FailedIndexes, "cannot set non-null failedIndexes when backoffLimitPerIndex is null"))
	}
	if checks.failedOverlapsCompleted && j.Spec.Completions != nil && s.FailedIndexes != nil {
		if err := indexesOverlap(s.CompletedIndexes, *s.FailedIndexes, *j.Spec.Completions); err != nil {
			errs = append(errs, field.Invalid(p.Child("failedIndexes"), *s.FailedIndexes, err.Error()))
		}
	}
	if checks.finishedWithTerminating && deref(s.Terminating, 0) > 0 && finished {
		errs = append(errs, field.Invalid(p.Child("terminating"), s.Terminating, "terminating>0 is invalid for finished job"))
	}
	if checks.moreReadyThanActive && s.Ready != nil && *s.Ready > s.Active {
		errs = append(errs, field.Invalid(p.Child("ready"), *s.Ready, "cannot set more ready pods than active"))
	}
	if criteriaMet && failed {
		errs = append(errs, field.Invalid(cp, field.OmitValueType{}, "cannot set SuccessCriteriaMet=True and Failed=true conditions"))
	}
	if criteriaMet && failureTarget {
		errs = append(errs, field.Invalid(cp, field.OmitValueType{}, "cannot set SuccessCriteriaMet=True and FailureTarget=true conditions"))
	}
	if j.Spec.SuccessPolicy != nil && !criteriaMet && complete {
		errs = append(errs, field.Invalid(cp, field.OmitValueType{}, "cannot set Complete=True for Job with SuccessPolicy unless SuccessCriteriaMet=True"))
	}
	return errs
}

// indexesOverlap reports the first index listed both as completed and as
// failed. Intervals that do not parse are skipped: the format checks
// report them.
func indexesOverlap(completed, failed string, completions int32) error {
	if completed == "" || failed == "" {
		return nil
	}
	type interval struct{ x, y int32 }
	parse := func(s string) []interval {
		var out []interval
		for _, part := range strings.Split(s, ",") {
			if x, y, err := parseIndexInterval(part, completions); err == nil {
				out = append(out, interval{x, y})
			}
		}
		return out
	}
	cs, fs := parse(completed), parse(failed)
	for i, k := 0, 0; i < len(cs) && k < len(fs); {
		c, f := cs[i], fs[k]
		if c.x <= f.y && f.x <= c.y {
			return fmt.Errorf("failedIndexes and completedIndexes overlap at index: %d", max(c.x, f.x))
		}
		if c.x <= f.x {
			i++
		} else {
			k++
		}
	}
	return nil
}

func jobFinished(j *batchv1.Job) bool {
	return conditionTrue(j.Status.Conditions, batchv1.JobComplete) || conditionTrue(j.Status.Conditions, batchv1.JobFailed)
}

func successCriteriaMet(j *batchv1.Job) bool {
	return conditionTrue(j.Status.Conditions, batchv1.JobSuccessCriteriaMet)
}

func equalPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
