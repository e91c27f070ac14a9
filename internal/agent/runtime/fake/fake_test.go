package fake

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"skiff.dev/skiff/internal/agent/runtime"
)

func TestSandboxIPsComeFromThePodCIDRAndAreReused(t *testing.T) {
	ctx := context.Background()
	r := New(Options{PodCIDR: netip.MustParsePrefix("10.9.0.0/29")}) // .2 .. .6 usable
	var ids []string
	seen := map[string]bool{}
	for i := range 5 {
		id, err := r.RunSandbox(ctx, &runtime.SandboxConfig{Name: "p", Namespace: "ns", UID: "u"})
		if err != nil {
			t.Fatalf("sandbox %d: %v", i, err)
		}
		s, _ := r.SandboxStatus(ctx, id)
		if seen[s.IP] || !netip.MustParsePrefix("10.9.0.0/29").Contains(netip.MustParseAddr(s.IP)) || s.IP == "10.9.0.7" || s.IP == "10.9.0.1" {
			t.Fatalf("sandbox %d got IP %s (seen %v)", i, s.IP, seen)
		}
		seen[s.IP] = true
		ids = append(ids, id)
	}
	if _, err := r.RunSandbox(ctx, &runtime.SandboxConfig{}); err == nil {
		t.Fatal("a sixth sandbox got an IP from a /29")
	}
	if err := r.StopSandbox(ctx, ids[2]); err != nil {
		t.Fatal(err)
	}
	id, err := r.RunSandbox(ctx, &runtime.SandboxConfig{})
	if err != nil {
		t.Fatalf("sandbox after release: %v", err)
	}
	if s, _ := r.SandboxStatus(ctx, id); s.IP == "" {
		t.Fatal("no IP after release")
	}
}

func TestContainerLifecycle(t *testing.T) {
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	r := New(Options{Clock: clk, Behavior: func(_ *runtime.SandboxConfig, c *runtime.ContainerConfig) Behavior {
		switch c.Name {
		case "crash":
			return Behavior{ExitAfter: -1, ExitCode: 1}
		case "job":
			return Behavior{ExitAfter: 5 * time.Second}
		}
		return Behavior{}
	}})
	sb, err := r.RunSandbox(ctx, &runtime.SandboxConfig{Name: "p"})
	if err != nil {
		t.Fatal(err)
	}
	start := func(name string) string {
		t.Helper()
		id, err := r.CreateContainer(ctx, sb, &runtime.ContainerConfig{Name: name, Image: "busybox"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.StartContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	state := func(id string) *runtime.Container {
		t.Helper()
		c, err := r.ContainerStatus(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	run, crash, job := start("run"), start("crash"), start("job")
	if c := state(run); c.State != runtime.ContainerRunning || c.ImageRef == "" || c.ImageID == "" {
		t.Errorf("run: %+v", c)
	}
	if c := state(crash); c.State != runtime.ContainerExited || c.ExitCode != 1 || c.Reason != "Error" {
		t.Errorf("crash: %+v", c)
	}
	if c := state(job); c.State != runtime.ContainerRunning {
		t.Errorf("job before its time: %+v", c)
	}
	clk.Step(5 * time.Second)
	if c := state(job); c.State != runtime.ContainerExited || c.ExitCode != 0 || c.Reason != "Completed" || !c.FinishedAt.Equal(time.Unix(1005, 0)) {
		t.Errorf("job after its time: %+v", c)
	}
	if _, _, code, err := r.ExecSync(ctx, run, []string{"true"}, time.Second); err != nil || code != 0 {
		t.Errorf("exec: %d %v", code, err)
	}
	if err := r.Exit(run, 137, "OOMKilled"); err != nil {
		t.Fatal(err)
	}
	if c := state(run); c.State != runtime.ContainerExited || c.Reason != "OOMKilled" {
		t.Errorf("run after Exit: %+v", c)
	}
	if err := r.RemoveSandbox(ctx, sb); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ContainerStatus(ctx, run); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("container of a removed sandbox: %v", err)
	}
}

func TestImages(t *testing.T) {
	ctx := context.Background()
	r := New(Options{PullError: func(image string) error {
		if image == "missing:1" {
			return errors.New("not found")
		}
		return nil
	}})
	ref, err := r.PullImage(ctx, "busybox", nil, nil)
	if err != nil || ref[:len("docker.io/library/busybox@sha256:")] != "docker.io/library/busybox@sha256:" {
		t.Errorf("pull busybox: %q %v", ref, err)
	}
	if _, err := r.PullImage(ctx, "missing:1", nil, nil); err == nil {
		t.Error("pull of a refused image succeeded")
	}
	for in, want := range map[string]string{
		"busybox":                   "docker.io/library/busybox:latest",
		"nginx:1.27":                "docker.io/library/nginx:1.27",
		"me/app":                    "docker.io/me/app:latest",
		"localhost:5000/app":        "localhost:5000/app:latest",
		"registry.k8s.io/pause:3.9": "registry.k8s.io/pause:3.9",
		"quay.io/a/b@sha256:00":     "quay.io/a/b@sha256:00",
	} {
		if got := normalize(in); got != want {
			t.Errorf("normalize(%q) = %q, want %q", in, got, want)
		}
	}
	imgs, _ := r.ListImages(ctx)
	if len(imgs) != 1 {
		t.Errorf("images: %d, want 1", len(imgs))
	}
}

// Listed sandboxes show the runtime's state at the time of the list: a
// later stop shows in the next list and not in what an earlier one
// returned.
func TestListSandboxesFollowsChanges(t *testing.T) {
	ctx := context.Background()
	r := New(Options{})
	id, err := r.RunSandbox(ctx, &runtime.SandboxConfig{Name: "p", Namespace: "ns", UID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := r.ListSandboxes(ctx)
	again, _ := r.ListSandboxes(ctx)
	if len(before) != 1 || before[0].State != runtime.SandboxReady || again[0].State != runtime.SandboxReady {
		t.Fatalf("lists before the stop: %+v, %+v", before, again)
	}
	again[0] = nil // a caller may reuse the slice it got
	if err := r.StopSandbox(ctx, id); err != nil {
		t.Fatal(err)
	}
	after, _ := r.ListSandboxes(ctx)
	if len(after) != 1 || after[0].ID != id || after[0].State != runtime.SandboxNotReady {
		t.Fatalf("list after the stop: %+v", after)
	}
	if before[0].State != runtime.SandboxReady {
		t.Fatal("the stop changed a sandbox listed before it")
	}
}
