package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// TestControllers drives the controllers and the scheduler with the real
// kubectl on three simulated nodes (pods go Running at once, containers
// never exit), as a user does: rollouts, replacement, ordered
// StatefulSets, DaemonSets, CronJobs, cordon and drain with a disruption
// budget, an unschedulable pod, cascading deletion.
func TestControllers(t *testing.T) {
	s := startServer(t, "--node-name", "ctl", "--simulate-nodes", "3")
	nodes := []string{"ctl-sim-0", "ctl-sim-1", "ctl-sim-2"}
	for _, n := range nodes {
		s.waitNodeReady(n)
	}
	c := &cluster{s: s, cs: s.clientset()}
	// The CronJob fires at the next minute; the other checks run while
	// it waits.
	c.k(t, "", "create", "cronjob", "tick", "--image=busybox", "--schedule=* * * * *", "--", "echo", "tick")
	t.Run("DeploymentRolloutUndo", c.testRollout)
	t.Run("DeletedPodReplaced", c.testPodReplaced)
	t.Run("StatefulSetOrdered", c.testStatefulSet)
	t.Run("DaemonSetOnePodPerNode", func(t *testing.T) { c.testDaemonSet(t, nodes) })
	t.Run("PodTooLarge", c.testTooLarge)
	t.Run("CordonDrain", c.testCordonDrain)
	t.Run("DeleteDeploymentCascades", c.testDeleteDeployment)
	t.Run("CronJobFires", c.testCronJob)
}

// cluster is a server under test with its client.
type cluster struct {
	s  *server
	cs kubernetes.Interface
}

// k runs kubectl and fails t on error.
func (c *cluster) k(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := c.s.kubectl(stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// poll calls cond until it is true, failing after a minute with what and
// cond's last description of the state.
func poll(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	var last string
	for time.Now().Before(deadline) {
		var ok bool
		if ok, last = cond(); ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not happen; last: %s", what, last)
}

// livePods are the pods matching selector that are not being deleted.
func (c *cluster) livePods(t *testing.T, selector string) []corev1.Pod {
	t.Helper()
	list, err := c.cs.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatalf("list pods %s: %v", selector, err)
	}
	var pods []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			pods = append(pods, p)
		}
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	return pods
}

// waitRunning waits until exactly n live pods match selector, all Ready
// and accepted by ok, and returns them.
func (c *cluster) waitRunning(t *testing.T, selector string, n int, ok func(corev1.Pod) bool) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	poll(t, fmt.Sprintf("%d ready pods %s", n, selector), func() (bool, string) {
		pods = c.livePods(t, selector)
		var desc []string
		good := len(pods) == n
		for _, p := range pods {
			desc = append(desc, fmt.Sprintf("%s on %q %s ready=%v image=%s", p.Name, p.Spec.NodeName, p.Status.Phase, podReady(&p), p.Spec.Containers[0].Image))
			if !podReady(&p) || (ok != nil && !ok(p)) {
				good = false
			}
		}
		return good, strings.Join(desc, "; ")
	})
	return pods
}

func image(img string) func(corev1.Pod) bool {
	return func(p corev1.Pod) bool { return p.Spec.Containers[0].Image == img }
}

