package agent_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/agent"
	"skiff.dev/skiff/internal/agent/runtime"
	"skiff.dev/skiff/internal/agent/runtime/fake"
	"skiff.dev/skiff/internal/testserver"
)

// checkRuntime is the simulated runtime whose exec answers probe
// commands: "check <name>" exits 0 while the named flag is set, 1
// otherwise. Everything else is the simulated runtime's.
type checkRuntime struct {
	*fake.Runtime
	mu    sync.Mutex
	flags map[string]*atomic.Bool
}

func newCheckRuntime(opts fake.Options) *checkRuntime {
	return &checkRuntime{Runtime: fake.New(opts), flags: map[string]*atomic.Bool{}}
}

func (r *checkRuntime) flag(name string) *atomic.Bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	f, ok := r.flags[name]
	if !ok {
		f = &atomic.Bool{}
		r.flags[name] = f
	}
	return f
}

func (r *checkRuntime) ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) ([]byte, []byte, int, error) {
	stdout, stderr, code, err := r.Runtime.ExecSync(ctx, id, cmd, timeout)
	if err != nil || len(cmd) != 2 || cmd[0] != "check" {
		return stdout, stderr, code, err
	}
	if r.flag(cmd[1]).Load() {
		return nil, nil, 0, nil
	}
	return []byte(cmd[1] + " is off\n"), nil, 1, nil
}

var _ runtime.Runtime = (*checkRuntime)(nil)

func execProbe(name string) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"check", name}}},
		PeriodSeconds: 1, FailureThreshold: 1,
	}
}

func waitEvent(t *testing.T, s *testserver.Server, reason, prefix string) {
	t.Helper()
	eventually(t, reason+" event", func() (bool, string) {
		evs, err := s.Client.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{FieldSelector: "reason=" + reason})
		if err != nil {
			return false, err.Error()
		}
		var msgs []string
		for _, e := range evs.Items {
			if strings.HasPrefix(e.Message, prefix) {
				return true, ""
			}
			msgs = append(msgs, e.Message)
		}
		return false, strings.Join(msgs, "; ")
	})
}

func TestEnvironmentFromConfigMapSecretAndServices(t *testing.T) {
	s := testserver.Start(t)
	ctx := context.Background()
	if _, err := s.Client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "cfg"}, Data: map[string]string{"key": "v1", "other": "o"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "sec"}, Data: map[string][]byte{"pw": []byte("s3cret")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 5432, Protocol: corev1.ProtocolTCP}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	created := map[string]*runtime.ContainerConfig{}
	rt := fake.New(fake.Options{Behavior: func(sb *runtime.SandboxConfig, c *runtime.ContainerConfig) fake.Behavior {
		mu.Lock()
		created[sb.Name] = c
		mu.Unlock()
		return fake.Behavior{}
	}})
	runAgent(t, s, agent.Config{NodeName: "n1", Runtime: rt, PodResyncPeriod: 200 * time.Millisecond})

	envPod := func(name, key string) {
		t.Helper()
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{
				Name: "app", Image: "busybox", Command: []string{"echo", "$(FOO)", "$(PW)"},
				EnvFrom: []corev1.EnvFromSource{{Prefix: "CM_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
				Env: []corev1.EnvVar{
					{Name: "FOO", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: key}}},
					{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}, Key: "pw"}}},
				},
			}}},
		}
		if _, err := s.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	envPod("web", "key")
	envPod("broken", "nope")

	eventually(t, "web Running", func() (bool, string) {
		p := getPod(t, s.Client, "web")
		return p.Status.Phase == corev1.PodRunning, fmt.Sprintf("%+v", p.Status)
	})
	if q := getPod(t, s.Client, "web").Status.QOSClass; q != corev1.PodQOSBestEffort {
		t.Errorf("qosClass %q", q)
	}
	mu.Lock()
	cfg := created["web"]
	mu.Unlock()
	env := map[string]string{}
	for _, kv := range cfg.Env {
		env[kv.Key] = kv.Value
	}
	for k, want := range map[string]string{"FOO": "v1", "PW": "s3cret", "CM_key": "v1", "CM_other": "o", "DB_SERVICE_PORT": "5432"} {
		if env[k] != want {
			t.Errorf("env %s = %q, want %q (env %v)", k, env[k], want, env)
		}
	}
	if env["DB_SERVICE_HOST"] == "" {
		t.Errorf("no service link for db: %v", env)
	}
	if got := strings.Join(cfg.Command, " "); got != "echo v1 s3cret" {
		t.Errorf("command %q", got)
	}
	if cfg.Resources == nil || cfg.Resources.OOMScoreAdj != 1000 || cfg.Security == nil {
		t.Errorf("resources %+v security %+v", cfg.Resources, cfg.Security)
	}

	want := "couldn't find key nope in ConfigMap default/cfg"
	eventually(t, "broken CreateContainerConfigError", func() (bool, string) {
		p := getPod(t, s.Client, "broken")
		if len(p.Status.ContainerStatuses) == 0 {
			return false, "no statuses"
		}
		w := p.Status.ContainerStatuses[0].State.Waiting
		return w != nil && w.Reason == "CreateContainerConfigError" && w.Message == want, fmt.Sprintf("%+v", p.Status.ContainerStatuses[0].State)
	})
	waitEvent(t, s, "Failed", "Error: "+want)

	// Once the key exists, the container starts.
	cm, err := s.Client.CoreV1().ConfigMaps("default").Get(ctx, "cfg", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["nope"] = "now"
	if _, err := s.Client.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "broken Running once the key exists", func() (bool, string) {
		p := getPod(t, s.Client, "broken")
		return p.Status.Phase == corev1.PodRunning && condition(p, corev1.PodReady) == corev1.ConditionTrue, fmt.Sprintf("%+v", p.Status)
	})
}

