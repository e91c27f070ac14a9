package agent_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/agent/runtime"
	"skiff.dev/skiff/internal/agent/runtime/fake"
	"skiff.dev/skiff/internal/testserver"
)

// registryRuntime is the simulated runtime in front of a simulated
// private registry: pulls of images under host need the password, and
// every attempt's credentials are recorded.
type registryRuntime struct {
	*fake.Runtime
	host, user, password string

	mu       sync.Mutex
	attempts []string // "user:password" per pull of an image under host, "-" without credentials
}

func (r *registryRuntime) PullImage(ctx context.Context, image string, auth *runtime.Auth, sb *runtime.SandboxConfig) (string, error) {
	if strings.HasPrefix(image, r.host+"/") {
		attempt := "-"
		if auth != nil {
			attempt = auth.Username + ":" + auth.Password
		}
		r.mu.Lock()
		r.attempts = append(r.attempts, attempt)
		r.mu.Unlock()
		if auth == nil || auth.Username != r.user || auth.Password != r.password {
			return "", fmt.Errorf("failed to pull and unpack image %q: failed to resolve reference %q: pulling from host %s failed with status code: 401 Unauthorized", image, image, r.host)
		}
	}
	return r.Runtime.PullImage(ctx, image, auth, sb)
}

func (r *registryRuntime) pulls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.attempts)
}

var _ runtime.Runtime = (*registryRuntime)(nil)

func dockerConfigSecret(t *testing.T, s *testserver.Server, name, registry, user, password string) {
	t.Helper()
	doc := fmt.Sprintf(`{"auths":{%q:{"username":%q,"password":%q}}}`, registry, user, password)
	if _, err := s.Client.CoreV1().Secrets("default").Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(doc)},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestImagePullSecrets(t *testing.T) {
	s := testserver.Start(t)
	ctx := context.Background()
	rt := &registryRuntime{Runtime: fake.New(fake.Options{}), host: "reg.example.com:5000", user: "alice", password: "good"}
	startAgent(t, s, "n1", rt, nil)
	dockerConfigSecret(t, s, "wrong", "https://reg.example.com:5000/v1/", "alice", "bad")
	dockerConfigSecret(t, s, "right", "reg.example.com:5000", "alice", "good")
	dockerConfigSecret(t, s, "elsewhere", "other.example.com", "bob", "pw")

	newPod := func(name string, secrets ...string) {
		t.Helper()
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{
				Name: "app", Image: "reg.example.com:5000/team/app:1", ImagePullPolicy: corev1.PullAlways,
			}}},
		}
		for _, s := range secrets {
			pod.Spec.ImagePullSecrets = append(pod.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: s})
		}
		if _, err := s.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// The missing secret is skipped with a warning; the other
	// registry's credentials are not offered; the wrong ones are tried,
	// then the right ones.
	newPod("ok", "missing", "elsewhere", "wrong", "right")
	eventually(t, "pod ok running", func() (bool, string) {
		pod := getPod(t, s.Client, "ok")
		return pod.Status.Phase == corev1.PodRunning, fmt.Sprintf("%s %+v", pod.Status.Phase, pod.Status.ContainerStatuses)
	})
	if got, want := rt.pulls(), []string{"alice:bad", "alice:good"}; !slices.Equal(got, want) {
		t.Errorf("pull attempts = %q, want %q", got, want)
	}
	waitEvent(t, s, "FailedToRetrieveImagePullSecret", "Unable to retrieve some image pull secrets (missing); attempting to pull the image may not succeed.")

	// Only wrong credentials: the pull fails with the runtime's message.
	newPod("denied", "wrong")
	eventually(t, "pod denied waiting on the pull", func() (bool, string) {
		pod := getPod(t, s.Client, "denied")
		for _, st := range pod.Status.ContainerStatuses {
			if w := st.State.Waiting; w != nil && (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff") &&
				strings.Contains(w.Message, "401 Unauthorized") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", pod.Status.ContainerStatuses)
	})
}
