package batch

import (
	"context"
	"math"
	"reflect"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// newJob returns a job as the handler would store it: defaulted, with uid
// and generated selector.
func newJob() *batchv1.Job {
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "default", UID: "6b1d", CreationTimestamp: hourAgo},
		Spec:       batchv1.JobSpec{Template: podTemplate()},
	}
	s := jobStrategy{}
	s.Default(j)
	s.PrepareForCreate(context.Background(), j)
	return j
}

func TestJobDefault(t *testing.T) {
	cases := []struct {
		name  string
		spec  batchv1.JobSpec
		check func(*testing.T, *batchv1.JobSpec)
	}{
		{"non-parallel", batchv1.JobSpec{}, func(t *testing.T, s *batchv1.JobSpec) {
			if *s.Completions != 1 || *s.Parallelism != 1 || *s.BackoffLimit != 6 || *s.CompletionMode != batchv1.NonIndexedCompletion ||
				*s.Suspend || *s.ManualSelector || *s.PodReplacementPolicy != batchv1.TerminatingOrFailed {
				t.Fatalf("spec = %+v", s)
			}
		}},
		{"work queue keeps completions unset", batchv1.JobSpec{Parallelism: ptrTo[int32](3)}, func(t *testing.T, s *batchv1.JobSpec) {
			if s.Completions != nil || *s.Parallelism != 3 {
				t.Fatalf("completions %v parallelism %v", s.Completions, *s.Parallelism)
			}
		}},
		{"backoff per index", batchv1.JobSpec{BackoffLimitPerIndex: ptrTo[int32](1)}, func(t *testing.T, s *batchv1.JobSpec) {
			if *s.BackoffLimit != math.MaxInt32 {
				t.Fatalf("backoffLimit = %d", *s.BackoffLimit)
			}
		}},
		{"pod failure policy", batchv1.JobSpec{PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
			OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}},
		}}}}, func(t *testing.T, s *batchv1.JobSpec) {
			if *s.PodReplacementPolicy != batchv1.Failed || s.PodFailurePolicy.Rules[0].OnPodConditions[0].Status != corev1.ConditionTrue {
				t.Fatalf("spec = %+v", s)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := &batchv1.Job{Spec: tc.spec}
			jobStrategy{}.Default(j)
			tc.check(t, &j.Spec)
		})
	}
	t.Run("labels from template", func(t *testing.T) {
		j := &batchv1.Job{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"a": "b"}}}}}
		jobStrategy{}.Default(j)
		if j.Labels["a"] != "b" {
			t.Fatalf("labels = %v", j.Labels)
		}
	})
}

func TestJobPrepareForCreate(t *testing.T) {
	j := newJob()
	wantLabels := map[string]string{
		"job-name": "pi", "batch.kubernetes.io/job-name": "pi",
		"controller-uid": "6b1d", "batch.kubernetes.io/controller-uid": "6b1d",
	}
	if !reflect.DeepEqual(j.Spec.Template.Labels, wantLabels) {
		t.Fatalf("template labels = %v", j.Spec.Template.Labels)
	}
	if !reflect.DeepEqual(j.Spec.Selector, &metav1.LabelSelector{MatchLabels: map[string]string{"batch.kubernetes.io/controller-uid": "6b1d"}}) {
		t.Fatalf("selector = %v", j.Spec.Selector)
	}
	if len(j.Labels) != 0 {
		t.Fatalf("job labels = %v; a template without labels gives the job none", j.Labels)
	}
	t.Run("job labels follow template labels", func(t *testing.T) {
		j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "pi", UID: "6b1d"}, Spec: batchv1.JobSpec{Template: podTemplate()}}
		j.Spec.Template.Labels = map[string]string{"app": "pi"}
		jobStrategy{}.Default(j)
		jobStrategy{}.PrepareForCreate(context.Background(), j)
		if len(j.Labels) != 5 || j.Labels["batch.kubernetes.io/job-name"] != "pi" || j.Labels["app"] != "pi" {
			t.Fatalf("job labels = %v", j.Labels)
		}
	})
	t.Run("manual selector untouched", func(t *testing.T) {
		j := &batchv1.Job{Spec: batchv1.JobSpec{ManualSelector: ptrTo(true), Template: podTemplate()}}
		jobStrategy{}.PrepareForCreate(context.Background(), j)
		if j.Spec.Selector != nil || j.Spec.Template.Labels != nil {
			t.Fatalf("spec = %+v", j.Spec)
		}
	})
	t.Run("alpha scheduling dropped", func(t *testing.T) {
		j := &batchv1.Job{Spec: batchv1.JobSpec{Scheduling: &batchv1.JobSchedulingConfiguration{}}}
		jobStrategy{}.PrepareForCreate(context.Background(), j)
		if j.Spec.Scheduling != nil {
			t.Fatal("scheduling kept")
		}
	})
}

func TestJobValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*batchv1.Job)
		want   []want
	}{
		{"valid", func(*batchv1.Job) {}, nil},
		{"restartPolicy Always", func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways }, []want{
			{field.ErrorTypeRequired, "spec.template.spec.restartPolicy", `valid values: "OnFailure", "Never"`},
		}},
		{"restartPolicy unknown", func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = "Sometimes" }, []want{
			// Once by pod validation, once by the job rule, as upstream.
			{field.ErrorTypeNotSupported, "spec.template.spec.restartPolicy", `supported values: "Always", "OnFailure", "Never"`},
			{field.ErrorTypeNotSupported, "spec.template.spec.restartPolicy", `supported values: "OnFailure", "Never"`},
		}},
		{"no uid", func(j *batchv1.Job) { j.UID = "" }, []want{
			{field.ErrorTypeRequired, "metadata.uid", ""},
			{field.ErrorTypeInvalid, "spec.template.metadata.labels[controller-uid]", "must be ''"},
			{field.ErrorTypeInvalid, "spec.template.metadata.labels[batch.kubernetes.io/controller-uid]", ""},
			{field.ErrorTypeInvalid, "spec.selector", "`selector` not auto-generated"},
		}},
		{"generated label removed", func(j *batchv1.Job) { delete(j.Spec.Template.Labels, "job-name") }, []want{
			{field.ErrorTypeRequired, "spec.template.metadata.labels[job-name]", ""},
		}},
		{"manual selector must match template", func(j *batchv1.Job) {
			j.Spec.ManualSelector = ptrTo(true)
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"x": "y"}}
		}, []want{{field.ErrorTypeInvalid, "spec.template.metadata.labels", "`selector` does not match template `labels`"}}},
		{"negative parallelism", func(j *batchv1.Job) { j.Spec.Parallelism = ptrTo[int32](-1) }, []want{
			{field.ErrorTypeInvalid, "spec.parallelism", "must be greater than or equal to 0"},
		}},
		{"indexed without completions", func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptrTo(batchv1.IndexedCompletion)
			j.Spec.Completions = nil
		}, []want{{field.ErrorTypeRequired, "spec.completions", "when completion mode is Indexed"}}},
		{"backoff per index needs indexed", func(j *batchv1.Job) { j.Spec.BackoffLimitPerIndex = ptrTo[int32](1) }, []want{
			{field.ErrorTypeInvalid, "spec.backoffLimitPerIndex", "requires indexed completion mode"},
		}},
		{"maxFailedIndexes needs backoff per index", func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptrTo(batchv1.IndexedCompletion)
			j.Spec.MaxFailedIndexes = ptrTo[int32](1)
		}, []want{{field.ErrorTypeRequired, "spec.backoffLimitPerIndex", "when maxFailedIndexes is specified"}}},
		{"bad completion mode", func(j *batchv1.Job) { j.Spec.CompletionMode = ptrTo(batchv1.CompletionMode("Sorted")) }, []want{
			{field.ErrorTypeNotSupported, "spec.completionMode", ""},
		}},
		{"indexed hostname too long", func(j *batchv1.Job) {
			j.Name = "a23456789012345678901234567890123456789012345678901234567890123"
			j.Spec.Template.Labels["job-name"] = j.Name
			j.Spec.Template.Labels["batch.kubernetes.io/job-name"] = j.Name
			j.Spec.CompletionMode = ptrTo(batchv1.IndexedCompletion)
			j.Spec.Completions = ptrTo[int32](10)
		}, []want{{field.ErrorTypeInvalid, "metadata.name", "will not able to create pod with invalid DNS label"}}},
		{"pod failure policy needs Never", func(j *batchv1.Job) {
			j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
			j.Spec.PodReplacementPolicy = ptrTo(batchv1.Failed)
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action:      batchv1.PodFailurePolicyActionFailJob,
				OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}},
			}}}
		}, []want{{field.ErrorTypeInvalid, "spec.template.spec.restartPolicy", `only "Never" is supported when podFailurePolicy is specified`}}},
		{"pod failure policy rules", func(j *batchv1.Job) {
			j.Spec.PodReplacementPolicy = ptrTo(batchv1.TerminatingOrFailed)
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
				{Action: "", OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
					Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, ContainerName: ptrTo("nope"), Values: []int32{3, 0, 3},
				}},
				{Action: batchv1.PodFailurePolicyActionFailIndex, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: "Bad Type!", Status: "Maybe"}}},
				{Action: batchv1.PodFailurePolicyActionIgnore},
			}}
		}, []want{
			{field.ErrorTypeNotSupported, "spec.podReplacementPolicy", ""},
			{field.ErrorTypeRequired, "spec.podFailurePolicy.rules[0].action", `valid values: ["Count" "FailIndex" "FailJob" "Ignore"]`},
			{field.ErrorTypeInvalid, "spec.podFailurePolicy.rules[0].onExitCodes.containerName", ""},
			{field.ErrorTypeInvalid, "spec.podFailurePolicy.rules[0].onExitCodes.values[1]", "must not be 0 for the In operator"},
			{field.ErrorTypeDuplicate, "spec.podFailurePolicy.rules[0].onExitCodes.values[2]", ""},
			{field.ErrorTypeInvalid, "spec.podFailurePolicy.rules[0].onExitCodes.values", "must be ordered"},
			{field.ErrorTypeInvalid, "spec.podFailurePolicy.rules[1].action", "requires the backoffLimitPerIndex to be set"},
			{field.ErrorTypeInvalid, "spec.podFailurePolicy.rules[1].onPodConditions[0].type", ""},
			{field.ErrorTypeNotSupported, "spec.podFailurePolicy.rules[1].onPodConditions[0].status", ""},
			{field.ErrorTypeInvalid, "spec.podFailurePolicy.rules[2]", "specifying one of OnExitCodes and OnPodConditions is required"},
		}},
		{"success policy", func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptrTo(batchv1.IndexedCompletion)
			j.Spec.Completions = ptrTo[int32](5)
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{
				{},
				{SucceededIndexes: ptrTo("0,2-1")},
				{SucceededIndexes: ptrTo("0-1"), SucceededCount: ptrTo[int32](3)},
				{SucceededIndexes: ptrTo("7")},
			}}
		}, []want{
			{field.ErrorTypeRequired, "spec.successPolicy.rules[0]", ""},
			{field.ErrorTypeInvalid, "spec.successPolicy.rules[1].succeededIndexes", "non-increasing order, previous: 2, current: 1"},
			{field.ErrorTypeInvalid, "spec.successPolicy.rules[2].succeededCount", "must be less than or equal to 2 (the number of indexes"},
			{field.ErrorTypeInvalid, "spec.successPolicy.rules[3].succeededIndexes", `too large index: "7"`},
		}},
		{"success policy needs indexed", func(j *batchv1.Job) {
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededCount: ptrTo[int32](1)}}}
		}, []want{{field.ErrorTypeInvalid, "spec.successPolicy", "requires indexed completion mode"}}},
		{"managedBy", func(j *batchv1.Job) { j.Spec.ManagedBy = ptrTo("not a path") }, []want{{field.ErrorTypeInvalid, "spec.managedBy", ""}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := newJob()
			tc.mutate(j)
			checkErrors(t, jobStrategy{}.Validate(context.Background(), j), tc.want)
		})
	}
}

