package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
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
	if err := retryBusy(ctx, func() error {
		_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: *ns}}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}); err != nil {
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
	var w, pw watch.Interface
	if err := retryBusy(ctx, func() (err error) {
		w, err = deps.Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", *name).String()})
		return err
	}); err != nil {
		return err
	}
	defer w.Stop()
	if err := retryBusy(ctx, func() (err error) {
		pw, err = cs.CoreV1().Pods(*ns).Watch(ctx, metav1.ListOptions{LabelSelector: "app=" + *name})
		return err
	}); err != nil {
		return err
	}
	defer pw.Stop()
	cpu0 := processCPU(*pid)
	start := time.Now()
	phases := watchPhases(pw, start)
	retried := false
	if err := retryBusy(ctx, func() error {
		_, err := deps.Create(ctx, d, metav1.CreateOptions{})
		if retried && apierrors.IsAlreadyExists(err) {
			return nil // the timed-out attempt went through
		}
		retried = true
		return err
	}); err != nil {
		return err
	}
	for ev := range w.ResultChan() {
		if ev.Type == watch.Error {
			return fmt.Errorf("watch: %v", apierrors.FromObject(ev.Object))
		}
		got, ok := ev.Object.(*appsv1.Deployment)
		if ok && got.Status.ReadyReplicas == int32(*replicas) {
			fmt.Printf("deployment of %d replicas: all Ready in %v\n", *replicas, time.Since(start).Round(time.Millisecond))
			p := phases()
			fmt.Printf("last pod created at %v, bound at %v, Ready at %v\n", p.created, p.bound, p.ready)
			if *pid > 0 {
				fmt.Printf("server CPU time during the run: %.1f s\n", (processCPU(*pid) - cpu0).Seconds())
				fmt.Printf("server peak RSS (VmHWM): %.1f MB\n", float64(processStatusKB(*pid, "VmHWM:"))/1024)
			}
			return nil
		}
	}
	return fmt.Errorf("not all %d replicas Ready within %v", *replicas, *timeout)
}

// retryBusy calls fn until it succeeds, fails for another reason than a
// busy server (timeouts, 429), or ctx ends: on a loaded machine a fresh
// server's first requests can time out.
func retryBusy(ctx context.Context, fn func() error) error {
	for {
		err := fn()
		if err == nil || !(apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) || apierrors.IsTooManyRequests(err)) {
			return err
		}
		fmt.Fprintf(os.Stderr, "retrying: %v\n", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Second):
		}
	}
}

// phaseTimes are when, since the Deployment's creation, the last of its
// pods was created, bound to a node and became Ready.
type phaseTimes struct{ created, bound, ready time.Duration }

// watchPhases follows the pods' watch in the background; the function it
// returns reads the times so far.
func watchPhases(w watch.Interface, start time.Time) func() phaseTimes {
	var mu sync.Mutex
	var p phaseTimes
	bound, ready := map[string]bool{}, map[string]bool{}
	go func() {
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			at := time.Since(start).Round(time.Millisecond)
			mu.Lock()
			if ev.Type == watch.Added {
				p.created = at
			}
			if pod.Spec.NodeName != "" && !bound[pod.Name] {
				bound[pod.Name], p.bound = true, at
			}
			if podReady(pod) && !ready[pod.Name] {
				ready[pod.Name], p.ready = true, at
			}
			mu.Unlock()
		}
	}()
	return func() phaseTimes {
		mu.Lock()
		defer mu.Unlock()
		return p
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// processCPU is the user and system CPU time pid has used, from
// /proc/<pid>/stat (fields 14 and 15, in clock ticks of 1/100 s).
func processCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces: count from its ")".
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0
	}
	var utime, stime int64
	fmt.Sscan(fields[11], &utime)
	fmt.Sscan(fields[12], &stime)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
