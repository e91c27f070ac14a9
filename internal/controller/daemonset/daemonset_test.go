package daemonset_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"skiff.dev/skiff/internal/controller/controllertest"
	"skiff.dev/skiff/internal/controller/daemonset"
)

func start(t *testing.T, nodes ...*corev1.Node) *controllertest.Env {
	t.Helper()
	env := controllertest.Start(t)
	for _, n := range nodes {
		if _, err := env.Client.CoreV1().Nodes().Create(env.Ctx, n, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := daemonset.New(env.Client, env.Factory, env.Recorder("daemonset-controller"), env.Log)
	if err != nil {
		t.Fatal(err)
	}
	env.StartInformers(t)
	go c.Run(env.Ctx, 2)
	env.StartKubelet("unused", false) // finishes pod deletions
	return env
}

func node(name string, labels map[string]string, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: corev1.NodeSpec{Taints: taints}}
}

func newDS(name string) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "agent:1"}}},
			},
		},
	}
}

// target is the node a daemon pod is pinned to.
func target(p corev1.Pod) string {
	if p.Spec.NodeName != "" {
		return p.Spec.NodeName
	}
	for _, t := range p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range t.MatchFields {
			if f.Key == "metadata.name" && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}

func livePods(t *testing.T, env *controllertest.Env, ds string) []corev1.Pod {
	t.Helper()
	l, err := env.Client.CoreV1().Pods("default").List(env.Ctx, metav1.ListOptions{LabelSelector: "app=" + ds})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range l.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// placement is "node=image" per live pod, sorted.
func placement(pods []corev1.Pod) string {
	var out []string
	for _, p := range pods {
		out = append(out, target(p)+"="+p.Spec.Containers[0].Image)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func waitPlacement(t *testing.T, env *controllertest.Env, ds, want string) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	controllertest.Eventually(t, 20*time.Second, func() error {
		pods = livePods(t, env, ds)
		if got := placement(pods); got != want {
			return fmt.Errorf("pods %s, want %s", got, want)
		}
		return nil
	})
	return pods
}

// readyAll plays the scheduler and kubelets: every pending daemon pod is
// bound to its node and reported Ready.
func readyAll(t *testing.T, env *controllertest.Env, ds string) {
	t.Helper()
	for _, p := range livePods(t, env, ds) {
		if p.Status.Phase != corev1.PodRunning {
			if err := controllertest.SetPodReady(env.Ctx, env.Client, &p, target(p), true, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func waitStatus(t *testing.T, env *controllertest.Env, name string, check func(appsv1.DaemonSetStatus) error) {
	t.Helper()
	controllertest.Eventually(t, 20*time.Second, func() error {
		ds, err := env.Client.AppsV1().DaemonSets("default").Get(env.Ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if ds.Status.ObservedGeneration != ds.Generation {
			return fmt.Errorf("observedGeneration %d of %d", ds.Status.ObservedGeneration, ds.Generation)
		}
		return check(ds.Status)
	})
}

func TestPlacementSelectorTaintsAndStatus(t *testing.T) {
	worker := map[string]string{"role": "worker"}
	env := start(t,
		node("a", worker),
		node("b", worker, corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}),
		node("c", nil),
		node("d", worker, corev1.Taint{Key: "node.kubernetes.io/unschedulable", Effect: corev1.TaintEffectNoSchedule}),
	)
	spec := newDS("agent")
	spec.Spec.Template.Spec.NodeSelector = worker
	if _, err := env.Client.AppsV1().DaemonSets("default").Create(env.Ctx, spec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// b's taint is not tolerated; d's unschedulable taint is, as upstream.
	pods := waitPlacement(t, env, "agent", "a=agent:1,d=agent:1")
	p := pods[0]
	if p.Spec.NodeName != "" || !strings.HasPrefix(p.Name, "agent-") || p.Labels["controller-revision-hash"] == "" || p.Labels["pod-template-generation"] != "1" {
		t.Fatalf("pod %s nodeName %q labels %v", p.Name, p.Spec.NodeName, p.Labels)
	}
	tols := map[string]bool{}
	for _, tol := range p.Spec.Tolerations {
		tols[tol.Key+":"+string(tol.Effect)] = true
	}
	for _, want := range []string{"node.kubernetes.io/not-ready:NoExecute", "node.kubernetes.io/unreachable:NoExecute",
		"node.kubernetes.io/disk-pressure:NoSchedule", "node.kubernetes.io/memory-pressure:NoSchedule",
		"node.kubernetes.io/pid-pressure:NoSchedule", "node.kubernetes.io/unschedulable:NoSchedule"} {
		if !tols[want] {
			t.Errorf("pod lacks toleration %s: %v", want, p.Spec.Tolerations)
		}
	}
	waitStatus(t, env, "agent", func(s appsv1.DaemonSetStatus) error {
		if s.DesiredNumberScheduled != 2 || s.CurrentNumberScheduled != 2 || s.NumberReady != 0 || s.UpdatedNumberScheduled != 2 || s.NumberUnavailable != 2 {
			return fmt.Errorf("status %+v", s)
		}
		return nil
	})
	readyAll(t, env, "agent")
	waitStatus(t, env, "agent", func(s appsv1.DaemonSetStatus) error {
		if s.NumberReady != 2 || s.NumberAvailable != 2 || s.NumberUnavailable != 0 || s.NumberMisscheduled != 0 {
			return fmt.Errorf("status %+v", s)
		}
		return nil
	})
	// c becomes a worker: a pod comes. a gets an untolerated NoExecute
	// taint: its pod goes.
	if _, err := env.Client.CoreV1().Nodes().Patch(env.Ctx, "c", types.MergePatchType, []byte(`{"metadata":{"labels":{"role":"worker"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Client.CoreV1().Nodes().Patch(env.Ctx, "a", types.MergePatchType, []byte(`{"spec":{"taints":[{"key":"evict","effect":"NoExecute"}]}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPlacement(t, env, "agent", "c=agent:1,d=agent:1")
	controllertest.Eventually(t, 10*time.Second, func() error {
		msgs, err := controllertest.EventMessages(env.Ctx, env.Client, "default", "agent")
		if err != nil {
			return err
		}
		all := strings.Join(msgs, "\n")
		if !strings.Contains(all, "SuccessfulCreate: Created pod: agent-") || !strings.Contains(all, "SuccessfulDelete: Deleted pod: agent-") {
			return fmt.Errorf("events %q", msgs)
		}
		return nil
	})
}

func TestRollingUpdateMaxUnavailable(t *testing.T) {
	env := start(t, node("n1", nil), node("n2", nil), node("n3", nil))
	if _, err := env.Client.AppsV1().DaemonSets("default").Create(env.Ctx, newDS("log"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPlacement(t, env, "log", "n1=agent:1,n2=agent:1,n3=agent:1")
	readyAll(t, env, "log")
	waitStatus(t, env, "log", func(s appsv1.DaemonSetStatus) error {
		if s.NumberAvailable != 3 {
			return fmt.Errorf("status %+v", s)
		}
		return nil
	})
	if _, err := env.Client.AppsV1().DaemonSets("default").Patch(env.Ctx, "log", types.MergePatchType,
		[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"agent:2"}]}}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	// maxUnavailable 1: one node is updated, and the rollout waits for
	// its new pod to be available.
	waitStatus(t, env, "log", func(s appsv1.DaemonSetStatus) error {
		if s.UpdatedNumberScheduled != 1 || s.NumberAvailable != 2 {
			return fmt.Errorf("status %+v", s)
		}
		return nil
	})
	if got := placement(livePods(t, env, "log")); strings.Count(got, "agent:1") != 2 || strings.Count(got, "agent:2") != 1 {
		t.Fatalf("pods %s: want two old and one new while the new one is not ready", got)
	}
	controllertest.Eventually(t, 30*time.Second, func() error {
		readyAll(t, env, "log")
		if got := placement(livePods(t, env, "log")); got != "n1=agent:2,n2=agent:2,n3=agent:2" {
			return fmt.Errorf("pods %s", got)
		}
		return nil
	})
	readyAll(t, env, "log")
	waitStatus(t, env, "log", func(s appsv1.DaemonSetStatus) error {
		if s.UpdatedNumberScheduled != 3 || s.NumberAvailable != 3 || s.DesiredNumberScheduled != 3 {
			return fmt.Errorf("status %+v", s)
		}
		return nil
	})
	revs, err := env.Client.AppsV1().ControllerRevisions("default").List(env.Ctx, metav1.ListOptions{LabelSelector: "app=log"})
	if err != nil || len(revs.Items) != 2 {
		t.Fatalf("controller revisions: %v, %d, want 2", err, len(revs.Items))
	}
}

func TestRollingUpdateMaxSurge(t *testing.T) {
	env := start(t, node("n1", nil), node("n2", nil))
	spec := newDS("proxy")
	one, zero := intstr.FromInt32(1), intstr.FromInt32(0)
	spec.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxSurge: &one, MaxUnavailable: &zero}}
	if _, err := env.Client.AppsV1().DaemonSets("default").Create(env.Ctx, spec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPlacement(t, env, "proxy", "n1=agent:1,n2=agent:1")
	readyAll(t, env, "proxy")
	waitStatus(t, env, "proxy", func(s appsv1.DaemonSetStatus) error {
		if s.NumberAvailable != 2 {
			return fmt.Errorf("status %+v", s)
		}
		return nil
	})
	if _, err := env.Client.AppsV1().DaemonSets("default").Patch(env.Ctx, "proxy", types.MergePatchType,
		[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"agent:2"}]}}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	// A new pod comes beside the old one on one node; the old ones stay
	// until it is available.
	controllertest.Eventually(t, 20*time.Second, func() error {
		got := placement(livePods(t, env, "proxy"))
		if strings.Count(got, "agent:1") != 2 || strings.Count(got, "agent:2") != 1 {
			return fmt.Errorf("pods %s: want both old and one new", got)
		}
		return nil
	})
	controllertest.Eventually(t, 30*time.Second, func() error {
		readyAll(t, env, "proxy")
		if got := placement(livePods(t, env, "proxy")); got != "n1=agent:2,n2=agent:2" {
			return fmt.Errorf("pods %s", got)
		}
		return nil
	})
}
