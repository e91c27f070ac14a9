package scheduler

import (
	"context"
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/internal/testserver"
)

// attempts is how many scheduling cycles the queue has run for uid.
func (q *schedulingQueue) attempts(uid types.UID) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if qp := q.find(uid); qp != nil {
		return qp.attempts
	}
	if qp, ok := q.inFlight[uid]; ok {
		return qp.attempts
	}
	return 0
}

// A pod that keeps failing for the same reason costs no write per retry:
// its PodScheduled condition is patched once (upstream's updatePod skips
// an unchanged condition) and its FailedScheduling events become a series
// (events.k8s.io's broadcaster), not one Event per attempt. The event
// names the pod at a resourceVersion, so the condition's patch after the
// first attempt starts a second series, as upstream: at most two Events.
func TestRetriesOfAnUnschedulablePodDoNotRewrite(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Client
	ctx := context.Background()
	createNode(t, c, newNode("tiny", "1", "1Gi"))
	s := startScheduler(t, c)
	pod := createPod(t, c, newPod("too-big", "4"))
	waitUnschedulable(t, c, "too-big")
	rv := getPod(t, c, "too-big").ResourceVersion

	// A node label change moves the pod back for another attempt, which
	// fails the same way.
	const want = 4
	relabels := 0
	eventually(t, fmt.Sprintf("%d scheduling attempts", want), func() (bool, string) {
		n := s.queue.attempts(pod.UID)
		if n >= want {
			return true, ""
		}
		if _, _, parked := s.queue.Len(); parked > 0 {
			relabels++
			patch := fmt.Sprintf(`{"metadata":{"labels":{"retry":"r%d"}}}`, relabels)
			if _, err := c.CoreV1().Nodes().Patch(ctx, "tiny", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
				return false, err.Error()
			}
		}
		return false, fmt.Sprintf("%d attempts", n)
	})

	// The second identical event turns the first into a series (one
	// write); later ones only count in memory until the series' heartbeat
	// (30 minutes).
	var events int
	var seen []string
	eventually(t, "the FailedScheduling series", func() (bool, string) {
		evs, err := c.EventsV1().Events("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		events, seen = 0, nil
		var series int32
		for _, e := range evs.Items {
			if e.Reason == "FailedScheduling" && e.Regarding.UID == pod.UID {
				events++
				seen = append(seen, fmt.Sprintf("%s (series %+v, note %q)", e.Name, e.Series, e.Note))
				if e.Series != nil {
					series = e.Series.Count
				}
			}
		}
		return series >= 2 || events > 2, fmt.Sprintf("%d events, series count %d", events, series)
	})
	if events > 2 {
		t.Fatalf("%d FailedScheduling events for one pod after %d attempts, want at most 2 (series): %s", events, want, seen)
	}
	if got := getPod(t, c, "too-big"); got.ResourceVersion != rv {
		t.Fatalf("pod rewritten by a retry that failed the same way: resourceVersion %s → %s, conditions %+v", rv, got.ResourceVersion, got.Status.Conditions)
	}
	for _, cond := range getPod(t, c, "too-big").Status.Conditions {
		if cond.Type == v1.PodScheduled && cond.Status != v1.ConditionFalse {
			t.Fatalf("PodScheduled = %s, want False", cond.Status)
		}
	}
}
