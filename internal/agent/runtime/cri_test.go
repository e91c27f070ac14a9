package runtime_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"skiff.dev/skiff/internal/agent/containerd/containerdtest"
	"skiff.dev/skiff/internal/agent/pause"
	"skiff.dev/skiff/internal/agent/runtime"
	"skiff.dev/skiff/internal/testimages"
)

// TestCRI drives the CRI runtime against a real containerd, runc and the
// CNI bridge: images, sandboxes with addresses, containers from start to
// removal, exec, logs, and the security context as the kernel sees it.
func TestCRI(t *testing.T) {
	// Build the images first: compiling the HTTP server on a busy
	// machine takes a while, and counts against no deadline.
	busybox, httpImage := testimages.Busybox(t), testimages.GoHTTP(t)
	n := containerdtest.Start(t)
	if names := n.Import(t, busybox); !slices.Contains(names, testimages.BusyboxImage) {
		t.Fatalf("imported %q, want %s", names, testimages.BusyboxImage)
	}
	rt := n.Runtime

	t.Run("status", func(t *testing.T) {
		ctx := testContext(t)
		ready, msg, err := rt.Status(ctx)
		if err != nil || !ready {
			t.Fatalf("Status() = %v, %q, %v", ready, msg, err)
		}
	})

	t.Run("images", func(t *testing.T) {
		ctx := testContext(t)
		imgs, err := rt.ListImages(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var tags []string
		for _, img := range imgs {
			tags = append(tags, img.RepoTags...)
		}
		for _, want := range []string{pause.Image, testimages.BusyboxImage} {
			if !slices.Contains(tags, want) {
				t.Errorf("ListImages has %q, want %s", tags, want)
			}
		}
		img, err := rt.ImageStatus(ctx, testimages.BusyboxImage)
		if err != nil || img == nil || !strings.HasPrefix(img.ID, "sha256:") || img.Size == 0 {
			t.Fatalf("ImageStatus(busybox) = %+v, %v", img, err)
		}
		if img, err := rt.ImageStatus(ctx, "skiff.test/absent:1"); img != nil || err != nil {
			t.Errorf("ImageStatus(absent) = %+v, %v; want nil, nil", img, err)
		}
	})

	t.Run("import a directory", func(t *testing.T) {
		ctx := testContext(t)
		dir := t.TempDir()
		writeDockerArchive(t, filepath.Join(dir, "a-docker.tar"), "skiff.test/docker:1")
		if err := os.WriteFile(filepath.Join(dir, "b-broken.tar"), []byte("not a tarball"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "c-ignored.txt"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		names, err := runtime.ImportDir(ctx, rt, dir)
		if !slices.Equal(names, []string{"skiff.test/docker:1"}) {
			t.Errorf("ImportDir imported %q", names)
		}
		if err == nil || !strings.Contains(err.Error(), "b-broken.tar") {
			t.Errorf("ImportDir error %v does not name the broken archive", err)
		}
		if img, err := rt.ImageStatus(ctx, "skiff.test/docker:1"); err != nil || img == nil {
			t.Errorf("docker-archive image: %+v, %v", img, err)
		}
		if names, err := runtime.ImportDir(ctx, rt, filepath.Join(dir, "absent")); err != nil || len(names) != 0 {
			t.Errorf("ImportDir of a missing directory: %q, %v", names, err)
		}
	})

	t.Run("pull without a registry", func(t *testing.T) {
		ctx := testContext(t)
		// Nothing listens on port 1: the pull fails at once, with the
		// runtime's own message for the pod's status.
		_, err := rt.PullImage(ctx, "127.0.0.1:1/skiff/absent:1", nil, nil)
		if err == nil {
			t.Fatal("pull succeeded")
		}
		msg := runtime.ErrorMessage(err)
		if !strings.HasPrefix(msg, "rpc error: code = ") || !strings.Contains(msg, "127.0.0.1:1/skiff/absent:1") {
			t.Errorf("ErrorMessage = %q", msg)
		}
		if !strings.Contains(err.Error(), `pull image "127.0.0.1:1/skiff/absent:1"`) {
			t.Errorf("error lacks context: %v", err)
		}
	})

	t.Run("sandbox and container lifecycle", func(t *testing.T) {
		t.Parallel()
		ctx := testContext(t)
		sbCfg := sandboxConfig(t, n, "lifecycle")
		sbID := runSandbox(t, rt, sbCfg)

		sb, err := rt.SandboxStatus(ctx, sbID)
		if err != nil {
			t.Fatal(err)
		}
		ip, err := netip.ParseAddr(sb.IP)
		if err != nil || !n.PodCIDR.Contains(ip) {
			t.Errorf("sandbox IP %q is not in the pod CIDR %s", sb.IP, n.PodCIDR)
		}
		if sb.State != runtime.SandboxReady || sb.Name != "lifecycle" || sb.Namespace != "default" || sb.UID != sbCfg.UID {
			t.Errorf("SandboxStatus = %+v", sb)
		}
		if got := sb.Labels[runtime.LabelPodUID]; got != sbCfg.UID {
			t.Errorf("sandbox label %s = %q, want %q", runtime.LabelPodUID, got, sbCfg.UID)
		}

		sbs, err := rt.ListSandboxes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s := findSandbox(sbs, sbID); s == nil || s.Labels["app"] != "lifecycle" || s.State != runtime.SandboxReady {
			t.Errorf("ListSandboxes: sandbox %s = %+v", sbID, s)
		}
		podSbs, err := rt.ListPodSandboxes(ctx, sbCfg.UID)
		if err != nil {
			t.Fatal(err)
		}
		if len(podSbs) != 1 || podSbs[0].ID != sbID {
			t.Errorf("ListPodSandboxes(%s) = %+v, want just %s", sbCfg.UID, podSbs, sbID)
		}
		if other, err := rt.ListPodSandboxes(ctx, "no-such-uid"); err != nil || len(other) != 0 {
			t.Errorf("ListPodSandboxes of another pod = %+v, %v; want none", other, err)
		}

		ctID := createContainer(t, rt, sbID, sbCfg, &runtime.ContainerConfig{
			Name:    "main",
			Image:   testimages.BusyboxImage,
			Command: []string{"sh", "-c", `echo hi; echo "$GREETING" >&2; sleep 3600`},
			Env:     []runtime.KeyValue{{Key: "GREETING", Value: "hello, world"}},
			LogPath: "main/0.log",
			Labels:  map[string]string{"tier": "test"},
		})
		if err := rt.StartContainer(ctx, ctID); err != nil {
			t.Fatal(err)
		}
		st := waitContainer(t, rt, ctID, func(c *runtime.Container) bool { return c.State == runtime.ContainerRunning })
		if st.SandboxID != sbID || st.Name != "main" || st.Image == "" || st.ImageRef == "" || st.StartedAt.IsZero() ||
			st.LogPath != filepath.Join(sbCfg.LogDir, "main/0.log") || st.Labels[runtime.LabelContainerName] != "main" {
			t.Errorf("ContainerStatus = %+v", st)
		}

		cts, err := rt.ListContainers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c := findContainer(cts, ctID); c == nil || c.SandboxID != sbID || c.State != runtime.ContainerRunning ||
			c.Labels["tier"] != "test" || c.Labels[runtime.LabelPodName] != "lifecycle" {
			t.Errorf("ListContainers: container %s = %+v", ctID, c)
		}
		podCts, err := rt.ListPodContainers(ctx, sbCfg.UID)
		if err != nil {
			t.Fatal(err)
		}
		if len(podCts) != 1 || podCts[0].ID != ctID {
			t.Errorf("ListPodContainers(%s) = %+v, want just %s", sbCfg.UID, podCts, ctID)
		}
		if other, err := rt.ListPodContainers(ctx, "no-such-uid"); err != nil || len(other) != 0 {
			t.Errorf("ListPodContainers of another pod = %+v, %v; want none", other, err)
		}

		// The log, in CRI's format: time, stream, tag, line.
		logLine := regexp.MustCompile(`^\d{4}-\d\d-\d\dT[^ ]+ (stdout|stderr) F (.*)$`)
		waitFor(t, "both log lines", func() (bool, string) {
			b, _ := os.ReadFile(st.LogPath)
			var got []string
			for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				if m := logLine.FindStringSubmatch(l); m != nil {
					got = append(got, m[1]+":"+m[2])
				}
			}
			slices.Sort(got)
			return slices.Equal(got, []string{"stderr:hello, world", "stdout:hi"}), string(b)
		})

		stdout, stderr, code, err := rt.ExecSync(ctx, ctID, []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, 10*time.Second)
		if err != nil || string(stdout) != "out\n" || string(stderr) != "err\n" || code != 3 {
			t.Errorf("ExecSync = %q, %q, %d, %v", stdout, stderr, code, err)
		}
		if _, _, _, err := rt.ExecSync(ctx, ctID, []string{"/no/such/program"}, 10*time.Second); err == nil {
			t.Error("ExecSync of a missing program: no error")
		}

		// Streaming sessions are served by the runtime's own server.
		for what, get := range map[string]func() (string, error){
			"exec": func() (string, error) {
				return rt.Exec(ctx, &runtime.ExecRequest{ContainerID: ctID, Cmd: []string{"sh"}, Stdin: true, Stdout: true})
			},
			"attach": func() (string, error) {
				return rt.Attach(ctx, &runtime.AttachRequest{ContainerID: ctID, Stdout: true, Stderr: true})
			},
			"port-forward": func() (string, error) { return rt.PortForward(ctx, sbID, []int32{8080}) },
		} {
			if url, err := get(); err != nil || !strings.HasPrefix(url, "http://127.0.0.1:") {
				t.Errorf("%s URL = %q, %v", what, url, err)
			}
		}

		// sh as PID 1 ignores SIGTERM: the stop ends with SIGKILL.
		if err := rt.StopContainer(ctx, ctID, time.Second); err != nil {
			t.Fatal(err)
		}
		st, err = rt.ContainerStatus(ctx, ctID)
		if err != nil {
			t.Fatal(err)
		}
		if st.State != runtime.ContainerExited || st.ExitCode != 137 || st.Reason != "Error" || st.FinishedAt.Before(st.StartedAt) {
			t.Errorf("after stop: state %v exit %d reason %q started %v finished %v", st.State, st.ExitCode, st.Reason, st.StartedAt, st.FinishedAt)
		}
		if err := rt.RemoveContainer(ctx, ctID); err != nil {
			t.Fatal(err)
		}
		if _, err := rt.ContainerStatus(ctx, ctID); !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("status of a removed container: %v, want ErrNotFound", err)
		}

		if err := rt.StopSandbox(ctx, sbID); err != nil {
			t.Fatal(err)
		}
		if sb, err := rt.SandboxStatus(ctx, sbID); err != nil || sb.State != runtime.SandboxNotReady {
			t.Errorf("after StopSandbox: %+v, %v", sb, err)
		}
		if err := rt.RemoveSandbox(ctx, sbID); err != nil {
			t.Fatal(err)
		}
		if _, err := rt.SandboxStatus(ctx, sbID); !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("status of a removed sandbox: %v, want ErrNotFound", err)
		}
		sbs, err = rt.ListSandboxes(ctx)
		if err != nil || findSandbox(sbs, sbID) != nil {
			t.Errorf("removed sandbox still listed: %v", err)
		}
	})

	t.Run("network", func(t *testing.T) {
		t.Parallel()
		ctx := testContext(t)
		n.Import(t, httpImage)
		hostPort := freePort(t)
		sbCfg := sandboxConfig(t, n, "web")
		sbCfg.Ports = []runtime.PortMapping{{Protocol: "TCP", ContainerPort: 8080, HostPort: hostPort}}
		sbID := runSandbox(t, rt, sbCfg)
		id := createContainer(t, rt, sbID, sbCfg, &runtime.ContainerConfig{
			Name: "web", Image: testimages.HTTPImage, LogPath: "web/0.log",
			Env: []runtime.KeyValue{{Key: "GREETING", Value: "hi"}},
		})
		if err := rt.StartContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
		sb, err := rt.SandboxStatus(ctx, sbID)
		if err != nil {
			t.Fatal(err)
		}

		// From the node to the pod's address, on the bridge.
		var info struct {
			Hostname string
			Env      map[string]string
		}
		waitFor(t, "the pod's HTTP server", func() (bool, string) {
			err := getJSON("http://"+net.JoinHostPort(sb.IP, "8080")+"/", &info)
			return err == nil, fmt.Sprint(err)
		})
		if info.Hostname != "web" || info.Env["GREETING"] != "hi" {
			t.Errorf("the server says %+v", info)
		}
		// Through the hostPort, at the node's address.
		nodeURL := "http://" + net.JoinHostPort(nodeIP(t).String(), strconv.Itoa(int(hostPort))) + "/healthz"
		waitFor(t, "the hostPort", func() (bool, string) {
			body, err := get(nodeURL)
			return err == nil && body == "ok", fmt.Sprint(body, err)
		})
		// From another pod.
		clientCfg := sandboxConfig(t, n, "client")
		client := startSleeper(t, rt, runSandbox(t, rt, clientCfg), clientCfg, "client", nil)
		stdout, stderr, code, err := rt.ExecSync(ctx, client, []string{"wget", "-q", "-O", "-", "http://" + net.JoinHostPort(sb.IP, "8080") + "/healthz"}, 10*time.Second)
		if err != nil || string(stdout) != "ok" || code != 0 {
			t.Errorf("pod to pod: %q (stderr %q), exit %d, %v", stdout, stderr, code, err)
		}
	})

	t.Run("resources", func(t *testing.T) {
		t.Parallel()
		ctx := testContext(t)
		sbCfg := sandboxConfig(t, n, "limited")
		sbID := runSandbox(t, rt, sbCfg)
		id := createContainer(t, rt, sbID, sbCfg, &runtime.ContainerConfig{
			Name: "limited", Image: testimages.BusyboxImage, Command: []string{"sleep", "3600"}, LogPath: "limited/0.log",
			Resources: &runtime.Resources{CPUShares: 512, CPUQuota: 50000, CPUPeriod: 100000, MemoryLimit: 64 << 20},
		})
		if err := rt.StartContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
		// cgroup v2, else v1.
		const memLimit = "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes"
		const cpuQuota = "cut -d' ' -f1 /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us"
		check := func(script, want string) {
			t.Helper()
			stdout, stderr, code, err := rt.ExecSync(ctx, id, []string{"sh", "-c", script}, 10*time.Second)
			if err != nil || code != 0 || strings.TrimSpace(string(stdout)) != want {
				t.Errorf("%s: %q (stderr %q), exit %d, %v; want %s", script, stdout, stderr, code, err, want)
			}
		}
		check(memLimit, "67108864")
		check(cpuQuota, "50000")
		if err := rt.UpdateResources(ctx, id, &runtime.Resources{CPUShares: 512, CPUQuota: 20000, CPUPeriod: 100000, MemoryLimit: 128 << 20}); err != nil {
			t.Fatal(err)
		}
		check(memLimit, "134217728")
		check(cpuQuota, "20000")
	})

	t.Run("exit codes", func(t *testing.T) {
		t.Parallel()
		ctx := testContext(t)
		sbCfg := sandboxConfig(t, n, "exits")
		sbID := runSandbox(t, rt, sbCfg)
		for _, tc := range []struct {
			name   string
			script string
			code   int32
			reason string
		}{
			{"fails", "exit 7", 7, "Error"},
			{"completes", "true", 0, "Completed"},
		} {
			id := createContainer(t, rt, sbID, sbCfg, &runtime.ContainerConfig{
				Name: tc.name, Image: testimages.BusyboxImage, Command: []string{"sh", "-c", tc.script}, LogPath: tc.name + "/0.log",
			})
			if err := rt.StartContainer(ctx, id); err != nil {
				t.Fatal(err)
			}
			st := waitContainer(t, rt, id, func(c *runtime.Container) bool { return c.State == runtime.ContainerExited })
			if st.ExitCode != tc.code || st.Reason != tc.reason {
				t.Errorf("%s: exit %d reason %q, want %d %q", tc.name, st.ExitCode, st.Reason, tc.code, tc.reason)
			}
		}
	})

	t.Run("bad container config", func(t *testing.T) {
		t.Parallel()
		ctx := testContext(t)
		sbCfg := sandboxConfig(t, n, "bad")
		sbID := runSandbox(t, rt, sbCfg)
		_, err := rt.CreateContainer(ctx, sbID, &runtime.ContainerConfig{Name: "absent", Image: "skiff.test/absent:1", LogPath: "absent/0.log"}, sbCfg)
		if err == nil {
			t.Error("created a container from an absent image")
		}
		id := createContainer(t, rt, sbID, sbCfg, &runtime.ContainerConfig{
			Name: "nocmd", Image: testimages.BusyboxImage, Command: []string{"/no/such/program"}, LogPath: "nocmd/0.log",
		})
		if err := rt.StartContainer(ctx, id); err == nil {
			t.Error("started a container whose program does not exist")
		} else if msg := runtime.ErrorMessage(err); !strings.Contains(msg, "/no/such/program") {
			t.Errorf("start error %q does not name the program", msg)
		}
		if err := rt.StartContainer(ctx, "0123456789abcdef"); !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("start of an unknown container: %v, want ErrNotFound", err)
		}
	})

	t.Run("security context", func(t *testing.T) {
		t.Parallel()
		ctx := testContext(t)
		sbCfg := sandboxConfig(t, n, "secure")
		sbID := runSandbox(t, rt, sbCfg)
		uid, gid := int64(1000), int64(3000)
		restricted := startSleeper(t, rt, sbID, sbCfg, "restricted", &runtime.SecurityContext{
			RunAsUser:              &uid,
			RunAsGroup:             &gid,
			SupplementalGroups:     []int64{4000},
			ReadOnlyRootFilesystem: true,
			NoNewPrivs:             true,
			Seccomp:                &runtime.SecurityProfile{Type: "RuntimeDefault"},
		})
		caps := startSleeper(t, rt, sbID, sbCfg, "caps", &runtime.SecurityContext{
			DropCapabilities: []string{"ALL"},
			AddCapabilities:  []string{"NET_BIND_SERVICE"},
		})
		plain := startSleeper(t, rt, sbID, sbCfg, "plain", nil)

		for _, tc := range []struct {
			name      string
			container string
			script    string
			want      string
			code      int
		}{
			{"runAsUser", restricted, "id -u", "1000\n", 0},
			{"runAsGroup and groups", restricted, "id -G", "3000 4000\n", 0},
			{"readOnlyRootFilesystem", restricted, "touch /x 2>/dev/null || echo read-only", "read-only\n", 0},
			{"no_new_privs", restricted, "grep NoNewPrivs /proc/self/status", "NoNewPrivs:\t1\n", 0},
			{"seccomp RuntimeDefault", restricted, "grep '^Seccomp:' /proc/self/status", "Seccomp:\t2\n", 0},
			{"capabilities", caps, "grep CapEff /proc/self/status", "CapEff:\t0000000000000400\n", 0},
			{"default: root", plain, "id -u", "0\n", 0},
			{"default: writable root", plain, "touch /x && echo ok", "ok\n", 0},
			{"default: privilege escalation allowed", plain, "grep NoNewPrivs /proc/self/status", "NoNewPrivs:\t0\n", 0},
			{"default: unconfined", plain, "grep '^Seccomp:' /proc/self/status", "Seccomp:\t0\n", 0},
			{"default: masked /proc/timer_list", plain, "wc -c < /proc/timer_list", "0\n", 0},
			{"default: read-only /proc/sys", plain, "echo 1 2>/dev/null > /proc/sys/kernel/panic || echo read-only", "read-only\n", 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				stdout, stderr, code, err := rt.ExecSync(ctx, tc.container, []string{"sh", "-c", tc.script}, 10*time.Second)
				if err != nil || string(stdout) != tc.want || code != tc.code {
					t.Errorf("%s: %q (stderr %q), exit %d, %v; want %q, exit %d", tc.script, stdout, stderr, code, err, tc.want, tc.code)
				}
			})
		}
	})
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func sandboxConfig(t *testing.T, n *containerdtest.Node, name string) *runtime.SandboxConfig {
	return &runtime.SandboxConfig{
		Name:      name,
		Namespace: "default",
		UID:       "uid-" + name + "-" + filepath.Base(t.TempDir()),
		Hostname:  name,
		LogDir:    n.LogDir(t),
		Labels:    map[string]string{"app": name},
	}
}

