package resourcequota_test

import (
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/controller/controllertest"
	"skiff.dev/skiff/internal/controller/resourcequota"
)

func TestQuotaUsage(t *testing.T) {
	env := controllertest.Start(t)
	c, err := resourcequota.New(env.Client, env.Factory, env.Log)
	if err != nil {
		t.Fatal(err)
	}
	env.StartInformers(t)
	go c.Run(env.Ctx, 2)
	ctx, cl := env.Ctx, env.Client

	hard := corev1.ResourceList{
		"pods": resource.MustParse("10"), "requests.cpu": resource.MustParse("4"), "limits.memory": resource.MustParse("4Gi"),
		"services": resource.MustParse("5"), "services.nodeports": resource.MustParse("3"),
		"configmaps": resource.MustParse("10"), "count/deployments.apps": resource.MustParse("2"),
	}
	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "default"}, Spec: corev1.ResourceQuotaSpec{Hard: hard}}
	if _, err := cl.CoreV1().ResourceQuotas("default").Create(ctx, q, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	want := func(used map[string]string) {
		t.Helper()
		controllertest.Eventually(t, 20*time.Second, func() error {
			got, err := cl.CoreV1().ResourceQuotas("default").Get(ctx, "q", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if len(got.Status.Hard) != len(hard) || len(got.Status.Used) != len(hard) {
				return fmt.Errorf("status %v", got.Status)
			}
			for name, v := range used {
				q := got.Status.Used[corev1.ResourceName(name)]
				if q.Cmp(resource.MustParse(v)) != 0 {
					return fmt.Errorf("%s used %s, want %s", name, q.String(), v)
				}
			}
			return nil
		})
	}
	// The kube-root-ca.crt configmap may or may not exist here: count
	// what is there.
	cms, _ := cl.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
	base := len(cms.Items)
	want(map[string]string{"pods": "0", "requests.cpu": "0", "services": "1", "services.nodeports": "0", "count/deployments.apps": "0"})

	for i, cpu := range []string{"500m", "1500m"} {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d", i), Namespace: "default"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}}}}}}
		if _, err := cl.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "np", Namespace: "default"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"a": "b"}, Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}}}
	if _, err := cl.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	one := int32(1)
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "default"}, Spec: appsv1.DeploymentSpec{Replicas: &one,
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"a": "b"}}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}}}}}
	if _, err := cl.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "default"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	want(map[string]string{"pods": "2", "requests.cpu": "2", "limits.memory": "2Gi", "services": "2", "services.nodeports": "1",
		"count/deployments.apps": "1", "configmaps": fmt.Sprint(base + 1)})

	// A finished pod stops counting.
	p, _ := cl.CoreV1().Pods("default").Get(ctx, "p1", metav1.GetOptions{})
	p.Status.Phase = corev1.PodSucceeded
	if _, err := cl.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	want(map[string]string{"pods": "1", "requests.cpu": "500m", "limits.memory": "1Gi"})
}
