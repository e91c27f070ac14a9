package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// deploy applies a Deployment of -replicas pods and reports the time until
// all are Ready (the Deployment's status.readyReplicas), and the server's
// peak RSS when -pid is given: the issue 4 figures, on simulated nodes
// (`skiff server --simulate-nodes N`).
func deploy(args []string) error {
	fs := flag.NewFlagSet("deploy", flag.ExitOnError)
	kc := fs.String("kubeconfig", "", "kubeconfig")
	replicas := fs.Int("replicas", 1000, "replicas")
	ns := fs.String("namespace", "load", "namespace (created if missing)")
	name := fs.String("name", "scale", "deployment name")
	pid := fs.Int("pid", 0, "server process id, for its peak RSS")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after")
	_ = fs.Parse(args)
	cfg, err := config(*kc)
	if err != nil {
		return err
	}
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: *ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	labels := map[string]string{"app": *name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: *name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(*replicas)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "c", Image: "registry.local/busybox:1.36", Command: []string{"sleep", "3600"},
				}}},
			},
		},
	}
	deps := cs.AppsV1().Deployments(*ns)
	w, err := deps.Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", *name).String()})
	if err != nil {
		return err
	}
	defer w.Stop()
	start := time.Now()
	if _, err := deps.Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return err
	}
	for ev := range w.ResultChan() {
		if ev.Type == watch.Error {
			return fmt.Errorf("watch: %v", apierrors.FromObject(ev.Object))
		}
		got, ok := ev.Object.(*appsv1.Deployment)
		if ok && got.Status.ReadyReplicas == int32(*replicas) {
			fmt.Printf("deployment of %d replicas: all Ready in %v\n", *replicas, time.Since(start).Round(time.Millisecond))
			if *pid > 0 {
				fmt.Printf("server peak RSS (VmHWM): %.1f MB\n", float64(processStatusKB(*pid, "VmHWM:"))/1024)
			}
			return nil
		}
	}
	return fmt.Errorf("not all %d replicas Ready within %v", *replicas, *timeout)
}
