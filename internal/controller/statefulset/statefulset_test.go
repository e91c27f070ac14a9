package statefulset_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/controller/controllertest"
	"skiff.dev/skiff/internal/controller/statefulset"
)

func start(t *testing.T) *controllertest.Env {
	t.Helper()
	env := controllertest.Start(t)
	c, err := statefulset.New(env.Client, env.Factory, env.Recorder("statefulset-controller"), env.Log)
	if err != nil {
		t.Fatal(err)
	}
	env.StartInformers(t)
	go c.Run(env.Ctx, 5)
	return env
}

func newSet(name string, replicas int32) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    &replicas,
			ServiceName: name + "-svc",
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx:1"}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	}
}

// livePods maps the names of set's pods not being deleted to them.
func livePods(t *testing.T, env *controllertest.Env, set string) (map[string]corev1.Pod, error) {
	l, err := env.Client.CoreV1().Pods("default").List(env.Ctx, metav1.ListOptions{LabelSelector: "app=" + set})
	if err != nil {
		return nil, err
	}
	out := map[string]corev1.Pod{}
	for _, p := range l.Items {
		if p.DeletionTimestamp == nil {
			out[p.Name] = p
		}
	}
	return out, nil
}

func keys(m map[string]corev1.Pod) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func waitPodNames(t *testing.T, env *controllertest.Env, set string, want ...string) map[string]corev1.Pod {
	t.Helper()
	var pods map[string]corev1.Pod
	controllertest.Eventually(t, 20*time.Second, func() error {
		var err error
		if pods, err = livePods(t, env, set); err != nil {
			return err
		}
		if got := strings.Join(keys(pods), ","); got != strings.Join(want, ",") {
			return fmt.Errorf("pods %s, want %s", got, strings.Join(want, ","))
		}
		return nil
	})
	return pods
}