func (c *cluster) testRollout(t *testing.T) {
	c.k(t, "", "create", "deployment", "web", "--image=nginx:1.0", "--replicas=2")
	c.k(t, "", "rollout", "status", "deployment/web", "--timeout=60s")
	c.waitRunning(t, "app=web", 2, image("nginx:1.0"))

	c.k(t, "", "scale", "deployment/web", "--replicas=4")
	c.k(t, "", "rollout", "status", "deployment/web", "--timeout=60s")
	c.waitRunning(t, "app=web", 4, image("nginx:1.0"))

	c.k(t, "", "set", "image", "deployment/web", "nginx=nginx:2.0")
	c.k(t, "", "rollout", "status", "deployment/web", "--timeout=60s")
	c.waitRunning(t, "app=web", 4, image("nginx:2.0"))
	if got, want := revisions(c.k(t, "", "rollout", "history", "deployment/web")), []string{"1", "2"}; !slices.Equal(got, want) {
		t.Errorf("rollout history revisions after set image = %v, want %v", got, want)
	}

	c.k(t, "", "rollout", "undo", "deployment/web")
	c.k(t, "", "rollout", "status", "deployment/web", "--timeout=60s")
	c.waitRunning(t, "app=web", 4, image("nginx:1.0"))
	if got := c.k(t, "", "get", "deployment/web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"); got != "nginx:1.0" {
		t.Errorf("image after rollout undo = %q, want nginx:1.0", got)
	}
	// Undo to revision 1 makes its template revision 3 (upstream
	// renumbers it rather than keeping two entries).
	if got, want := revisions(c.k(t, "", "rollout", "history", "deployment/web")), []string{"2", "3"}; !slices.Equal(got, want) {
		t.Errorf("rollout history revisions after undo = %v, want %v", got, want)
	}
	if out := c.k(t, "", "rollout", "history", "deployment/web", "--revision=3"); !strings.Contains(out, "nginx:1.0") {
		t.Errorf("rollout history --revision=3 does not show nginx:1.0:\n%s", out)
	}
	// Two ReplicaSets: the one scaled back up and the 2.0 one at zero.
	rss := c.k(t, "", "get", "rs", "-l", "app=web", "-o", "jsonpath={range .items[*]}{.spec.template.spec.containers[0].image}={.spec.replicas} {end}")
	if got := strings.Fields(rss); !slices.Equal(sorted(got), []string{"nginx:1.0=4", "nginx:2.0=0"}) {
		t.Errorf("ReplicaSets after undo = %v, want nginx:1.0=4 and nginx:2.0=0", got)
	}
}

// revisions are the REVISION column of kubectl rollout history.
func revisions(out string) []string {
	var revs []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] != "REVISION" && !strings.Contains(f[0], "/") {
			revs = append(revs, f[0])
		}
	}
	return revs
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func (c *cluster) testPodReplaced(t *testing.T) {
	before := c.waitRunning(t, "app=web", 4, nil)
	victim := before[0]
	c.k(t, "", "delete", "pod", victim.Name)
	after := c.waitRunning(t, "app=web", 4, func(p corev1.Pod) bool { return p.UID != victim.UID })
	if slices.ContainsFunc(after, func(p corev1.Pod) bool { return p.Name == victim.Name }) {
		t.Errorf("deleted pod %s is still listed: %v", victim.Name, after)
	}
}

const statefulSet = `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  clusterIP: None
  selector:
    app: sts
  ports:
  - port: 80
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  replicas: 3
  selector:
    matchLabels:
      app: sts
  template:
    metadata:
      labels:
        app: sts
    spec:
      containers:
      - name: c
        image: nginx
`

