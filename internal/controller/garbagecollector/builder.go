package garbagecollector

import (
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
)

func newCachedDiscovery(d discovery.DiscoveryInterface) discovery.CachedDiscoveryInterface {
	return memory.NewMemCacheClient(d)
}

// buildGraph applies the informers' changes to the graph, one at a time
// and in order, and queues the work they call for.
func (c *Collector) buildGraph() {
	for {
		ev, quit := c.changes.Get()
		if quit {
			return
		}
		c.process(ev)
		c.changes.Done(ev)
	}
}

func hasFinalizer(m metav1.Object, f string) bool { return slices.Contains(m.GetFinalizers(), f) }

func refOf(ev *event) objectRef {
	return objectRef{APIVersion: ev.gvk.GroupVersion().String(), Kind: ev.gvk.Kind,
		Namespace: ev.obj.Namespace, Name: ev.obj.Name, UID: ev.obj.UID}
}

func (c *Collector) process(ev *event) {
	if ev.virtual {
		c.removeNode(ev.ref)
		return
	}
	m := ev.obj
	g := c.graph
	g.mu.Lock()
	n, exists := g.nodes[m.UID]
	if ev.typ == deleteEvent {
		g.mu.Unlock()
		if exists {
			c.removeNode(n.ref)
		}
		return
	}
	var oldOwners []metav1.OwnerReference
	if !exists {
		n = &node{ref: refOf(ev), dependents: map[*node]struct{}{}}
		g.nodes[m.UID] = n
	} else {
		if n.virtual {
			// Observed at last: it exists. Its dependents may have been
			// waiting on the answer.
			n.virtual = false
			n.ref = refOf(ev)
		}
		oldOwners = n.owners
	}
	n.owners = slices.Clone(m.OwnerReferences)
	added, removed, unblocked := diffOwners(oldOwners, n.owners)
	for _, o := range removed {
		if owner, ok := g.nodes[o.UID]; ok {
			delete(owner.dependents, n)
		}
	}
	var verify []objectRef
	for _, o := range added {
		owner, ok := g.nodes[o.UID]
		if !ok {
			// An owner not observed (yet): a virtual node, checked
			// against the API server by a delete worker.
			owner = &node{ref: objectRef{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: m.Namespace, Name: o.Name, UID: o.UID},
				dependents: map[*node]struct{}{}, virtual: true}
			g.nodes[o.UID] = owner
			verify = append(verify, owner.ref)
		}
		owner.dependents[n] = struct{}{}
	}
	// A dependent that stopped blocking its owner, or left it, may let a
	// foreground deletion finish.
	var wake []objectRef
	for _, o := range append(unblocked, removed...) {
		if owner, ok := g.nodes[o.UID]; ok && owner.deletingDependents {
			wake = append(wake, owner.ref)
		}
	}
	n.beingDeleted = m.DeletionTimestamp != nil
	orphan := n.beingDeleted && hasFinalizer(m, metav1.FinalizerOrphanDependents)
	foreground := n.beingDeleted && hasFinalizer(m, metav1.FinalizerDeleteDependents)
	var deps []objectRef
	if foreground {
		n.deletingDependents = true
		for d := range n.dependents {
			deps = append(deps, d.ref)
		}
	}
	ref := n.ref
	ownersAbsent := false
	for _, o := range n.owners {
		if on, ok := g.nodes[o.UID]; !ok || on.virtual || on.deletingDependents {
			ownersAbsent = true
		}
	}
	g.mu.Unlock()

	for _, r := range verify {
		c.toDelete.Add(r)
	}
	for _, r := range wake {
		c.toDelete.Add(r)
	}
	if orphan {
		c.toOrphan.Add(ref)
	}
	if foreground {
		c.toDelete.Add(ref)
		for _, d := range deps {
			c.toDelete.Add(d)
		}
	}
	// A new object whose owner is already gone (or going in the
	// foreground) must be looked at.
	if (ev.typ == addEvent || len(added) > 0) && ownersAbsent {
		c.toDelete.Add(ref)
	}
}

// removeNode drops an object that no longer exists and wakes what
// depended on it: its dependents (their owner is gone) and its owners
// deleting in the foreground (one fewer dependent to wait for).
func (c *Collector) removeNode(ref objectRef) {
	g := c.graph
	g.mu.Lock()
	n, ok := g.nodes[ref.UID]
	if !ok {
		g.mu.Unlock()
		return
	}
	delete(g.nodes, ref.UID)
	var wake []objectRef
	for d := range n.dependents {
		wake = append(wake, d.ref)
	}
	for _, o := range n.owners {
		if owner, ok := g.nodes[o.UID]; ok {
			delete(owner.dependents, n)
			if owner.deletingDependents {
				wake = append(wake, owner.ref)
			}
		}
	}
	g.mu.Unlock()
	for _, r := range wake {
		c.toDelete.Add(r)
	}
}

// diffOwners compares ownerReferences by UID; unblocked are references
// whose blockOwnerDeletion went from true to false.
func diffOwners(old, cur []metav1.OwnerReference) (added, removed, unblocked []metav1.OwnerReference) {
	blocks := func(r metav1.OwnerReference) bool { return r.BlockOwnerDeletion != nil && *r.BlockOwnerDeletion }
	oldBy := map[string]metav1.OwnerReference{}
	for _, r := range old {
		oldBy[string(r.UID)] = r
	}
	seen := map[string]bool{}
	for _, r := range cur {
		seen[string(r.UID)] = true
		o, ok := oldBy[string(r.UID)]
		if !ok {
			added = append(added, r)
			continue
		}
		if blocks(o) && !blocks(r) {
			unblocked = append(unblocked, r)
		}
	}
	for _, r := range old {
		if !seen[string(r.UID)] {
			removed = append(removed, r)
		}
	}
	return added, removed, unblocked
}
