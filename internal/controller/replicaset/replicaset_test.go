package replicaset_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/skiff/internal/controller/controllertest"
	"skiff.dev/skiff/internal/controller/replicaset"
)

func start(t testing.TB) *controllertest.Env {
	t.Helper()
	env := controllertest.Start(t)
	c, err := replicaset.New(env.Client, env.Factory, env.Recorder("replicaset-controller"), env.Log)
	if err != nil {
		t.Fatal(err)
	}
	env.StartInformers(t)
	go c.Run(env.Ctx, 5)
	return env
}

func newRS(name string, replicas int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name, "tier": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
			},
		},
	}
}

// activePods lists the pods rs controls that are not being deleted.
func activePods(ctx context.Context, c kubernetes.Interface, rs *appsv1.ReplicaSet) ([]corev1.Pod, error) {
	l, err := c.CoreV1().Pods(rs.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range l.Items {
		if metav1.IsControlledBy(&p, rs) && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func waitPods(t *testing.T, env *controllertest.Env, rs *appsv1.ReplicaSet, n int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	controllertest.Eventually(t, 20*time.Second, func() error {
		var err error
		pods, err = activePods(env.Ctx, env.Client, rs)
		if err != nil {
			return err
		}
		if len(pods) != n {
			return fmt.Errorf("%d pods, want %d", len(pods), n)
		}
		return nil
	})
	return pods
}

func waitStatus(t *testing.T, env *controllertest.Env, rs *appsv1.ReplicaSet, check func(appsv1.ReplicaSetStatus) error) {
	t.Helper()
	controllertest.Eventually(t, 20*time.Second, func() error {
		cur, err := env.Client.AppsV1().ReplicaSets(rs.Namespace).Get(env.Ctx, rs.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.Status.ObservedGeneration != cur.Generation {
			return fmt.Errorf("observedGeneration %d, generation %d", cur.Status.ObservedGeneration, cur.Generation)
		}
		return check(cur.Status)
	})
}

func TestCreatesPodsFromTemplateAndReportsStatus(t *testing.T) {
	env := start(t)
	rs, err := env.Client.AppsV1().ReplicaSets("default").Create(env.Ctx, newRS("web", 3), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pods := waitPods(t, env, rs, 3)
	for _, p := range pods {
		if !strings.HasPrefix(p.Name, "web-") || p.Labels["tier"] != "web" {
			t.Errorf("pod %s labels %v: want name web-* and the template's labels", p.Name, p.Labels)
		}
		ref := metav1.GetControllerOf(&p)
		if ref == nil || ref.Kind != "ReplicaSet" || ref.APIVersion != "apps/v1" || ref.Name != "web" ||
			ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
			t.Errorf("pod %s controller ref %+v", p.Name, ref)
		}
	}
	waitStatus(t, env, rs, func(s appsv1.ReplicaSetStatus) error {
		if s.Replicas != 3 || s.FullyLabeledReplicas != 3 || s.ReadyReplicas != 0 {
			return fmt.Errorf("status %+v", s)
		}
		return nil
	})
	for _, p := range pods[:2] {
		if err := controllertest.SetPodReady(env.Ctx, env.Client, &p, "node-1", true, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	waitStatus(t, env, rs, func(s appsv1.ReplicaSetStatus) error {
		if s.ReadyReplicas != 2 || s.AvailableReplicas != 2 {
			return fmt.Errorf("ready %d available %d, want 2 2", s.ReadyReplicas, s.AvailableReplicas)
		}
		return nil
	})
	controllertest.Eventually(t, 10*time.Second, func() error {
		msgs, err := controllertest.EventMessages(env.Ctx, env.Client, "default", "web")
		if err != nil {
			return err
		}
		n := 0
		for _, m := range msgs {
			if strings.HasPrefix(m, "SuccessfulCreate: Created pod: web-") {
				n++
			}
		}
		if n != 3 {
			return fmt.Errorf("events %q: want 3 SuccessfulCreate", msgs)
		}
		return nil
	})
}

func TestReplacesDeletedPod(t *testing.T) {
	env := start(t)
	rs, err := env.Client.AppsV1().ReplicaSets("default").Create(env.Ctx, newRS("heal", 2), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pods := waitPods(t, env, rs, 2)
	zero := int64(0)
	if err := env.Client.CoreV1().Pods("default").Delete(env.Ctx, pods[0].Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, 20*time.Second, func() error {
		now, err := activePods(env.Ctx, env.Client, rs)
		if err != nil {
			return err
		}
		if len(now) != 2 {
			return fmt.Errorf("%d pods", len(now))
		}
		for _, p := range now {
			if p.Name == pods[0].Name {
				return fmt.Errorf("deleted pod %s still there", p.Name)
			}
		}
		return nil
	})
}

func TestAdoptsOrphanAndReleasesRelabeledPod(t *testing.T) {
	env := start(t)
	orphan := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "orphan", Namespace: "default", Labels: map[string]string{"app": "adopt"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
	}
	if _, err := env.Client.CoreV1().Pods("default").Create(env.Ctx, orphan, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rs, err := env.Client.AppsV1().ReplicaSets("default").Create(env.Ctx, newRS("adopt", 2), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pods := waitPods(t, env, rs, 2)
	adopted := false
	for _, p := range pods {
		adopted = adopted || p.Name == "orphan"
	}
	if !adopted {
		t.Fatalf("pods %v: want the orphan adopted", names(pods))
	}
	// The orphan has only app=adopt, not the template's tier label.
	waitStatus(t, env, rs, func(s appsv1.ReplicaSetStatus) error {
		if s.Replicas != 2 || s.FullyLabeledReplicas != 1 {
			return fmt.Errorf("replicas %d fullyLabeled %d, want 2 1", s.Replicas, s.FullyLabeledReplicas)
		}
		return nil
	})

	// Relabel it out of the selector: released (no owner) and replaced.
	patch := []byte(`{"metadata":{"labels":{"app":"elsewhere"}}}`)
	if _, err := env.Client.CoreV1().Pods("default").Patch(env.Ctx, "orphan", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, 20*time.Second, func() error {
		p, err := env.Client.CoreV1().Pods("default").Get(env.Ctx, "orphan", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(p.OwnerReferences) != 0 {
			return fmt.Errorf("owner references %+v, want none", p.OwnerReferences)
		}
		return nil
	})
	now := waitPods(t, env, rs, 2)
	for _, p := range now {
		if p.Name == "orphan" {
			t.Fatalf("released pod still counted")
		}
	}
}

func TestScaleDownDeletesUpstreamVictims(t *testing.T) {
	env := start(t)
	rs, err := env.Client.AppsV1().ReplicaSets("default").Create(env.Ctx, newRS("down", 4), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pods := waitPods(t, env, rs, 4)
	// pods[0]: ready on node-a; pods[1]: running not ready; pods[2]:
	// ready on node-b; pods[3]: unscheduled. Scaling to 2 removes the
	// unscheduled pod, then the not-ready one.
	now := time.Now()
	steps := []struct {
		node  string
		ready bool
	}{{"node-a", true}, {"node-a", false}, {"node-b", true}}
	for i, s := range steps {
		if err := controllertest.SetPodReady(env.Ctx, env.Client, &pods[i], s.node, s.ready, now); err != nil {
			t.Fatal(err)
		}
	}
	waitStatus(t, env, rs, func(s appsv1.ReplicaSetStatus) error {
		if s.ReadyReplicas != 2 {
			return fmt.Errorf("ready %d", s.ReadyReplicas)
		}
		return nil
	})
	patch := []byte(`{"spec":{"replicas":2}}`)
	if _, err := env.Client.AppsV1().ReplicaSets("default").Patch(env.Ctx, "down", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	left := waitPods(t, env, rs, 2)
	got := names(left)
	want := []string{pods[0].Name, pods[2].Name}
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("kept %v, want the two ready pods %v", got, want)
	}
}

func names(pods []corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	sort.Strings(out)
	return out
}
