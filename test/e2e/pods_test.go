package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
)

// TestPods checks what a single pod asks of the node agent, through the
// real kubectl: the security context, env from a secret, a liveness
// probe that restarts, every volume kind and graceful deletion. One
// server for the file; the subtests run in parallel on it.
func TestPods(t *testing.T) {
	s := startServerWithAgent(t)
	w := &workloads{s: s, cs: s.clientset()}
	w.rt = s.runtime()
	// Volumes and GracefulDeletion mount hostPath volumes, which the
	// default Pod Security level (baseline) refuses.
	w.k(t, "", "label", "namespace", "default", "pod-security.kubernetes.io/enforce=privileged")
	t.Run("group", func(t *testing.T) {
		t.Run("SecurityContext", w.testSecurityContext)
		t.Run("SecretEnvSpecialCharacters", w.testSecretEnv)
		t.Run("LivenessProbeRestarts", w.testLiveness)
		t.Run("Volumes", w.testVolumes)
		t.Run("GracefulDeletion", w.testGracefulDeletion)
	})
}

// waitLogs polls kubectl logs until it holds at least n lines.
func (w *workloads) waitLogs(t *testing.T, pod string, n int) string {
	t.Helper()
	var out string
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if o, _, err := w.s.kubectl("", "logs", pod); err == nil {
			out = o
			if strings.Count(out, "\n") >= n {
				return out
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("kubectl logs %s: %q, want %d lines", pod, out, n)
	return ""
}

func (w *workloads) testSecurityContext(t *testing.T) {
	t.Parallel()
	w.k(t, `apiVersion: v1
kind: Pod
metadata:
  name: restricted
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: skiff.test/busybox:1
    command: ["sh", "-c", "id -u; if touch /probe 2>/dev/null; then echo root writable; else echo root read-only; fi; grep NoNewPrivs /proc/self/status; sleep 3600"]
    securityContext:
      runAsUser: 1000
      readOnlyRootFilesystem: true
      allowPrivilegeEscalation: false
`, "apply", "-f", "-")
	if got, want := w.waitLogs(t, "restricted", 3), "1000\nroot read-only\nNoNewPrivs:\t1\n"; got != want {
		t.Fatalf("kubectl logs: %q, want %q", got, want)
	}
}

func (w *workloads) testSecretEnv(t *testing.T) {
	t.Parallel()
	const value = "it's \"quoted\" $HOME ${PATH} `id` \\ back  two  spaces\nsecond line: ünïcødé ✓ 日本"
	_, err := w.cs.CoreV1().Secrets("default").Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "special"},
		StringData: map[string]string{"value": value},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// printf prints the variable byte for byte; the markers show where it
	// starts and ends, so a lost trailing space or newline shows.
	w.k(t, `apiVersion: v1
kind: Pod
metadata:
  name: secretenv
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: skiff.test/busybox:1
    command: ["sh", "-c", "printf '<%s>\\n' \"$SPECIAL\""]
    env:
    - name: SPECIAL
      valueFrom:
        secretKeyRef: {name: special, key: value}
`, "apply", "-f", "-")
	w.waitPod(t, "secretenv", "phase Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	if got, want := w.k(t, "", "logs", "secretenv"), "<"+value+">\n"; got != want {
		t.Fatalf("kubectl logs: %q, want %q", got, want)
	}
}

func (w *workloads) testLiveness(t *testing.T) {
	t.Parallel()
	// /tmp/healthy never exists: every probe fails, and after two the
	// agent kills the container and starts it again.
	w.k(t, `apiVersion: v1
kind: Pod
metadata:
  name: liveness
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: skiff.test/busybox:1
    command: ["sleep", "3600"]
    livenessProbe:
      exec:
        command: ["cat", "/tmp/healthy"]
      periodSeconds: 1
      failureThreshold: 2
`, "apply", "-f", "-")
	w.waitPod(t, "liveness", "a restart after the liveness probe failed", func(p *corev1.Pod) bool {
		return containerStatus(p).RestartCount >= 1
	})
	want := map[string]string{
		"Unhealthy": "Liveness probe failed",
		"Killing":   "Container c failed liveness probe, will be restarted",
	}
	deadline := time.Now().Add(30 * time.Second)
	var seen []string
	for time.Now().Before(deadline) {
		events, err := w.cs.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("involvedObject.name", "liveness").String(),
		})
		if err != nil {
			t.Fatal(err)
		}
		seen = seen[:0]
		for _, e := range events.Items {
			seen = append(seen, e.Reason+": "+e.Message)
			if prefix, ok := want[e.Reason]; ok && strings.HasPrefix(e.Message, prefix) {
				delete(want, e.Reason)
			}
		}
		if len(want) == 0 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("events of pod liveness: %q; missing %v", seen, want)
}