func TestReadinessProbeDrivesReady(t *testing.T) {
	s := testserver.Start(t)
	rt := newCheckRuntime(fake.Options{})
	runAgent(t, s, agent.Config{NodeName: "n1", Runtime: rt})
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{
			Name: "app", Image: "busybox", ReadinessProbe: execProbe("ready"),
		}}},
	}
	if _, err := s.Client.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ready := func(want corev1.ConditionStatus) {
		t.Helper()
		eventually(t, "Ready "+string(want), func() (bool, string) {
			p := getPod(t, s.Client, "web")
			if len(p.Status.ContainerStatuses) == 0 {
				return false, "no statuses"
			}
			cs := p.Status.ContainerStatuses[0]
			ok := p.Status.Phase == corev1.PodRunning && cs.State.Running != nil &&
				condition(p, corev1.PodReady) == want && condition(p, corev1.ContainersReady) == want &&
				cs.Ready == (want == corev1.ConditionTrue) && cs.RestartCount == 0
			return ok, fmt.Sprintf("%+v", p.Status)
		})
	}
	ready(corev1.ConditionFalse)
	waitEvent(t, s, "Unhealthy", "Readiness probe failed: ready is off")
	rt.flag("ready").Store(true)
	ready(corev1.ConditionTrue)
	rt.flag("ready").Store(false)
	ready(corev1.ConditionFalse)
}

func TestLivenessProbeFailureRestartsContainer(t *testing.T) {
	s := testserver.Start(t)
	rt := newCheckRuntime(fake.Options{})
	rt.flag("alive").Store(true)
	runAgent(t, s, agent.Config{NodeName: "n1", Runtime: rt})
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{
			Name: "app", Image: "busybox", LivenessProbe: execProbe("alive"),
		}}},
	}
	if _, err := s.Client.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var first string
	eventually(t, "running", func() (bool, string) {
		p := getPod(t, s.Client, "web")
		if len(p.Status.ContainerStatuses) == 0 {
			return false, "no statuses"
		}
		first = p.Status.ContainerStatuses[0].ContainerID
		return p.Status.ContainerStatuses[0].State.Running != nil, fmt.Sprintf("%+v", p.Status)
	})
	rt.flag("alive").Store(false)
	waitEvent(t, s, "Unhealthy", "Liveness probe failed: alive is off")
	waitEvent(t, s, "Killing", "Container app failed liveness probe, will be restarted")
	rt.flag("alive").Store(true)
	eventually(t, "restarted", func() (bool, string) {
		p := getPod(t, s.Client, "web")
		cs := p.Status.ContainerStatuses[0]
		return cs.RestartCount >= 1 && cs.State.Running != nil && cs.ContainerID != first && cs.LastTerminationState.Terminated != nil,
			fmt.Sprintf("%+v", cs)
	})
}

