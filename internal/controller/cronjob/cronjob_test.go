package cronjob_test

import (
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/internal/controller/controllertest"
	"skiff.dev/skiff/internal/controller/cronjob"
)

// clock is the controller's time, moved by the test.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time  { return time.Unix(0, c.ns.Load()) }
func (c *clock) set(t time.Time) { c.ns.Store(t.UnixNano()) }

func start(t *testing.T) (*controllertest.Env, *clock) {
	t.Helper()
	env := controllertest.Start(t)
	clk := &clock{}
	clk.set(time.Now())
	c, err := cronjob.New(env.Client, env.Factory, env.Recorder("cronjob-controller"), env.Log, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	env.StartInformers(t)
	go c.Run(env.Ctx, 2)
	return env, clk
}

func newCronJob(name string, policy batchv1.ConcurrencyPolicy) *batchv1.CronJob {
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: batchv1.CronJobSpec{
			Schedule: "* * * * *", ConcurrencyPolicy: policy,
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"cron": name}},
				Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
				}}},
			},
		},
	}
}

// at moves the clock to second s after the minute m minutes after the
// CronJob's creation minute, and makes the controller look.
func at(t *testing.T, env *controllertest.Env, clk *clock, cj *batchv1.CronJob, m int, s int) time.Time {
	t.Helper()
	minute := cj.CreationTimestamp.Time.Truncate(time.Minute).Add(time.Duration(m) * time.Minute)
	clk.set(minute.Add(time.Duration(s) * time.Second))
	patch := fmt.Sprintf(`{"metadata":{"annotations":{"test/poke":"%d-%d"}}}`, m, s)
	if _, err := env.Client.BatchV1().CronJobs("default").Patch(env.Ctx, cj.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	return minute
}

func jobs(t *testing.T, env *controllertest.Env, cj string) []batchv1.Job {
	t.Helper()
	l, err := env.Client.BatchV1().Jobs("default").List(env.Ctx, metav1.ListOptions{LabelSelector: "cron=" + cj})
	if err != nil {
		t.Fatal(err)
	}
	var out []batchv1.Job
	for _, j := range l.Items {
		if j.DeletionTimestamp == nil {
			out = append(out, j)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

func waitJobs(t *testing.T, env *controllertest.Env, cj string, want ...string) []batchv1.Job {
	t.Helper()
	var got []batchv1.Job
	controllertest.Eventually(t, 10*time.Second, func() error {
		got = jobs(t, env, cj)
		var names []string
		for _, j := range got {
			names = append(names, j.Name)
		}
		if strings.Join(names, ",") != strings.Join(want, ",") {
			return fmt.Errorf("jobs %v, want %v", names, want)
		}
		return nil
	})
	return got
}

func waitEvent(t *testing.T, env *controllertest.Env, name, want string) {
	t.Helper()
	controllertest.Eventually(t, 10*time.Second, func() error {
		msgs, err := controllertest.EventMessages(env.Ctx, env.Client, "default", name)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m == want {
				return nil
			}
		}
		return fmt.Errorf("no event %q in %q", want, msgs)
	})
}

func getCJ(t *testing.T, env *controllertest.Env, name string) *batchv1.CronJob {
	t.Helper()
	cj, err := env.Client.BatchV1().CronJobs("default").Get(env.Ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cj
}

func complete(t *testing.T, env *controllertest.Env, j batchv1.Job, when time.Time) {
	t.Helper()
	now := metav1.NewTime(when)
	j.Status.StartTime, j.Status.CompletionTime = &now, &now
	j.Status.Conditions = []batchv1.JobCondition{
		{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now},
	}
	if _, err := env.Client.BatchV1().Jobs("default").UpdateStatus(env.Ctx, &j, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestForbidCompletionAndHistory(t *testing.T) {
	env, clk := start(t)
	spec := newCronJob("tick", batchv1.ForbidConcurrent)
	spec.Spec.SuccessfulJobsHistoryLimit = ptr[int32](1)
	cj, err := env.Client.BatchV1().CronJobs("default").Create(env.Ctx, spec, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m1 := at(t, env, clk, cj, 1, 5)
	name1 := fmt.Sprintf("tick-%d", m1.Unix()/60)
	j1 := waitJobs(t, env, "tick", name1)[0]
	if !metav1.IsControlledBy(&j1, cj) || j1.Annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"] != m1.UTC().Format(time.RFC3339) {
		t.Fatalf("job %s refs %v annotations %v", j1.Name, j1.OwnerReferences, j1.Annotations)
	}
	waitEvent(t, env, "tick", "SuccessfulCreate: Created job "+name1)
	controllertest.Eventually(t, 10*time.Second, func() error {
		st := getCJ(t, env, "tick").Status
		if len(st.Active) != 1 || st.Active[0].Name != name1 || st.LastScheduleTime == nil || !st.LastScheduleTime.Equal(&metav1.Time{Time: m1}) {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})

	// The next minute comes while the first job runs: Forbid skips it.
	at(t, env, clk, cj, 2, 5)
	waitEvent(t, env, "tick", "JobAlreadyActive: Not starting job because prior execution is running and concurrency policy is Forbid")
	waitJobs(t, env, "tick", name1)

	// Once it completes, the skipped start (still the most recent, with
	// no starting deadline) runs, as upstream.
	complete(t, env, j1, m1.Add(30*time.Second))
	waitEvent(t, env, "tick", "SawCompletedJob: Saw completed job: "+name1+", condition: Complete")
	m2 := m1.Add(time.Minute)
	name2 := fmt.Sprintf("tick-%d", m2.Unix()/60)
	j2 := waitJobs(t, env, "tick", name1, name2)[1]
	controllertest.Eventually(t, 10*time.Second, func() error {
		st := getCJ(t, env, "tick").Status
		if len(st.Active) != 1 || st.Active[0].Name != name2 || st.LastSuccessfulTime == nil ||
			!st.LastSuccessfulTime.Equal(&metav1.Time{Time: m1.Add(30 * time.Second)}) || !st.LastScheduleTime.Equal(&metav1.Time{Time: m2}) {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	// When the second completes, the history limit of one deletes the
	// first.
	complete(t, env, j2, m2.Add(10*time.Second))
	waitJobs(t, env, "tick", name2)
	waitEvent(t, env, "tick", "SuccessfulDelete: Deleted job "+name1)
	controllertest.Eventually(t, 10*time.Second, func() error {
		st := getCJ(t, env, "tick").Status
		if len(st.Active) != 0 || !st.LastSuccessfulTime.Equal(&metav1.Time{Time: m2.Add(10 * time.Second)}) {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
}

// waitActive waits for status.active to name just the job name: the
// controller has recorded its start (a minute does not pass sooner).
func waitActive(t *testing.T, env *controllertest.Env, cj, name string) {
	t.Helper()
	controllertest.Eventually(t, 10*time.Second, func() error {
		st := getCJ(t, env, cj).Status
		if len(st.Active) != 1 || st.Active[0].Name != name {
			return fmt.Errorf("active %+v", st.Active)
		}
		return nil
	})
}

func ptr[T any](v T) *T { return &v }

func TestStartingDeadline(t *testing.T) {
	env, clk := start(t)
	spec := newCronJob("late", batchv1.AllowConcurrent)
	spec.Spec.StartingDeadlineSeconds = ptr[int64](20)
	cj, err := env.Client.BatchV1().CronJobs("default").Create(env.Ctx, spec, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// 40 s after minute 1 is too late to start it; 5 s after minute 2
	// is not. Allow keeps every job, so a start at minute 1 would show.
	at(t, env, clk, cj, 1, 40)
	m2 := at(t, env, clk, cj, 2, 5)
	waitJobs(t, env, "late", fmt.Sprintf("late-%d", m2.Unix()/60))
}

func TestReplaceAndSuspend(t *testing.T) {
	env, clk := start(t)
	cj, err := env.Client.BatchV1().CronJobs("default").Create(env.Ctx, newCronJob("swap", batchv1.ReplaceConcurrent), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m2 := at(t, env, clk, cj, 2, 5)
	name2 := fmt.Sprintf("swap-%d", m2.Unix()/60)
	waitJobs(t, env, "swap", name2)
	waitActive(t, env, "swap", name2)
	// Replace: the running job goes, the new one comes.
	m3 := at(t, env, clk, cj, 3, 5)
	name3 := fmt.Sprintf("swap-%d", m3.Unix()/60)
	waitJobs(t, env, "swap", name3)
	waitEvent(t, env, "swap", "SuccessfulDelete: Deleted job "+name2)
	waitActive(t, env, "swap", name3)
	// Suspended, then resumed a minute later: the start made while
	// suspended does not happen; the one after resuming does.
	if _, err := env.Client.BatchV1().CronJobs("default").Patch(env.Ctx, "swap", types.MergePatchType, []byte(`{"spec":{"suspend":true}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	at(t, env, clk, cj, 4, 5)
	if js := jobs(t, env, "swap"); len(js) != 1 || js[0].Name != name3 {
		t.Fatalf("jobs %v", js)
	}
	if _, err := env.Client.BatchV1().CronJobs("default").Patch(env.Ctx, "swap", types.MergePatchType, []byte(`{"spec":{"suspend":false}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	m4 := cj.CreationTimestamp.Time.Truncate(time.Minute).Add(4 * time.Minute)
	defer func() {
		if t.Failed() {
			msgs, _ := controllertest.EventMessages(env.Ctx, env.Client, "default", "swap")
			t.Logf("events: %q\nstatus: %+v", msgs, getCJ(t, env, "swap").Status)
		}
	}()
	waitJobs(t, env, "swap", fmt.Sprintf("swap-%d", m4.Unix()/60))
}

func TestForeignChildIsReportedAndTracked(t *testing.T) {
	env, _ := start(t)
	cj, err := env.Client.BatchV1().CronJobs("default").Create(env.Ctx, newCronJob("adopt", batchv1.AllowConcurrent), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "adopt-manual", Namespace: "default", Labels: map[string]string{"cron": "adopt"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: cj.UID, Controller: &yes}}},
		Spec: cj.Spec.JobTemplate.Spec,
	}
	if _, err := env.Client.BatchV1().Jobs("default").Create(env.Ctx, j, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, env, "adopt", "UnexpectedJob: Saw a job that the controller did not create or forgot: adopt-manual")
	waitActive(t, env, "adopt", "adopt-manual")
}
