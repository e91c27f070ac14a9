package app

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"

	"skiff.dev/skiff/internal/auth/pki"
)

// informerResync is how often in-process informers replay their caches to
// their handlers.
const informerResync = 10 * time.Minute

// newInformerFactory is an in-process component's informer factory. As
// upstream's scheduler and controller manager do, it drops managedFields
// from what it caches: no controller reads them, they are about a third of
// a pod's decoded size, and every component keeps its own copy of every
// pod. An update sent with no managedFields keeps the stored ones.
func newInformerFactory(client kubernetes.Interface) informers.SharedInformerFactory {
	return informers.NewSharedInformerFactoryWithOptions(client, informerResync, informers.WithTransform(stripManagedFields))
}

func stripManagedFields(obj any) (any, error) {
	if a, err := meta.Accessor(obj); err == nil && a.GetManagedFields() != nil {
		a.SetManagedFields(nil)
	}
	return obj, nil
}

// withProtobuf makes a typed client speak protobuf, as upstream's
// components do by default: decoding it takes a fraction of JSON's CPU and
// garbage, which matters for informers that receive every pod. Dynamic and
// metadata clients built from cfg choose their own media types.
func withProtobuf(cfg *rest.Config) *rest.Config {
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	return cfg
}

// sharedPods is the one pod informer of the in-process scheduler and
// controller manager. Each used to keep its own copy of every pod (about
// 33 MB per 10,000 pods each, beside the API server's watch cache); one
// process needs one. It lists and watches as the controller manager,
// whose role reads every resource, starts when the first component
// starts leading, and runs until the server stops: a component that
// loses its lease stops using it (see podsView), but another one, or the
// next term, may still need it.
type sharedPods struct {
	ctx      context.Context
	informer toolscache.SharedIndexInformer
	once     sync.Once
	// mu serialises terms adding indexers.
	mu sync.Mutex
}

// newSharedPods builds the shared pod informer on p's
// system:kube-controller-manager identity; it runs until ctx ends once a
// component uses it.
func newSharedPods(ctx context.Context, p *pki.ServerPKI) (*sharedPods, error) {
	cfg, err := identityConfig(p, "system:kube-controller-manager")
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("shared pod informer client: %w", err)
	}
	return newSharedPodsFor(ctx, client), nil
}

func newSharedPodsFor(ctx context.Context, client kubernetes.Interface) *sharedPods {
	inf := coreinformers.NewPodInformer(client, metav1.NamespaceAll, informerResync,
		toolscache.Indexers{toolscache.NamespaceIndex: toolscache.MetaNamespaceIndexFunc})
	_ = inf.SetTransform(stripManagedFields) // cannot fail before Run
	return &sharedPods{ctx: ctx, informer: inf}
}

// attach makes factory's pod informer a view of the shared one. Call it
// right after creating factory, before anything asks factory for pods. A
// nil s leaves factory its own pod informer.
func (s *sharedPods) attach(factory informers.SharedInformerFactory) {
	if s == nil {
		return
	}
	factory.InformerFor(&corev1.Pod{}, func(kubernetes.Interface, time.Duration) toolscache.SharedIndexInformer {
		return &podsView{SharedIndexInformer: s.informer, shared: s}
	})
}

func (s *sharedPods) start() {
	s.once.Do(func() { go s.informer.RunWithContext(s.ctx) })
}

// podsView is one component's, for one leadership term, view of the
// shared pod informer: the handlers it adds are removed when the term's
// factory stops it, and it has synced when the shared cache has and its
// own handlers have received every pod listed before (what the
// scheduler's queue and the controllers' state are built from). The
// objects it hands out are shared by every component: as everywhere in
// client-go, they must not be modified.
type podsView struct {
	toolscache.SharedIndexInformer
	shared *sharedPods

	mu   sync.Mutex
	regs []toolscache.ResourceEventHandlerRegistration
}

var _ toolscache.SharedIndexInformer = (*podsView)(nil)

func (v *podsView) AddEventHandler(h toolscache.ResourceEventHandler) (toolscache.ResourceEventHandlerRegistration, error) {
	return v.AddEventHandlerWithOptions(h, toolscache.HandlerOptions{})
}

func (v *podsView) AddEventHandlerWithResyncPeriod(h toolscache.ResourceEventHandler, resync time.Duration) (toolscache.ResourceEventHandlerRegistration, error) {
	return v.AddEventHandlerWithOptions(h, toolscache.HandlerOptions{ResyncPeriod: &resync})
}

func (v *podsView) AddEventHandlerWithOptions(h toolscache.ResourceEventHandler, o toolscache.HandlerOptions) (toolscache.ResourceEventHandlerRegistration, error) {
	reg, err := v.SharedIndexInformer.AddEventHandlerWithOptions(h, o)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	v.regs = append(v.regs, reg)
	v.mu.Unlock()
	return reg, nil
}

func (v *podsView) RemoveEventHandler(reg toolscache.ResourceEventHandlerRegistration) error {
	v.mu.Lock()
	v.regs = slices.DeleteFunc(v.regs, func(r toolscache.ResourceEventHandlerRegistration) bool { return r == reg })
	v.mu.Unlock()
	return v.SharedIndexInformer.RemoveEventHandler(reg)
}

// AddIndexers adds the indexers the shared informer does not have yet:
// the next term's controllers ask for the same ones again.
func (v *podsView) AddIndexers(indexers toolscache.Indexers) error {
	v.shared.mu.Lock()
	defer v.shared.mu.Unlock()
	have := v.SharedIndexInformer.GetIndexer().GetIndexers()
	missing := toolscache.Indexers{}
	for name, fn := range indexers {
		if _, ok := have[name]; !ok {
			missing[name] = fn
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return v.SharedIndexInformer.AddIndexers(missing)
}

// SetTransform is a no-op: the shared informer has its own (managedFields
// dropped), set before it started.
func (v *podsView) SetTransform(toolscache.TransformFunc) error { return nil }

func (v *podsView) Run(stop <-chan struct{}) { v.RunWithContext(wait.ContextForChannel(stop)) }

// RunWithContext starts the shared informer if no one has, and removes
// this view's handlers when ctx ends (the term's end).
func (v *podsView) RunWithContext(ctx context.Context) {
	v.shared.start()
	<-ctx.Done()
	v.mu.Lock()
	regs := v.regs
	v.regs = nil
	v.mu.Unlock()
	for _, reg := range regs {
		_ = v.SharedIndexInformer.RemoveEventHandler(reg)
	}
}

func (v *podsView) HasSynced() bool {
	if !v.SharedIndexInformer.HasSynced() {
		return false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, reg := range v.regs {
		if !reg.HasSynced() {
			return false
		}
	}
	return true
}

// HasSyncedChecker is HasSynced as a channel (what the factory's
// WaitForCacheSync waits on), for the handlers added so far.
func (v *podsView) HasSyncedChecker() toolscache.DoneChecker {
	v.mu.Lock()
	checkers := []toolscache.DoneChecker{v.SharedIndexInformer.HasSyncedChecker()}
	for _, reg := range v.regs {
		checkers = append(checkers, reg.HasSyncedChecker())
	}
	v.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, c := range checkers {
			select {
			case <-c.Done():
			case <-v.shared.ctx.Done():
				return
			}
		}
	}()
	return viewSynced(done)
}

type viewSynced <-chan struct{}

func (viewSynced) Name() string            { return "shared pods" }
func (c viewSynced) Done() <-chan struct{} { return c }