func ready(t *testing.T, env *controllertest.Env, p corev1.Pod) {
	t.Helper()
	if err := controllertest.SetPodReady(env.Ctx, env.Client, &p, "node-1", true, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// stays waits until the controller has reported the pods in status (it
// writes status after acting in the same sync) and checks it created no
// more than want: the next ordinal must wait for readiness.
func stays(t *testing.T, env *controllertest.Env, set string, want ...string) {
	t.Helper()
	controllertest.Eventually(t, 20*time.Second, func() error {
		s, err := env.Client.AppsV1().StatefulSets("default").Get(env.Ctx, set, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if int(s.Status.Replicas) != len(want) {
			return fmt.Errorf("status.replicas %d, want %d", s.Status.Replicas, len(want))
		}
		return nil
	})
	waitPodNames(t, env, set, want...)
}

func TestOrderedReadyCreatesInOrderWithIdentityAndClaims(t *testing.T) {
	env := start(t)
	if _, err := env.Client.AppsV1().StatefulSets("default").Create(env.Ctx, newSet("web", 3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pods := waitPodNames(t, env, "web", "web-0")
	stays(t, env, "web", "web-0")
	p := pods["web-0"]
	if p.Spec.Hostname != "web-0" || p.Spec.Subdomain != "web-svc" ||
		p.Labels["statefulset.kubernetes.io/pod-name"] != "web-0" || p.Labels["apps.kubernetes.io/pod-index"] != "0" ||
		!strings.HasPrefix(p.Labels["controller-revision-hash"], "web-") {
		t.Fatalf("pod identity: hostname %q subdomain %q labels %v", p.Spec.Hostname, p.Spec.Subdomain, p.Labels)
	}
	var claim string
	for _, v := range p.Spec.Volumes {
		if v.Name == "data" && v.PersistentVolumeClaim != nil {
			claim = v.PersistentVolumeClaim.ClaimName
		}
	}
	if claim != "data-web-0" {
		t.Fatalf("volume data claim %q, want data-web-0", claim)
	}
	pvc, err := env.Client.CoreV1().PersistentVolumeClaims("default").Get(env.Ctx, "data-web-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pvc.Labels["app"] != "web" || len(pvc.OwnerReferences) != 0 {
		t.Fatalf("claim labels %v refs %v: want the selector's labels and no owner (Retain)", pvc.Labels, pvc.OwnerReferences)
	}
	ready(t, env, p)
	pods = waitPodNames(t, env, "web", "web-0", "web-1")
	ready(t, env, pods["web-1"])
	pods = waitPodNames(t, env, "web", "web-0", "web-1", "web-2")
	ready(t, env, pods["web-2"])
	controllertest.Eventually(t, 20*time.Second, func() error {
		s, err := env.Client.AppsV1().StatefulSets("default").Get(env.Ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		st := s.Status
		if st.ObservedGeneration != s.Generation || st.Replicas != 3 || st.ReadyReplicas != 3 || st.AvailableReplicas != 3 ||
			st.CurrentReplicas != 3 || st.UpdatedReplicas != 3 || st.CurrentRevision == "" || st.CurrentRevision != st.UpdateRevision {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	msgs, err := controllertest.EventMessages(env.Ctx, env.Client, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{
		"SuccessfulCreate: create Claim data-web-0 Pod web-0 in StatefulSet web success",
		"SuccessfulCreate: create Pod web-0 in StatefulSet web successful",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("events lack %q:\n%s", want, all)
		}
	}

	// Scale down: the highest ordinal goes first, one at a time.
	if _, err := env.Client.AppsV1().StatefulSets("default").Patch(env.Ctx, "web", "application/merge-patch+json",
		[]byte(`{"spec":{"replicas":1}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPodNames(t, env, "web", "web-0", "web-1")
	// web-1 stays until web-2 is gone from the API (nothing finishes its
	// deletion here but the test).
	if err := env.Client.CoreV1().Pods("default").Delete(env.Ctx, "web-2", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	waitPodNames(t, env, "web", "web-0")
}

func TestRollingUpdateWithPartitionFromHighestOrdinal(t *testing.T) {
	env := start(t)
	env.StartKubelet("node-1", true)
	set := newSet("db", 3)
	set.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
	if _, err := env.Client.AppsV1().StatefulSets("default").Create(env.Ctx, set, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitStatus := func(check func(appsv1.StatefulSetStatus) error) {
		t.Helper()
		controllertest.Eventually(t, 20*time.Second, func() error {
			s, err := env.Client.AppsV1().StatefulSets("default").Get(env.Ctx, "db", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if s.Status.ObservedGeneration != s.Generation {
				return fmt.Errorf("observedGeneration %d of %d", s.Status.ObservedGeneration, s.Generation)
			}
			return check(s.Status)
		})
	}
	var rev1 string
	waitStatus(func(st appsv1.StatefulSetStatus) error {
		if st.ReadyReplicas != 3 || st.UpdatedReplicas != 3 {
			return fmt.Errorf("status %+v", st)
		}
		rev1 = st.CurrentRevision
		return nil
	})
	if _, err := env.Client.AppsV1().StatefulSets("default").Patch(env.Ctx, "db", "application/merge-patch+json",
		[]byte(`{"spec":{"updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"partition":1}},"template":{"spec":{"containers":[{"name":"c","image":"nginx:2"}]}}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	var rev2 string
	waitStatus(func(st appsv1.StatefulSetStatus) error {
		if st.UpdateRevision == rev1 || st.UpdatedReplicas != 2 || st.CurrentReplicas != 1 || st.ReadyReplicas != 3 || st.CurrentRevision != rev1 {
			return fmt.Errorf("status %+v", st)
		}
		rev2 = st.UpdateRevision
		return nil
	})
	pods, err := livePods(t, env, "db")
	if err != nil {
		t.Fatal(err)
	}
	for name, wantRev := range map[string]string{"db-0": rev1, "db-1": rev2, "db-2": rev2} {
		if got := pods[name].Labels["controller-revision-hash"]; got != wantRev {
			t.Errorf("%s revision %s, want %s", name, got, wantRev)
		}
	}
	if img := pods["db-0"].Spec.Containers[0].Image; img != "nginx:1" {
		t.Errorf("db-0 (below the partition) image %s, want nginx:1", img)
	}
	// Partition 0 finishes the rollout: current becomes update.
	if _, err := env.Client.AppsV1().StatefulSets("default").Patch(env.Ctx, "db", "application/merge-patch+json",
		[]byte(`{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitStatus(func(st appsv1.StatefulSetStatus) error {
		if st.CurrentRevision != rev2 || st.UpdatedReplicas != 3 || st.CurrentReplicas != 3 || st.ReadyReplicas != 3 {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	revs, err := env.Client.AppsV1().ControllerRevisions("default").List(env.Ctx, metav1.ListOptions{LabelSelector: "app=db"})
	if err != nil {
		t.Fatal(err)
	}
	if len(revs.Items) != 2 {
		t.Fatalf("%d controller revisions, want 2", len(revs.Items))
	}
}

func TestRetentionPolicyOwnerReferences(t *testing.T) {
	env := start(t)
	env.StartKubelet("node-1", true)
	set := newSet("kv", 2)
	set.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
	set.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
		WhenScaled:  appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
	}
	created, err := env.Client.AppsV1().StatefulSets("default").Create(env.Ctx, set, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, 20*time.Second, func() error {
		for _, n := range []string{"data-kv-0", "data-kv-1"} {
			c, err := env.Client.CoreV1().PersistentVolumeClaims("default").Get(env.Ctx, n, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if len(c.OwnerReferences) != 1 || c.OwnerReferences[0].UID != created.UID {
				return fmt.Errorf("%s refs %+v, want the StatefulSet", n, c.OwnerReferences)
			}
		}
		return nil
	})
	if _, err := env.Client.AppsV1().StatefulSets("default").Patch(env.Ctx, "kv", "application/merge-patch+json",
		[]byte(`{"spec":{"replicas":1}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	// The condemned pod's claim is handed to the pod before the pod
	// goes, so the garbage collector deletes it with the pod.
	controllertest.Eventually(t, 20*time.Second, func() error {
		c, err := env.Client.CoreV1().PersistentVolumeClaims("default").Get(env.Ctx, "data-kv-1", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(c.OwnerReferences) != 1 || c.OwnerReferences[0].Kind != "Pod" || c.OwnerReferences[0].Name != "kv-1" {
			return fmt.Errorf("data-kv-1 refs %+v, want pod kv-1", c.OwnerReferences)
		}
		return nil
	})
	waitPodNames(t, env, "kv", "kv-0")
}
