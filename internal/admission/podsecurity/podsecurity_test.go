package podsecurity_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/internal/admission"
	"skiff.dev/skiff/internal/admission/podsecurity"
	"skiff.dev/skiff/internal/apiserver"
	"skiff.dev/skiff/internal/testserver"
)

// start runs the real API server with the PodSecurity plug-in (default
// config) reading its watch cache, and returns an admin client whose
// warnings are collected.
func start(t *testing.T) (kubernetes.Interface, *testserver.Warnings) {
	t.Helper()
	objs := &podsecurity.CachedObjects{}
	srv := testserver.StartWith(t, func(_ testing.TB, s *testserver.Setup) {
		s.Config.Admission = admission.NewChain(podsecurity.New(podsecurity.DefaultConfig(), objs))
		s.Bound = append(s.Bound, func(srv *apiserver.Server) error {
			nsCache, err := srv.Cached(corev1.SchemeGroupVersion.WithResource("namespaces"))
			if err != nil {
				return err
			}
			podCache, err := srv.Cached(corev1.SchemeGroupVersion.WithResource("pods"))
			if err != nil {
				return err
			}
			objs.Bind(nsCache, podCache)
			return nil
		})
	})
	w := &testserver.Warnings{}
	cfg := rest.CopyConfig(srv.Admin)
	cfg.WarningHandler = w
	return kubernetes.NewForConfigOrDie(cfg), w
}

func pod(name string, mutate func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1.27"}}},
	}
	if mutate != nil {
		mutate(p)
	}
	return p
}

func privileged(p *corev1.Pod) {
	p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
}

const nginxRestrictedWarning = `would violate PodSecurity "restricted:latest": ` +
	`allowPrivilegeEscalation != false (container "app" must set securityContext.allowPrivilegeEscalation=false), ` +
	`unrestricted capabilities (container "app" must set securityContext.capabilities.drop=["ALL"]), ` +
	`runAsNonRoot != true (pod or container "app" must set securityContext.runAsNonRoot=true), ` +
	`seccompProfile (pod or container "app" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`

func TestPodSecurityAdmission(t *testing.T) {
	c, warns := start(t)
	ctx := context.Background()
	mkns := func(name string, labels map[string]string) {
		t.Helper()
		if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mkns("plain", nil)
	mkns("strict", map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
	mkns("open", map[string]string{"pod-security.kubernetes.io/enforce": "privileged"})
	warns.Take()

	refused := []struct {
		ns   string
		pod  *corev1.Pod
		want string
	}{
		{"plain", pod("priv", privileged),
			`pods "priv" is forbidden: violates PodSecurity "baseline:latest": privileged (container "app" must not set securityContext.privileged=true)`},
		{"plain", pod("host", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib"}}}}
		}), `pods "host" is forbidden: violates PodSecurity "baseline:latest": hostPath volumes (volume "data")`},
		{"strict", pod("root", func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](0),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false),
				Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
		}), `pods "root" is forbidden: violates PodSecurity "restricted:latest": runAsUser=0 (pod must not set runAsUser=0)`},
	}
	for _, tc := range refused {
		_, err := c.CoreV1().Pods(tc.ns).Create(ctx, tc.pod, metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) || err.Error() != tc.want {
			t.Errorf("create %s/%s: err = %v\nwant %s", tc.ns, tc.pod.Name, err, tc.want)
		}
		if w := warns.Take(); len(w) != 0 {
			t.Errorf("refused %s/%s also warned %q", tc.ns, tc.pod.Name, w)
		}
	}

	if _, err := c.CoreV1().Pods("plain").Create(ctx, pod("nginx", nil), metav1.CreateOptions{}); err != nil {
		t.Fatalf("plain pod refused: %v", err)
	}
	if w := warns.Take(); !slices.Equal(w, []string{nginxRestrictedWarning}) {
		t.Errorf("plain pod warnings = %q\nwant %q", w, nginxRestrictedWarning)
	}

	if _, err := c.CoreV1().Pods("open").Create(ctx, pod("priv", privileged), metav1.CreateOptions{}); err != nil {
		t.Errorf("privileged pod refused in an enforce=privileged namespace: %v", err)
	}
	warns.Take()

	// A workload is warned about, never refused.
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: pod("", privileged).Spec},
		},
	}
	if _, err := c.AppsV1().Deployments("plain").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatalf("deployment with a privileged template refused: %v", err)
	}
	if w := warns.Take(); len(w) != 1 || !strings.HasPrefix(w[0], `would violate PodSecurity "restricted:latest": privileged (container "app" must not set securityContext.privileged=true), allowPrivilegeEscalation != false`) {
		t.Errorf("deployment warnings = %q", w)
	}

	// Only image changes re-check a pod: relabelling the plain pod does not warn.
	p, err := c.CoreV1().Pods("plain").Get(ctx, "nginx", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Labels = map[string]string{"touched": "yes"}
	if _, err := c.CoreV1().Pods("plain").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if w := warns.Take(); len(w) != 0 {
		t.Errorf("metadata-only pod update warned %q", w)
	}

	// Invalid labels: 422 on the namespace.
	_, err = c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bad",
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "strict"}}}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), `metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted`) {
		t.Errorf("invalid label: err = %v, want 422", err)
	}

	// Raising enforce warns about the pods that would now be refused.
	ns, err := c.CoreV1().Namespaces().Get(ctx, "plain", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ns.Labels["pod-security.kubernetes.io/enforce"] = "restricted"
	if _, err := c.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`existing pods in namespace "plain" violate the new PodSecurity enforce level "restricted:latest"`,
		`nginx: allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile`,
	}
	if w := warns.Take(); !slices.Equal(w, want) {
		t.Errorf("namespace update warnings = %q\nwant %q", w, want)
	}
	if _, err := c.CoreV1().Pods("plain").Create(ctx, pod("nginx2", nil), metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("plain pod in a now restricted namespace: err = %v, want Forbidden", err)
	}
}
