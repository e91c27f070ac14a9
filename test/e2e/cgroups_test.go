package e2e

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/agent/cgroups"
)

// TestPodCgroups runs a Burstable pod on a node started with
// --pod-max-pids 24 and checks, on the host, that the pod has its own
// cgroup under kubepods/burstable with upstream's limits (pids.max, the
// sum of the memory limits), that forking past the limit fails inside
// the container, that skiff audit's 4.2.13 reads the limit, and that
// the cgroup is removed with the pod.
func TestPodCgroups(t *testing.T) {
	const pidsMax = 24
	layout, err := cgroups.Detect()
	if err != nil {
		t.Skipf("no cgroups: %v", err)
	}
	s := startServerWithAgent(t, "--pod-max-pids", strconv.Itoa(pidsMax))
	w := &workloads{s: s, cs: s.clientset()}
	w.rt = s.runtime()

	// The subshell forks sleeps until the kernel refuses; the outer shell
	// then reports without forking (echo is built in, exec replaces it).
	script := `(i=0; while [ $i -lt 200 ]; do sleep 600 & i=$((i+1)); echo "forked $i"; done; echo no-limit) 2>&1; echo done; exec sleep 600`
	w.k(t, `apiVersion: v1
kind: Pod
metadata:
  name: forker
spec:
  terminationGracePeriodSeconds: 1
  restartPolicy: Never
  containers:
  - name: c
    image: skiff.test/busybox:1
    command: ["sh", "-c", `+strconv.Quote(script)+`]
    resources:
      requests: {cpu: 50m, memory: 32Mi}
      limits: {cpu: 200m, memory: 64Mi}
`, "apply", "-f", "-")
	pod := w.waitPod(t, "forker", "running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	if pod.Status.QOSClass != corev1.PodQOSBurstable {
		t.Fatalf("qosClass %s, want Burstable", pod.Status.QOSClass)
	}

	// The kernel's view of the pod's cgroup.
	rel := filepath.Join("kubepods", "burstable", "pod"+string(pod.UID))
	pidsDir, memFile := filepath.Join(layout.Unified, rel), filepath.Join(layout.Unified, rel, "memory.max")
	if layout.Unified == "" {
		pidsDir, memFile = filepath.Join(layout.V1["pids"], rel), filepath.Join(layout.V1["memory"], rel, "memory.limit_in_bytes")
	}
	if got := readTrimmed(t, filepath.Join(pidsDir, "pids.max")); got != strconv.Itoa(pidsMax) {
		t.Errorf("%s/pids.max = %s, want %d", pidsDir, got, pidsMax)
	}
	if got := readTrimmed(t, memFile); got != strconv.Itoa(64<<20) {
		t.Errorf("%s = %s, want %d (the container's limit)", memFile, got, 64<<20)
	}

	// Inside: fork fails before the loop ends.
	var logs string
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		out, _, err := s.kubectl("", "logs", "forker")
		if logs = out; err == nil && strings.Contains(out, "done") {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(logs, "done") {
		t.Fatalf("the forker did not finish; logs:\n%s", logs)
	}
	if strings.Contains(logs, "no-limit") || !strings.Contains(logs, "can't fork") {
		t.Errorf("forking past pids.max %d did not fail; logs:\n%s", pidsMax, logs)
	}

	// skiff audit reads the limit the server's agent runs with.
	rep, _ := runAudit(t, s, "--section", "4.2.13")
	if f := byID(rep)["4.2.13"]; f.Status != "PASS" || !strings.Contains(f.Evidence, "--pod-max-pids="+strconv.Itoa(pidsMax)) {
		t.Errorf("audit 4.2.13 = %s (%s), want PASS with --pod-max-pids=%d", f.Status, f.Evidence, pidsMax)
	}

	// Deleted: the sandbox goes, then the cgroup, from every hierarchy.
	w.k(t, "", "delete", "pod", "forker", "--timeout=60s")
	w.waitNoSandbox(t, string(pod.UID))
	var left []string
	deadline = time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		left = left[:0]
		for _, mnt := range layout.All {
			if _, err := os.Stat(filepath.Join(mnt, rel)); !errors.Is(err, os.ErrNotExist) {
				left = append(left, filepath.Join(mnt, rel))
			}
		}
		if len(left) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Errorf("the deleted pod's cgroup is still there: %v", left)
	}
	if _, err := w.cs.CoreV1().Pods("default").Get(context.Background(), "forker", metav1.GetOptions{}); err == nil {
		t.Errorf("pod forker still exists")
	}
}

func readTrimmed(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
