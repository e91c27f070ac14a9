package disruption_test

import (
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"skiff.dev/skiff/internal/controller/controllertest"
	"skiff.dev/skiff/internal/controller/disruption"
)

func start(t *testing.T) *controllertest.Env {
	env := controllertest.Start(t)
	c, err := disruption.New(env.Client, env.Factory, env.Recorder("controllermanager"), env.Log)
	if err != nil {
		t.Fatal(err)
	}
	env.StartInformers(t)
	go c.Run(env.Ctx, 2)
	return env
}

func waitStatus(t *testing.T, env *controllertest.Env, name, want string) *policyv1.PodDisruptionBudget {
	t.Helper()
	var pdb *policyv1.PodDisruptionBudget
	controllertest.Eventually(t, 20*time.Second, func() error {
		var err error
		pdb, err = env.Client.PolicyV1().PodDisruptionBudgets("default").Get(env.Ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		s := pdb.Status
		if got := fmt.Sprintf("%d/%d/%d/%d", s.ExpectedPods, s.DesiredHealthy, s.CurrentHealthy, s.DisruptionsAllowed); got != want || s.ObservedGeneration != pdb.Generation {
			return fmt.Errorf("status %s (gen %d/%d), want %s", got, s.ObservedGeneration, pdb.Generation, want)
		}
		return nil
	})
	return pdb
}

// TestBudgetGatesEviction: a ReplicaSet of 3 ready pods with
// maxUnavailable 1 allows one eviction through the API server's eviction
// subresource; once that pod is terminating, the next is refused.
func TestBudgetGatesEviction(t *testing.T) {
	env := start(t)
	ctx, c := env.Ctx, env.Client
	three := int32(3)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.ReplicaSetSpec{Replicas: &three, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}}}},
	}
	rs, err := c.AppsV1().ReplicaSets("default").Create(ctx, rs, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	one := intstr.FromInt32(1)
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
	if _, err := c.PolicyV1().PodDisruptionBudgets("default").Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, env, "web", "0/0/0/0")
	// Play the ReplicaSet controller, the scheduler and the kubelet.
	for i := 0; i < 3; i++ {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%d", i), Namespace: "default", Labels: map[string]string{"app": "web"},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))}},
			Spec: rs.Spec.Template.Spec}
		if p, err = c.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := controllertest.SetPodReady(ctx, c, p, "n1", true, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	got := waitStatus(t, env, "web", "3/2/3/1")
	cond := got.Status.Conditions[0]
	if cond.Type != policyv1.DisruptionAllowedCondition || cond.Status != metav1.ConditionTrue || cond.Reason != policyv1.SufficientPodsReason {
		t.Fatalf("condition %+v", cond)
	}
	evict := func(name string) error {
		return c.CoreV1().Pods("default").EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}})
	}
	if err := evict("web-0"); err != nil {
		t.Fatalf("first eviction: %v", err)
	}
	// web-0 is terminating on its node: no longer healthy.
	got = waitStatus(t, env, "web", "3/2/2/0")
	if got.Status.Conditions[0].Reason != policyv1.InsufficientPodsReason {
		t.Fatalf("condition %+v", got.Status.Conditions[0])
	}
	if err := evict("web-1"); !apierrors.IsTooManyRequests(err) {
		t.Fatalf("second eviction: %v, want 429", err)
	}
}

func TestPodsWithoutControllerFailSafe(t *testing.T) {
	env := start(t)
	ctx, c := env.Ctx, env.Client
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "lone", Namespace: "default", Labels: map[string]string{"app": "lone"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}}}
	if _, err := c.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	half := intstr.FromString("50%")
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "lone", Namespace: "default"},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &half, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "lone"}}}}
	if _, err := c.PolicyV1().PodDisruptionBudgets("default").Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, 20*time.Second, func() error {
		got, err := c.PolicyV1().PodDisruptionBudgets("default").Get(ctx, "lone", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(got.Status.Conditions) != 1 || got.Status.Conditions[0].Reason != policyv1.SyncFailedReason {
			return fmt.Errorf("status %+v", got.Status)
		}
		msgs, err := controllertest.EventMessages(ctx, c, "default", "lone")
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m == `CalculateExpectedPodCountFailed: Failed to calculate the number of expected pods: found no controller ref for pod "lone"` {
				return nil
			}
		}
		return fmt.Errorf("events %q", msgs)
	})
}
