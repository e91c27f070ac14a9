package app

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff.dev/skiff/internal/apiserver"
	"skiff.dev/skiff/internal/auth/authz"
	"skiff.dev/skiff/internal/testserver"
)

// startAdmissionServer runs the real API server with skiff server's
// admission chain (newAdmission, default plug-ins), and returns an admin
// client.
func startAdmissionServer(t *testing.T) (kubernetes.Interface, *admissionCaches) {
	t.Helper()
	caches := &admissionCaches{}
	srv := testserver.StartWith(t, withAdmission(caches))
	return srv.Client, caches
}

// withAdmission wires skiff server's admission chain (newAdmission with
// the default plug-ins) into a test server, reading caches, as RunServer
// does.
func withAdmission(caches *admissionCaches) testserver.Option {
	return withAdmissionOptions(caches, AdmissionOptions{})
}

// withAdmissionOptions is withAdmission with skiff server's admission
// flags.
func withAdmissionOptions(caches *admissionCaches, opts AdmissionOptions) testserver.Option {
	return func(t testing.TB, s *testserver.Setup) {
		if caches.authorizer == nil {
			// The test server's authorizer, whichever option sets it.
			caches.authorizer = setupAuthorizer{s}
		}
		chain, err := newAdmission(caches, opts)
		if err != nil {
			t.Fatal(err)
		}
		s.Config.Admission = chain
		s.Bound = append(s.Bound, caches.bind)
		s.Started = append(s.Started, func(ctx context.Context, _ *apiserver.Server, admin *rest.Config) error {
			return caches.start(ctx, admin)
		})
	}
}

// setupAuthorizer asks the test server's authorizer as finally set up.
type setupAuthorizer struct{ s *testserver.Setup }

func (a setupAuthorizer) Authorize(ctx context.Context, attrs authz.Attributes) (authz.Decision, string, error) {
	return a.s.Config.Authorizer.Authorize(ctx, attrs)
}

