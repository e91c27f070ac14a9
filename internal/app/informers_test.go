package app

import (
	"context"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"

	"skiff.dev/skiff/internal/testserver"
)

// podNames records the pods a handler saw added.
type podNames struct {
	mu    sync.Mutex
	names map[string]bool
}

func (p *podNames) OnAdd(obj any, _ bool) {
	if pod, ok := obj.(*corev1.Pod); ok {
		p.mu.Lock()
		p.names[pod.Name] = true
		p.mu.Unlock()
	}
}
func (p *podNames) OnUpdate(_, _ any) {}
func (p *podNames) OnDelete(any)      {}

func (p *podNames) has(name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.names[name]
}

// term is one component's leadership term on the shared pods: its own
// factory, a handler, and a stop.
type term struct {
	factory informers.SharedInformerFactory
	seen    *podNames
	stop    context.CancelFunc
}

func startTerm(t *testing.T, client kubernetes.Interface, pods *sharedPods) *term {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tm := &term{factory: newInformerFactory(client), seen: &podNames{names: map[string]bool{}}, stop: cancel}
	pods.attach(tm.factory)
	inf := tm.factory.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(tm.seen); err != nil {
		t.Fatal(err)
	}
	// What nodelifecycle does every term.
	if err := inf.AddIndexers(toolscache.Indexers{"byNode": func(obj any) ([]string, error) {
		return []string{obj.(*corev1.Pod).Spec.NodeName}, nil
	}}); err != nil {
		t.Fatalf("indexer again in a new term: %v", err)
	}
	tm.factory.Start(ctx.Done())
	for typ, ok := range tm.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			t.Fatalf("%v not synced", typ)
		}
	}
	t.Cleanup(func() { cancel(); tm.factory.Shutdown() })
	return tm
}

func createTestPod(t *testing.T, c kubernetes.Interface, name string) {
	t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if _, err := c.CoreV1().Pods("default").Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func waitSeen(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// The scheduler and the controller manager each see every pod through
// their own factory, from one cache; a term that ends stops receiving,
// and a later term starts with every pod already delivered.
func TestSharedPodsServeEveryComponentFromOneCache(t *testing.T) {
	srv := testserver.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	pods := newSharedPodsFor(ctx, srv.Client)
	createTestPod(t, srv.Client, "before")

	scheduler := startTerm(t, srv.Client, pods)
	controllers := startTerm(t, srv.Client, pods)
	for name, tm := range map[string]*term{"scheduler": scheduler, "controllers": controllers} {
		if !tm.seen.has("before") {
			t.Fatalf("%s synced without its handler receiving the existing pod", name)
		}
	}
	if a, b := scheduler.factory.Core().V1().Pods().Informer().GetIndexer(), controllers.factory.Core().V1().Pods().Informer().GetIndexer(); a != b {
		t.Fatal("two pod caches: the factories do not share the pod informer")
	}
	if lister := controllers.factory.Core().V1().Pods().Lister(); lister == nil {
		t.Fatal("no lister")
	} else if _, err := lister.Pods("default").Get("before"); err != nil {
		t.Fatalf("lister of the shared cache: %v", err)
	}

	createTestPod(t, srv.Client, "while-both")
	waitSeen(t, "both components see the new pod", func() bool {
		return scheduler.seen.has("while-both") && controllers.seen.has("while-both")
	})

	// The scheduler loses its lease; the controllers keep theirs.
	scheduler.stop()
	scheduler.factory.Shutdown()
	createTestPod(t, srv.Client, "after-scheduler")
	waitSeen(t, "the controllers see a pod created after the scheduler's term", func() bool { return controllers.seen.has("after-scheduler") })
	if scheduler.seen.has("after-scheduler") {
		t.Fatal("a handler of an ended term still receives pods")
	}

	// The next scheduler term starts from the shared cache.
	next := startTerm(t, srv.Client, pods)
	for _, name := range []string{"before", "while-both", "after-scheduler"} {
		if !next.seen.has(name) {
			t.Fatalf("new term synced without pod %s", name)
		}
	}
	if n := len(next.factory.Core().V1().Pods().Informer().GetStore().List()); n != 3 {
		t.Fatalf("shared cache holds %d pods, want 3", n)
	}
}