func (c *cluster) testStatefulSet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	pods := c.cs.CoreV1().Pods("default")
	list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: "app=sts"})
	if err != nil {
		t.Fatal(err)
	}
	w, err := pods.Watch(ctx, metav1.ListOptions{LabelSelector: "app=sts", ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	c.k(t, statefulSet, "apply", "-f", "-")

	// OrderedReady: web-N is created only once web-0..web-N-1 are Ready,
	// in the order the watch delivers the changes.
	ready := map[string]bool{}
	var created []string
	for len(ready) < 3 {
		var ev watch.Event
		select {
		case ev = <-w.ResultChan():
		case <-ctx.Done():
			t.Fatalf("StatefulSet pods: created %v, ready %v", created, ready)
		}
		pod, ok := ev.Object.(*corev1.Pod)
		if !ok {
			t.Fatalf("watch event %s: %v", ev.Type, ev.Object)
		}
		if ev.Type == watch.Added {
			created = append(created, pod.Name)
			var ord int
			if _, err := fmt.Sscanf(pod.Name, "web-%d", &ord); err != nil {
				t.Fatalf("StatefulSet pod name %q is not web-<ordinal>", pod.Name)
			}
			for i := range ord {
				if !ready[fmt.Sprintf("web-%d", i)] {
					t.Errorf("%s was created before web-%d was Ready", pod.Name, i)
				}
			}
		}
		if podReady(pod) {
			ready[pod.Name] = true
		}
	}
	if want := []string{"web-0", "web-1", "web-2"}; !slices.Equal(created, want) {
		t.Errorf("StatefulSet pods created in order %v, want %v", created, want)
	}

	// A deleted member comes back under the same name.
	old, err := pods.Get(ctx, "web-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.k(t, "", "delete", "pod", "web-1")
	got := c.waitRunning(t, "app=sts", 3, nil)
	var names []string
	for _, p := range got {
		names = append(names, p.Name)
		if p.Name == "web-1" && p.UID == old.UID {
			t.Errorf("web-1 was not recreated (same UID %s)", p.UID)
		}
	}
	if want := []string{"web-0", "web-1", "web-2"}; !slices.Equal(names, want) {
		t.Errorf("StatefulSet pods after deleting web-1 = %v, want %v", names, want)
	}
	c.k(t, "", "delete", "statefulset/web", "service/web")
}

const daemonSet = `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels:
      app: ds
  template:
    metadata:
      labels:
        app: ds
    spec:
      containers:
      - name: c
        image: nginx
`

func (c *cluster) testDaemonSet(t *testing.T, nodes []string) {
	c.k(t, daemonSet, "apply", "-f", "-")
	c.k(t, "", "rollout", "status", "daemonset/agent", "--timeout=60s")
	pods := c.waitRunning(t, "app=ds", len(nodes), nil)
	var on []string
	for _, p := range pods {
		on = append(on, p.Spec.NodeName)
	}
	if got := sorted(on); !slices.Equal(got, nodes) {
		t.Errorf("DaemonSet pods are on %v, want one on each of %v", got, nodes)
	}
	// It stays for the drain, which must leave it alone.
}

const bigPod = `apiVersion: v1
kind: Pod
metadata:
  name: big
spec:
  containers:
  - name: c
    image: nginx
    resources:
      requests:
        cpu: "1000"
`

func (c *cluster) testTooLarge(t *testing.T) {
	c.k(t, bigPod, "apply", "-f", "-")
	// Upstream's scheduler message: the request exceeds every node's
	// allocatable outright, so preemption is not tried (a shortfall that
	// evicting pods could cover says "No preemption victims found").
	const want = "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
	var out string
	poll(t, "FailedScheduling event on pod big", func() (bool, string) {
		out = c.k(t, "", "describe", "pod", "big")
		return strings.Contains(out, "FailedScheduling") && strings.Contains(out, want), out
	})
	if phase := c.k(t, "", "get", "pod", "big", "-o", "jsonpath={.status.phase}"); phase != "Pending" {
		t.Errorf("pod big is %s, want Pending", phase)
	}
	c.k(t, "", "delete", "pod", "big")
}

const guarded = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: guarded
spec:
  replicas: 1
  selector:
    matchLabels:
      app: guarded
  template:
    metadata:
      labels:
        app: guarded
    spec:
      nodeSelector:
        kubernetes.io/hostname: ctl-sim-1
      containers:
      - name: c
        image: nginx
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: guarded
spec:
  minAvailable: 1
  selector:
    matchLabels:
      app: guarded
`

func (c *cluster) testCordonDrain(t *testing.T) {
	c.k(t, "", "cordon", "ctl-sim-0")
	if got := c.k(t, "", "get", "node", "ctl-sim-0", "-o", "jsonpath={.spec.unschedulable}"); got != "true" {
		t.Fatalf("cordoned node spec.unschedulable = %q, want true", got)
	}
	if out := c.k(t, "", "get", "node", "ctl-sim-0"); !strings.Contains(out, "Ready,SchedulingDisabled") {
		t.Errorf("kubectl get node does not show SchedulingDisabled:\n%s", out)
	}
	c.k(t, "", "create", "deployment", "spread", "--image=nginx", "--replicas=6")
	c.k(t, "", "rollout", "status", "deployment/spread", "--timeout=60s")
	pods := c.waitRunning(t, "app=spread", 6, nil)
	onSim1 := 0
	for _, p := range pods {
		if p.Spec.NodeName == "ctl-sim-0" {
			t.Errorf("pod %s was scheduled on the cordoned node", p.Name)
		}
		if p.Spec.NodeName == "ctl-sim-1" {
			onSim1++
		}
	}
	c.k(t, "", "uncordon", "ctl-sim-0")
	if onSim1 == 0 {
		t.Fatalf("no spread pod on ctl-sim-1 to drain: %v", pods)
	}

	// The budget keeps the only guarded pod: drain evicts the others and
	// keeps retrying that one until its timeout.
	c.k(t, guarded, "apply", "-f", "-")
	c.waitRunning(t, "app=guarded", 1, nil)
	poll(t, "PDB guarded observed", func() (bool, string) {
		out := c.k(t, "", "get", "pdb", "guarded", "-o", "jsonpath={.status.observedGeneration} {.status.currentHealthy}")
		return out == "1 1", out
	})
	out, errOut, err := c.s.kubectl("", "drain", "ctl-sim-1", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=12s")
	if err == nil {
		t.Fatalf("drain with a blocking budget succeeded:\n%s\n%s", out, errOut)
	}
	if msg := "Cannot evict pod as it would violate the pod's disruption budget."; !strings.Contains(errOut, msg) {
		t.Errorf("drain stderr lacks %q:\n%s", msg, errOut)
	}
	if got := c.k(t, "", "get", "node", "ctl-sim-1", "-o", "jsonpath={.spec.unschedulable}"); got != "true" {
		t.Errorf("drained node spec.unschedulable = %q, want true", got)
	}
	// The evicted pods are recreated elsewhere; the DaemonSet's stays;
	// the guarded one stays.
	c.waitRunning(t, "app=spread", 6, func(p corev1.Pod) bool { return p.Spec.NodeName != "ctl-sim-1" })
	c.waitRunning(t, "app=ds", 3, nil)
	c.waitRunning(t, "app=guarded", 1, func(p corev1.Pod) bool { return p.Spec.NodeName == "ctl-sim-1" })

	// Without the budget the drain completes.
	c.k(t, "", "delete", "pdb", "guarded")
	out = c.k(t, "", "drain", "ctl-sim-1", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=30s")
	if !strings.Contains(out, "node/ctl-sim-1 drained") {
		t.Errorf("drain output lacks node/ctl-sim-1 drained:\n%s", out)
	}
	if got := c.livePods(t, "app=guarded"); len(got) != 1 || got[0].Spec.NodeName != "" {
		t.Errorf("guarded pod after drain: %v, want one Pending (its node is cordoned)", got)
	}
	c.k(t, "", "uncordon", "ctl-sim-1")
	c.waitRunning(t, "app=guarded", 1, nil)
	c.k(t, "", "delete", "deployment", "spread", "guarded")
}

func (c *cluster) testDeleteDeployment(t *testing.T) {
	c.waitRunning(t, "app=web", 4, nil)
	c.k(t, "", "delete", "deployment", "web")
	poll(t, "web's ReplicaSets and pods removed", func() (bool, string) {
		out := c.k(t, "", "get", "rs,pods", "-l", "app=web", "-o", "name")
		return strings.TrimSpace(out) == "", out
	})
}

func (c *cluster) testCronJob(t *testing.T) {
	// A manual run first: upstream marks it and names the CronJob its owner.
	c.k(t, "", "create", "job", "tick-manual", "--from=cronjob/tick")
	if got := c.k(t, "", "get", "job", "tick-manual", "-o", `jsonpath={.metadata.annotations.cronjob\.kubernetes\.io/instantiate} {.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}`); got != "manual CronJob/tick" {
		t.Errorf("job from cronjob: annotation and owner = %q, want manual CronJob/tick", got)
	}
	c.waitRunning(t, "job-name=tick-manual", 1, nil)

	// The schedule fires within a minute of the CronJob's creation.
	deadline := time.Now().Add(75 * time.Second)
	for {
		out := c.k(t, "", "get", "jobs", "-o", `jsonpath={range .items[?(@.metadata.ownerReferences[0].name=="tick")]}{.metadata.name} {.metadata.annotations.cronjob\.kubernetes\.io/instantiate}{"\n"}{end}`)
		var scheduled string
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) == 1 && strings.HasPrefix(f[0], "tick-") {
				scheduled = f[0]
			}
		}
		if scheduled != "" {
			c.waitRunning(t, "job-name="+scheduled, 1, nil)
			if last := c.k(t, "", "get", "cronjob", "tick", "-o", "jsonpath={.status.lastScheduleTime}"); last == "" {
				t.Errorf("CronJob tick fired %s but has no status.lastScheduleTime", scheduled)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CronJob tick did not fire; jobs:\n%s\n%s", out, c.k(t, "", "describe", "cronjob", "tick"))
		}
		time.Sleep(time.Second)
	}
	c.k(t, "", "delete", "cronjob", "tick")
	poll(t, "tick's Jobs removed with the CronJob", func() (bool, string) {
		out := c.k(t, "", "get", "jobs", "-o", "name")
		return strings.TrimSpace(out) == "", out
	})
}

const completions = `apiVersion: batch/v1
kind: Job
metadata:
  name: done
spec:
  completions: 2
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: skiff.test/busybox:1
        command: ["sh", "-c", "echo done"]
`

// TestJobCompletes runs a Job to completion on a real node: simulated
// containers never exit.
func TestJobCompletes(t *testing.T) {
	s := startServerWithAgent(t)
	c := &cluster{s: s, cs: s.clientset()}
	c.k(t, completions, "apply", "-f", "-")
	c.k(t, "", "wait", "--for=condition=complete", "job/done", "--timeout=90s")
	if got := c.k(t, "", "get", "job", "done", "-o", "jsonpath={.status.succeeded}"); got != "2" {
		t.Errorf("job done succeeded = %q, want 2", got)
	}
	if got := c.k(t, "", "logs", "job/done"); strings.TrimSpace(got) != "done" {
		t.Errorf("kubectl logs job/done = %q, want done", got)
	}
	c.k(t, "", "delete", "job", "done")
}

const tolerant = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: tolerant
spec:
  replicas: 3
  selector:
    matchLabels:
      app: tolerant
  template:
    metadata:
      labels:
        app: tolerant
    spec:
      tolerations:
      - key: node.kubernetes.io/not-ready
        operator: Exists
        effect: NoExecute
        tolerationSeconds: 5
      - key: node.kubernetes.io/unreachable
        operator: Exists
        effect: NoExecute
        tolerationSeconds: 5
      containers:
      - name: c
        image: nginx
`

// TestStoppedAgentPodsMove stops a node's agent: the node goes NotReady
// (Unknown) after the node monitor's grace period and its pods are
// evicted once their tolerations run out and recreated on other nodes.
func TestStoppedAgentPodsMove(t *testing.T) {
	// A 20 s grace period instead of upstream's 50 s: the node goes
	// Unknown within the deadline below only if the flag reaches the node
	// lifecycle controller. Its Lease is renewed every 10 s, so a live
	// node stays Ready.
	s := startServer(t, "--node-name", "stay", "--simulate-nodes", "2", "--node-monitor-grace-period", "20s")
	s.waitNodeReady("stay-sim-0")
	s.waitNodeReady("stay-sim-1")
	c := &cluster{s: s, cs: s.clientset()}

	agent := exec.Command(skiffBin, "agent", "--simulate", "1", "--node-name", "lonely",
		"--kubeconfig", s.kubeconfig, "--server-data-dir", s.dataDir, "--data-dir", t.TempDir())
	var logs strings.Builder
	agent.Stdout, agent.Stderr = &logs, &logs
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = agent.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = agent.Process.Signal(syscall.SIGKILL)
		<-done
		if t.Failed() {
			t.Logf("skiff agent logs:\n%s", logs.String())
		}
	})
	s.waitNodeReady("lonely-sim-0")

	// Only lonely-sim-0 takes the pods.
	c.k(t, "", "cordon", "stay-sim-0", "stay-sim-1")
	c.k(t, tolerant, "apply", "-f", "-")
	c.waitRunning(t, "app=tolerant", 3, func(p corev1.Pod) bool { return p.Spec.NodeName == "lonely-sim-0" })
	c.k(t, "", "uncordon", "stay-sim-0", "stay-sim-1")

	if err := agent.Process.Signal(os.Kill); err != nil {
		t.Fatal(err)
	}
	<-done
	// 20 s of grace, and the monitor looks every 5 s.
	deadline := time.Now().Add(45 * time.Second)
	for {
		out := c.k(t, "", "get", "node", "lonely-sim-0", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		if out == "Unknown" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node lonely-sim-0 Ready = %q after its agent stopped, want Unknown", out)
		}
		time.Sleep(time.Second)
	}
	if out := c.k(t, "", "get", "node", "lonely-sim-0"); !strings.Contains(out, "NotReady") {
		t.Errorf("kubectl get node does not show NotReady:\n%s", out)
	}
	c.waitRunning(t, "app=tolerant", 3, func(p corev1.Pod) bool { return strings.HasPrefix(p.Spec.NodeName, "stay-sim-") })
}
