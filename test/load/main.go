// Command load measures the API server figures BENCHMARKS.md records:
// start-up time to /readyz, idle RSS, pod creates per second with
// concurrent clients, listing pods from the cache, watch fan-out latency,
// and RSS with many pods stored. It talks to a server like any client
// (through a kubeconfig) and sends traffic to that server only.
//
//	go run ./test/load startup -skiff bin/skiff
//	go run ./test/load creates -kubeconfig /tmp/skiff/kubeconfig -n 10000 -clients 16
//	go run ./test/load list -kubeconfig ... -runs 10
//	go run ./test/load watch -kubeconfig ... -watchers 1000 -events 200
//	go run ./test/load deploy -kubeconfig ... -replicas 1000 -pid PID
//	go run ./test/load pods -kubeconfig ... -n 30 -node NODE -pid PID
//	go run ./test/load nodes -kubeconfig ... -n 1000 -prefix NODE-sim- -pid PID
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: load startup|creates|list|watch|rss|deploy|pods|nodes [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "startup":
		err = startup(os.Args[2:])
	case "creates":
		err = creates(os.Args[2:])
	case "list":
		err = list(os.Args[2:])
	case "watch":
		err = watchFanout(os.Args[2:])
	case "rss":
		err = rss(os.Args[2:])
	case "deploy":
		err = deploy(os.Args[2:])
	case "pods":
		err = pods(os.Args[2:])
	case "nodes":
		err = nodes(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func config(path string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 1e6, 1e6
	return cfg, nil
}

// startup starts `skiff server` on a fresh data directory and reports the
// time until /readyz answers 200, then the process's RSS at idle.
func startup(args []string) error {
	fs := flag.NewFlagSet("startup", flag.ExitOnError)
	bin := fs.String("skiff", "bin/skiff", "skiff binary")
	runs := fs.Int("runs", 5, "number of starts")
	port := fs.Int("port", 16443, "port")
	fresh := fs.Bool("fresh", false, "new data directory on every run (includes certificate generation)")
	_ = fs.Parse(args)
	dir, err := os.MkdirTemp("", "skiff-startup")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var times []time.Duration
	for i := 0; i < *runs; i++ {
		data := filepath.Join(dir, "data")
		if *fresh {
			data = filepath.Join(dir, fmt.Sprint("data", i))
		}
		start := time.Now()
		cmd := exec.Command(*bin, "server", "--data-dir", data, "--secure-port", fmt.Sprint(*port), "--bind-address", "127.0.0.1", "--disable-agent")
		if err := cmd.Start(); err != nil {
			return err
		}
		var ready time.Duration
		for time.Since(start) < 30*time.Second {
			if ok := readyz(filepath.Join(data, "kubeconfig")); ok {
				ready = time.Since(start)
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		time.Sleep(2 * time.Second) // let start-up garbage settle before reading RSS
		rssKB := processRSS(cmd.Process.Pid)
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if ready == 0 {
			return fmt.Errorf("server did not become ready")
		}
		times = append(times, ready)
		fmt.Printf("run %d: ready in %v, idle RSS %.1f MB\n", i, ready.Round(time.Millisecond), float64(rssKB)/1024)
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	fmt.Printf("start to /readyz: median %v, min %v, max %v\n", times[len(times)/2].Round(time.Millisecond), times[0].Round(time.Millisecond), times[len(times)-1].Round(time.Millisecond))
	return nil
}

func readyz(kubeconfig string) bool {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return false
	}
	c, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return false
	}
	c.Timeout = time.Second
	resp, err := c.Get(cfg.Host + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func processRSS(pid int) int64 { return processStatusKB(pid, "VmRSS:") }

// processStatusKB reads one kB figure (VmRSS:, VmHWM: ...) of
// /proc/PID/status.
func processStatusKB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field) {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, field)), "%d", &kb)
			return kb
		}
	}
	return 0
}

func rss(args []string) error {
	fs := flag.NewFlagSet("rss", flag.ExitOnError)
	pid := fs.Int("pid", 0, "process id")
	_ = fs.Parse(args)
	fmt.Printf("RSS of %d: %.1f MB (peak %.1f MB)\n", *pid, float64(processRSS(*pid))/1024, float64(processStatusKB(*pid, "VmHWM:"))/1024)
	return nil
}

func testPod(ns, name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "load"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "registry.local/busybox:1.36", Command: []string{"sleep", "3600"},
		}}},
	}
}

