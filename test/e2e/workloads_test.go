package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/skiff/internal/agent/runtime"
)

// TestWorkloads runs real containers through `skiff server`'s own node
// agent and drives them with the real kubectl: a Deployment rolled out
// and scaled, logs, exec, attach, port-forward and cp, the statuses
// upstream shows for pods that cannot start, and deletion. One server
// for the whole file; the subtests run in parallel on it, each with its
// own pods.
func TestWorkloads(t *testing.T) {
	s := startServerWithAgent(t)
	w := &workloads{s: s, cs: s.clientset()}
	w.rt = s.runtime()
	t.Run("group", func(t *testing.T) {
		t.Run("DeploymentRolloutPortForwardScale", w.testDeployment)
		t.Run("LogsExecCopy", w.testLogsExecCopy)
		t.Run("PreviousLogs", w.testPreviousLogs)
		t.Run("CrashLoopBackOff", w.testCrashLoop)
		t.Run("AttachWithStdin", w.testAttach)
		t.Run("BadCommand", w.testBadCommand)
		t.Run("MissingImage", w.testMissingImage)
		t.Run("MissingSecretKey", w.testMissingSecretKey)
		t.Run("DeletePodRemovesContainers", w.testDeletePod)
	})
}

type workloads struct {
	s  *server
	cs kubernetes.Interface
	// rt is the node's containerd, to see what the agent left running.
	rt *runtime.CRI
}