func resources(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

// TestAdmissionChainDefaultsAndQuota: through the real API server, the
// default chain's mutations show on the stored objects and ResourceQuota
// refuses the object past a quota, with status.used charged at once.
func TestAdmissionChainDefaultsAndQuota(t *testing.T) {
	c, caches := startAdmissionServer(t)
	ctx := context.Background()
	const ns = "team"
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// ServiceAccount admission wants the account the controller (not
	// running here) would create.
	if _, err := c.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().LimitRanges(ns).Create(ctx, &corev1.LimitRange{
		ObjectMeta: metav1.ObjectMeta{Name: "defaults"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type:           corev1.LimitTypeContainer,
			Default:        resources("cpu", "500m", "memory", "128Mi"),
			DefaultRequest: resources("cpu", "100m", "memory", "64Mi"),
			Max:            resources("cpu", "1"),
		}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Plug-ins read the watch cache, which follows the store closely but
	// not synchronously (upstream's look at their informers the same way).
	eventually(t, "limit range in the watch cache", func() error {
		if len(caches.limitRanges.List(ns)) == 0 {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	if _, err := c.CoreV1().ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "quota"},
		Spec:       corev1.ResourceQuotaSpec{Hard: resources("pods", "2", "configmaps", "1", "requests.cpu", "1")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The quota's first status, as the resource quota controller writes
	// it for an empty namespace. The controller does not run here, so
	// every later change of status.used is admission's.
	q, err := c.CoreV1().ResourceQuotas(ns).Get(ctx, "quota", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	q.Status = corev1.ResourceQuotaStatus{Hard: q.Spec.Hard, Used: resources("pods", "0", "configmaps", "0", "requests.cpu", "0")}
	if _, err := c.CoreV1().ResourceQuotas(ns).UpdateStatus(ctx, q, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "quota status in the watch cache", func() error {
		for _, o := range caches.quotas.List(ns) {
			if len(o.(*corev1.ResourceQuota).Status.Hard) == 3 {
				return nil
			}
		}
		return fmt.Errorf("not yet")
	})

	pod := func(name, class string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{
			PriorityClassName: class,
			Containers:        []corev1.Container{{Name: "app", Image: "nginx"}},
		}}
	}
	p1, err := c.CoreV1().Pods(ns).Create(ctx, pod("p1", ""), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// LimitRanger.
	r := p1.Spec.Containers[0].Resources
	if q := r.Requests[corev1.ResourceCPU]; q.String() != "100m" {
		t.Errorf("cpu request %s, want 100m", q.String())
	}
	if q := r.Limits[corev1.ResourceMemory]; q.String() != "128Mi" {
		t.Errorf("memory limit %s, want 128Mi", q.String())
	}
	if got, want := p1.Annotations["kubernetes.io/limit-ranger"], "LimitRanger plugin set: cpu, memory request for container app; cpu, memory limit for container app"; got != want {
		t.Errorf("limit-ranger annotation %q, want %q", got, want)
	}
	// Priority.
	if p1.Spec.Priority == nil || *p1.Spec.Priority != 0 || p1.Spec.PreemptionPolicy == nil || *p1.Spec.PreemptionPolicy != corev1.PreemptLowerPriority {
		t.Errorf("priority %v, policy %v; want 0, PreemptLowerPriority", p1.Spec.Priority, p1.Spec.PreemptionPolicy)
	}
	// DefaultTolerationSeconds.
	tolerated := map[string]int64{}
	for _, tol := range p1.Spec.Tolerations {
		if tol.Effect == corev1.TaintEffectNoExecute && tol.TolerationSeconds != nil {
			tolerated[tol.Key] = *tol.TolerationSeconds
		}
	}
	if tolerated[corev1.TaintNodeNotReady] != 300 || tolerated[corev1.TaintNodeUnreachable] != 300 {
		t.Errorf("tolerations %v, want not-ready and unreachable for 300 s", p1.Spec.Tolerations)
	}

	p2, err := c.CoreV1().Pods(ns).Create(ctx, pod("p2", "system-node-critical"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p2.Spec.Priority == nil || *p2.Spec.Priority != 2000001000 {
		t.Errorf("system-node-critical priority %v, want 2000001000", p2.Spec.Priority)
	}
	for _, name := range []string{"system-node-critical", "system-cluster-critical"} {
		if _, err := c.SchedulingV1().PriorityClasses().Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Errorf("built-in priority class: %v", err)
		}
	}
	_, err = c.CoreV1().Pods(ns).Create(ctx, pod("p3", "nope"), metav1.CreateOptions{})
	if want := `pods "p3" is forbidden: no PriorityClass with name nope was found`; err == nil || err.Error() != want {
		t.Errorf("unknown class: %v, want %s", err, want)
	}

	// ResourceQuota: the third pod, right after the second, is refused,
	// since admission charged the first two.
	_, err = c.CoreV1().Pods(ns).Create(ctx, pod("p3", ""), metav1.CreateOptions{})
	if want := `pods "p3" is forbidden: exceeded quota: quota, requested: pods=1, used: pods=2, limited: pods=2`; !apierrors.IsForbidden(err) || err.Error() != want {
		t.Errorf("third pod: %v, want %s", err, want)
	}
	q, err = c.CoreV1().ResourceQuotas(ns).Get(ctx, "quota", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if used := q.Status.Used[corev1.ResourcePods]; used.Value() != 2 {
		t.Errorf("status.used pods %s, want 2", used.String())
	}
	if used := q.Status.Used[corev1.ResourceRequestsCPU]; used.String() != "200m" {
		t.Errorf("status.used requests.cpu %s, want 200m", used.String())
	}
	if _, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c2"}}, metav1.CreateOptions{})
	if want := `configmaps "c2" is forbidden: exceeded quota: quota, requested: configmaps=1, used: configmaps=1, limited: configmaps=1`; err == nil || err.Error() != want {
		t.Errorf("second configmap: %v, want %s", err, want)
	}

	// DefaultStorageClass.
	if _, err := c.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{
		ObjectMeta:  metav1.ObjectMeta{Name: "local", Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}},
		Provisioner: "skiff.dev/local",
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var claim *corev1.PersistentVolumeClaim
	eventually(t, "claim gets the default class", func() error {
		pvc, err := c.CoreV1().PersistentVolumeClaims("default").Create(ctx, &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "data-"},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:   corev1.VolumeResourceRequirements{Requests: resources("storage", "1Gi")},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		if pvc.Spec.StorageClassName == nil {
			return fmt.Errorf("no class yet")
		}
		claim = pvc
		return nil
	})
	if *claim.Spec.StorageClassName != "local" {
		t.Errorf("class %q, want local", *claim.Spec.StorageClassName)
	}

	// NamespaceLifecycle and DenyServiceExternalIPs.
	err = c.CoreV1().Namespaces().Delete(ctx, "default", metav1.DeleteOptions{})
	if want := `namespaces "default" is forbidden: this namespace may not be deleted`; err == nil || err.Error() != want {
		t.Errorf("delete default: %v, want %s", err, want)
	}
	_, err = c.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "ext"},
		Spec:       corev1.ServiceSpec{ExternalIPs: []string{"192.0.2.1"}, Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{})
	if want := `services "ext" is forbidden: use of external IPs is denied by admission control`; err == nil || err.Error() != want {
		t.Errorf("external IPs: %v, want %s", err, want)
	}
}

func TestEnabledAdmissionPlugins(t *testing.T) {
	on, err := enabledAdmissionPlugins(AdmissionOptions{DisablePlugins: []string{"EventRateLimit"}})
	if err != nil {
		t.Fatal(err)
	}
	if on["EventRateLimit"] || !on["ResourceQuota"] || !on["PodSecurity"] {
		t.Errorf("enabled %v", on)
	}
	if _, err := enabledAdmissionPlugins(AdmissionOptions{EnablePlugins: []string{"AlwaysAdmit"}}); err == nil {
		t.Error("unknown plug-in accepted")
	}
	chain, err := newAdmission(&admissionCaches{}, AdmissionOptions{DisablePlugins: []string{"DenyServiceExternalIPs"}})
	if err != nil {
		t.Fatal(err)
	}
	// NamespaceLifecycle first; ResourceQuota last, since it charges.
	if AdmissionPlugins[0] != "NamespaceLifecycle" || AdmissionPlugins[len(AdmissionPlugins)-1] != "ResourceQuota" {
		t.Errorf("order %v", AdmissionPlugins)
	}
	// Every known plug-in in AdmissionPlugins' order, but the disabled one.
	var names []string
	for _, n := range AdmissionPlugins {
		if n != "DenyServiceExternalIPs" {
			names = append(names, n)
		}
	}
	want := fmt.Sprint(names)
	if got := fmt.Sprint(chain.Names()); got != want {
		t.Errorf("chain %s, want %s", got, want)
	}
}
