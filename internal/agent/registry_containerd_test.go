package agent_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/agent"
	"skiff.dev/skiff/internal/agent/containerd"
	"skiff.dev/skiff/internal/agent/containerd/containerdtest"
	"skiff.dev/skiff/internal/agent/images"
	"skiff.dev/skiff/internal/agent/pause"
	"skiff.dev/skiff/internal/testimages"
	"skiff.dev/skiff/internal/testregistry"
	"skiff.dev/skiff/internal/testserver"
)

// TestImagePullSecretsFromRegistryOnContainerd pulls from a local
// registry that wants basic authentication, through containerd, with the
// pod's image pull secret; with a wrong secret the pod waits with the
// runtime's message.
func TestImagePullSecretsFromRegistryOnContainerd(t *testing.T) {
	n := containerdtest.Start(t) // skips unless root with containerd
	reg := testregistry.Start(t, "alice", "s3cret")
	reg.Push(t, "team/busybox", "1", testimages.Busybox(t))
	// The registry speaks plain HTTP: say so in registries.yaml, which
	// the agent turns into containerd's host configs (read at each pull,
	// so writing them after containerd started is enough).
	yml := fmt.Sprintf("mirrors:\n  %q:\n    endpoint: [%q]\n", reg.Host(), "http://"+reg.Host())
	if err := os.WriteFile(filepath.Join(n.DataDir, "agent", containerd.RegistriesFile), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := containerd.WriteRegistryHosts(n.DataDir, nil); err != nil {
		t.Fatal(err)
	}

	s := testserver.Start(t)
	ctx := context.Background()
	runAgent(t, s, agent.Config{NodeName: "n1", Runtime: n.Runtime, DataDir: t.TempDir(), PodCIDR: n.PodCIDR.String()})
	dockerConfigSecret(t, s, "right", reg.Host(), "alice", "s3cret")
	dockerConfigSecret(t, s, "wrong", reg.Host(), "alice", "guess")

	image := reg.Host() + "/team/busybox:1"
	grace := int64(0)
	newPod := func(name, secret string) {
		t.Helper()
		if _, err := s.Client.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: corev1.PodSpec{
				NodeName: "n1", TerminationGracePeriodSeconds: &grace,
				ImagePullSecrets: []corev1.LocalObjectReference{{Name: secret}},
				Containers: []corev1.Container{{
					Name: "app", Image: image, ImagePullPolicy: corev1.PullAlways,
					Command: []string{"sh", "-c", "sleep 3600"},
				}},
			},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	newPod("denied", "wrong")
	eventually(t, "pod denied waiting on a refused pull", func() (bool, string) {
		pod := getPod(t, s.Client, "denied")
		for _, st := range pod.Status.ContainerStatuses {
			if w := st.State.Waiting; w != nil && (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff") &&
				strings.Contains(w.Message, "401 Unauthorized") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", pod.Status.ContainerStatuses)
	})

	newPod("pulled", "right")
	eventually(t, "pod pulled running", func() (bool, string) {
		pod := getPod(t, s.Client, "pulled")
		return pod.Status.Phase == corev1.PodRunning, fmt.Sprintf("%s %+v", pod.Status.Phase, pod.Status.ContainerStatuses)
	})
	waitEvent(t, s, "Pulled", fmt.Sprintf("Successfully pulled image %q", image))
}

// TestImageGCOnContainerd collects a real containerd's unused images with
// thresholds so low that everything unused must go: the pinned sandbox
// image stays.
func TestImageGCOnContainerd(t *testing.T) {
	n := containerdtest.Start(t) // skips unless root with containerd
	n.Import(t, testimages.Busybox(t))
	n.Import(t, testimages.GoHTTP(t))
	ctx := context.Background()

	fs := images.RuntimeFS{Runtime: n.Runtime}
	u, err := fs.Usage(ctx)
	if err != nil || u.CapacityBytes == 0 || u.AvailableBytes > u.CapacityBytes {
		t.Fatalf("image filesystem usage = %+v, %v", u, err)
	}
	m, err := images.New(images.Config{
		Runtime: n.Runtime, FS: fs, Pinned: []string{pause.Image},
		Policy: images.Policy{HighThresholdPercent: 1, LowThresholdPercent: 1, MinAge: time.Nanosecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	removed, err := m.GarbageCollect(ctx)
	if !errors.Is(err, images.ErrNotEnoughFreed) || len(removed) != 2 {
		t.Fatalf("GarbageCollect = %q, %v; want the two test images and ErrNotEnoughFreed", removed, err)
	}
	imgs, err := n.Runtime.ListImages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, img := range imgs {
		tags = append(tags, img.RepoTags...)
	}
	if !slices.Equal(tags, []string{pause.Image}) {
		t.Errorf("images left = %q, want only %s", tags, pause.Image)
	}
}