// k runs kubectl and fails t on error.
func (w *workloads) k(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := w.s.kubectl(stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// waitPod polls the pod until ok says so, and fails with its last status.
func (w *workloads) waitPod(t *testing.T, name, what string, ok func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var last *corev1.Pod
	for time.Now().Before(deadline) {
		pod, err := w.cs.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err == nil {
			last = pod
			if ok(pod) {
				return pod
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := json.MarshalIndent(last, "", "  ")
	t.Fatalf("pod %s: %s did not happen; last:\n%s", name, what, b)
	return nil
}

// containerStatus is the pod's only container's status.
func containerStatus(pod *corev1.Pod) corev1.ContainerStatus {
	if len(pod.Status.ContainerStatuses) == 0 {
		return corev1.ContainerStatus{}
	}
	return pod.Status.ContainerStatuses[0]
}

func waitingReason(pod *corev1.Pod) (reason, message string) {
	if st := containerStatus(pod); st.State.Waiting != nil {
		return st.State.Waiting.Reason, st.State.Waiting.Message
	}
	return "", ""
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// busyboxPod is a one-container busybox pod that stops at once when
// deleted (sh as PID 1 ignores SIGTERM).
func busyboxPod(name, script string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: skiff.test/busybox:1
    command: ["sh", "-c", %q]
`, name, script)
}

func (w *workloads) testDeployment(t *testing.T) {
	t.Parallel()
	w.k(t, "", "create", "deployment", "web", "--image=skiff.test/http:1", "--replicas=2")
	w.k(t, "", "rollout", "status", "deployment/web", "--timeout=90s")
	pods := w.webPods(t, 2)
	cidr := netip.MustParsePrefix(w.s.node.podCIDR)
	for _, p := range pods {
		ip, err := netip.ParseAddr(p.Status.PodIP)
		if p.Status.Phase != corev1.PodRunning || err != nil || !cidr.Contains(ip) || p.Spec.NodeName != w.s.node.name {
			t.Errorf("pod %s: phase %s, IP %q on node %q; want Running with an IP of %s on %s", p.Name, p.Status.Phase, p.Status.PodIP, p.Spec.NodeName, cidr, w.s.node.name)
		}
	}

	t.Run("PortForward", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, kubectlBin, "--kubeconfig", w.s.kubeconfig, "port-forward", "pod/"+pods[0].Name, ":8080")
		cmd.Env = append(os.Environ(), "KUBECTL_KUBERC=false", "HOME="+w.s.dataDir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); _ = cmd.Wait() }()
		// "Forwarding from 127.0.0.1:41234 -> 8080"
		re := regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) -> 8080`)
		sc := bufio.NewScanner(stdout)
		port := ""
		for port == "" && sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				port = m[1]
			}
		}
		if port == "" {
			t.Fatalf("kubectl port-forward printed no local port; stderr:\n%s", stderr.String())
		}
		go func() { _, _ = io.Copy(io.Discard, stdout) }()
		resp, err := http.Get("http://127.0.0.1:" + port + "/healthz")
		if err != nil {
			t.Fatalf("GET through port-forward: %v; kubectl stderr:\n%s", err, stderr.String())
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "ok" {
			t.Fatalf("GET /healthz through port-forward: %d %q", resp.StatusCode, body)
		}
	})

	t.Run("ScaleDownAndUp", func(t *testing.T) {
		w.k(t, "", "scale", "deployment/web", "--replicas=1")
		remaining := w.webPods(t, 1)
		gone := pods[0].UID
		if remaining[0].UID == gone {
			gone = pods[1].UID
		}
		w.waitNoSandbox(t, string(gone))
		w.k(t, "", "scale", "deployment/web", "--replicas=3")
		w.k(t, "", "rollout", "status", "deployment/web", "--timeout=90s")
		for _, p := range w.webPods(t, 3) {
			if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
				t.Errorf("pod %s: phase %s, IP %q after scaling up", p.Name, p.Status.Phase, p.Status.PodIP)
			}
		}
	})
}

// webPods waits until the web Deployment has exactly n pods that are
// not being deleted, all Ready, and returns them.
func (w *workloads) webPods(t *testing.T, n int) []corev1.Pod {
	t.Helper()
	sel := labels.SelectorFromSet(labels.Set{"app": "web"}).String()
	deadline := time.Now().Add(90 * time.Second)
	var live []corev1.Pod
	for time.Now().Before(deadline) {
		list, err := w.cs.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: sel})
		if err == nil {
			live = live[:0]
			ready := 0
			for _, p := range list.Items {
				if p.DeletionTimestamp == nil {
					live = append(live, p)
					if podReady(&p) {
						ready++
					}
				}
			}
			if len(list.Items) == n && ready == n {
				return live
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("web: want %d Ready pods and no others, have %d live", n, len(live))
	return nil
}

// waitNoSandbox waits until the node's containerd has no sandbox of the
// pod with this UID: the agent stopped and removed it.
func (w *workloads) waitNoSandbox(t *testing.T, uid string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		found := false
		for _, sb := range w.s.sandboxes(w.rt) {
			if sb.UID == uid {
				found = true
			}
		}
		if !found {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the sandbox of deleted pod %s is still in containerd", uid)
}

func (w *workloads) testLogsExecCopy(t *testing.T) {
	t.Parallel()
	w.k(t, busyboxPod("tools", `i=0; while true; do i=$((i+1)); echo line $i; sleep 0.1; done`), "apply", "-f", "-")
	w.k(t, "", "wait", "--for=condition=Ready", "pod/tools", "--timeout=90s")
	line := regexp.MustCompile(`^line (\d+)$`)

	t.Run("Logs", func(t *testing.T) {
		var out string
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(out, "line 3\n") && time.Now().Before(deadline) {
			out = w.k(t, "", "logs", "tools")
		}
		if !strings.HasPrefix(out, "line 1\nline 2\nline 3\n") {
			t.Fatalf("kubectl logs: %q", out)
		}
	})
	t.Run("Tail", func(t *testing.T) {
		lines := strings.Split(strings.TrimSuffix(w.k(t, "", "logs", "tools", "--tail=2"), "\n"), "\n")
		if len(lines) != 2 || !line.MatchString(lines[0]) || !line.MatchString(lines[1]) {
			t.Fatalf("kubectl logs --tail=2: %q", lines)
		}
		a, _ := strconv.Atoi(line.FindStringSubmatch(lines[0])[1])
		b, _ := strconv.Atoi(line.FindStringSubmatch(lines[1])[1])
		if b != a+1 {
			t.Fatalf("kubectl logs --tail=2: not the last two lines in order: %q", lines)
		}
	})
	t.Run("Follow", func(t *testing.T) {
		// Lines written after kubectl started must arrive: read until a
		// line later than the last one logged before, then stop it.
		tail := strings.TrimSpace(w.k(t, "", "logs", "tools", "--tail=1"))
		before, _ := strconv.Atoi(strings.TrimPrefix(tail, "line "))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, kubectlBin, "--kubeconfig", w.s.kubeconfig, "logs", "-f", "tools", "--tail=1")
		cmd.Env = append(os.Environ(), "KUBECTL_KUBERC=false", "HOME="+w.s.dataDir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); _ = cmd.Wait() }()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			m := line.FindStringSubmatch(sc.Text())
			if m == nil {
				t.Fatalf("kubectl logs -f: unexpected line %q", sc.Text())
			}
			if n, _ := strconv.Atoi(m[1]); n > before+5 {
				return
			}
		}
		t.Fatalf("kubectl logs -f ended without new lines (err %v, ctx %v)", sc.Err(), ctx.Err())
	})
	t.Run("ExecWithStdin", func(t *testing.T) {
		if out := w.k(t, "hello skiff\n", "exec", "-i", "tools", "--", "tr", "a-z", "A-Z"); out != "HELLO SKIFF\n" {
			t.Fatalf("kubectl exec -i tr: %q", out)
		}
		_, _, err := w.s.kubectl("", "exec", "tools", "--", "sh", "-c", "exit 7")
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) || exitErr.ExitCode() != 7 {
			t.Fatalf("kubectl exec of `exit 7`: %v, want exit code 7", err)
		}
	})
	t.Run("Copy", func(t *testing.T) {
		dir := t.TempDir()
		src := filepath.Join(dir, "in.txt")
		want := "copied by kubectl cp\nsecond line\n"
		if err := os.WriteFile(src, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		w.k(t, "", "cp", src, "tools:/tmp/in.txt")
		if got := w.k(t, "", "exec", "tools", "--", "cat", "/tmp/in.txt"); got != want {
			t.Fatalf("file in the pod after kubectl cp: %q, want %q", got, want)
		}
		w.k(t, "", "exec", "tools", "--", "sh", "-c", "echo from the pod > /tmp/out.txt")
		dst := filepath.Join(dir, "out.txt")
		w.k(t, "", "cp", "tools:/tmp/out.txt", dst)
		if got, err := os.ReadFile(dst); err != nil || string(got) != "from the pod\n" {
			t.Fatalf("file copied from the pod: %q, %v", got, err)
		}
	})
}

