package main

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// pods creates -n pods bound to -node (spec.nodeName set, so the
// scheduler is not part of the figure) all at once and reports, per pod,
// the time from its create call to the watch event that shows it Ready:
// p50, p99 and max, and the time until all are Ready. The image must be
// on the node already. With -pid, the RSS of that process (the agent, or
// the server that runs it) once all are Ready. The pods are deleted at
// the end unless -keep.
func pods(args []string) error {
	fs := flag.NewFlagSet("pods", flag.ExitOnError)
	kc := fs.String("kubeconfig", "", "kubeconfig")
	n := fs.Int("n", 30, "pods")
	node := fs.String("node", "", "node to bind the pods to")
	ns := fs.String("namespace", "load-pods", "namespace (created if missing)")
	image := fs.String("image", "skiff.test/busybox:1", "image, present on the node")
	pid := fs.Int("pid", 0, "process id whose RSS to report once all are Ready")
	keep := fs.Bool("keep", false, "leave the pods running")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after")
	_ = fs.Parse(args)
	if *node == "" || *n < 1 {
		return fmt.Errorf("-node and -n of at least 1 are required")
	}
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
	client := cs.CoreV1().Pods(*ns)
	w, err := client.Watch(ctx, metav1.ListOptions{LabelSelector: "app=load-pods"})
	if err != nil {
		return err
	}
	defer w.Stop()

	created := make([]time.Time, *n)
	var wg sync.WaitGroup
	errs := make(chan error, *n)
	start := time.Now()
	for i := range *n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d", i), Labels: map[string]string{"app": "load-pods"}},
				Spec: corev1.PodSpec{
					NodeName:                      *node,
					TerminationGracePeriodSeconds: ptr.To(int64(0)),
					Containers: []corev1.Container{{
						Name: "c", Image: *image, Command: []string{"sleep", "3600"},
						ImagePullPolicy: corev1.PullIfNotPresent,
					}},
				},
			}
			created[i] = time.Now()
			if _, err := client.Create(ctx, p, metav1.CreateOptions{}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return fmt.Errorf("create: %w", err)
	}

	readyAt := map[string]time.Time{}
	for len(readyAt) < *n {
		var ev watch.Event
		var ok bool
		select {
		case ev, ok = <-w.ResultChan():
		case <-ctx.Done():
			return fmt.Errorf("%d of %d pods Ready within %v", len(readyAt), *n, *timeout)
		}
		if !ok {
			return fmt.Errorf("watch closed with %d of %d pods Ready", len(readyAt), *n)
		}
		p, isPod := ev.Object.(*corev1.Pod)
		if !isPod {
			continue
		}
		if _, seen := readyAt[p.Name]; !seen && isReady(p) {
			readyAt[p.Name] = time.Now()
		}
	}
	total := time.Since(start)
	var lat []time.Duration
	for i := range *n {
		lat = append(lat, readyAt[fmt.Sprintf("p%d", i)].Sub(created[i]))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(f float64) time.Duration { return lat[int(f*float64(len(lat)-1)+0.5)].Round(time.Millisecond) }
	fmt.Printf("%d pods on %s, create to Ready: p50 %v, p99 %v, max %v; all Ready in %v\n", *n, *node, q(0.5), q(0.99), lat[len(lat)-1].Round(time.Millisecond), total.Round(time.Millisecond))
	if *pid > 0 {
		fmt.Printf("RSS of %d with %d pods: %.1f MB (peak %.1f MB)\n", *pid, *n, float64(processRSS(*pid))/1024, float64(processStatusKB(*pid, "VmHWM:"))/1024)
	}
	if *keep {
		return nil
	}
	return deletePods(ctx, cs, *ns)
}

// deletePods deletes the load pods and waits until they are gone, so the
// next run starts on an empty node.
func deletePods(ctx context.Context, cs kubernetes.Interface, ns string) error {
	sel := metav1.ListOptions{LabelSelector: "app=load-pods"}
	if err := cs.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, sel); err != nil {
		return fmt.Errorf("delete pods: %w", err)
	}
	for {
		list, err := cs.CoreV1().Pods(ns).List(ctx, sel)
		if err != nil {
			return err
		}
		if len(list.Items) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d pods not gone: %w", len(list.Items), ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// nodes waits until -n nodes whose names start with -prefix are Ready
// (e.g. those of `skiff agent --simulate N`) and reports the time it
// took from the start of this command and the RSS of -pid then and,
// -settle later (heartbeats and leases keep running), its peak.
func nodes(args []string) error {
	fs := flag.NewFlagSet("nodes", flag.ExitOnError)
	kc := fs.String("kubeconfig", "", "kubeconfig")
	n := fs.Int("n", 1000, "nodes")
	prefix := fs.String("prefix", "", "node name prefix")
	pid := fs.Int("pid", 0, "process id whose peak RSS to report")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after")
	settle := fs.Duration("settle", time.Minute, "how long to keep watching -pid's RSS after all are Ready")
	_ = fs.Parse(args)
	cfg, err := config(*kc)
	if err != nil {
		return err
	}
	cs := kubernetes.NewForConfigOrDie(cfg)
	start := time.Now()
	ready := 0
	for time.Since(start) < *timeout {
		list, err := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			return err
		}
		ready = 0
		for _, node := range list.Items {
			if !strings.HasPrefix(node.Name, *prefix) {
				continue
			}
			for _, c := range node.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		if ready >= *n {
			fmt.Printf("%d nodes %s* Ready after %v\n", ready, *prefix, time.Since(start).Round(time.Millisecond))
			if *pid > 0 {
				fmt.Printf("RSS of %d when all Ready: %.1f MB (peak VmHWM %.1f MB)\n", *pid, float64(processRSS(*pid))/1024, float64(processStatusKB(*pid, "VmHWM:"))/1024)
				time.Sleep(*settle)
				fmt.Printf("RSS of %d %v later: %.1f MB (peak VmHWM %.1f MB)\n", *pid, *settle, float64(processRSS(*pid))/1024, float64(processStatusKB(*pid, "VmHWM:"))/1024)
			}
			return nil
		}
		time.Sleep(time.Second)
	}
	return fmt.Errorf("%d of %d nodes Ready within %v", ready, *n, *timeout)
}
