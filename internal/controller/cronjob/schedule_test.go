package cronjob

import (
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestMostRecentScheduleTime(t *testing.T) {
	created := time.Date(2026, 3, 1, 10, 0, 30, 0, time.UTC)
	at := func(h, m int) time.Time { return time.Date(2026, 3, 1, h, m, 0, 0, time.UTC) }
	i64 := func(v int64) *int64 { return &v }
	for _, tc := range []struct {
		name     string
		schedule string
		last     *time.Time
		deadline *int64
		now      time.Time
		want     *time.Time
		missed   int
	}{
		{"nothing due yet", "*/5 * * * *", nil, nil, at(10, 4), nil, 0},
		{"first start", "*/5 * * * *", nil, nil, at(10, 5).Add(time.Second), ptr(at(10, 5)), 1},
		{"on the dot", "*/5 * * * *", nil, nil, at(10, 5), ptr(at(10, 5)), 1},
		{"after last schedule", "*/5 * * * *", ptr(at(10, 5)), nil, at(10, 7), nil, 0},
		{"missed three", "*/5 * * * *", ptr(at(10, 5)), nil, at(10, 21), ptr(at(10, 20)), 3},
		{"deadline hides old misses", "*/5 * * * *", ptr(at(10, 5)), i64(200), at(10, 21), ptr(at(10, 20)), 1},
		{"far behind", "* * * * *", nil, nil, at(20, 0).Add(30 * time.Second), ptr(at(20, 0)), 600},
	} {
		cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(created)},
			Spec: batchv1.CronJobSpec{Schedule: tc.schedule, StartingDeadlineSeconds: tc.deadline}}
		if tc.last != nil {
			cj.Status.LastScheduleTime = &metav1.Time{Time: *tc.last}
		}
		sched, err := parseSchedule(cj)
		if err != nil {
			t.Fatal(err)
		}
		got, missed := mostRecentScheduleTime(cj, tc.now, sched)
		if (got == nil) != (tc.want == nil) || (got != nil && !got.Equal(*tc.want)) || missed != tc.missed {
			t.Errorf("%s: got %v %d, want %v %d", tc.name, got, missed, tc.want, tc.missed)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestTimeZoneAndJobName(t *testing.T) {
	tz := "Asia/Tokyo"
	cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: "ns"},
		Spec: batchv1.CronJobSpec{Schedule: "0 9 * * *", TimeZone: &tz}}
	sched, err := parseSchedule(cj)
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	next := sched.Next(from)
	if !next.Equal(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("09:00 Tokyo after %v is %v, want 2026-03-02 00:00 UTC", from, next.UTC())
	}
	j := newJob(cj, jobName(cj, next), next)
	if j.Name != "nightly-29540160" {
		t.Errorf("job name %s", j.Name)
	}
	if got := j.Annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"]; got != "2026-03-02T09:00:00+09:00" {
		t.Errorf("scheduled annotation %s", got)
	}
	bad := "Mars/Olympus"
	cj.Spec.TimeZone = &bad
	if _, err := parseSchedule(cj); err == nil {
		t.Error("unknown zone accepted")
	}
}