func (w *workloads) testPreviousLogs(t *testing.T) {
	t.Parallel()
	w.k(t, busyboxPod("restarter", `echo run $(cat /proc/sys/kernel/random/uuid); sleep 5; exit 3`), "apply", "-f", "-")
	w.waitPod(t, "restarter", "a restart", func(p *corev1.Pod) bool {
		st := containerStatus(p)
		return st.RestartCount >= 1 && st.LastTerminationState.Terminated != nil && st.State.Running != nil
	})
	prev := w.k(t, "", "logs", "restarter", "--previous")
	if !regexp.MustCompile(`^run [0-9a-f-]{36}\n$`).MatchString(prev) {
		t.Fatalf("kubectl logs --previous: %q", prev)
	}
	if cur := w.k(t, "", "logs", "restarter"); cur == prev || !strings.HasPrefix(cur, "run ") {
		t.Fatalf("kubectl logs after a restart: %q, previous %q: want the new run's line", cur, prev)
	}
}

func (w *workloads) testCrashLoop(t *testing.T) {
	// A container that keeps exiting: the last state carries its exit
	// code, reason and times, and the agent backs off as upstream does.
	t.Parallel()
	w.k(t, busyboxPod("crasher", `echo crashing; exit 3`), "apply", "-f", "-")
	// Upstream restarts at once after the first exit, then backs off
	// (10 s, doubling): the second exit shows CrashLoopBackOff.
	pod := w.waitPod(t, "crasher", "CrashLoopBackOff after a restart", func(p *corev1.Pod) bool {
		reason, _ := waitingReason(p)
		return reason == "CrashLoopBackOff" && containerStatus(p).RestartCount >= 1
	})
	st := containerStatus(pod)
	if term := st.LastTerminationState.Terminated; term == nil || term.ExitCode != 3 || term.Reason != "Error" || term.FinishedAt.IsZero() {
		t.Errorf("lastState: %+v, want terminated with exit code 3, reason Error and a finish time", st.LastTerminationState)
	}
	if _, msg := waitingReason(pod); !strings.Contains(msg, "back-off") || !strings.Contains(msg, "restarting failed container=c pod=crasher_default") {
		t.Errorf("CrashLoopBackOff message %q, want upstream's back-off message", msg)
	}
}

