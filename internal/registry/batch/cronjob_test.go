package batch

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func newCronJob() *batchv1.CronJob {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "backup", Namespace: "default", CreationTimestamp: hourAgo},
		Spec: batchv1.CronJobSpec{
			Schedule:    "*/5 * * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: podTemplate()}},
		},
	}
	cronJobStrategy{}.Default(cj)
	return cj
}

func TestCronJobDefault(t *testing.T) {
	cj := newCronJob()
	if cj.Spec.ConcurrencyPolicy != batchv1.AllowConcurrent || *cj.Spec.Suspend || *cj.Spec.SuccessfulJobsHistoryLimit != 3 || *cj.Spec.FailedJobsHistoryLimit != 1 {
		t.Fatalf("spec = %+v", cj.Spec)
	}
	// Job defaults apply when the controller creates the Job, not here.
	if tmpl := cj.Spec.JobTemplate.Spec; tmpl.Parallelism != nil || tmpl.BackoffLimit != nil {
		t.Fatalf("job template defaulted: %+v", tmpl)
	}
}

func TestCronJobValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*batchv1.CronJob)
		want   []want
	}{
		{"valid", func(*batchv1.CronJob) {}, nil},
		{"descriptor", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "@hourly" }, nil},
		{"every", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "@every 1h30m" }, nil},
		{"time zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptrTo("Europe/Berlin") }, nil},
		{"legacy zone name", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptrTo("Etc/GMT+5") }, nil},
		{"missing schedule", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "" }, []want{{field.ErrorTypeRequired, "spec.schedule", ""}}},
		{"bad schedule", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "every day" }, []want{
			{field.ErrorTypeInvalid, "spec.schedule", "expected exactly 5 fields"},
		}},
		{"out of range", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "61 * * * *" }, []want{{field.ErrorTypeInvalid, "spec.schedule", ""}}},
		{"TZ in schedule", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "CRON_TZ=UTC 0 * * * *" }, []want{
			{field.ErrorTypeInvalid, "spec.schedule", "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"},
		}},
		{"unknown zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptrTo("Mars/Olympus") }, []want{
			{field.ErrorTypeInvalid, "spec.timeZone", "unknown time zone Mars/Olympus"},
		}},
		{"malformed zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptrTo("../etc/passwd") }, []want{
			{field.ErrorTypeInvalid, "spec.timeZone", "unknown time zone ../etc/passwd"},
		}},
		{"Local", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptrTo("Local") }, []want{
			{field.ErrorTypeInvalid, "spec.timeZone", "timeZone must be an explicit time zone"},
		}},
		{"empty zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptrTo("") }, []want{
			{field.ErrorTypeInvalid, "spec.timeZone", "timeZone must be nil or non-empty string"},
		}},
		{"concurrency policy", func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = "Queue" }, []want{
			{field.ErrorTypeNotSupported, "spec.concurrencyPolicy", ""},
		}},
		{"negative history", func(cj *batchv1.CronJob) { cj.Spec.FailedJobsHistoryLimit = ptrTo[int32](-1) }, []want{
			{field.ErrorTypeInvalid, "spec.failedJobsHistoryLimit", ""},
		}},
		{"name too long for job names", func(cj *batchv1.CronJob) { cj.Name = strings.Repeat("a", 53) }, []want{
			{field.ErrorTypeInvalid, "metadata.name", "must be no more than 52 characters"},
		}},
		{"template selector", func(cj *batchv1.CronJob) {
			cj.Spec.JobTemplate.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}
			cj.Spec.JobTemplate.Spec.ManualSelector = ptrTo(true)
		}, []want{
			{field.ErrorTypeInvalid, "spec.jobTemplate.spec.selector", "`selector` will be auto-generated"},
			{field.ErrorTypeNotSupported, "spec.jobTemplate.spec.manualSelector", ""},
		}},
		{"template restart policy", func(cj *batchv1.CronJob) {
			cj.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
		}, []want{
			{field.ErrorTypeRequired, "spec.jobTemplate.spec.template.spec.restartPolicy", ""},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cj := newCronJob()
			tc.mutate(cj)
			checkErrors(t, cronJobStrategy{}.Validate(context.Background(), cj), tc.want)
		})
	}
}

func TestCronJobValidateUpdate(t *testing.T) {
	ctx := context.Background()
	old := newCronJob()
	old.Name = strings.Repeat("a", 60)
	old.Spec.Schedule = "TZ=UTC 0 * * * *"
	cj := old.DeepCopy()
	cj.Spec.Suspend = ptrTo(true)
	// Long names and TZ schedules stored before the rules stay updatable.
	checkErrors(t, cronJobStrategy{}.ValidateUpdate(ctx, cj, old), nil)
	cj.Spec.TimeZone = ptrTo("UTC")
	checkErrors(t, cronJobStrategy{}.ValidateUpdate(ctx, cj, old), []want{
		{field.ErrorTypeInvalid, "spec.schedule", "cannot use both timeZone field and TZ or CRON_TZ in schedule"},
	})
	if w := (cronJobStrategy{}).Warnings(ctx, cj, old); len(w) != 1 || !strings.Contains(w[0], "cannot use TZ or CRON_TZ") {
		t.Fatalf("warnings = %v", w)
	}
}

func TestParseSchedule(t *testing.T) {
	sched, err := ParseSchedule("30 9 * * *", ptrTo("Asia/Tokyo"))
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) // 09:00 in Tokyo
	if next := sched.Next(from); !next.Equal(time.Date(2030, 1, 1, 0, 30, 0, 0, time.UTC)) {
		t.Fatalf("next = %v", next.UTC())
	}
	if _, err := ParseSchedule("@reboot", nil); err == nil {
		t.Fatal("@reboot accepted")
	}
}

func TestCronJobTable(t *testing.T) {
	s := cronJobStrategy{now: clock}
	cj := newCronJob()
	last := metav1.NewTime(fixedNow.Add(-3 * time.Minute))
	cj.Status = batchv1.CronJobStatus{LastScheduleTime: &last, Active: []corev1.ObjectReference{{Name: "backup-1"}}}
	want := []interface{}{"backup", "*/5 * * * *", "<none>", "False", int64(1), "3m", "60m", "pi", "perl:5", "<none>"}
	if row := s.Row(cj); !reflect.DeepEqual(row, want) {
		t.Fatalf("row = %#v", row)
	}
	if len(want) != len(s.ColumnDefinitions()) {
		t.Fatal("column count")
	}
}
