package agent_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/skiff/internal/agent"
	"skiff.dev/skiff/internal/agent/runtime"
	"skiff.dev/skiff/internal/agent/runtime/fake"
	"skiff.dev/skiff/internal/testserver"
)

// syncCountingRuntime is the simulated runtime, counting ContainerStatus
// calls: each pod sync asks for every container's.
type syncCountingRuntime struct {
	*fake.Runtime
	statuses atomic.Int64
}

func (r *syncCountingRuntime) ContainerStatus(ctx context.Context, id string) (*runtime.Container, error) {
	r.statuses.Add(1)
	return r.Runtime.ContainerStatus(ctx, id)
}

// statusPatchCounter counts the PATCH requests to pods/status that go
// through it.
type statusPatchCounter struct {
	next  http.RoundTripper
	count atomic.Int64
}

func (c *statusPatchCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPatch && strings.Contains(r.URL.Path, "/pods/") && strings.HasSuffix(r.URL.Path, "/status") {
		c.count.Add(1)
	}
	return c.next.RoundTrip(r)
}

// Once a pod runs and its status is written, syncs that find nothing new
// write nothing: no empty patches every resync (a runtime's nanosecond
// start times against the API's seconds used to cause one per pod per
// sync).
func TestSteadyPodStatusIsNotRewritten(t *testing.T) {
	s := testserver.Start(t)
	rt := &syncCountingRuntime{Runtime: fake.New(fake.Options{})}
	patches := &statusPatchCounter{}
	cfg := s.Config(t, "system:node:n1", "system:nodes", "system:masters")
	cfg.Wrap(func(next http.RoundTripper) http.RoundTripper { patches.next = next; return patches })
	runAgent(t, s, agent.Config{NodeName: "n1", Runtime: rt, Client: kubernetes.NewForConfigOrDie(cfg), PodResyncPeriod: 20 * time.Millisecond})
	createPod(t, s.Client, "n1", "web", corev1.RestartPolicyAlways, "app")
	eventually(t, "pod Running and Ready", func() (bool, string) {
		pod := getPod(t, s.Client, "web")
		return pod.Status.Phase == corev1.PodRunning && condition(pod, corev1.PodReady) == corev1.ConditionTrue, fmt.Sprintf("%+v", pod.Status)
	})
	written, syncs := patches.count.Load(), rt.statuses.Load()
	eventually(t, "ten more syncs", func() (bool, string) {
		n := rt.statuses.Load() - syncs
		return n >= 10, fmt.Sprintf("%d syncs", n)
	})
	if n := patches.count.Load() - written; n > 0 {
		t.Errorf("%d status patches after the pod was Running and Ready with nothing changed", n)
	}
}

var _ runtime.Runtime = (*syncCountingRuntime)(nil)