func TestJobValidateUpdate(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		old    func(*batchv1.Job)
		mutate func(*batchv1.Job)
		want   []want
	}{
		{"running job template immutable", nil, func(j *batchv1.Job) { j.Spec.Template.Spec.Containers[0].Image = "perl:6" }, []want{
			{field.ErrorTypeInvalid, "spec.template", "field is immutable"},
		}},
		{"suspended unstarted job may change scheduling and resources", func(o *batchv1.Job) { o.Spec.Suspend = ptrTo(true) }, func(j *batchv1.Job) {
			j.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "a"}
			j.Spec.Template.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: mustQuantity("1")}
			j.Spec.Template.Annotations = map[string]string{"x": "y"}
		}, nil},
		{"suspended job still cannot change image", func(o *batchv1.Job) { o.Spec.Suspend = ptrTo(true) }, func(j *batchv1.Job) {
			j.Spec.Template.Spec.Containers[0].Image = "perl:6"
		}, []want{{field.ErrorTypeInvalid, "spec.template.spec", "field is immutable"}}},
		{"completions immutable when not indexed", nil, func(j *batchv1.Job) { j.Spec.Completions = ptrTo[int32](3) }, []want{
			{field.ErrorTypeInvalid, "spec.completions", "field is immutable"},
		}},
		{"indexed scale in tandem", func(o *batchv1.Job) { o.Spec.CompletionMode = ptrTo(batchv1.IndexedCompletion) }, func(j *batchv1.Job) {
			j.Spec.Completions = ptrTo[int32](3)
			j.Spec.Parallelism = ptrTo[int32](3)
		}, nil},
		{"indexed scale alone", func(o *batchv1.Job) { o.Spec.CompletionMode = ptrTo(batchv1.IndexedCompletion) }, func(j *batchv1.Job) {
			j.Spec.Completions = ptrTo[int32](3)
		}, []want{{field.ErrorTypeInvalid, "spec.completions", "can only be modified in tandem with spec.parallelism"}}},
		{"parallelism, suspend, ttl and deadline may change", nil, func(j *batchv1.Job) {
			j.Spec.Parallelism = ptrTo[int32](4)
			j.Spec.Suspend = ptrTo(true)
			j.Spec.TTLSecondsAfterFinished = ptrTo[int32](100)
			j.Spec.ActiveDeadlineSeconds = ptrTo[int64](30)
		}, nil},
		{"selector, mode and managedBy immutable", nil, func(j *batchv1.Job) {
			j.Spec.Selector.MatchLabels["job-name"] = "pi"
			j.Spec.CompletionMode = ptrTo(batchv1.IndexedCompletion)
			j.Spec.ManagedBy = ptrTo("example.com/queue")
		}, []want{
			{field.ErrorTypeInvalid, "spec.selector", "field is immutable"},
			{field.ErrorTypeInvalid, "spec.completionMode", "field is immutable"},
			{field.ErrorTypeInvalid, "spec.managedBy", "field is immutable"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := newJob()
			if tc.old != nil {
				tc.old(old)
			}
			j := old.DeepCopy()
			tc.mutate(j)
			checkErrors(t, jobStrategy{}.ValidateUpdate(ctx, j, old), tc.want)
		})
	}
}

