package garbagecollector_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"

	"skiff.dev/skiff/internal/controller/controllertest"
	"skiff.dev/skiff/internal/controller/deployment"
	"skiff.dev/skiff/internal/controller/garbagecollector"
	"skiff.dev/skiff/internal/controller/replicaset"
)

func start(t *testing.T) *controllertest.Env {
	t.Helper()
	env := controllertest.Start(t)
	cfg := env.Server.Config(t, "system:kube-controller-manager", "system:masters")
	gc := garbagecollector.New(metadata.NewForConfigOrDie(cfg), env.Client.Discovery(), env.Log)
	go gc.Run(env.Ctx, 5)
	return env
}

const hold = "skiff.dev/test-hold"

func configMap(name string, finalizers []string, owners ...metav1.Object) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Finalizers: finalizers}}
	t := true
	for _, o := range owners {
		cm.OwnerReferences = append(cm.OwnerReferences, metav1.OwnerReference{
			APIVersion: "v1", Kind: "ConfigMap", Name: o.GetName(), UID: o.GetUID(), BlockOwnerDeletion: &t})
	}
	return cm
}

func create(t *testing.T, c kubernetes.Interface, cm *corev1.ConfigMap) *corev1.ConfigMap {
	t.Helper()
	out, err := c.CoreV1().ConfigMaps("default").Create(context.Background(), cm, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func gone(c kubernetes.Interface, name string) func() error {
	return func() error {
		_, err := c.CoreV1().ConfigMaps("default").Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("configmap %s still exists", name)
	}
}

func background() metav1.DeleteOptions {
	p := metav1.DeletePropagationBackground
	return metav1.DeleteOptions{PropagationPolicy: &p}
}

func TestBackgroundDeletesDependentsAndDropsDanglingRefs(t *testing.T) {
	env := start(t)
	c := env.Client
	owner := create(t, c, configMap("owner", nil))
	other := create(t, c, configMap("other", nil))
	create(t, c, configMap("child", nil, owner))
	create(t, c, configMap("shared", nil, owner, other))
	if err := c.CoreV1().ConfigMaps("default").Delete(env.Ctx, "owner", background()); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, 20*time.Second, gone(c, "child"))
	// shared keeps its other owner, and loses the reference to the dead one.
	controllertest.Eventually(t, 20*time.Second, func() error {
		cm, err := c.CoreV1().ConfigMaps("default").Get(env.Ctx, "shared", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(cm.OwnerReferences) != 1 || cm.OwnerReferences[0].UID != other.UID {
			return fmt.Errorf("owner references %+v", cm.OwnerReferences)
		}
		return nil
	})
}

// TestForegroundWaitsForBlockingDependents: the owner is created with the
// foregroundDeletion finalizer (what the API server adds for
// propagationPolicy=Foreground), so its delete leaves it terminating
// until the collector has deleted its dependents.
func TestForegroundWaitsForBlockingDependents(t *testing.T) {
	env := start(t)
	c := env.Client
	owner := create(t, c, configMap("fg-owner", []string{metav1.FinalizerDeleteDependents}))
	create(t, c, configMap("fg-child", []string{hold}, owner))
	fg := metav1.DeletePropagationForeground
	if err := c.CoreV1().ConfigMaps("default").Delete(env.Ctx, "fg-owner", metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, 20*time.Second, func() error {
		cm, err := c.CoreV1().ConfigMaps("default").Get(env.Ctx, "fg-child", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cm.DeletionTimestamp == nil {
			return fmt.Errorf("child not being deleted")
		}
		return nil
	})
	if err := gone(c, "fg-owner")(); err == nil {
		t.Fatal("owner deleted while a blocking dependent remains")
	}
	patch := []byte(`{"metadata":{"finalizers":null}}`)
	if _, err := c.CoreV1().ConfigMaps("default").Patch(env.Ctx, "fg-child", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, 20*time.Second, gone(c, "fg-child"))
	controllertest.Eventually(t, 20*time.Second, gone(c, "fg-owner"))
}

// TestOrphan: the owner carries the orphan finalizer (what the API server
// adds for propagationPolicy=Orphan): dependents stay, without the
// reference; then the owner goes.
func TestOrphan(t *testing.T) {
	env := start(t)
	c := env.Client
	owner := create(t, c, configMap("or-owner", []string{metav1.FinalizerOrphanDependents}))
	create(t, c, configMap("or-child", nil, owner))
	or := metav1.DeletePropagationOrphan
	if err := c.CoreV1().ConfigMaps("default").Delete(env.Ctx, "or-owner", metav1.DeleteOptions{PropagationPolicy: &or}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, 20*time.Second, gone(c, "or-owner"))
	cm, err := c.CoreV1().ConfigMaps("default").Get(env.Ctx, "or-child", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("orphaned child: %v", err)
	}
	if len(cm.OwnerReferences) != 0 {
		t.Fatalf("owner references %+v, want none", cm.OwnerReferences)
	}
}

// TestDependentOfAbsentOwner: an object created with a reference to an
// owner that never existed is collected.
func TestDependentOfAbsentOwner(t *testing.T) {
	env := start(t)
	ghost := &metav1.ObjectMeta{Name: "ghost", UID: "00000000-0000-0000-0000-00000000dead"}
	create(t, env.Client, configMap("haunted", nil, ghost))
	controllertest.Eventually(t, 20*time.Second, gone(env.Client, "haunted"))
}

func TestDeletingDeploymentRemovesReplicaSetsAndPods(t *testing.T) {
	env := start(t)
	rsc, err := replicaset.New(env.Client, env.Factory, env.Recorder("replicaset-controller"), env.Log)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := deployment.New(env.Client, env.Factory, env.Recorder("deployment-controller"), env.Log)
	if err != nil {
		t.Fatal(err)
	}
	env.StartInformers(t)
	go rsc.Run(env.Ctx, 2)
	go dc.Run(env.Ctx, 2)
	env.StartKubelet("node-1", true)
	n := int32(3)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &n,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
			},
		},
	}
	if _, err := env.Client.AppsV1().Deployments("default").Create(env.Ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	count := func() (int, int, error) {
		rss, err := env.Client.AppsV1().ReplicaSets("default").List(env.Ctx, metav1.ListOptions{})
		if err != nil {
			return 0, 0, err
		}
		pods, err := env.Client.CoreV1().Pods("default").List(env.Ctx, metav1.ListOptions{})
		if err != nil {
			return 0, 0, err
		}
		return len(rss.Items), len(pods.Items), nil
	}
	controllertest.Eventually(t, 20*time.Second, func() error {
		r, p, err := count()
		if err == nil && (r != 1 || p != 3) {
			err = fmt.Errorf("%d replica sets, %d pods", r, p)
		}
		return err
	})
	if err := env.Client.AppsV1().Deployments("default").Delete(env.Ctx, "web", background()); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, 30*time.Second, func() error {
		r, p, err := count()
		if err == nil && (r != 0 || p != 0) {
			err = fmt.Errorf("%d replica sets, %d pods left", r, p)
		}
		return err
	})
}
