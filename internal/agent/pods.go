package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"skiff.dev/skiff/internal/agent/runtime"
)

const uidIndex = "uid"

// newPodInformer watches the pods bound to the node, indexed by UID.
func newPodInformer(client Client, nodeName string) cache.SharedIndexInformer {
	lw := cache.NewFilteredListWatchFromClient(client.CoreV1().RESTClient(), "pods", metav1.NamespaceAll, func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", nodeName).String()
	})
	return cache.NewSharedIndexInformer(lw, &corev1.Pod{}, 0, cache.Indexers{uidIndex: podUIDIndex})
}

func podUIDIndex(obj any) ([]string, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil
	}
	return []string{string(pod.UID)}, nil
}

// podChanged wakes the pod's worker (starting one if needed) on any
// informer event.
func (a *Agent) podChanged(ctx context.Context, obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	a.wake(ctx, pod.UID)
}

// podByUID is the API's current pod with uid, or nil once it is gone.
func (a *Agent) podByUID(uid types.UID) *corev1.Pod {
	objs, err := a.pods.GetIndexer().ByIndex(uidIndex, string(uid))
	if err != nil || len(objs) == 0 {
		return nil
	}
	pod, _ := objs[0].(*corev1.Pod)
	if pod == nil || pod.Spec.NodeName != a.cfg.NodeName {
		return nil // another node's, in a cache shared with it
	}
	return pod
}

// wake pokes uid's worker, starting it if there is none. A poke never
// blocks: a worker has at most one pending.
func (a *Agent) wake(ctx context.Context, uid types.UID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	w, ok := a.workers[uid]
	if !ok {
		w = newPodWorker(a, uid)
		a.workers[uid] = w
		a.wg.Go(func() { w.run(ctx) })
	}
	w.wokeAt.CompareAndSwap(0, time.Now().UnixNano())
	select {
	case w.poke <- struct{}{}:
	default:
	}
}

// retire removes w from the worker map unless a poke is pending; it
// reports whether w may exit.
func (a *Agent) retire(w *podWorker) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	select {
	case <-w.poke:
		// Someone wants it again: keep going. Put the poke back so the
		// worker's loop sees it.
		w.poke <- struct{}{}
		return false
	default:
	}
	delete(a.workers, w.uid)
	return true
}

// podLister is a runtime that lists one pod's sandboxes and containers
// (runtime.CRI: a label selector on LabelPodUID, as upstream's kubelet
// asks containerd). Without it each pod's sync would list the node's
// every sandbox and container, twice when it acts: quadratic in the
// node's pods for each round of resyncs.
type podLister interface {
	ListPodSandboxes(ctx context.Context, uid string) ([]*runtime.Sandbox, error)
	ListPodContainers(ctx context.Context, uid string) ([]*runtime.Container, error)
}

var _ podLister = (*runtime.CRI)(nil)

// runtimeState is everything the runtime has for a pod.
func (a *Agent) runtimeState(ctx context.Context, uid types.UID) ([]*runtime.Sandbox, []*runtime.Container, error) {
	listSandboxes, listContainers := a.rt.ListSandboxes, a.rt.ListContainers
	if pl, ok := a.rt.(podLister); ok {
		listSandboxes = func(ctx context.Context) ([]*runtime.Sandbox, error) { return pl.ListPodSandboxes(ctx, string(uid)) }
		listContainers = func(ctx context.Context) ([]*runtime.Container, error) { return pl.ListPodContainers(ctx, string(uid)) }
	}
	sbs, err := listSandboxes(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("list sandboxes: %w", err)
	}
	cs, err := listContainers(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("list containers: %w", err)
	}
	// Runtimes without podLister (the simulated one) list everything:
	// keep the pod's.
	sbs = slices.DeleteFunc(sbs, func(s *runtime.Sandbox) bool {
		return s.UID != string(uid) && s.Labels[runtime.LabelPodUID] != string(uid)
	})
	cs = slices.DeleteFunc(cs, func(c *runtime.Container) bool { return c.Labels[runtime.LabelPodUID] != string(uid) })
	// CRI lists sandboxes without their IPs (as upstream's kubelet, ask
	// each ready one for its status).
	for i, s := range sbs {
		if s.State == runtime.SandboxReady && s.IP == "" {
			full, err := a.rt.SandboxStatus(ctx, s.ID)
			if err != nil {
				return nil, nil, fmt.Errorf("sandbox status: %w", err)
			}
			sbs[i] = full
		}
	}
	// CRI lists containers without exit codes, reasons or times, which
	// the restart back-off and the container statuses need: ask for each
	// one's status, as upstream's kubelet does.
	for i, c := range cs {
		full, err := a.rt.ContainerStatus(ctx, c.ID)
		if errors.Is(err, runtime.ErrNotFound) {
			continue // removed meanwhile; the next relist drops it
		}
		if err != nil {
			return nil, nil, fmt.Errorf("container status: %w", err)
		}
		cs[i] = full
	}
	return sbs, cs, nil
}

// relist is the agent's pod lifecycle event generator: it polls the
// runtime and wakes the worker of every pod whose sandboxes or containers
// changed (a container exited, a sandbox died), and of pods the runtime
// has but the API does not (to clean them up). The first pass wakes a
// worker for everything the runtime holds: that is how a restarted agent
// adopts its running containers.
func (a *Agent) relist(ctx context.Context) {
	// Polling runs on real time whatever the agent's clock: it is how
	// changes are noticed, not part of any decision.
	t := time.NewTicker(a.cfg.RelistPeriod)
	defer t.Stop()
	last := map[string]string{}
	for {
		seen, err := a.fingerprints(ctx)
		if err != nil {
			a.log.Warn("relist", "err", err)
		} else {
			for uid, fp := range seen {
				if last[uid] != fp {
					a.wake(ctx, types.UID(uid))
				}
			}
			last = seen
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// fingerprints summarizes each pod's runtime state (IDs and states) so a
// change shows as a different string.
func (a *Agent) fingerprints(ctx context.Context) (map[string]string, error) {
	sbs, err := a.rt.ListSandboxes(ctx)
	if err != nil {
		return nil, err
	}
	cs, err := a.rt.ListContainers(ctx)
	if err != nil {
		return nil, err
	}
	parts := map[string][]string{}
	for _, s := range sbs {
		uid := s.Labels[runtime.LabelPodUID]
		if uid == "" {
			uid = s.UID
		}
		if uid != "" {
			parts[uid] = append(parts[uid], fmt.Sprintf("s%s=%d", s.ID, s.State))
		}
	}
	for _, c := range cs {
		if uid := c.Labels[runtime.LabelPodUID]; uid != "" {
			parts[uid] = append(parts[uid], fmt.Sprintf("c%s=%d", c.ID, c.State))
		}
	}
	out := make(map[string]string, len(parts))
	for uid, p := range parts {
		slices.Sort(p)
		out[uid] = strings.Join(p, ",")
	}
	return out, nil
}

// podLabels are the labels a pod's sandbox and containers carry.
func podLabels(pod *corev1.Pod) map[string]string {
	return map[string]string{
		runtime.LabelPodName:      pod.Name,
		runtime.LabelPodNamespace: pod.Namespace,
		runtime.LabelPodUID:       string(pod.UID),
	}
}
