package framework

import (
	"slices"
	"strings"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// NodeInfo is a node with the pods bound or assumed to it and their
// aggregated requests, kept up to date incrementally by the scheduler's
// cache. A NodeInfo in a Snapshot is never mutated: the cache clones it
// before changing it.
type NodeInfo struct {
	Node *v1.Node
	Pods []*PodInfo
	// PodsWithAffinity holds the pods that have any pod (anti-)affinity
	// term; PodsWithRequiredAntiAffinity those with a required
	// anti-affinity term.
	PodsWithAffinity             []*PodInfo
	PodsWithRequiredAntiAffinity []*PodInfo

	Allocatable Resource
	// Requested sums the pods' effective requests; NonZeroRequested sums
	// them with upstream's defaults for containers without requests.
	Requested        Resource
	NonZeroRequested Resource
	// UsedPorts are the host ports the pods hold.
	UsedPorts []v1.ContainerPort
	// ImageSizes maps a normalized image name to its size on the node.
	ImageSizes map[string]int64

	// Generation increases with every change; the cache uses it to copy
	// only changed nodes into a snapshot.
	Generation int64

	// counts memoizes CountMatching on a snapshot's node, which never
	// changes: a roll-out's cycles count a workload's pods on every node,
	// and only the node the last pod went to has changed since. Nil on a
	// NodeInfo that is being changed.
	counts *matchCounts
}

// maxMatchCounts bounds the memo of one node (selectors of workloads
// being placed at the same time).
const maxMatchCounts = 16

type matchCounts struct {
	mu      sync.Mutex
	entries []matchCount
}

type matchCount struct {
	namespace, selector string
	n                   int64
}

// NewNodeInfo returns an empty NodeInfo for node.
func NewNodeInfo(node *v1.Node) *NodeInfo {
	ni := &NodeInfo{}
	ni.SetNode(node)
	return ni
}

// SetNode replaces the node object, keeping the pods.
func (n *NodeInfo) SetNode(node *v1.Node) {
	old := n.Node
	n.Node = node
	n.Allocatable = NewResource(node.Status.Allocatable)
	if old != nil && n.ImageSizes != nil && SameImages(old.Status.Images, node.Status.Images) {
		return // a heartbeat
	}
	n.ImageSizes = make(map[string]int64, len(node.Status.Images))
	for _, img := range node.Status.Images {
		for _, name := range img.Names {
			n.ImageSizes[NormalizeImageName(name)] = img.SizeBytes
		}
	}
}

// SameImages reports whether two nodes' image lists are equal.
func SameImages(a, b []v1.ContainerImage) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].SizeBytes != b[i].SizeBytes || !slices.Equal(a[i].Names, b[i].Names) {
			return false
		}
	}
	return true
}

// AddPod accounts pi on the node.
func (n *NodeInfo) AddPod(pi *PodInfo) {
	n.counts = nil
	n.Pods = append(n.Pods, pi)
	if pi.HasAffinity() {
		n.PodsWithAffinity = append(n.PodsWithAffinity, pi)
	}
	if len(pi.RequiredAntiAffinity) > 0 {
		n.PodsWithRequiredAntiAffinity = append(n.PodsWithRequiredAntiAffinity, pi)
	}
	n.account(pi, 1)
}

// RemovePod removes the pod with uid; it reports whether it was there.
func (n *NodeInfo) RemovePod(uid types.UID) bool {
	var found *PodInfo
	n.Pods, found = removeByUID(n.Pods, uid)
	if found == nil {
		return false
	}
	n.counts = nil
	n.PodsWithAffinity, _ = removeByUID(n.PodsWithAffinity, uid)
	n.PodsWithRequiredAntiAffinity, _ = removeByUID(n.PodsWithRequiredAntiAffinity, uid)
	n.account(found, -1)
	return true
}

func removeByUID(pods []*PodInfo, uid types.UID) ([]*PodInfo, *PodInfo) {
	for i, p := range pods {
		if p.Pod.UID == uid {
			last := len(pods) - 1
			pods[i] = pods[last]
			pods[last] = nil
			return pods[:last], p
		}
	}
	return pods, nil
}

func (n *NodeInfo) account(pi *PodInfo, sign int64) {
	n.Requested.add(&pi.Requests, sign)
	n.NonZeroRequested.MilliCPU += sign * pi.NonZeroCPU
	n.NonZeroRequested.Memory += sign * pi.NonZeroMemory
	if len(pi.HostPorts) == 0 {
		return
	}
	if sign > 0 {
		n.UsedPorts = append(n.UsedPorts, pi.HostPorts...)
		return
	}
	for _, p := range pi.HostPorts {
		for i, u := range n.UsedPorts {
			if u == p {
				n.UsedPorts = append(n.UsedPorts[:i:i], n.UsedPorts[i+1:]...)
				break
			}
		}
	}
}

// Clone returns a copy that can be changed without affecting n. Pods are
// shared (they are immutable); slices and maps are copied.
func (n *NodeInfo) Clone() *NodeInfo {
	c := *n
	c.Pods = append([]*PodInfo(nil), n.Pods...)
	c.PodsWithAffinity = append([]*PodInfo(nil), n.PodsWithAffinity...)
	c.PodsWithRequiredAntiAffinity = append([]*PodInfo(nil), n.PodsWithRequiredAntiAffinity...)
	c.UsedPorts = append([]v1.ContainerPort(nil), n.UsedPorts...)
	c.Requested = n.Requested.Clone()
	c.NonZeroRequested = n.NonZeroRequested.Clone()
	c.counts = &matchCounts{}
	return &c
}

// CountMatching counts the node's pods of namespace ns that sel selects
// and that are not being deleted. key must identify sel (its String());
// the count is remembered per (ns, key) until the node changes. Safe for
// concurrent use on a snapshot's nodes.
func (n *NodeInfo) CountMatching(ns string, sel labels.Selector, key string) int64 {
	if sel.Empty() || len(n.Pods) == 0 {
		return 0
	}
	m := n.counts
	if m == nil {
		return countMatching(n.Pods, ns, sel)
	}
	m.mu.Lock()
	for _, e := range m.entries {
		if e.namespace == ns && e.selector == key {
			m.mu.Unlock()
			return e.n
		}
	}
	m.mu.Unlock()
	cnt := countMatching(n.Pods, ns, sel)
	m.mu.Lock()
	if len(m.entries) < maxMatchCounts {
		m.entries = append(m.entries, matchCount{namespace: ns, selector: key, n: cnt})
	}
	m.mu.Unlock()
	return cnt
}

func countMatching(pods []*PodInfo, ns string, sel labels.Selector) int64 {
	var cnt int64
	for _, p := range pods {
		if p.Pod.DeletionTimestamp == nil && p.Pod.Namespace == ns && sel.Matches(labels.Set(p.Pod.Labels)) {
			cnt++
		}
	}
	return cnt
}

// NormalizeImageName makes "nginx", "nginx:latest" and
// "docker.io/library/nginx:latest" the same key, as upstream's
// ImageLocality does.
func NormalizeImageName(name string) string {
	if !strings.Contains(name, "@") {
		lastSlash := strings.LastIndex(name, "/")
		if !strings.Contains(name[lastSlash+1:], ":") {
			name += ":latest"
		}
	}
	first, _, found := strings.Cut(name, "/")
	if !found || !strings.ContainsAny(first, ".:") && first != "localhost" {
		if !found {
			name = "docker.io/library/" + name
		} else {
			name = "docker.io/" + name
		}
	}
	return name
}
