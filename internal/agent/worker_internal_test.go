package agent

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/agent/runtime"
	"skiff.dev/skiff/internal/agent/status"
	"skiff.dev/skiff/internal/testserver"
)

// A sync that runs before the informer has seen the worker's last status
// write must compute the status already written, not one with new start
// and transition times: otherwise each write's echo undoes the next and
// the pod is patched on every sync (seen as ~27 patches per pod on 100
// simulated nodes under load).
func TestStatusFromStaleInformerMatchesLastWrite(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 16, 27, 14, 0, time.UTC)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1", ResourceVersion: "5"},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "app", Image: "busybox"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodPending},
	}
	sandboxes := []*runtime.Sandbox{{ID: "sb", State: runtime.SandboxReady, IP: "10.42.0.5", CreatedAt: t0}}
	containers := []*runtime.Container{{ID: "c1", SandboxID: "sb", Name: "app", State: runtime.ContainerRunning,
		CreatedAt: t0, StartedAt: t0, Annotations: map[string]string{runtime.AnnotationRestartCount: "0"}}}
	compute := func(w *podWorker, informer *corev1.Pod, now time.Time) corev1.PodStatus {
		return status.Compute(status.Input{Pod: w.latest(informer), Sandboxes: sandboxes, Containers: containers,
			RuntimeName: "skiff-simulated", Now: now})
	}

	w := newPodWorker(nil, pod.UID)
	first := compute(w, pod, t0)
	if first.StartTime == nil || !first.StartTime.Time.Equal(t0) {
		t.Fatalf("first status: startTime %v, want %v", first.StartTime, t0)
	}
	// The API answered the write with resourceVersion 6; the informer
	// still holds 5.
	w.written, w.writtenRV = first.DeepCopy(), "6"

	t.Run("informer behind the write", func(t *testing.T) {
		again := compute(w, pod, t0.Add(2*time.Second))
		if !apiequality.Semantic.DeepEqual(first, again) {
			t.Errorf("status recomputed from the stale informer copy differs from the one written:\nwritten  %+v\nnow      %+v", first, again)
		}
	})

	t.Run("informer ahead of the write", func(t *testing.T) {
		// Someone else wrote after us (a DisruptionTarget condition): the
		// informer's copy is the newer one and its condition stays.
		newer := pod.DeepCopy()
		newer.ResourceVersion = "7"
		newer.Status = *first.DeepCopy()
		newer.Status.Conditions = append(newer.Status.Conditions, corev1.PodCondition{
			Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "EvictionByEvictionAPI",
		})
		got := compute(w, newer, t0.Add(3*time.Second))
		found := false
		for _, c := range got.Conditions {
			found = found || c.Type == corev1.DisruptionTarget
		}
		if !found {
			t.Errorf("the newer informer copy's DisruptionTarget condition was lost: %+v", got.Conditions)
		}
	})
}

// A status that differs from the API's only below the wire's precision
// (times to the second) is not written: such a patch would change
// nothing, yet cost a write on every resync of every pod.
func TestWriteStatusSkipsPatchThatChangesNothing(t *testing.T) {
	s := testserver.Start(t)
	ctx := context.Background()
	pod, err := s.Client.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "app", Image: "busybox"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w := newPodWorker(&Agent{client: s.Client}, pod.UID)
	started := time.Date(2026, 11, 23, 16, 27, 14, 0, time.UTC)
	st := corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &metav1.Time{Time: started}}
	if _, err := w.writeStatus(ctx, pod, st); err != nil {
		t.Fatal(err)
	}
	if w.written == nil || w.written.Phase != corev1.PodRunning {
		t.Fatalf("first write did not happen: %+v", w.written)
	}
	pod, err = s.Client.CoreV1().Pods("default").Get(ctx, "p", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		startTime time.Time
		write     bool
	}{
		{"nanoseconds only", started.Add(123456789 * time.Nanosecond), false},
		{"a second later", started.Add(time.Second), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w.written, w.writtenRV = nil, ""
			next := *pod.Status.DeepCopy()
			next.StartTime = &metav1.Time{Time: tc.startTime}
			if _, err := w.writeStatus(ctx, pod, next); err != nil {
				t.Fatal(err)
			}
			if wrote := w.written != nil; wrote != tc.write {
				t.Errorf("status written: %v, want %v", wrote, tc.write)
			}
		})
	}
}