func TestJobValidateStatusUpdate(t *testing.T) {
	ctx := context.Background()
	earlier := metav1.NewTime(fixedNow.Add(-2 * time.Hour))
	start := metav1.NewTime(fixedNow.Add(-time.Minute))
	cond := func(t batchv1.JobConditionType) batchv1.JobCondition {
		return batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue}
	}
	cases := []struct {
		name      string
		old, next batchv1.JobStatus
		want      []want
	}{
		{"progress", batchv1.JobStatus{}, batchv1.JobStatus{Active: 1, Ready: ptrTo[int32](1), StartTime: &earlier}, nil},
		{"complete properly", batchv1.JobStatus{Active: 1, StartTime: &earlier}, batchv1.JobStatus{
			Succeeded: 1, StartTime: &earlier, CompletionTime: &hourAgo,
			Conditions: []batchv1.JobCondition{cond(batchv1.JobSuccessCriteriaMet), cond(batchv1.JobComplete)},
		}, nil},
		{"complete without criteria or time", batchv1.JobStatus{StartTime: &earlier}, batchv1.JobStatus{
			StartTime: &earlier, Active: 1, Conditions: []batchv1.JobCondition{cond(batchv1.JobComplete)},
		}, []want{
			{field.ErrorTypeInvalid, "status.conditions", "cannot set Complete=True condition without the SuccessCriteriaMet=true condition"},
			{field.ErrorTypeRequired, "status.completionTime", ""},
			{field.ErrorTypeInvalid, "status.active", "active>0 is invalid for finished job"},
		}},
		{"failed without target", batchv1.JobStatus{StartTime: &earlier}, batchv1.JobStatus{
			StartTime: &earlier, Conditions: []batchv1.JobCondition{cond(batchv1.JobFailed)},
		}, []want{{field.ErrorTypeInvalid, "status.conditions", "without the FailureTarget=true condition"}}},
		{"counters cannot decrease", batchv1.JobStatus{Failed: 2, Succeeded: 2}, batchv1.JobStatus{Failed: 1, Succeeded: 1}, []want{
			{field.ErrorTypeInvalid, "status.failed", "cannot decrease the failed counter"},
			{field.ErrorTypeInvalid, "status.succeeded", "cannot decrease the succeeded counter"},
		}},
		{"terminal condition kept", batchv1.JobStatus{StartTime: &earlier, Conditions: []batchv1.JobCondition{cond(batchv1.JobFailureTarget), cond(batchv1.JobFailed)}},
			batchv1.JobStatus{StartTime: &earlier, Conditions: []batchv1.JobCondition{cond(batchv1.JobFailureTarget)}}, []want{
				{field.ErrorTypeInvalid, "status.conditions", "cannot disable the terminal Failed=True condition"},
			}},
		{"startTime fixed once set", batchv1.JobStatus{StartTime: &earlier}, batchv1.JobStatus{StartTime: &start}, []want{
			{field.ErrorTypeInvalid, "status.startTime", "field is immutable for unsuspended job once set"},
		}},
		{"ready above active", batchv1.JobStatus{}, batchv1.JobStatus{Active: 1, Ready: ptrTo[int32](2)}, []want{
			{field.ErrorTypeInvalid, "status.ready", "cannot set more ready pods than active"},
		}},
		{"completedIndexes on non-indexed job", batchv1.JobStatus{}, batchv1.JobStatus{CompletedIndexes: "0"}, []want{
			{field.ErrorTypeInvalid, "status.completedIndexes", "cannot set non-empty completedIndexes when non-indexed completion mode"},
		}},
		{"uncounted pods", batchv1.JobStatus{}, batchv1.JobStatus{UncountedTerminatedPods: &batchv1.UncountedTerminatedPods{
			Succeeded: []types.UID{"a", ""}, Failed: []types.UID{"a"},
		}}, []want{
			{field.ErrorTypeInvalid, "status.uncountedTerminatedPods.succeeded[1]", "must not be empty"},
			{field.ErrorTypeDuplicate, "status.uncountedTerminatedPods.failed[0]", ""},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := newJob()
			old.Status = tc.old
			j := old.DeepCopy()
			j.Status = tc.next
			checkErrors(t, jobStrategy{}.ValidateStatusUpdate(ctx, j, old), tc.want)
		})
	}
}

