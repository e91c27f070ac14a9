package app

import (
	corev1 "k8s.io/api/core/v1"

	"skiff.dev/skiff/internal/admission/noderestriction"
	"skiff.dev/skiff/internal/apiserver"
)

// nodeRestrictionObjects is noderestriction.Objects over the API server's
// pod and node caches; empty until bound.
type nodeRestrictionObjects struct{ pods, nodes lazyObjects }

var _ noderestriction.Objects = (*nodeRestrictionObjects)(nil)

func (o *nodeRestrictionObjects) bind(srv *apiserver.Server) error {
	for res, dst := range map[string]*lazyObjects{"pods": &o.pods, "nodes": &o.nodes} {
		c, err := srv.Cached(corev1.SchemeGroupVersion.WithResource(res))
		if err != nil {
			return err
		}
		dst.c.Store(&c)
	}
	return nil
}

func (o *nodeRestrictionObjects) Pod(namespace, name string) (*corev1.Pod, bool) {
	obj, ok := o.pods.Get(namespace, name)
	p, isPod := obj.(*corev1.Pod)
	return p, ok && isPod
}

func (o *nodeRestrictionObjects) Node(name string) (*corev1.Node, bool) {
	obj, ok := o.nodes.Get("", name)
	n, isNode := obj.(*corev1.Node)
	return n, ok && isNode
}