func (w *workloads) testAttach(t *testing.T) {
	t.Parallel()
	// stdinOnce: the container's stdin closes when kubectl's does, so
	// the loop ends, the container exits and kubectl attach returns.
	w.k(t, `apiVersion: v1
kind: Pod
metadata:
  name: attached
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: skiff.test/busybox:1
    stdin: true
    stdinOnce: true
    command: ["sh", "-c", "while read l; do echo got:$l; done; echo bye"]
`, "apply", "-f", "-")
	w.k(t, "", "wait", "--for=condition=Ready", "pod/attached", "--timeout=90s")
	if out := w.k(t, "one\ntwo\n", "attach", "-i", "attached"); out != "got:one\ngot:two\nbye\n" {
		t.Fatalf("kubectl attach -i: %q", out)
	}
	w.waitPod(t, "attached", "phase Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
}

func (w *workloads) testBadCommand(t *testing.T) {
	t.Parallel()
	w.k(t, `apiVersion: v1
kind: Pod
metadata:
  name: badcmd
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: skiff.test/busybox:1
    command: ["/no/such/binary"]
`, "apply", "-f", "-")
	// runc's own words, as upstream shows them.
	const runtimeMsg = `exec: "/no/such/binary": stat /no/such/binary: no such file or directory`
	w.waitPod(t, "badcmd", "RunContainerError or CrashLoopBackOff with the runtime's message", func(p *corev1.Pod) bool {
		reason, msg := waitingReason(p)
		if term := containerStatus(p).LastTerminationState.Terminated; term != nil && reason == "CrashLoopBackOff" {
			msg = term.Message
		}
		return (reason == "RunContainerError" || reason == "CrashLoopBackOff") && strings.Contains(msg, runtimeMsg)
	})
}

func (w *workloads) testMissingImage(t *testing.T) {
	t.Parallel()
	// Nothing listens on port 1: the pull fails at once, no DNS, no
	// network needed.
	w.k(t, "", "run", "noimage", "--image=127.0.0.1:1/missing:1")
	w.waitPod(t, "noimage", "ErrImagePull or ImagePullBackOff with the runtime's message", func(p *corev1.Pod) bool {
		reason, msg := waitingReason(p)
		return (reason == "ErrImagePull" || reason == "ImagePullBackOff") && strings.Contains(msg, "connection refused")
	})
}

func (w *workloads) testMissingSecretKey(t *testing.T) {
	t.Parallel()
	w.k(t, "", "create", "secret", "generic", "creds", "--from-literal=user=alice")
	w.k(t, `apiVersion: v1
kind: Pod
metadata:
  name: nokey
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: skiff.test/busybox:1
    command: ["sleep", "3600"]
    env:
    - name: PASSWORD
      valueFrom:
        secretKeyRef: {name: creds, key: password}
`, "apply", "-f", "-")
	w.waitPod(t, "nokey", "CreateContainerConfigError", func(p *corev1.Pod) bool {
		reason, msg := waitingReason(p)
		return reason == "CreateContainerConfigError" && msg == "couldn't find key password in Secret default/creds"
	})
}

func (w *workloads) testDeletePod(t *testing.T) {
	t.Parallel()
	w.k(t, busyboxPod("doomed", "sleep 3600"), "apply", "-f", "-")
	w.k(t, "", "wait", "--for=condition=Ready", "pod/doomed", "--timeout=90s")
	pod, err := w.cs.CoreV1().Pods("default").Get(context.Background(), "doomed", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, sb := range w.s.sandboxes(w.rt) {
		found = found || sb.UID == string(pod.UID)
	}
	if !found {
		t.Fatalf("no sandbox of running pod %s in containerd", pod.UID)
	}
	w.k(t, "", "delete", "pod", "doomed", "--timeout=60s")
	w.waitNoSandbox(t, string(pod.UID))
}

// TestRemoteAgent joins a `skiff agent` to a server without a node of
// its own, as a second machine would, and reaches its pod through the
// API server: the agent's serving certificate, signed with the cluster
// CA from --server-data-dir, must verify for logs and exec to work.
func TestRemoteAgent(t *testing.T) {
	s := startServer(t)
	n := startAgent(t, s)
	w := &workloads{s: s, cs: s.clientset()}
	w.k(t, busyboxPod("remote", "echo hello from $(hostname); sleep 3600"), "apply", "-f", "-")
	w.k(t, "", "wait", "--for=condition=Ready", "pod/remote", "--timeout=90s")
	pod := w.waitPod(t, "remote", "bound to the agent's node", func(p *corev1.Pod) bool { return p.Spec.NodeName == n.name })
	if pod.Status.HostIP != n.ip {
		t.Errorf("hostIP %q, want the agent's --node-ip %s", pod.Status.HostIP, n.ip)
	}
	var logs string
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs, "\n") && time.Now().Before(deadline) {
		logs = w.k(t, "", "logs", "remote")
	}
	if logs != "hello from remote\n" {
		t.Errorf("kubectl logs: %q", logs)
	}
	if out := w.k(t, "", "exec", "remote", "--", "cat", "/etc/hostname"); out != "remote\n" {
		t.Errorf("kubectl exec cat /etc/hostname: %q", out)
	}
}
