package e2e

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// TestServiceAccountTokenInPod: a pod created right after its namespace
// (the default service account and kube-root-ca.crt still being made by
// the controllers) gets upstream's kube-api-access volume; its container
// reads the token, the cluster CA and its namespace at
// /var/run/secrets/kubernetes.io/serviceaccount, with the in-cluster
// service's variables; the token, read out of the pod, authenticates as
// system:serviceaccount:<ns>:default bound to the pod, and stops working
// once the pod is gone.
func TestServiceAccountTokenInPod(t *testing.T) {
	s := startServerWithAgent(t)
	w := &workloads{s: s, cs: s.clientset()}
	const ns = "sa-pod"
	w.k(t, `apiVersion: v1
kind: Namespace
metadata:
  name: sa-pod
---
apiVersion: v1
kind: Pod
metadata:
  name: reader
  namespace: sa-pod
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: skiff.test/busybox:1
    command: ["sleep", "3600"]
`, "apply", "-f", "-")

	ctx := context.Background()
	pod, err := w.cs.CoreV1().Pods(ns).Get(ctx, "reader", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pod.Spec.ServiceAccountName != "default" || len(pod.Spec.Volumes) != 1 || !strings.HasPrefix(pod.Spec.Volumes[0].Name, "kube-api-access-") {
		t.Fatalf("pod spec: serviceAccountName %q, volumes %+v", pod.Spec.ServiceAccountName, pod.Spec.Volumes)
	}
	mounts := pod.Spec.Containers[0].VolumeMounts
	if len(mounts) != 1 || mounts[0].MountPath != "/var/run/secrets/kubernetes.io/serviceaccount" || !mounts[0].ReadOnly || mounts[0].Name != pod.Spec.Volumes[0].Name {
		t.Fatalf("volume mounts %+v", mounts)
	}
	w.k(t, "", "-n", ns, "wait", "--for=condition=Ready", "pod/reader", "--timeout=90s")

	exec := func(script string) string {
		t.Helper()
		return w.k(t, "", "-n", ns, "exec", "reader", "--", "sh", "-c", script)
	}
	const dir = "/var/run/secrets/kubernetes.io/serviceaccount"
	if got := exec("ls " + dir + "; stat -L -c %a " + dir + "/token"); got != "ca.crt\nnamespace\ntoken\n644\n" {
		t.Errorf("files and token mode: %q", got)
	}
	if got := exec("cat " + dir + "/namespace"); got != ns {
		t.Errorf("namespace file %q", got)
	}
	cfg := s.restConfig()
	caPEM := cfg.CAData
	if len(caPEM) == 0 {
		if caPEM, err = os.ReadFile(cfg.CAFile); err != nil {
			t.Fatal(err)
		}
	}
	if got := exec("cat " + dir + "/ca.crt"); got != string(caPEM) {
		t.Errorf("ca.crt in the pod:\n%s\nwant the cluster CA:\n%s", got, caPEM)
	}
	if got := exec(`echo "$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"`); !strings.HasSuffix(got, ":443\n") || len(got) < len("1.1.1.1:443\n") {
		t.Errorf("in-cluster service variables %q", got)
	}

	// The token, from the pod's file, against the API.
	token := exec("cat " + dir + "/token")
	asPod := kubernetes.NewForConfigOrDie(&rest.Config{Host: cfg.Host, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: caPEM}})
	review, err := asPod.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("whoami with the pod's token: %v", err)
	}
	u := review.Status.UserInfo
	if u.Username != "system:serviceaccount:sa-pod:default" {
		t.Errorf("user %q", u.Username)
	}
	if got := u.Extra["authentication.kubernetes.io/pod-name"]; len(got) != 1 || got[0] != "reader" {
		t.Errorf("pod-name extra %v", got)
	}
	if got := u.Extra["authentication.kubernetes.io/pod-uid"]; len(got) != 1 || got[0] != string(pod.UID) {
		t.Errorf("pod-uid extra %v, want %s", got, pod.UID)
	}
	if !slices.Contains(u.Groups, "system:serviceaccounts") || !slices.Contains(u.Groups, "system:serviceaccounts:sa-pod") {
		t.Errorf("groups %v", u.Groups)
	}

	// The token is bound to the pod: deleted, it no longer authenticates.
	w.k(t, "", "-n", ns, "delete", "pod", "reader", "--wait=true", "--timeout=60s")
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err = asPod.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if apierrors.IsUnauthorized(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the deleted pod's token: %v, want 401", err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// A pod that opts out gets no volume (server-side dry run).
	out := w.k(t, `apiVersion: v1
kind: Pod
metadata:
  name: no-token
  namespace: sa-pod
spec:
  automountServiceAccountToken: false
  containers:
  - name: c
    image: skiff.test/busybox:1
`, "create", "--dry-run=server", "-o", "jsonpath={.spec.volumes}", "-f", "-")
	if out != "" {
		t.Errorf("automountServiceAccountToken false: volumes %s", out)
	}
	_, err = w.cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "robot"},
		Spec:       corev1.PodSpec{ServiceAccountName: "robot", Containers: []corev1.Container{{Name: "c", Image: "skiff.test/busybox:1"}}},
	}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if want := `pods "robot" is forbidden: error looking up service account sa-pod/robot: serviceaccount "robot" not found`; err == nil || err.Error() != want {
		t.Errorf("missing service account: %v, want %s", err, want)
	}
}
