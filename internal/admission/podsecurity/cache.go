package podsecurity

import (
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Lister is one resource of an in-memory object cache, as the API
// server's watch cache (apiserver.CachedObjects) offers it.
type Lister interface {
	Get(namespace, name string) (runtime.Object, bool)
	List(namespace string) []runtime.Object
}

// CachedObjects is Objects over the namespaces and pods of a cache that
// exists only once the API server has started: empty until Bind (no user
// request is admitted before then). Safe for concurrent use.
type CachedObjects struct {
	c atomic.Pointer[cachedListers]
}

type cachedListers struct{ namespaces, pods Lister }

var _ Objects = (*CachedObjects)(nil)

// Bind points the plug-in at the caches.
func (c *CachedObjects) Bind(namespaces, pods Lister) {
	c.c.Store(&cachedListers{namespaces: namespaces, pods: pods})
}

// Namespace implements Objects.
func (c *CachedObjects) Namespace(name string) (*corev1.Namespace, bool) {
	l := c.c.Load()
	if l == nil {
		return nil, false
	}
	o, ok := l.namespaces.Get("", name)
	if !ok {
		return nil, false
	}
	ns, ok := o.(*corev1.Namespace)
	return ns, ok
}

// Pods implements Objects.
func (c *CachedObjects) Pods(namespace string) []*corev1.Pod {
	l := c.c.Load()
	if l == nil {
		return nil
	}
	items := l.pods.List(namespace)
	out := make([]*corev1.Pod, 0, len(items))
	for _, o := range items {
		if p, ok := o.(*corev1.Pod); ok {
			out = append(out, p)
		}
	}
	return out
}
