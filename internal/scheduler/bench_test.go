package scheduler

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/internal/scheduler/framework"
	"skiff.dev/skiff/internal/testserver"
)

type staticSelector struct{ sel labels.Selector }

func (s staticSelector) SelectorFor(*v1.Pod) labels.Selector { return s.sel }

// BenchmarkScheduleCore measures the pure scheduling cycle (snapshot
// update, filter, score, assume) with the default profile, as upstream's
// scheduler_perf does without the API: pods of one workload (so default
// spreading runs) onto N nodes. Reported as pods/s.
func BenchmarkScheduleCore(b *testing.B) {
	for _, nodes := range []int{100, 1000, 5000} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			c := newCache()
			for i := range nodes {
				n := newNode(fmt.Sprintf("node-%05d", i), "32", "128Gi", withLabels(v1.LabelTopologyZone, fmt.Sprintf("zone-%d", i%3)))
				n.Status.Allocatable[v1.ResourcePods] = resource.MustParse("1000000")
				c.AddNode(n)
			}
			fw := NewDefaultFramework(staticSelector{labels.SelectorFromSet(labels.Set{"app": "web"})}, nil)
			ctx := context.Background()
			var snap *framework.Snapshot
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				p := newPod(fmt.Sprintf("p-%d", i), "10m")
				p.UID = types.UID(fmt.Sprintf("uid-%d", i))
				pi := framework.NewPodInfo(p, 0)
				snap = c.UpdateSnapshot(snap)
				res, err := fw.Schedule(ctx, framework.NewCycleState(), snap, pi)
				if err != nil {
					b.Fatal(err)
				}
				assumed := *pi
				assumed.Pod = p.DeepCopy()
				assumed.Pod.Spec.NodeName = res.Node
				c.AssumePod(&assumed, res.Node)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pods/s")
		})
	}
}

// BenchmarkSchedulerAPI is end to end against the real API server on the
// embedded store: 1,000 pods created by 16 concurrent clients onto 100
// nodes, until the scheduler has bound all of them (informers, queue,
// cycle, asynchronous bindings). Reported as pods/s.
func BenchmarkSchedulerAPI(b *testing.B) {
	const nodes, pods = 100, 1000
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		srv := testserver.Start(b)
		c := srv.Client
		for n := range nodes {
			createNode(b, c, newNode(fmt.Sprintf("node-%03d", n), "32", "128Gi"))
		}
		startScheduler(b, c)
		var bound atomic.Int64
		done := make(chan struct{})
		w, err := c.CoreV1().Pods("default").Watch(context.Background(), metav1.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			for ev := range w.ResultChan() {
				if p, ok := ev.Object.(*v1.Pod); ok && p.Spec.NodeName != "" && ev.Type == "MODIFIED" {
					if bound.Add(1) == pods {
						close(done)
						return
					}
				}
			}
		}()
		b.StartTimer()
		start := time.Now()
		var wg sync.WaitGroup
		var next atomic.Int64
		for range 16 {
			wg.Go(func() {
				for {
					k := next.Add(1) - 1
					if k >= pods {
						return
					}
					createPod(b, c, newPod(fmt.Sprintf("web-%04d", k), "100m"))
				}
			})
		}
		wg.Wait()
		created := time.Since(start)
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
			b.Fatalf("only %d of %d pods bound", bound.Load(), pods)
		}
		total := time.Since(start)
		w.Stop()
		b.ReportMetric(float64(pods)/total.Seconds(), "pods/s")
		b.ReportMetric(created.Seconds(), "create-s")
		b.ReportMetric(total.Seconds(), "all-bound-s")
	}
}