// creates creates n pods with the given number of concurrent clients (one
// HTTP/2 connection each) and reports the rate.
func creates(args []string) error {
	fs := flag.NewFlagSet("creates", flag.ExitOnError)
	kc := fs.String("kubeconfig", "", "kubeconfig")
	n := fs.Int("n", 10000, "pods to create")
	clients := fs.Int("clients", 16, "concurrent clients")
	ns := fs.String("namespace", "load", "namespace (created if missing)")
	_ = fs.Parse(args)
	cfg, err := config(*kc)
	if err != nil {
		return err
	}
	ctx := context.Background()
	admin := kubernetes.NewForConfigOrDie(cfg)
	_, _ = admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: *ns}}, metav1.CreateOptions{})
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	run := fmt.Sprint(time.Now().UnixNano() % 100000)
	start := time.Now()
	for c := 0; c < *clients; c++ {
		cs := kubernetes.NewForConfigOrDie(rest.CopyConfig(cfg)) // own connection
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(*n) {
					return
				}
				if _, err := cs.CoreV1().Pods(*ns).Create(ctx, testPod(*ns, fmt.Sprintf("p-%s-%d", run, i)), metav1.CreateOptions{}); err != nil {
					if failed.Add(1) == 1 {
						fmt.Fprintln(os.Stderr, "create:", err)
					}
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	fmt.Printf("%d pod creates with %d clients in %v: %.0f/s (%d failed)\n", *n, *clients, el.Round(time.Millisecond), float64(*n)/el.Seconds(), failed.Load())
	return nil
}

// list lists all pods (from the watch cache: resourceVersion=0 and a
// consistent read) and reports the time per list.
func list(args []string) error {
	fs := flag.NewFlagSet("list", flag.ExitOnError)
	kc := fs.String("kubeconfig", "", "kubeconfig")
	runs := fs.Int("runs", 10, "lists")
	rv := fs.String("rv", "", "resourceVersion (\"\" consistent, \"0\" any)")
	proto := fs.Bool("proto", false, "ask for protobuf instead of JSON")
	raw := fs.Bool("raw", false, "read the response body without decoding it (the server's and the wire's time only)")
	_ = fs.Parse(args)
	cfg, err := config(*kc)
	if err != nil {
		return err
	}
	cfg.ContentType = "application/json"
	if *proto {
		cfg.ContentType = "application/vnd.kubernetes.protobuf"
	}
	cs := kubernetes.NewForConfigOrDie(cfg)
	var times []time.Duration
	var count int
	for i := 0; i < *runs; i++ {
		start := time.Now()
		if *raw {
			req := cs.CoreV1().RESTClient().Get().Resource("pods").SetHeader("Accept", cfg.ContentType)
			if *rv != "" {
				req = req.Param("resourceVersion", *rv)
			}
			body, err := req.DoRaw(context.Background())
			if err != nil {
				return err
			}
			times = append(times, time.Since(start))
			count = -len(body) // reported as bytes below
			continue
		}
		l, err := cs.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{ResourceVersion: *rv})
		if err != nil {
			return err
		}
		times = append(times, time.Since(start))
		count = len(l.Items)
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	what := fmt.Sprintf("%d pods", count)
	if count < 0 {
		what = fmt.Sprintf("all pods undecoded (%d bytes)", -count)
	}
	fmt.Printf("list %s (rv=%q, %s): median %v, min %v, max %v\n", what, *rv, cfg.ContentType, times[len(times)/2].Round(time.Millisecond), times[0].Round(time.Millisecond), times[len(times)-1].Round(time.Millisecond))
	return nil
}

// watchFanout opens many watches on one resource, makes changes, and
// measures the delay from each write's acknowledgement to its delivery to
// every watcher.
func watchFanout(args []string) error {
	fs := flag.NewFlagSet("watch", flag.ExitOnError)
	kc := fs.String("kubeconfig", "", "kubeconfig")
	watchers := fs.Int("watchers", 1000, "concurrent watches")
	events := fs.Int("events", 100, "changes to make")
	conns := fs.Int("connections", 10, "HTTP/2 connections the watches share")
	_ = fs.Parse(args)
	cfg, err := config(*kc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	admin := kubernetes.NewForConfigOrDie(cfg)
	ns := "watch-load"
	_, _ = admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	cm, err := admin.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "w-"}}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	clients := make([]*kubernetes.Clientset, *conns)
	for i := range clients {
		clients[i] = kubernetes.NewForConfigOrDie(rest.CopyConfig(cfg))
	}
	var mu sync.Mutex
	sent := map[string]time.Time{} // resourceVersion → ack time
	var lat []time.Duration
	var wg sync.WaitGroup
	startRV := cm.ResourceVersion
	ready := make(chan struct{}, *watchers)
	for i := 0; i < *watchers; i++ {
		w, err := clients[i%*conns].CoreV1().ConfigMaps(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: startRV, FieldSelector: "metadata.name=" + cm.Name})
		if err != nil {
			return fmt.Errorf("watch %d: %w", i, err)
		}
		ready <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			got := 0
			for ev := range w.ResultChan() {
				m, ok := ev.Object.(*corev1.ConfigMap)
				if !ok {
					continue
				}
				now := time.Now()
				mu.Lock()
				if t, ok := sent[m.ResourceVersion]; ok {
					lat = append(lat, now.Sub(t))
				}
				mu.Unlock()
				if got++; got == *events {
					w.Stop()
				}
			}
		}()
	}
	for i := 0; i < *events; i++ {
		cm.Data = map[string]string{"i": fmt.Sprint(i)}
		mu.Lock() // hold until the ack time is recorded, so no delivery is missed
		before := time.Now()
		upd, err := admin.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{})
		if err != nil {
			mu.Unlock()
			return err
		}
		sent[upd.ResourceVersion] = before
		mu.Unlock()
		cm = upd
		time.Sleep(20 * time.Millisecond) // pace the writes: this measures delivery, not queueing
	}
	wg.Wait()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) == 0 {
		return fmt.Errorf("no events delivered")
	}
	pct := func(p float64) time.Duration { return lat[int(float64(len(lat)-1)*p)] }
	fmt.Printf("%d watchers x %d events = %d deliveries (write start → delivery): p50 %v, p99 %v, max %v\n",
		*watchers, *events, len(lat), pct(0.5).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
	return nil
}