func TestVolumesFailedMountThenUpdates(t *testing.T) {
	s := testserver.Start(t)
	ctx := context.Background()
	dataDir := t.TempDir()
	runAgent(t, s, agent.Config{NodeName: "n1", Runtime: fake.New(fake.Options{}), DataDir: dataDir, PodResyncPeriod: 200 * time.Millisecond})
	pod, err := s.Client.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeName: "n1",
			Volumes: []corev1.Volume{{Name: "cfg", VolumeSource: corev1.VolumeSource{
				ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "later"}},
			}}},
			Containers: []corev1.Container{{
				Name: "app", Image: "busybox", VolumeMounts: []corev1.VolumeMount{{Name: "cfg", MountPath: "/cfg"}},
			}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, s, "FailedMount", `MountVolume.SetUp failed for volume "cfg" : configmap "later" not found`)
	eventually(t, "ContainerCreating while the volume is missing", func() (bool, string) {
		p := getPod(t, s.Client, "web")
		ok := len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Waiting != nil &&
			p.Status.ContainerStatuses[0].State.Waiting.Reason == "ContainerCreating" && p.Status.Phase == corev1.PodPending
		return ok, fmt.Sprintf("%+v", p.Status)
	})

	cm, err := s.Client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "later"}, Data: map[string]string{"key": "v1"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "Running once the config map exists", func() (bool, string) {
		p := getPod(t, s.Client, "web")
		return p.Status.Phase == corev1.PodRunning, fmt.Sprintf("%+v", p.Status)
	})
	file := filepath.Join(dataDir, "pods", string(pod.UID), "volumes", "kubernetes.io~configmap", "cfg", "key")
	content := func(want string) {
		t.Helper()
		eventually(t, "the volume's file says "+want, func() (bool, string) {
			b, err := os.ReadFile(file)
			return err == nil && string(b) == want, fmt.Sprint(string(b), err)
		})
	}
	content("v1")
	cm.Data["key"] = "v2"
	if _, err := s.Client.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	content("v2")

	if err := s.Client.CoreV1().Pods("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "pod directory removed", func() (bool, string) {
		_, err := os.Stat(filepath.Join(dataDir, "pods", string(pod.UID)))
		return os.IsNotExist(err), fmt.Sprint(err)
	})
}

func TestStartupProbeGatesReadinessAndLiveness(t *testing.T) {
	s := testserver.Start(t)
	rt := newCheckRuntime(fake.Options{})
	rt.flag("ready").Store(true)
	runAgent(t, s, agent.Config{NodeName: "n1", Runtime: rt})
	startup := execProbe("started")
	startup.FailureThreshold = 1000 // keeps failing without a restart
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{
			Name: "app", Image: "busybox", StartupProbe: startup,
			ReadinessProbe: execProbe("ready"), LivenessProbe: execProbe("alive"), // alive is off: would restart
		}}},
	}
	if _, err := s.Client.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	state := func(started, ready bool) {
		t.Helper()
		eventually(t, fmt.Sprintf("started %v ready %v", started, ready), func() (bool, string) {
			p := getPod(t, s.Client, "web")
			if len(p.Status.ContainerStatuses) == 0 {
				return false, "no statuses"
			}
			cs := p.Status.ContainerStatuses[0]
			return cs.State.Running != nil && cs.Started != nil && *cs.Started == started && cs.Ready == ready &&
				(condition(p, corev1.PodReady) == corev1.ConditionTrue) == ready, fmt.Sprintf("%+v", p.Status)
		})
	}
	state(false, false)
	waitEvent(t, s, "Unhealthy", "Startup probe failed: started is off")
	// Liveness waits for the startup probe: nothing restarts meanwhile.
	rt.flag("alive").Store(true)
	rt.flag("started").Store(true)
	state(true, true)
	if cs := getPod(t, s.Client, "web").Status.ContainerStatuses[0]; cs.RestartCount != 0 {
		t.Errorf("restarted %d times before it started", cs.RestartCount)
	}
}

func TestDisableProbesForHollowNodes(t *testing.T) {
	s := testserver.Start(t)
	rt := newCheckRuntime(fake.Options{}) // every check fails
	runAgent(t, s, agent.Config{NodeName: "n1", Runtime: rt, DisableProbes: true})
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{
			Name: "app", Image: "busybox", ReadinessProbe: execProbe("ready"), LivenessProbe: execProbe("alive"), StartupProbe: execProbe("started"),
		}}},
	}
	if _, err := s.Client.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Ready without probing", func() (bool, string) {
		p := getPod(t, s.Client, "web")
		return condition(p, corev1.PodReady) == corev1.ConditionTrue, fmt.Sprintf("%+v", p.Status)
	})
	evs, err := s.Client.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{FieldSelector: "reason=Unhealthy"})
	if err != nil || len(evs.Items) != 0 {
		t.Errorf("Unhealthy events %v, %v", evs, err)
	}
}

