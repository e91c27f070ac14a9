package cronjob

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
)

// maxMissed is how many missed start times upstream tolerates before it
// warns (it still starts the most recent one).
const maxMissed = 100

// parseSchedule parses cj's schedule in its time zone, as upstream:
// "CRON_TZ=<zone> <schedule>" when spec.timeZone is set. The cron
// library panics on some input; that comes back as an error.
func parseSchedule(cj *batchv1.CronJob) (sched cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			sched, err = nil, fmt.Errorf("%v", r)
		}
	}()
	s := cj.Spec.Schedule
	if cj.Spec.TimeZone != nil && !strings.Contains(s, "TZ") {
		if _, err := time.LoadLocation(*cj.Spec.TimeZone); err != nil {
			return nil, fmt.Errorf("unknown time zone %s: %w", *cj.Spec.TimeZone, err)
		}
		s = "CRON_TZ=" + *cj.Spec.TimeZone + " " + s
	}
	return cron.ParseStandard(s)
}

// mostRecentScheduleTime is upstream's: the latest start time at or
// before now that has not been acted on (after status.lastScheduleTime,
// else after creation, and no earlier than startingDeadlineSeconds ago),
// the number of such times missed, or nil if none is due.
func mostRecentScheduleTime(cj *batchv1.CronJob, now time.Time, sched cron.Schedule) (*time.Time, int) {
	earliest := cj.CreationTimestamp.Time
	if cj.Status.LastScheduleTime != nil {
		earliest = cj.Status.LastScheduleTime.Time
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil {
		if floor := now.Add(-time.Duration(*d) * time.Second); floor.After(earliest) {
			earliest = floor
		}
	}
	if earliest.After(now) {
		return nil, 0
	}
	var last *time.Time
	missed := 0
	t := sched.Next(earliest)
	for ; !t.After(now) && missed <= maxMissed; t = sched.Next(t) {
		tt := t
		last = &tt
		missed++
	}
	if missed > maxMissed && !t.After(now) {
		// Far behind: estimate the count from the interval between two
		// start times and walk only the last few, as upstream.
		t1 := sched.Next(earliest)
		interval := sched.Next(t1).Sub(t1)
		missed = int(now.Sub(t1)/interval) + 1
		for t = sched.Next(now.Add(-2 * interval)); !t.After(now); t = sched.Next(t) {
			tt := t
			last = &tt
		}
	}
	return last, missed
}

// nextScheduleDelay is how long until the next start time after now,
// plus upstream's 100 ms so the sync lands after it.
func nextScheduleDelay(sched cron.Schedule, now time.Time) time.Duration {
	return sched.Next(now).Sub(now) + 100*time.Millisecond
}

// jobName is "<cronjob>-<scheduled time in minutes since the epoch>".
func jobName(cj *batchv1.CronJob, scheduled time.Time) string {
	return fmt.Sprintf("%s-%d", cj.Name, scheduled.Unix()/60)
}
