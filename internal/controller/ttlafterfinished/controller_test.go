package ttlafterfinished

import (
	"fmt"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/controller/controllertest"
)

func TestExpiresIn(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ttl := int32(60)
	done := func(typ batchv1.JobConditionType, at time.Time) *batchv1.Job {
		return &batchv1.Job{Spec: batchv1.JobSpec{TTLSecondsAfterFinished: &ttl}, Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{
			{Type: typ, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(at)}}}}
	}
	for _, tc := range []struct {
		name string
		job  *batchv1.Job
		left time.Duration
		ok   bool
	}{
		{"complete", done(batchv1.JobComplete, t0), 50 * time.Second, true},
		{"failed long ago", done(batchv1.JobFailed, t0.Add(-time.Hour)), -time.Hour + 50*time.Second, true},
		{"interim condition only", done(batchv1.JobFailureTarget, t0), 0, false},
		{"no ttl", &batchv1.Job{Status: done(batchv1.JobComplete, t0).Status}, 0, false},
	} {
		left, ok := expiresIn(tc.job, t0.Add(10*time.Second))
		if left != tc.left || ok != tc.ok {
			t.Errorf("%s: got %v %v, want %v %v", tc.name, left, ok, tc.left, tc.ok)
		}
	}
}

func TestDeletesFinishedJobAfterTTL(t *testing.T) {
	env := controllertest.Start(t)
	c, err := New(env.Client, env.Factory, env.Log, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	env.StartInformers(t)
	go c.Run(env.Ctx, 1)
	ttl := int32(1)
	for _, name := range []string{"done", "running"} {
		j := &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: batchv1.JobSpec{TTLSecondsAfterFinished: &ttl, Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}},
		}
		j, err := env.Client.BatchV1().Jobs("default").Create(env.Ctx, j, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if name == "done" {
			now := metav1.Now()
			j.Status.StartTime, j.Status.CompletionTime = &now, &now
			j.Status.Conditions = []batchv1.JobCondition{
				{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now},
			}
			if _, err := env.Client.BatchV1().Jobs("default").UpdateStatus(env.Ctx, j, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Foreground deletion: with no garbage collector here the Job stays,
	// being deleted, with the foregroundDeletion finalizer.
	controllertest.Eventually(t, 10*time.Second, func() error {
		j, err := env.Client.BatchV1().Jobs("default").Get(env.Ctx, "done", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if j.DeletionTimestamp == nil {
			return fmt.Errorf("finished job not deleted yet")
		}
		return nil
	})
	j, err := env.Client.BatchV1().Jobs("default").Get(env.Ctx, "running", metav1.GetOptions{})
	if err != nil || j.DeletionTimestamp != nil {
		t.Fatalf("unfinished job: %v, deleted at %v", err, j.DeletionTimestamp)
	}
}
