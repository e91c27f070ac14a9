package scheduler

import (
	"sort"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/internal/scheduler/framework"
)

// nodeCache is the scheduler's live view of nodes and the pods on them,
// updated incrementally by informer events and by the scheduling loop,
// which assumes a pod on its node as soon as it decides, before the
// binding reaches the API server (upstream's assumed pods). Each cycle
// copies only the nodes changed since the last one into its snapshot.
//
// All methods are safe for concurrent use.
type nodeCache struct {
	mu    sync.Mutex
	nodes map[string]*framework.NodeInfo // Node nil: pods seen before their node
	pods  map[types.UID]*cachedPod

	// dirty names nodes changed since the last snapshot; structural says
	// nodes were added or removed (the snapshot's list is rebuilt);
	// images says an image list changed.
	dirty      map[string]bool
	structural bool
	images     bool
	order      map[string]int
}

type cachedPod struct {
	info    *framework.PodInfo
	node    string
	assumed bool
}

func newCache() *nodeCache {
	return &nodeCache{nodes: map[string]*framework.NodeInfo{}, pods: map[types.UID]*cachedPod{}, dirty: map[string]bool{}, structural: true}
}

func (c *nodeCache) nodeLocked(name string) *framework.NodeInfo {
	n, ok := c.nodes[name]
	if !ok {
		n = &framework.NodeInfo{}
		c.nodes[name] = n
	}
	return n
}

func (c *nodeCache) touch(name string) {
	c.dirty[name] = true
	if n := c.nodes[name]; n != nil {
		n.Generation++
	}
}

// AddNode and UpdateNode store the node object.
func (c *nodeCache) AddNode(node *v1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodeLocked(node.Name)
	switch {
	case n.Node == nil:
		c.structural, c.images = true, true
	case !framework.SameImages(n.Node.Status.Images, node.Status.Images):
		// Heartbeats leave the images alone: only a real change makes
		// the next snapshot recount every node's images.
		c.images = true
	}
	n.SetNode(node)
	c.touch(node.Name)
}

// RemoveNode forgets the node; its pods' accounting goes with it.
func (c *nodeCache) RemoveNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.nodes[name]; ok {
		if len(n.Pods) == 0 {
			delete(c.nodes, name)
		} else {
			n.Node = nil
		}
		c.structural, c.images = true, true
	}
}

// AssumePod accounts pi on node before its binding is confirmed.
func (c *nodeCache) AssumePod(pi *framework.PodInfo, node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(pi.Pod.UID)
	c.nodeLocked(node).AddPod(pi)
	c.pods[pi.Pod.UID] = &cachedPod{info: pi, node: node, assumed: true}
	c.touch(node)
}

// ForgetPod drops an assumed pod whose binding failed.
func (c *nodeCache) ForgetPod(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.pods[uid]; ok && p.assumed {
		c.removeLocked(uid)
	}
}

// IsAssumed reports whether the pod is assumed or bound in the cache.
func (c *nodeCache) Has(uid types.UID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.pods[uid]
	return ok
}

// SetPod adds or replaces an assigned pod seen by the informer; an
// assumed copy is confirmed.
func (c *nodeCache) SetPod(pi *framework.PodInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(pi.Pod.UID)
	node := pi.Pod.Spec.NodeName
	c.nodeLocked(node).AddPod(pi)
	c.pods[pi.Pod.UID] = &cachedPod{info: pi, node: node}
	c.touch(node)
}

// RemovePod forgets a pod (deleted, or finished).
func (c *nodeCache) RemovePod(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(uid)
}

func (c *nodeCache) removeLocked(uid types.UID) {
	p, ok := c.pods[uid]
	if !ok {
		return
	}
	delete(c.pods, uid)
	if n, ok := c.nodes[p.node]; ok {
		n.RemovePod(uid)
		c.touch(p.node)
		if n.Node == nil && len(n.Pods) == 0 {
			delete(c.nodes, p.node)
		}
	}
}

// UpdateSnapshot brings snap up to date, copying only changed nodes.
func (c *nodeCache) UpdateSnapshot(snap *framework.Snapshot) *framework.Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.structural || snap == nil {
		names := make([]string, 0, len(c.nodes))
		for name, n := range c.nodes {
			if n.Node != nil {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		infos := make([]*framework.NodeInfo, len(names))
		c.order = make(map[string]int, len(names))
		for i, name := range names {
			infos[i] = c.nodes[name].Clone()
			c.order[name] = i
		}
		snap = framework.NewSnapshot(infos)
		c.structural, c.images = false, false
		clear(c.dirty)
		return snap
	}
	if len(c.dirty) == 0 {
		return snap
	}
	affinityChanged := false
	for name := range c.dirty {
		i, ok := c.order[name]
		n := c.nodes[name]
		if !ok || n == nil || n.Node == nil {
			continue
		}
		old := snap.Nodes[i]
		if len(old.PodsWithAffinity) > 0 || len(n.PodsWithAffinity) > 0 || len(old.PodsWithRequiredAntiAffinity) > 0 || len(n.PodsWithRequiredAntiAffinity) > 0 {
			affinityChanged = true
		}
		snap.Replace(i, n.Clone())
	}
	clear(c.dirty)
	if affinityChanged {
		snap.RebuildAffinity()
	}
	if c.images {
		snap.ImageNodes = map[string]int{}
		for _, n := range snap.Nodes {
			for img := range n.ImageSizes {
				snap.ImageNodes[img]++
			}
		}
		c.images = false
	}
	return snap
}
