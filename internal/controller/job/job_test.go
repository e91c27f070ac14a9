package job_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/controller/controllertest"
	"skiff.dev/skiff/internal/controller/job"
)

func start(t *testing.T) *controllertest.Env {
	t.Helper()
	env := controllertest.Start(t)
	c, err := job.New(env.Client, env.Factory, env.Recorder("job-controller"), env.Log,
		job.WithPodFailureBackoff(10*time.Millisecond, 100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	env.StartInformers(t)
	go c.Run(env.Ctx, 5)
	env.StartKubelet("node-1", false) // finishes deletions once finalizers are gone
	return env
}

func ptr[T any](v T) *T { return &v }

func newJob(name string, completions, parallelism int32) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: batchv1.JobSpec{
			Completions: &completions, Parallelism: &parallelism,
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "c", Image: "busybox"}},
			}},
		},
	}
}

func create(t *testing.T, env *controllertest.Env, j *batchv1.Job) *batchv1.Job {
	t.Helper()
	out, err := env.Client.BatchV1().Jobs("default").Create(env.Ctx, j, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// activePods are the job's pods neither finished nor being deleted.
func activePods(t *testing.T, env *controllertest.Env, j *batchv1.Job) ([]corev1.Pod, error) {
	l, err := env.Client.CoreV1().Pods("default").List(env.Ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + j.Name})
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range l.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out, nil
}

func waitActive(t *testing.T, env *controllertest.Env, j *batchv1.Job, n int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	controllertest.Eventually(t, 20*time.Second, func() error {
		var err error
		if pods, err = activePods(t, env, j); err != nil {
			return err
		}
		if len(pods) != n {
			return fmt.Errorf("%d active pods, want %d", len(pods), n)
		}
		return nil
	})
	return pods
}

// finish plays the kubelet: the pod ends in phase.
func finish(t *testing.T, env *controllertest.Env, p corev1.Pod, phase corev1.PodPhase) {
	t.Helper()
	cur, err := env.Client.CoreV1().Pods(p.Namespace).Get(env.Ctx, p.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	code := int32(0)
	if phase == corev1.PodFailed {
		code = 1
	}
	cur.Status.Phase = phase
	cur.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", State: corev1.ContainerState{
		Terminated: &corev1.ContainerStateTerminated{ExitCode: code, FinishedAt: metav1.Now()}}}}
	if _, err := env.Client.CoreV1().Pods(p.Namespace).UpdateStatus(env.Ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func waitJob(t *testing.T, env *controllertest.Env, name string, check func(*batchv1.Job) error) *batchv1.Job {
	t.Helper()
	var j *batchv1.Job
	controllertest.Eventually(t, 20*time.Second, func() error {
		var err error
		if j, err = env.Client.BatchV1().Jobs("default").Get(env.Ctx, name, metav1.GetOptions{}); err != nil {
			return err
		}
		return check(j)
	})
	return j
}

func cond(j *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range j.Status.Conditions {
		if j.Status.Conditions[i].Type == t && j.Status.Conditions[i].Status == corev1.ConditionTrue {
			return &j.Status.Conditions[i]
		}
	}
	return nil
}

func hasEvent(t *testing.T, env *controllertest.Env, name, want string) {
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

func TestCompletionsWithParallelismAndTrackingFinalizers(t *testing.T) {
	env := start(t)
	j := create(t, env, newJob("pi", 3, 2))
	pods := waitActive(t, env, j, 2)
	for _, p := range pods {
		if !strings.HasPrefix(p.Name, "pi-") || len(p.Finalizers) != 1 || p.Finalizers[0] != "batch.kubernetes.io/job-tracking" ||
			!metav1.IsControlledBy(&p, j) {
			t.Fatalf("pod %s finalizers %v refs %v", p.Name, p.Finalizers, p.OwnerReferences)
		}
	}
	waitJob(t, env, "pi", func(j *batchv1.Job) error {
		if j.Status.Active != 2 || j.Status.StartTime == nil || j.Status.Ready == nil || *j.Status.Ready != 0 {
			return fmt.Errorf("status %+v", j.Status)
		}
		return nil
	})
	finish(t, env, pods[0], corev1.PodSucceeded)
	waitJob(t, env, "pi", func(j *batchv1.Job) error {
		if j.Status.Succeeded != 1 || j.Status.Active != 2 || !emptyUncounted(j) {
			return fmt.Errorf("status %+v", j.Status)
		}
		return nil
	})
	controllertest.Eventually(t, 10*time.Second, func() error {
		p, err := env.Client.CoreV1().Pods("default").Get(env.Ctx, pods[0].Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(p.Finalizers) != 0 {
			return fmt.Errorf("counted pod keeps finalizers %v", p.Finalizers)
		}
		return nil
	})
	// One more completion is missing: only one pod may run now.
	pods = waitActive(t, env, j, 2)
	finish(t, env, pods[0], corev1.PodSucceeded)
	pods = waitActive(t, env, j, 1)
	finish(t, env, pods[0], corev1.PodSucceeded)
	done := waitJob(t, env, "pi", func(j *batchv1.Job) error {
		if cond(j, batchv1.JobComplete) == nil {
			return fmt.Errorf("not complete: %+v", j.Status)
		}
		return nil
	})
	sc, c := cond(done, batchv1.JobSuccessCriteriaMet), cond(done, batchv1.JobComplete)
	if sc == nil || sc.Reason != "CompletionsReached" || c.Reason != "CompletionsReached" || c.Message != "Reached expected number of succeeded pods" {
		t.Errorf("conditions %+v", done.Status.Conditions)
	}
	if done.Status.Succeeded != 3 || done.Status.Failed != 0 || done.Status.Active != 0 || done.Status.CompletionTime == nil {
		t.Errorf("status %+v", done.Status)
	}
	hasEvent(t, env, "pi", "Completed: Job completed")
}

func emptyUncounted(j *batchv1.Job) bool {
	u := j.Status.UncountedTerminatedPods
	return u == nil || len(u.Succeeded)+len(u.Failed) == 0
}

func TestBackoffLimitExceeded(t *testing.T) {
	env := start(t)
	spec := newJob("flaky", 1, 1)
	spec.Spec.BackoffLimit = ptr[int32](1)
	j := create(t, env, spec)
	first := waitActive(t, env, j, 1)[0]
	finish(t, env, first, corev1.PodFailed)
	var second corev1.Pod
	controllertest.Eventually(t, 20*time.Second, func() error {
		pods, err := activePods(t, env, j)
		if err != nil {
			return err
		}
		if len(pods) != 1 || pods[0].Name == first.Name {
			return fmt.Errorf("no replacement pod yet")
		}
		second = pods[0]
		return nil
	})
	finish(t, env, second, corev1.PodFailed)
	done := waitJob(t, env, "flaky", func(j *batchv1.Job) error {
		if cond(j, batchv1.JobFailed) == nil {
			return fmt.Errorf("not failed: %+v", j.Status)
		}
		return nil
	})
	ft, f := cond(done, batchv1.JobFailureTarget), cond(done, batchv1.JobFailed)
	if ft == nil || ft.Reason != "BackoffLimitExceeded" || f.Reason != "BackoffLimitExceeded" || f.Message != "Job has reached the specified backoff limit" {
		t.Errorf("conditions %+v", done.Status.Conditions)
	}
	if done.Status.Failed != 2 || done.Status.Succeeded != 0 || done.Status.CompletionTime != nil {
		t.Errorf("status %+v", done.Status)
	}
	hasEvent(t, env, "flaky", "BackoffLimitExceeded: Job has reached the specified backoff limit")
}

func TestActiveDeadlineStopsPods(t *testing.T) {
	env := start(t)
	spec := newJob("slow", 2, 2)
	spec.Spec.ActiveDeadlineSeconds = ptr[int64](1)
	// Not waiting to see both pods active: on a busy machine the deadline
	// may already have removed them. status.failed == 2 below shows they
	// were started and then stopped.
	j := create(t, env, spec)
	done := waitJob(t, env, "slow", func(j *batchv1.Job) error {
		if cond(j, batchv1.JobFailed) == nil {
			return fmt.Errorf("not failed: %+v", j.Status)
		}
		return nil
	})
	if f := cond(done, batchv1.JobFailed); f.Reason != "DeadlineExceeded" || f.Message != "Job was active longer than specified deadline" {
		t.Errorf("failed condition %+v", f)
	}
	if done.Status.Active != 0 || done.Status.Failed != 2 {
		t.Errorf("status %+v", done.Status)
	}
	waitActive(t, env, j, 0)
}

func TestIndexedCompletion(t *testing.T) {
	env := start(t)
	spec := newJob("idx", 3, 2)
	spec.Spec.CompletionMode = ptr(batchv1.IndexedCompletion)
	j := create(t, env, spec)
	pods := waitActive(t, env, j, 2)
	byIndex := map[string]corev1.Pod{}
	for _, p := range pods {
		ix := p.Annotations["batch.kubernetes.io/job-completion-index"]
		if p.Labels["batch.kubernetes.io/job-completion-index"] != ix || p.Spec.Hostname != "idx-"+ix || !strings.HasPrefix(p.Name, "idx-"+ix+"-") {
			t.Fatalf("pod %s annotations %v labels %v hostname %s", p.Name, p.Annotations, p.Labels, p.Spec.Hostname)
		}
		env := p.Spec.Containers[0].Env
		if len(env) != 1 || env[0].Name != "JOB_COMPLETION_INDEX" || env[0].ValueFrom == nil ||
			env[0].ValueFrom.FieldRef.FieldPath != "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
			t.Fatalf("pod %s env %+v", p.Name, env)
		}
		byIndex[ix] = p
	}
	if _, ok := byIndex["0"]; !ok || len(byIndex) != 2 {
		t.Fatalf("indexes %v, want 0 and 1", byIndex)
	}
	finish(t, env, byIndex["1"], corev1.PodSucceeded)
	waitJob(t, env, "idx", func(j *batchv1.Job) error {
		if j.Status.CompletedIndexes != "1" || j.Status.Succeeded != 1 {
			return fmt.Errorf("status %+v", j.Status)
		}
		return nil
	})
	pods = waitActive(t, env, j, 2)
	for _, p := range pods {
		finish(t, env, p, corev1.PodSucceeded)
	}
	waitJob(t, env, "idx", func(j *batchv1.Job) error {
		if cond(j, batchv1.JobComplete) == nil || j.Status.CompletedIndexes != "0-2" || j.Status.Succeeded != 3 {
			return fmt.Errorf("status %+v", j.Status)
		}
		return nil
	})
}
