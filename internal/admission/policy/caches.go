package policy

import (
	"fmt"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff.dev/skiff/internal/registry"
)

// LazyObjects is Objects over a cache that exists only once the API server
// has been built: empty until Bind. Safe for concurrent use.
type LazyObjects struct {
	o atomic.Pointer[Objects]
}

var _ Objects = (*LazyObjects)(nil)

// Bind points l at o.
func (l *LazyObjects) Bind(o Objects) { l.o.Store(&o) }

func (l *LazyObjects) List(namespace string) []runtime.Object {
	if o := l.o.Load(); o != nil {
		return (*o).List(namespace)
	}
	return nil
}

func (l *LazyObjects) Get(namespace, name string) (runtime.Object, bool) {
	if o := l.o.Load(); o != nil {
		return (*o).Get(namespace, name)
	}
	return nil, false
}

// ServedParams is a ParamSource over the resources the API server serves:
// a paramKind is looked up in the resources (kind → resource and scope),
// its objects read with the cached function (the server's Cached). Empty
// until Bind; safe for concurrent use.
type ServedParams struct {
	bound atomic.Pointer[servedParams]
}

type servedParams struct {
	resources []registry.Resource
	cached    func(schema.GroupVersionResource) (Objects, error)
}

var _ ParamSource = (*ServedParams)(nil)

// Bind sets the served resources and how a resource's cache is found.
func (s *ServedParams) Bind(resources []registry.Resource, cached func(schema.GroupVersionResource) (Objects, error)) {
	s.bound.Store(&servedParams{resources: resources, cached: cached})
}

func (s *ServedParams) ParamObjects(gvk schema.GroupVersionKind) (Objects, bool, error) {
	b := s.bound.Load()
	if b == nil {
		return nil, false, fmt.Errorf("%s: the API server is starting", gvk)
	}
	for _, r := range b.resources {
		if r.GroupVersionKind() != gvk {
			continue
		}
		objs, err := b.cached(r.GroupVersionResource())
		if err != nil {
			return nil, false, err
		}
		return objs, r.Namespaced, nil
	}
	return nil, false, fmt.Errorf("%s is not served", gvk)
}