func runSandbox(t *testing.T, rt runtime.Runtime, cfg *runtime.SandboxConfig) string {
	t.Helper()
	id, err := rt.RunSandbox(testContext(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func createContainer(t *testing.T, rt runtime.Runtime, sbID string, sb *runtime.SandboxConfig, cfg *runtime.ContainerConfig) string {
	t.Helper()
	id, err := rt.CreateContainer(testContext(t), sbID, cfg, sb)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// startSleeper runs a busybox container that sleeps, with sc.
func startSleeper(t *testing.T, rt runtime.Runtime, sbID string, sb *runtime.SandboxConfig, name string, sc *runtime.SecurityContext) string {
	t.Helper()
	id := createContainer(t, rt, sbID, sb, &runtime.ContainerConfig{
		Name: name, Image: testimages.BusyboxImage, Command: []string{"sleep", "3600"}, LogPath: name + "/0.log", Security: sc,
	})
	if err := rt.StartContainer(testContext(t), id); err != nil {
		t.Fatal(err)
	}
	return id
}

func waitContainer(t *testing.T, rt runtime.Runtime, id string, done func(*runtime.Container) bool) *runtime.Container {
	t.Helper()
	var st *runtime.Container
	waitFor(t, "container "+id, func() (bool, string) {
		var err error
		st, err = rt.ContainerStatus(testContext(t), id)
		if err != nil {
			t.Fatal(err)
		}
		return done(st), ""
	})
	return st
}

// waitFor polls cond until it holds, failing the test after 30 s.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %s", what, detail)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// writeDockerArchive writes a `docker save` archive of a one-file image.
func writeDockerArchive(t *testing.T, path, name string) {
	var layer bytes.Buffer
	lw := tar.NewWriter(&layer)
	content := []byte("hello from a docker archive\n")
	if err := lw.WriteHeader(&tar.Header{Name: "hello.txt", Mode: 0o644, Size: int64(len(content))}); err != nil {
		t.Fatal(err)
	}
	lw.Write(content)
	lw.Close()
	diffID := sha256.Sum256(layer.Bytes())
	config, _ := json.Marshal(map[string]any{
		"architecture": goruntime.GOARCH, "os": "linux",
		"config": map[string]any{"Cmd": []string{"/hello"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(diffID[:])}},
	})
	configID := sha256.Sum256(config)
	configName := hex.EncodeToString(configID[:]) + ".json"
	layerName := hex.EncodeToString(diffID[:]) + "/layer.tar"
	manifest, _ := json.Marshal([]map[string]any{{"Config": configName, "RepoTags": []string{name}, "Layers": []string{layerName}}})

	var out bytes.Buffer
	w := tar.NewWriter(&out)
	for _, f := range []struct {
		name string
		data []byte
	}{{configName, config}, {layerName, layer.Bytes()}, {"manifest.json", manifest}} {
		if err := w.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data))}); err != nil {
			t.Fatal(err)
		}
		w.Write(f.data)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) int32 {
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return int32(l.Addr().(*net.TCPAddr).Port)
}

// nodeIP is an IPv4 address of the machine outside the loopback.
func nodeIP(t *testing.T) netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() && !p.Addr().IsLoopback() {
			return p.Addr()
		}
	}
	t.Skip("the machine has no IPv4 address outside the loopback")
	return netip.Addr{}
}

func get(url string) (string, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("%s: %s", url, resp.Status)
	}
	return string(b), err
}

func getJSON(url string, v any) error {
	body, err := get(url)
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(body), v)
}

func findSandbox(sbs []*runtime.Sandbox, id string) *runtime.Sandbox {
	for _, s := range sbs {
		if s.ID == id {
			return s
		}
	}
	return nil
}

func findContainer(cts []*runtime.Container, id string) *runtime.Container {
	for _, c := range cts {
		if c.ID == id {
			return c
		}
	}
	return nil
}
