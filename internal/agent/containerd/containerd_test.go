package containerd_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"skiff.dev/skiff/internal/agent/containerd/containerdtest"
	"skiff.dev/skiff/internal/agent/pause"
)

// TestSupervisedContainerd starts the agent's containerd, checks what it
// generated, and kills it: the supervisor must start it again on the
// same socket, with the images it had.
func TestSupervisedContainerd(t *testing.T) {
	n := containerdtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	name, version, err := n.Runtime.Version(ctx)
	if err != nil || name != "containerd" || version == "" {
		t.Fatalf("Version() = %q, %q, %v", name, version, err)
	}
	cfg, err := os.ReadFile(filepath.Join(n.DataDir, "agent", "containerd", "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`sandbox_image = "` + pause.Image + `"`,
		"SystemdCgroup = false",
		`address = "` + n.Process.Socket() + `"`,
		`conf_dir = "` + filepath.Join(n.DataDir, "agent", "cni", "net.d") + `"`,
	} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("config.toml lacks %s:\n%s", want, cfg)
		}
	}
	if img, err := n.Runtime.ImageStatus(ctx, pause.Image); err != nil || img == nil {
		t.Fatalf("pause image: %v, %v", img, err)
	}
	if fi, err := os.Stat(n.Process.LogFile()); err != nil || fi.Size() == 0 {
		t.Errorf("containerd log %s: %v", n.Process.LogFile(), err)
	}

	pid := n.Process.PID()
	if pid == 0 {
		t.Fatal("no containerd pid")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for n.Process.Restarts() == 0 || n.Process.PID() == 0 || n.Process.PID() == pid {
		if time.Now().After(deadline) {
			t.Fatalf("containerd was not restarted: restarts %d, pid %d", n.Process.Restarts(), n.Process.PID())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The same client reconnects to the new containerd.
	for {
		img, err := n.Runtime.ImageStatus(ctx, pause.Image)
		if err == nil && img != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restarted containerd does not answer with the pause image: %v, %v", img, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
