package agent

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"skiff.dev/skiff/internal/agent/credentials"
	"skiff.dev/skiff/internal/agent/runtime"
)

// pullCredentials are the credentials to try for image, from the pod's
// imagePullSecrets, most specific registry key first. A secret that
// cannot be read is left out with upstream's FailedToRetrieveImagePullSecret
// warning, and the pull goes ahead without it; a secret that cannot be
// parsed fails the pull, as upstream's keyring does.
func (a *Agent) pullCredentials(pod *corev1.Pod, image string) ([]runtime.Auth, error) {
	if len(pod.Spec.ImagePullSecrets) == 0 {
		return nil, nil
	}
	var secrets []*corev1.Secret
	var failed []string
	for _, ref := range pod.Spec.ImagePullSecrets {
		if ref.Name == "" {
			continue
		}
		s, err := a.sources.Secret(pod.Namespace, ref.Name)
		if err != nil {
			a.log.Info("Unable to retrieve pull secret, the image pull may not succeed.", "pod", klogPod(pod), "secret", pod.Namespace+"/"+ref.Name, "err", err)
			failed = append(failed, ref.Name)
			continue
		}
		secrets = append(secrets, s)
	}
	if len(failed) > 0 {
		a.event(pod, nil, corev1.EventTypeWarning, "FailedToRetrieveImagePullSecret",
			fmt.Sprintf("Unable to retrieve some image pull secrets (%s); attempting to pull the image may not succeed.", strings.Join(failed, ", ")))
	}
	keyring, err := credentials.FromSecrets(secrets)
	if err != nil {
		return nil, err
	}
	return keyring.Lookup(image), nil
}

// pullImage pulls image with each credential in turn until one works, as
// upstream's kubelet does, or anonymously when there are none. When every
// credential fails, the error holds each attempt's runtime message.
func (a *Agent) pullImage(ctx context.Context, pod *corev1.Pod, image string, sb *runtime.SandboxConfig) (string, error) {
	creds, err := a.pullCredentials(pod, image)
	if err != nil {
		return "", err
	}
	if len(creds) == 0 {
		return a.rt.PullImage(ctx, image, nil, sb)
	}
	var msgs []string
	for i := range creds {
		ref, err := a.rt.PullImage(ctx, image, &creds[i], sb)
		if err == nil {
			return ref, nil
		}
		if len(creds) == 1 {
			return "", err
		}
		msgs = append(msgs, runtime.ErrorMessage(err))
	}
	// Upstream's aggregate error: "[first, second]".
	return "", fmt.Errorf("[%s]", strings.Join(msgs, ", "))
}
