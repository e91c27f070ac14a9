package agent_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/agent"
	"skiff.dev/skiff/internal/agent/containerd/containerdtest"
	"skiff.dev/skiff/internal/agent/runtime"
	"skiff.dev/skiff/internal/testimages"
	"skiff.dev/skiff/internal/testserver"
)

// TestPodOnContainerd runs a pod with a configMap volume, env from the
// config map and a restrictive security context on a real containerd,
// reads what it printed from its CRI log, and deletes it.
func TestPodOnContainerd(t *testing.T) {
	n := containerdtest.Start(t) // skips unless root with containerd
	n.Import(t, testimages.Busybox(t))
	s := testserver.Start(t)
	ctx := context.Background()
	if _, err := s.Client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "cfg"}, Data: map[string]string{"key": "from-the-file", "foo": "from-the-env"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	runAgent(t, s, agent.Config{NodeName: "n1", Runtime: n.Runtime, DataDir: dataDir, PodCIDR: n.PodCIDR.String()})

	uid, readOnly, grace := int64(1000), true, int64(1)
	pod, err := s.Client.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeName: "n1", TerminationGracePeriodSeconds: &grace,
			Volumes: []corev1.Volume{{Name: "cfg", VolumeSource: corev1.VolumeSource{
				ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}},
			}}},
			Containers: []corev1.Container{{
				Name: "app", Image: testimages.BusyboxImage, ImagePullPolicy: corev1.PullNever,
				Command: []string{"sh", "-c", "id -u; cat /cfg/key; echo; echo $FOO; touch /written 2>/dev/null || echo read-only; sleep 3600"},
				Env: []corev1.EnvVar{{Name: "FOO", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "foo",
				}}}},
				VolumeMounts:    []corev1.VolumeMount{{Name: "cfg", MountPath: "/cfg"}},
				SecurityContext: &corev1.SecurityContext{RunAsUser: &uid, ReadOnlyRootFilesystem: &readOnly},
			}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "pod Running with an IP", func() (bool, string) {
		p := getPod(t, s.Client, "web")
		return p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "", fmt.Sprintf("%+v", p.Status)
	})
	if ip, err := netip.ParseAddr(getPod(t, s.Client, "web").Status.PodIP); err != nil || !n.PodCIDR.Contains(ip) {
		t.Errorf("pod IP %v not in the node's CIDR %v", ip, n.PodCIDR)
	}

	// The CRI log: "<time> stdout F <line>" per line.
	logPath := filepath.Join(dataDir, "logs", "default_web_"+string(pod.UID), "app", "0.log")
	want := []string{"1000", "from-the-file", "from-the-env", "read-only"}
	eventually(t, "the container's output in its log", func() (bool, string) {
		b, err := os.ReadFile(logPath)
		if err != nil {
			return false, err.Error()
		}
		var lines []string
		for l := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
			if f := strings.SplitN(l, " ", 4); len(f) == 4 && f[1] == "stdout" {
				lines = append(lines, f[3])
			}
		}
		return strings.Join(lines, "|") == strings.Join(want, "|"), string(b)
	})

	if err := s.Client.CoreV1().Pods("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "pod object gone", func() (bool, string) {
		_, err := s.Client.CoreV1().Pods("default").Get(ctx, "web", metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	eventually(t, "containers, sandbox and volumes removed", func() (bool, string) {
		cs, err1 := n.Runtime.ListContainers(ctx)
		sbs, err2 := n.Runtime.ListSandboxes(ctx)
		if err1 != nil || err2 != nil {
			return false, fmt.Sprint(err1, err2)
		}
		left := 0
		for _, c := range cs {
			if c.Labels[runtime.LabelPodUID] == string(pod.UID) {
				left++
			}
		}
		for _, sb := range sbs {
			if sb.UID == string(pod.UID) {
				left++
			}
		}
		_, statErr := os.Stat(filepath.Join(dataDir, "pods", string(pod.UID)))
		return left == 0 && os.IsNotExist(statErr), fmt.Sprintf("%d left, pod dir: %v", left, statErr)
	})
}
