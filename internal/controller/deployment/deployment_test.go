package deployment_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"skiff.dev/skiff/internal/controller/controllertest"
	"skiff.dev/skiff/internal/controller/deployment"
	"skiff.dev/skiff/internal/controller/replicaset"
)

func start(t *testing.T) *controllertest.Env {
	t.Helper()
	env := controllertest.Start(t)
	rsc, err := replicaset.New(env.Client, env.Factory, env.Recorder("replicaset-controller"), env.Log)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := deployment.New(env.Client, env.Factory, env.Recorder("deployment-controller"), env.Log)
	if err != nil {
		t.Fatal(err)
	}
	env.StartInformers(t)
	go rsc.Run(env.Ctx, 5)
	go dc.Run(env.Ctx, 5)
	return env
}

func newDeployment(name string, replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx:1"}}},
			},
		},
	}
}

func get(t *testing.T, env *controllertest.Env, name string) *appsv1.Deployment {
	t.Helper()
	d, err := env.Client.AppsV1().Deployments("default").Get(env.Ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func replicaSets(ctx context.Context, env *controllertest.Env, d *appsv1.Deployment) ([]appsv1.ReplicaSet, error) {
	l, err := env.Client.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []appsv1.ReplicaSet
	for _, rs := range l.Items {
		if metav1.IsControlledBy(&rs, d) {
			out = append(out, rs)
		}
	}
	return out, nil
}

func cond(d *appsv1.Deployment, t appsv1.DeploymentConditionType) string {
	for _, c := range d.Status.Conditions {
		if c.Type == t {
			return string(c.Status) + "/" + c.Reason
		}
	}
	return ""
}

// waitComplete waits for what kubectl rollout status waits for.
func waitComplete(t *testing.T, env *controllertest.Env, name string) *appsv1.Deployment {
	t.Helper()
	var d *appsv1.Deployment
	controllertest.Eventually(t, 30*time.Second, func() error {
		d = get(t, env, name)
		s := d.Status
		if s.ObservedGeneration < d.Generation || s.UpdatedReplicas != *d.Spec.Replicas || s.Replicas != s.UpdatedReplicas ||
			s.AvailableReplicas != s.UpdatedReplicas || cond(d, appsv1.DeploymentProgressing) != "True/NewReplicaSetAvailable" {
			return fmt.Errorf("status %+v", s)
		}
		return nil
	})
	return d
}

func setImage(t *testing.T, env *controllertest.Env, name, image string) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"c","image":%q}]}}}}`, image)
	if _, err := env.Client.AppsV1().Deployments("default").Patch(env.Ctx, name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestNewReplicaSetNameLabelsAnnotationsAndStatus(t *testing.T) {
	env := start(t)
	env.StartKubelet("node-1", true)
	if _, err := env.Client.AppsV1().Deployments("default").Create(env.Ctx, newDeployment("web", 3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d := waitComplete(t, env, "web")
	hash := deployment.ComputeHash(&d.Spec.Template, nil)
	rss, err := replicaSets(env.Ctx, env, d)
	if err != nil || len(rss) != 1 {
		t.Fatalf("replica sets %d, %v", len(rss), err)
	}
	rs := rss[0]
	if rs.Name != "web-"+hash || rs.Labels["pod-template-hash"] != hash || rs.Spec.Template.Labels["pod-template-hash"] != hash ||
		rs.Spec.Selector.MatchLabels["pod-template-hash"] != hash {
		t.Errorf("replica set %s labels %v selector %v, want hash %s", rs.Name, rs.Labels, rs.Spec.Selector, hash)
	}
	want := map[string]string{"deployment.kubernetes.io/revision": "1", "deployment.kubernetes.io/desired-replicas": "3", "deployment.kubernetes.io/max-replicas": "4"}
	for k, v := range want {
		if rs.Annotations[k] != v {
			t.Errorf("replica set annotation %s=%q, want %q", k, rs.Annotations[k], v)
		}
	}
	if d.Annotations["deployment.kubernetes.io/revision"] != "1" {
		t.Errorf("deployment revision annotation %q", d.Annotations["deployment.kubernetes.io/revision"])
	}
	if got := cond(d, appsv1.DeploymentAvailable); got != "True/MinimumReplicasAvailable" {
		t.Errorf("Available %s", got)
	}
	if d.Status.ReadyReplicas != 3 || d.Status.UnavailableReplicas != 0 {
		t.Errorf("status %+v", d.Status)
	}
	controllertest.Eventually(t, 10*time.Second, func() error {
		msgs, err := controllertest.EventMessages(env.Ctx, env.Client, "default", "web")
		if err != nil {
			return err
		}
		wantMsg := "ScalingReplicaSet: Scaled up replica set web-" + hash + " from 0 to 3"
		for _, m := range msgs {
			if m == wantMsg {
				return nil
			}
		}
		return fmt.Errorf("events %q, want %q", msgs, wantMsg)
	})
}

// TestRollingUpdateStepByStep readies pods one at a time and checks at
// every step that no more than replicas+maxSurge pods are wanted and no
// fewer than replicas-maxUnavailable are ready.
func TestRollingUpdateStepByStep(t *testing.T) {
	env := start(t)
	k := env.StartKubelet("node-1", true)
	d0 := newDeployment("roll", 4)
	one := intstr.FromInt32(1)
	d0.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &one, MaxUnavailable: &one}}
	if _, err := env.Client.AppsV1().Deployments("default").Create(env.Ctx, d0, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitComplete(t, env, "roll")
	k.AutoReady.Store(false)
	setImage(t, env, "roll", "nginx:2")

	sawSurge := false
	controllertest.Eventually(t, 30*time.Second, func() error {
		d := get(t, env, "roll")
		rss, err := replicaSets(env.Ctx, env, d)
		if err != nil {
			return err
		}
		var wanted int32
		for _, rs := range rss {
			wanted += *rs.Spec.Replicas
		}
		if wanted > 5 {
			t.Fatalf("replica sets want %d pods, more than replicas+maxSurge=5", wanted)
		}
		sawSurge = sawSurge || wanted == 5
		pods, err := env.Client.CoreV1().Pods("default").List(env.Ctx, metav1.ListOptions{LabelSelector: "app=roll"})
		if err != nil {
			return err
		}
		ready := 0
		var notReady []corev1.Pod
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				continue
			}
			if replicaset.IsPodReady(&p) {
				ready++
			} else {
				notReady = append(notReady, p)
			}
		}
		if ready < 3 {
			t.Fatalf("%d ready pods, fewer than replicas-maxUnavailable=3", ready)
		}
		// Play the kubelet for one new pod per step.
		if len(notReady) > 0 {
			if err := controllertest.SetPodReady(env.Ctx, env.Client, &notReady[0], "node-1", true, time.Now()); err != nil {
				return err
			}
		}
		if d.Status.ObservedGeneration < d.Generation || d.Status.UpdatedReplicas != 4 || d.Status.Replicas != 4 || d.Status.AvailableReplicas != 4 {
			return fmt.Errorf("rolling: %+v", d.Status)
		}
		return nil
	})
	if !sawSurge {
		t.Error("never surged to 5 pods")
	}
	d := waitComplete(t, env, "roll")
	if d.Annotations["deployment.kubernetes.io/revision"] != "2" {
		t.Errorf("revision %q, want 2", d.Annotations["deployment.kubernetes.io/revision"])
	}
}

// TestRollbackAsKubectlUndo restores revision 1's template the way
// kubectl rollout undo does (a patch of the template): the old
// ReplicaSet becomes the new one with revision 3.
func TestRollbackAsKubectlUndo(t *testing.T) {
	env := start(t)
	env.StartKubelet("node-1", true)
	if _, err := env.Client.AppsV1().Deployments("default").Create(env.Ctx, newDeployment("undo", 2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d := waitComplete(t, env, "undo")
	firstRS := "undo-" + deployment.ComputeHash(&d.Spec.Template, nil)
	setImage(t, env, "undo", "nginx:2")
	waitComplete(t, env, "undo")
	setImage(t, env, "undo", "nginx:1")
	d = waitComplete(t, env, "undo")
	rs, err := env.Client.AppsV1().ReplicaSets("default").Get(env.Ctx, firstRS, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *rs.Spec.Replicas != 2 || rs.Annotations["deployment.kubernetes.io/revision"] != "3" || rs.Annotations["deployment.kubernetes.io/revision-history"] != "1" {
		t.Fatalf("first replica set replicas %d annotations %v: want 2, revision 3, history 1", *rs.Spec.Replicas, rs.Annotations)
	}
	if d.Annotations["deployment.kubernetes.io/revision"] != "3" {
		t.Fatalf("deployment revision %q", d.Annotations["deployment.kubernetes.io/revision"])
	}
}

func TestRecreateStopsOldPodsFirst(t *testing.T) {
	env := start(t)
	env.StartKubelet("node-1", true)
	d0 := newDeployment("rec", 3)
	d0.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	if _, err := env.Client.AppsV1().Deployments("default").Create(env.Ctx, d0, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d := waitComplete(t, env, "rec")
	oldHash := deployment.ComputeHash(&d.Spec.Template, nil)
	setImage(t, env, "rec", "nginx:2")
	controllertest.Eventually(t, 30*time.Second, func() error {
		pods, err := env.Client.CoreV1().Pods("default").List(env.Ctx, metav1.ListOptions{LabelSelector: "app=rec"})
		if err != nil {
			return err
		}
		old, updated := 0, 0
		for _, p := range pods.Items {
			if p.Labels["pod-template-hash"] == oldHash {
				old++
			} else {
				updated++
			}
		}
		if old > 0 && updated > 0 {
			t.Fatalf("%d old and %d new pods at once under Recreate", old, updated)
		}
		if updated != 3 {
			return fmt.Errorf("%d old, %d new pods", old, updated)
		}
		return nil
	})
	waitComplete(t, env, "rec")
}

func TestPauseResumeAndProgressDeadline(t *testing.T) {
	env := start(t)
	k := env.StartKubelet("node-1", true)
	d0 := newDeployment("pause", 2)
	deadline := int32(2)
	d0.Spec.ProgressDeadlineSeconds = &deadline
	if _, err := env.Client.AppsV1().Deployments("default").Create(env.Ctx, d0, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitComplete(t, env, "pause")
	patch := func(p string) {
		if _, err := env.Client.AppsV1().Deployments("default").Patch(env.Ctx, "pause", types.MergePatchType, []byte(p), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	patch(`{"spec":{"paused":true}}`)
	setImage(t, env, "pause", "nginx:2")
	controllertest.Eventually(t, 10*time.Second, func() error {
		d := get(t, env, "pause")
		if c := cond(d, appsv1.DeploymentProgressing); c != "Unknown/DeploymentPaused" || d.Status.ObservedGeneration != d.Generation {
			return fmt.Errorf("Progressing %s, observed %d/%d", c, d.Status.ObservedGeneration, d.Generation)
		}
		return nil
	})
	if rss, _ := replicaSets(env.Ctx, env, get(t, env, "pause")); len(rss) != 1 {
		t.Fatalf("%d replica sets while paused, want 1", len(rss))
	}
	// Resume with pods that never become ready: the rollout times out.
	k.AutoReady.Store(false)
	patch(`{"spec":{"paused":false}}`)
	controllertest.Eventually(t, 20*time.Second, func() error {
		d := get(t, env, "pause")
		if c := cond(d, appsv1.DeploymentProgressing); c != "False/ProgressDeadlineExceeded" {
			return fmt.Errorf("Progressing %s", c)
		}
		return nil
	})
	d := get(t, env, "pause")
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && !strings.HasSuffix(c.Message, "has timed out progressing.") {
			t.Errorf("message %q", c.Message)
		}
	}
	// Readiness arrives: the rollout completes after all.
	k.AutoReady.Store(true)
	pods, _ := env.Client.CoreV1().Pods("default").List(env.Ctx, metav1.ListOptions{LabelSelector: "app=pause"})
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			_ = controllertest.SetPodReady(env.Ctx, env.Client, &p, "node-1", true, time.Now())
		}
	}
	waitComplete(t, env, "pause")
}

func TestRevisionHistoryLimit(t *testing.T) {
	env := start(t)
	env.StartKubelet("node-1", true)
	d0 := newDeployment("hist", 1)
	limit := int32(1)
	d0.Spec.RevisionHistoryLimit = &limit
	if _, err := env.Client.AppsV1().Deployments("default").Create(env.Ctx, d0, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitComplete(t, env, "hist")
	for _, img := range []string{"nginx:2", "nginx:3", "nginx:4"} {
		setImage(t, env, "hist", img)
		waitComplete(t, env, "hist")
	}
	controllertest.Eventually(t, 10*time.Second, func() error {
		rss, err := replicaSets(env.Ctx, env, get(t, env, "hist"))
		if err != nil {
			return err
		}
		if len(rss) != 2 {
			return fmt.Errorf("%d replica sets, want 2 (new + 1 old)", len(rss))
		}
		return nil
	})
}
