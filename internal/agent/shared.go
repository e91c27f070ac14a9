package agent

import (
	"context"
	"hash/fnv"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

const nodeIndex = "node"

// sharedEventSenders is how many event broadcasters the nodes of one
// process share. client-go's broadcaster queues at most 1,000 events,
// drops what does not fit and sends them one at a time: a single one for a
// thousand nodes lost three events in four of a 1,000-pod roll-out (each
// pod's Pulled, Created and Started within seconds). Spread by node name
// over several, each queue serves a few dozen nodes.
const sharedEventSenders = 32

// Shared is what the nodes of one process (simulated hollow nodes) share
// instead of each holding its own: one informer of the pods bound to any
// node, one of services, and a few event broadcasters. Upstream's hollow
// nodes are separate processes and cannot share these; nodes in one
// process can, which takes a thousand nodes' watches off the API server
// and their caches, goroutines and queues out of the process. Each node
// still registers, renews its Lease, and writes its Node's and its pods'
// status with its own client, as upstream.
//
// Create it with NewShared, give it to each node's Config.Shared, and run
// it with Run (before or after the nodes start: they wait for it to sync).
type Shared struct {
	client   Client
	pods     cache.SharedIndexInformer
	services cache.SharedIndexInformer
	events   []record.EventBroadcaster

	mu sync.RWMutex
	// subscribers receive the pod events of their node, by node name.
	subscribers map[string]func(*corev1.Pod)
}

// NewShared returns the shared informers and event broadcaster of the
// nodes of one process, reading and writing through client (an identity
// that may list and watch every pod and service and create events: a
// node's, or an administrator's).
func NewShared(client Client) *Shared {
	lw := cache.NewFilteredListWatchFromClient(client.CoreV1().RESTClient(), "pods", metav1.NamespaceAll, func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermNotEqualSelector("spec.nodeName", "").String()
	})
	s := &Shared{
		client: client,
		pods: cache.NewSharedIndexInformer(lw, &corev1.Pod{}, 0, cache.Indexers{
			uidIndex: podUIDIndex,
			nodeIndex: func(obj any) ([]string, error) {
				if p, ok := obj.(*corev1.Pod); ok {
					return []string{p.Spec.NodeName}, nil
				}
				return nil, nil
			},
		}),
		services:    newServiceInformer(client),
		events:      make([]record.EventBroadcaster, sharedEventSenders),
		subscribers: map[string]func(*corev1.Pod){},
	}
	for i := range s.events {
		s.events[i] = record.NewBroadcaster()
	}
	// One handler for all nodes, which passes each event to its node's
	// agent: a handler per node would copy every event to each of them.
	dispatch := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		s.mu.RLock()
		f := s.subscribers[pod.Spec.NodeName]
		s.mu.RUnlock()
		if f != nil {
			f(pod)
		}
	}
	// The informer is not running yet: adding a handler cannot fail.
	_, _ = s.pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    dispatch,
		UpdateFunc: func(_, obj any) { dispatch(obj) },
		DeleteFunc: dispatch,
	})
	return s
}

// Run runs the informers and sends the nodes' events until ctx ends.
func (s *Shared) Run(ctx context.Context) {
	for _, b := range s.events {
		b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: s.client.CoreV1().Events("")})
		defer b.Shutdown()
	}
	var wg sync.WaitGroup
	wg.Go(func() { s.pods.RunWithContext(ctx) })
	wg.Go(func() { s.services.RunWithContext(ctx) })
	wg.Wait()
}

// eventBroadcaster is the shared broadcaster that sends node's events,
// or nil without s.
func (s *Shared) eventBroadcaster(node string) record.EventBroadcaster {
	if s == nil {
		return nil
	}
	h := fnv.New32a()
	h.Write([]byte(node))
	return s.events[h.Sum32()%uint32(len(s.events))]
}

// subscribe sends the pod events of node to f until the returned
// function is called. f must not block.
func (s *Shared) subscribe(node string, f func(*corev1.Pod)) (unsubscribe func()) {
	s.mu.Lock()
	s.subscribers[node] = f
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.subscribers, node)
		s.mu.Unlock()
	}
}

// nodePods are the pods bound to node in the shared cache.
func (s *Shared) nodePods(node string) []*corev1.Pod {
	objs, err := s.pods.GetIndexer().ByIndex(nodeIndex, node)
	if err != nil {
		return nil
	}
	out := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok {
			out = append(out, p)
		}
	}
	return out
}