func TestIndexesOverlap(t *testing.T) {
	if err := indexesOverlap("0-2,5", "3,4", 10); err != nil {
		t.Fatal(err)
	}
	err := indexesOverlap("0-2,5", "4-6", 10)
	if err == nil || err.Error() != "failedIndexes and completedIndexes overlap at index: 5" {
		t.Fatalf("err = %v", err)
	}
}

func TestJobTable(t *testing.T) {
	s := jobStrategy{now: clock}
	start := metav1.NewTime(fixedNow.Add(-90 * time.Second))
	done := metav1.NewTime(fixedNow.Add(-30 * time.Second))
	cases := []struct {
		name   string
		mutate func(*batchv1.Job)
		want   []interface{}
	}{
		{"pending", func(*batchv1.Job) {}, []interface{}{"Running", "0/1", ""}},
		{"running", func(j *batchv1.Job) { j.Status.StartTime = &start }, []interface{}{"Running", "0/1", "90s"}},
		{"complete", func(j *batchv1.Job) {
			j.Status = batchv1.JobStatus{StartTime: &start, CompletionTime: &done, Succeeded: 1, Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}
		}, []interface{}{"Complete", "1/1", "60s"}},
		{"work queue", func(j *batchv1.Job) {
			j.Spec.Completions = nil
			j.Spec.Parallelism = ptrTo[int32](3)
			j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobSuspended, Status: corev1.ConditionTrue}}
		}, []interface{}{"Suspended", "0/1 of 3", ""}},
		{"terminating", func(j *batchv1.Job) { j.DeletionTimestamp = &done }, []interface{}{"Terminating", "0/1", ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := newJob()
			tc.mutate(j)
			row := s.Row(j)
			if len(row) != len(s.ColumnDefinitions()) {
				t.Fatalf("%d cells for %d columns", len(row), len(s.ColumnDefinitions()))
			}
			if !reflect.DeepEqual(row[1:4], tc.want) || row[0] != "pi" || row[4] != "60m" || row[5] != "pi" || row[6] != "perl:5" ||
				row[7] != "batch.kubernetes.io/controller-uid=6b1d" {
				t.Fatalf("row = %#v", row)
			}
		})
	}
	if got := s.SelectableFields(newJob()); !reflect.DeepEqual(got, fields.Set{"status.successful": "0"}) {
		t.Fatalf("fields = %v", got)
	}
}

// TestTemplateWarnings: jobs and cron jobs report their pod template's
// warnings under their own paths.
func TestTemplateWarnings(t *testing.T) {
	ctx := context.Background()
	j := newJob()
	j.Spec.Template.Spec.NodeSelector = map[string]string{"beta.kubernetes.io/os": "linux"}
	const msg = `nodeSelector[beta.kubernetes.io/os]: deprecated since v1.14; use "kubernetes.io/os" instead`
	if got := (jobStrategy{}).Warnings(ctx, j, nil); len(got) != 1 || got[0] != "spec.template.spec."+msg {
		t.Errorf("job warnings = %q", got)
	}
	if got := (jobStrategy{}).Warnings(ctx, j.DeepCopy(), j); got != nil {
		t.Errorf("job update without a spec change warned: %q", got)
	}
	cj := newCronJob()
	cj.Spec.JobTemplate.Spec.Template.Spec.NodeSelector = j.Spec.Template.Spec.NodeSelector
	if got := (cronJobStrategy{}).Warnings(ctx, cj, nil); len(got) != 1 || got[0] != "spec.jobTemplate.spec.template.spec."+msg {
		t.Errorf("cron job warnings = %q", got)
	}
}
