package agent_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/agent"
	"skiff.dev/skiff/internal/agent/cgroups"
	"skiff.dev/skiff/internal/agent/runtime/fake"
	"skiff.dev/skiff/internal/testserver"
)

// TestPodCgroupLifecycle runs the agent on the simulated runtime with the
// machine's real cgroups, under a root of the test's own: a pod gets its
// cgroup with the PID limit before its sandbox; deleting it removes the
// cgroup; a pod deleted while the agent was down loses its cgroup when
// the agent starts again, and a live pod's cgroup is kept.
func TestPodCgroupLifecycle(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	layout, err := cgroups.Detect()
	if err != nil {
		t.Skipf("no cgroups: %v", err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	root := "/skiff-agent-test-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		for _, mnt := range layout.All {
			rmdirAll(filepath.Join(mnt, root))
		}
	})
	m, err := cgroups.New(layout, root)
	if err != nil {
		t.Fatal(err)
	}
	pidsMnt := layout.Unified
	if pidsMnt == "" {
		pidsMnt = layout.V1["pids"]
	}
	podDir := func(pod *corev1.Pod) string {
		return filepath.Join(pidsMnt, root, "kubepods", "besteffort", "pod"+string(pod.UID))
	}
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }

	s := testserver.Start(t)
	ctx := context.Background()
	dataDir := t.TempDir()
	cfg := agent.Config{NodeName: "n1", Runtime: fake.New(fake.Options{}), DataDir: dataDir, Cgroups: m, PodPidsLimit: 100}
	_, stop := runAgent(t, s, cfg)
	running := func(name string) *corev1.Pod {
		pod := createPod(t, s.Client, "n1", name, corev1.RestartPolicyAlways, "app")
		eventually(t, name+" running", func() (bool, string) {
			p := getPod(t, s.Client, name)
			return p.Status.Phase == corev1.PodRunning, string(p.Status.Phase)
		})
		return pod
	}
	live, doomed, later := running("live"), running("doomed"), running("later")
	for _, pod := range []*corev1.Pod{live, doomed, later} {
		b, err := os.ReadFile(filepath.Join(podDir(pod), "pids.max"))
		if err != nil || strings.TrimSpace(string(b)) != "100" {
			t.Fatalf("%s: pids.max = %q, %v; want 100", pod.Name, b, err)
		}
	}

	if err := s.Client.CoreV1().Pods("default").Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deleted pod's cgroup removed", func() (bool, string) {
		return !exists(podDir(doomed)), podDir(doomed)
	})

	// Down: "later" is deleted behind the agent's back; a new agent (and
	// a fresh runtime, its sandbox gone) finds its directory and cleans up.
	stop()
	if err := s.Client.CoreV1().Pods("default").Delete(ctx, "later", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	cfg.Runtime = fake.New(fake.Options{})
	runAgent(t, s, cfg)
	eventually(t, "cgroup of the pod deleted while the agent was down removed", func() (bool, string) {
		return !exists(podDir(later)), podDir(later)
	})
	if !exists(podDir(live)) {
		t.Errorf("the live pod's cgroup %s was removed", podDir(live))
	}
	eventually(t, "live pod running again", func() (bool, string) {
		p := getPod(t, s.Client, "live")
		return p.Status.Phase == corev1.PodRunning, fmt.Sprint(p.Status.Phase)
	})
}

// rmdirAll removes a cgroup tree, deepest first.
func rmdirAll(dir string) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	for _, e := range entries {
		if e.IsDir() {
			rmdirAll(filepath.Join(dir, e.Name()))
		}
	}
	_ = syscall.Rmdir(dir)
}
