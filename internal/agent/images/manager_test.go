package images_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"skiff.dev/skiff/internal/agent/images"
	"skiff.dev/skiff/internal/agent/runtime"
	"skiff.dev/skiff/internal/agent/runtime/fake"
)

// imageDisk is a filesystem of fixed capacity holding only the simulated
// runtime's images.
type imageDisk struct {
	rt       *fake.Runtime
	capacity uint64
}

func (d imageDisk) Usage(ctx context.Context) (images.Usage, error) {
	imgs, err := d.rt.ListImages(ctx)
	if err != nil {
		return images.Usage{}, err
	}
	var used uint64
	for _, img := range imgs {
		used += img.Size
	}
	return images.Usage{CapacityBytes: d.capacity, AvailableBytes: d.capacity - used}, nil
}

func imageIDs(t *testing.T, rt *fake.Runtime) []string {
	t.Helper()
	imgs, err := rt.ListImages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, img := range imgs {
		tags = append(tags, img.RepoTags...)
	}
	slices.Sort(tags)
	return tags
}

func TestManagerRemovesUnusedImagesOnceOldEnough(t *testing.T) {
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rt := fake.New(fake.Options{Clock: clk})
	pull := func(image string) string {
		t.Helper()
		ref, err := rt.PullImage(ctx, image, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return ref
	}
	// Five 1 MiB images on a 5.5 MiB disk: 91% used, one image must go
	// to reach 80%.
	pull("skiff.dev/pause:1")
	used := pull("app:1")
	pull("stale:1")
	pull("pod-named:1")
	m, err := images.New(images.Config{
		Runtime: rt, FS: imageDisk{rt: rt, capacity: 11 << 19},
		Pinned:    []string{"skiff.dev/pause:1"},
		PodImages: func() []string { return []string{"pod-named:1"} },
		Clock:     clk,
	})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := rt.RunSandbox(ctx, &runtime.SandboxConfig{Name: "p", Namespace: "default", UID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.CreateContainer(ctx, sb, &runtime.ContainerConfig{Name: "c", Image: used}, nil); err != nil {
		t.Fatal(err)
	}
	// The first pass detects the four images; one more arrives later.
	if removed, err := m.GarbageCollect(ctx); len(removed) != 0 || err != nil {
		t.Fatalf("GarbageCollect at 4/5.5 MiB = %q, %v; want nothing", removed, err)
	}
	clk.Step(time.Minute)
	pull("young:1")

	// Too young: nothing may go yet, and that is reported.
	removed, err := m.GarbageCollect(ctx)
	if len(removed) != 0 || !errors.Is(err, images.ErrNotEnoughFreed) {
		t.Fatalf("GarbageCollect before the minimum age = %q, %v; want nothing and ErrNotEnoughFreed", removed, err)
	}

	// After the minimum age of the first four: the unused, unpinned one
	// that no pod names goes; "young" is still too young.
	clk.Step(90 * time.Second)
	removed, err = m.GarbageCollect(ctx)
	if err != nil || len(removed) != 1 {
		t.Fatalf("GarbageCollect = %q, %v; want one image removed", removed, err)
	}
	want := []string{"docker.io/library/app:1", "docker.io/library/pod-named:1", "docker.io/library/young:1", "skiff.dev/pause:1"}
	if got := imageIDs(t, rt); !slices.Equal(got, want) {
		t.Errorf("images after GC = %q, want %q", got, want)
	}

	// Below the high threshold now: nothing more.
	clk.Step(time.Hour)
	if removed, err := m.GarbageCollect(ctx); len(removed) != 0 || err != nil {
		t.Fatalf("GarbageCollect at 4/5.5 MiB = %q, %v; want nothing", removed, err)
	}
}

func TestManagerLeastRecentlyUsedFirst(t *testing.T) {
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rt := fake.New(fake.Options{Clock: clk})
	sb, err := rt.RunSandbox(ctx, &runtime.SandboxConfig{Name: "p", Namespace: "default", UID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, name := range []string{"a", "b", "c", "d"} {
		ref, err := rt.PullImage(ctx, name+":1", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if ids[name], err = rt.CreateContainer(ctx, sb, &runtime.ContainerConfig{Name: name, Image: ref}, nil); err != nil {
			t.Fatal(err)
		}
	}
	disk := &imageDisk{rt: rt, capacity: 100 << 20}
	m, err := images.New(images.Config{
		Runtime: rt, FS: disk, Clock: clk,
		Policy: images.Policy{HighThresholdPercent: 90, LowThresholdPercent: 50, MinAge: time.Minute},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Each pass sees which images containers use; the disk is roomy, so
	// nothing goes while the containers come and go.
	pass := func(remove string) {
		t.Helper()
		if err := rt.RemoveContainer(ctx, ids[remove]); err != nil {
			t.Fatal(err)
		}
		if removed, err := m.GarbageCollect(ctx); len(removed) != 0 || err != nil {
			t.Fatalf("GarbageCollect on a roomy disk = %q, %v", removed, err)
		}
		clk.Step(time.Hour)
	}
	if _, err := m.GarbageCollect(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Step(time.Hour)
	pass("a") // a last used two hours in
	pass("c") // c three hours in
	pass("b") // b four hours in; d stays in use

	// The disk fills: 4 of 4 MiB, 2 MiB must go. a and c were used
	// least recently; d is in use.
	disk.capacity = 4 << 20
	removed, err := m.GarbageCollect(ctx)
	if err != nil || len(removed) != 2 {
		t.Fatalf("GarbageCollect = %q, %v; want two removed", removed, err)
	}
	if got, want := imageIDs(t, rt), []string{"docker.io/library/b:1", "docker.io/library/d:1"}; !slices.Equal(got, want) {
		t.Errorf("images after GC = %q, want %q", got, want)
	}
}