func (w *workloads) testVolumes(t *testing.T) {
	t.Parallel()
	host := filepath.Join(t.TempDir(), "made", "by-agent")
	w.k(t, `apiVersion: v1
kind: ConfigMap
metadata:
  name: vols
data:
  a: alpha
  b: beta
---
apiVersion: v1
kind: Secret
metadata:
  name: vols
stringData:
  token: s3cr3t
`, "apply", "-f", "-")
	w.k(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: volumes
  labels: {app: vols, tier: test}
  annotations: {note: hello}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: skiff.test/busybox:1
    command: ["sleep", "3600"]
    resources:
      limits: {memory: 64Mi, cpu: 500m}
    volumeMounts:
    - {name: disk, mountPath: /disk}
    - {name: mem, mountPath: /mem}
    - {name: host, mountPath: /host}
    - {name: cm, mountPath: /cm}
    - {name: sec, mountPath: /sec}
    - {name: down, mountPath: /down}
    - {name: proj, mountPath: /proj}
  volumes:
  - name: disk
    emptyDir: {}
  - name: mem
    emptyDir: {medium: Memory}
  - name: host
    hostPath: {path: %s, type: DirectoryOrCreate}
  - name: cm
    configMap:
      name: vols
      defaultMode: 0640
      items:
      - {key: a, path: sub/a.txt}
  - name: sec
    secret: {secretName: vols}
  - name: down
    downwardAPI:
      items:
      - path: labels
        fieldRef: {fieldPath: metadata.labels}
      - path: annotations
        fieldRef: {fieldPath: metadata.annotations}
      - path: mem
        resourceFieldRef: {containerName: c, resource: limits.memory, divisor: 1Mi}
      - path: cpu
        resourceFieldRef: {containerName: c, resource: limits.cpu, divisor: 1m}
  - name: proj
    projected:
      sources:
      - configMap:
          name: vols
          items: [{key: b, path: b}]
      - secret:
          name: vols
          items: [{key: token, path: token}]
      - downwardAPI:
          items:
          - path: name
            fieldRef: {fieldPath: metadata.name}
`, host), "apply", "-f", "-")
	w.k(t, "", "wait", "--for=condition=Ready", "pod/volumes", "--timeout=90s")

	exec := func(t *testing.T, script string) string {
		t.Helper()
		return w.k(t, "", "exec", "volumes", "--", "sh", "-c", script)
	}
	mountType := func(t *testing.T, dir string) string {
		t.Helper()
		return strings.TrimSpace(exec(t, "awk '$2 == \""+dir+"\" {print $3}' /proc/mounts"))
	}
	t.Run("EmptyDirDisk", func(t *testing.T) {
		if got := exec(t, "echo disk > /disk/f && cat /disk/f"); got != "disk\n" {
			t.Errorf("write and read /disk/f: %q", got)
		}
		if typ := mountType(t, "/disk"); typ == "tmpfs" || typ == "" {
			t.Errorf("/disk mounted as %q, want a disk directory (not tmpfs)", typ)
		}
	})
	t.Run("EmptyDirMemory", func(t *testing.T) {
		if got := exec(t, "echo mem > /mem/f && cat /mem/f"); got != "mem\n" {
			t.Errorf("write and read /mem/f: %q", got)
		}
		if typ := mountType(t, "/mem"); typ != "tmpfs" {
			t.Errorf("/mem mounted as %q, want tmpfs", typ)
		}
	})
	t.Run("HostPathDirectoryOrCreate", func(t *testing.T) {
		exec(t, "echo from the pod > /host/f")
		if got, err := os.ReadFile(filepath.Join(host, "f")); err != nil || string(got) != "from the pod\n" {
			t.Errorf("file on the host written in the pod: %q, %v", got, err)
		}
	})
	t.Run("ConfigMapItemsDefaultMode", func(t *testing.T) {
		if got := exec(t, "cat /cm/sub/a.txt; stat -L -c %a /cm/sub/a.txt; ls /cm"); got != "alpha640\nsub\n" {
			t.Errorf("/cm: %q, want only sub/a.txt holding alpha with mode 640", got)
		}
	})
	t.Run("Secret", func(t *testing.T) {
		if got := exec(t, "cat /sec/token; echo; stat -L -c %a /sec/token"); got != "s3cr3t\n644\n" {
			t.Errorf("/sec/token: %q, want s3cr3t with mode 644", got)
		}
	})
	t.Run("DownwardAPI", func(t *testing.T) {
		want := "app=\"vols\"\ntier=\"test\"\n--\nnote=\"hello\"\n--\n64\n--\n500\n"
		// The annotations file may carry the ones kubectl apply adds.
		got := exec(t, "cat /down/labels; echo; echo --; grep ^note= /down/annotations; echo --; cat /down/mem; echo; echo --; cat /down/cpu; echo")
		if got != want {
			t.Errorf("/down: %q, want %q", got, want)
		}
	})
	t.Run("Projected", func(t *testing.T) {
		if got := exec(t, "cat /proj/b; echo; cat /proj/token; echo; cat /proj/name; echo"); got != "beta\ns3cr3t\nvolumes\n" {
			t.Errorf("/proj: %q", got)
		}
	})
	t.Run("ConfigMapUpdate", func(t *testing.T) {
		w.k(t, "", "patch", "configmap", "vols", "--type=merge", "-p", `{"data":{"a":"updated"}}`)
		deadline := time.Now().Add(60 * time.Second)
		var got string
		for time.Now().Before(deadline) {
			if got = exec(t, "cat /cm/sub/a.txt"); got == "updated" {
				return
			}
			time.Sleep(500 * time.Millisecond)
		}
		t.Fatalf("/cm/sub/a.txt is still %q 60 s after the configMap changed", got)
	})
}

func (w *workloads) testGracefulDeletion(t *testing.T) {
	t.Parallel()
	// The container and its preStop hook leave their marks on the host,
	// where they outlive the pod: the hook runs first, then SIGTERM
	// reaches the trap, which takes a second before it exits.
	host := t.TempDir()
	w.k(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: graceful
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: c
    image: skiff.test/busybox:1
    command: ["sh", "-c", "trap 'echo got TERM; echo term >> /host/log; sleep 1; echo exited >> /host/log; exit 0' TERM; echo started > /host/log; while true; do sleep 0.2; done"]
    lifecycle:
      preStop:
        exec:
          command: ["sh", "-c", "echo prestop >> /host/log"]
    volumeMounts:
    - {name: host, mountPath: /host}
  volumes:
  - name: host
    hostPath: {path: %s}
`, host), "apply", "-f", "-")
	w.k(t, "", "wait", "--for=condition=Ready", "pod/graceful", "--timeout=90s")
	pod, err := w.cs.CoreV1().Pods("default").Get(context.Background(), "graceful", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.k(t, "", "delete", "pod", "graceful", "--wait=false")
	// While the container runs its trap, the pod stays, marked for
	// deletion; it goes once the container exited.
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := w.cs.CoreV1().Pods("default").Get(context.Background(), "graceful", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod graceful still there 60 s after kubectl delete (err %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	got, err := os.ReadFile(filepath.Join(host, "log"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if want := "started\nprestop\nterm\nexited\n"; string(got) != want {
		t.Fatalf("marks of the container and its preStop hook when the pod was gone: %q, want %q", got, want)
	}
	w.waitNoSandbox(t, string(pod.UID))
}
