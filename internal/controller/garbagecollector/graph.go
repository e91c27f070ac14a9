package garbagecollector

import (
	"slices"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// objectRef names an object as an ownerReference does, plus its
// namespace (an owner is looked for in its dependent's namespace, or at
// cluster scope).
type objectRef struct {
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
	UID        types.UID
}

// node is an object in the ownership graph. Nodes are only read or
// written under the graph's lock.
type node struct {
	ref objectRef
	// owners are the object's ownerReferences as last observed.
	owners []metav1.OwnerReference
	// dependents are the nodes whose ownerReferences name this one.
	dependents map[*node]struct{}
	// virtual: known only as someone's owner, not (yet) observed by an
	// informer; the collector checks with the API server whether it
	// exists.
	virtual bool
	// beingDeleted: deletionTimestamp is set.
	beingDeleted bool
	// deletingDependents: being deleted in the foreground (the
	// foregroundDeletion finalizer): it waits for its blocking dependents.
	deletingDependents bool
}

// blockingDependents are the dependents whose reference to n has
// blockOwnerDeletion=true.
func (n *node) blockingDependents() []*node {
	var out []*node
	for d := range n.dependents {
		for _, o := range d.owners {
			if o.UID == n.ref.UID && o.BlockOwnerDeletion != nil && *o.BlockOwnerDeletion {
				out = append(out, d)
			}
		}
	}
	return out
}

// graph is the ownership graph built from the informers' events, keyed
// by UID. The single graph-builder goroutine writes it; the delete and
// orphan workers read it.
type graph struct {
	mu    sync.RWMutex
	nodes map[types.UID]*node
}

func newGraph() *graph { return &graph{nodes: map[types.UID]*node{}} }

func (g *graph) get(uid types.UID) (*node, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	n, ok := g.nodes[uid]
	return n, ok
}

// snapshot returns a copy of n's fields that workers may read without
// the lock.
type nodeView struct {
	ref                objectRef
	owners             []metav1.OwnerReference
	dependents         []objectRef
	blocking           []objectRef
	virtual            bool
	beingDeleted       bool
	deletingDependents bool
}

func (g *graph) view(uid types.UID) (nodeView, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	n, ok := g.nodes[uid]
	if !ok {
		return nodeView{}, false
	}
	v := nodeView{ref: n.ref, owners: slices.Clone(n.owners), virtual: n.virtual, beingDeleted: n.beingDeleted, deletingDependents: n.deletingDependents}
	for d := range n.dependents {
		v.dependents = append(v.dependents, d.ref)
	}
	for _, d := range n.blockingDependents() {
		v.blocking = append(v.blocking, d.ref)
	}
	return v, true
}
