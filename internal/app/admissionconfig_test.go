package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/skiff/internal/testserver"
)

// writeAdmissionConfig writes files into a temporary directory and returns
// the path of the first.
func writeAdmissionConfig(t *testing.T, files ...[2]string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f[0]), []byte(f[1]), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, files[0][0])
}

// TestAdmissionControlConfigFile: --admission-control-config-file through
// the real API server. PodSecurity enforces restricted by default and
// exempts a namespace and a user as the file says; EventRateLimit refuses
// events past the file's per-namespace burst with 429.
func TestAdmissionControlConfigFile(t *testing.T) {
	path := writeAdmissionConfig(t, [2]string{"admission.yaml", `apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: PodSecurity
  configuration:
    apiVersion: pod-security.admission.config.k8s.io/v1
    kind: PodSecurityConfiguration
    defaults:
      enforce: restricted
      enforce-version: latest
    exemptions:
      usernames: [deployer]
      namespaces: [ci]
- name: EventRateLimit
  path: events.yaml
`}, [2]string{"events.yaml", `apiVersion: eventratelimit.admission.k8s.io/v1alpha1
kind: Configuration
limits:
- type: Namespace
  qps: 1
  burst: 2
`})
	srv := testserver.StartWith(t, withAdmissionOptions(&admissionCaches{}, AdmissionOptions{ConfigFile: path}))
	ctx := context.Background()
	admin := srv.Client
	for _, ns := range []string{"team", "ci", "ev"} {
		if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// ServiceAccount admission wants the account no controller
		// creates here.
		if _, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Baseline allows this pod; restricted does not (no runAsNonRoot,
	// capabilities not dropped, no seccomp profile).
	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	}
	_, err := admin.CoreV1().Pods("team").Create(ctx, pod("refused"), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `violates PodSecurity "restricted:latest"`) {
		t.Fatalf("pod in team: err = %v, want refused by restricted", err)
	}
	if _, err := admin.CoreV1().Pods("ci").Create(ctx, pod("exempt-namespace"), metav1.CreateOptions{}); err != nil {
		t.Errorf("pod in exempt namespace ci: %v", err)
	}
	deployer := kubernetes.NewForConfigOrDie(srv.Config(t, "deployer", "system:masters"))
	if _, err := deployer.CoreV1().Pods("team").Create(ctx, pod("exempt-user"), metav1.CreateOptions{}); err != nil {
		t.Errorf("pod of exempt user deployer: %v", err)
	}

	// The namespace's bucket holds 2 events and refills 1 a second: some
	// of a quick run of creates must be refused, whatever the machine's
	// speed.
	var refused error
	for i := 0; i < 50 && refused == nil; i++ {
		ev := &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{GenerateName: "e-"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "ev", Name: "p"},
			Reason:         "Test", Message: "m", Type: corev1.EventTypeNormal,
		}
		_, refused = admin.CoreV1().Events("ev").Create(ctx, ev, metav1.CreateOptions{})
	}
	if !apierrors.IsTooManyRequests(refused) || !strings.Contains(refused.Error(), "limit reached on type Namespace for key ev") {
		t.Fatalf("events past the burst: err = %v, want 429 limit reached on type Namespace for key ev", refused)
	}
	if _, err := admin.CoreV1().Events("team").Create(ctx, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: "e-"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "team", Name: "p"},
	}, metav1.CreateOptions{}); err != nil {
		t.Errorf("an event in another namespace: %v", err)
	}
}

// TestAdmissionControlConfigFileErrors: the server refuses to start on a
// file it cannot apply, saying why.
func TestAdmissionControlConfigFileErrors(t *testing.T) {
	const head = "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\n"
	for _, tc := range []struct {
		name  string
		files [][2]string
		err   string
	}{
		{"missing file", nil, "admission configuration: open "},
		{"unknown plug-in", [][2]string{{"a.yaml", head + "plugins:\n- name: ImagePolicyWebhook\n  path: x.yaml\n"}},
			`admission plug-in "ImagePolicyWebhook" is not known`},
		{"bad PodSecurity level", [][2]string{{"a.yaml", head + "plugins:\n- name: PodSecurity\n  configuration: {apiVersion: pod-security.admission.config.k8s.io/v1, kind: PodSecurityConfiguration, defaults: {enforce: strict}}\n"}},
			`(plug-in PodSecurity): defaults.enforce: "strict"`},
		{"bad EventRateLimit limit", [][2]string{{"a.yaml", head + "plugins:\n- name: EventRateLimit\n  path: e.yaml\n"},
			{"e.yaml", "apiVersion: eventratelimit.admission.k8s.io/v1alpha1\nkind: Configuration\nlimits: [{type: Namespace, qps: 0, burst: 1}]\n"}},
			"limits[0].qps: Invalid value: 0: must be positive"},
		{"not an AdmissionConfiguration", [][2]string{{"a.yaml", "apiVersion: v1\nkind: ConfigMap\n"}}, "want an AdmissionConfiguration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "absent.yaml")
			if tc.files != nil {
				path = writeAdmissionConfig(t, tc.files...)
			}
			_, err := newAdmission(&admissionCaches{}, AdmissionOptions{ConfigFile: path})
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
		})
	}
}
