package agent_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"skiff.dev/skiff/internal/agent/runtime"
	"skiff.dev/skiff/internal/agent/runtime/fake"
	"skiff.dev/skiff/internal/testserver"
)

// TestDeadContainersAreCollected: a crash-looping container leaves the
// runtime its current container and the one before (the status's state
// and last state), not one per restart.
func TestDeadContainersAreCollected(t *testing.T) {
	s := testserver.Start(t)
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rt := fake.New(fake.Options{Clock: clk, Behavior: func(*runtime.SandboxConfig, *runtime.ContainerConfig) fake.Behavior {
		return fake.Behavior{ExitAfter: -1, ExitCode: 1}
	}})
	startAgent(t, s, "n1", rt, clk)
	pod := createPod(t, s.Client, "n1", "crash", corev1.RestartPolicyAlways, "app")
	count := func() (containers, sandboxes int) {
		cs, err := rt.ListContainers(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if c.Labels[runtime.LabelPodUID] == string(pod.UID) {
				containers++
			}
		}
		sbs, err := rt.ListSandboxes(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, sb := range sbs {
			if sb.UID == string(pod.UID) {
				sandboxes++
			}
		}
		return containers, sandboxes
	}
	// Move the clock past each back-off until the container has been
	// restarted four times.
	eventually(t, "four restarts", func() (bool, string) {
		p := getPod(t, s.Client, "crash")
		if len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].RestartCount >= 4 {
			return true, ""
		}
		clk.Step(5 * time.Second)
		return false, fmt.Sprintf("%+v", p.Status.ContainerStatuses)
	})
	eventually(t, "two containers left in one sandbox", func() (bool, string) {
		cs, sbs := count()
		return cs == 2 && sbs == 1, fmt.Sprintf("%d containers, %d sandboxes", cs, sbs)
	})
}