func TestSecurityResourcesPortsDNSAndHostname(t *testing.T) {
	s := testserver.Start(t)
	ctx := context.Background()
	dns, err := s.Client.CoreV1().Services("kube-system").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-dns"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	sandboxes := map[string]*runtime.SandboxConfig{}
	containers := map[string]*runtime.ContainerConfig{}
	rt := fake.New(fake.Options{Behavior: func(sb *runtime.SandboxConfig, c *runtime.ContainerConfig) fake.Behavior {
		mu.Lock()
		sandboxes[sb.Name], containers[sb.Name] = sb, c
		mu.Unlock()
		return fake.Behavior{}
	}})
	runAgent(t, s, agent.Config{NodeName: "n1", Runtime: rt})

	uid, yes := int64(1000), true
	limits := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("64Mi")}
	web := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: "n1", Hostname: "h", Subdomain: "sub", Containers: []corev1.Container{{
			Name: "app", Image: "busybox",
			Ports:           []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080, Protocol: corev1.ProtocolTCP}},
			Resources:       corev1.ResourceRequirements{Limits: limits, Requests: limits},
			SecurityContext: &corev1.SecurityContext{RunAsUser: &uid, RunAsNonRoot: &yes, ReadOnlyRootFilesystem: &yes},
		}}},
	}
	root := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "root", Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: "n1", SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &yes},
			Containers: []corev1.Container{{Name: "app", Image: "busybox"}}},
	}
	for _, p := range []*corev1.Pod{web, root} {
		if _, err := s.Client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "web Running", func() (bool, string) {
		p := getPod(t, s.Client, "web")
		return p.Status.Phase == corev1.PodRunning, fmt.Sprintf("%+v", p.Status)
	})
	if q := getPod(t, s.Client, "web").Status.QOSClass; q != corev1.PodQOSGuaranteed {
		t.Errorf("qosClass %q", q)
	}
	mu.Lock()
	sb, c := sandboxes["web"], containers["web"]
	mu.Unlock()
	if sb.Hostname != "h" || len(sb.Ports) != 1 || sb.Ports[0].HostPort != 8080 || sb.Ports[0].ContainerPort != 80 {
		t.Errorf("sandbox hostname %q ports %+v", sb.Hostname, sb.Ports)
	}
	if sb.DNS == nil || strings.Join(sb.DNS.Servers, ",") != dns.Spec.ClusterIP ||
		!strings.HasPrefix(strings.Join(sb.DNS.Searches, " "), "default.svc.cluster.local svc.cluster.local cluster.local") ||
		strings.Join(sb.DNS.Options, ",") != "ndots:5" {
		t.Errorf("dns %+v, want server %s", sb.DNS, dns.Spec.ClusterIP)
	}
	if sc := c.Security; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != 1000 || !sc.ReadOnlyRootFilesystem {
		t.Errorf("security %+v", c.Security)
	}
	if r := c.Resources; r == nil || r.MemoryLimit != 64<<20 || r.CPUQuota != 50000 || r.CPUShares != 512 || r.OOMScoreAdj != -997 {
		t.Errorf("resources %+v", c.Resources)
	}

	p := getPod(t, s.Client, "root")
	want := fmt.Sprintf("container has runAsNonRoot and image will run as root (pod: %q, container: app)", "root_default("+string(p.UID)+")")
	eventually(t, "root refused", func() (bool, string) {
		p := getPod(t, s.Client, "root")
		if len(p.Status.ContainerStatuses) == 0 {
			return false, "no statuses"
		}
		w := p.Status.ContainerStatuses[0].State.Waiting
		return w != nil && w.Reason == "CreateContainerConfigError" && w.Message == want, fmt.Sprintf("%+v", p.Status.ContainerStatuses[0].State)
	})
}

func TestOrphanedPodDirectoryRemoved(t *testing.T) {
	s := testserver.Start(t)
	dataDir := t.TempDir()
	orphan := filepath.Join(dataDir, "pods", "0d4f6a52-0000-4000-8000-000000000001")
	if err := os.MkdirAll(filepath.Join(orphan, "volumes", "kubernetes.io~empty-dir", "scratch"), 0o755); err != nil {
		t.Fatal(err)
	}
	runAgent(t, s, agent.Config{NodeName: "n1", Runtime: fake.New(fake.Options{}), DataDir: dataDir})
	eventually(t, "orphaned pod directory removed", func() (bool, string) {
		_, err := os.Stat(orphan)
		return os.IsNotExist(err), fmt.Sprint(err)
	})
}
