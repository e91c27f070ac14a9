package framework

// Snapshot is an immutable view of the cluster for one scheduling cycle:
// every node (in a stable order, so sampling can rotate through it), the
// nodes that hold pods with affinity terms, how many nodes have each
// image, and the pods nominated to nodes by preemption.
type Snapshot struct {
	Nodes  []*NodeInfo
	byName map[string]*NodeInfo
	// WithAffinity and WithRequiredAntiAffinity list the nodes that hold
	// pods with such terms, so InterPodAffinity skips the others.
	WithAffinity             []*NodeInfo
	WithRequiredAntiAffinity []*NodeInfo
	// ImageNodes counts nodes per normalized image name.
	ImageNodes map[string]int
	// Nominated are pods that preemption nominated to a node and that are
	// not bound yet; filters account for those of higher or equal
	// priority.
	Nominated map[string][]*PodInfo
}

// NewSnapshot builds a snapshot from node infos, which it then owns.
func NewSnapshot(nodes []*NodeInfo) *Snapshot {
	s := &Snapshot{Nodes: nodes}
	s.Reindex()
	s.ImageNodes = map[string]int{}
	for _, n := range nodes {
		for img := range n.ImageSizes {
			s.ImageNodes[img]++
		}
	}
	return s
}

// Reindex rebuilds the name index and the affinity lists from Nodes.
func (s *Snapshot) Reindex() {
	if s.byName == nil || len(s.byName) != len(s.Nodes) {
		s.byName = make(map[string]*NodeInfo, len(s.Nodes))
	}
	s.WithAffinity = s.WithAffinity[:0]
	s.WithRequiredAntiAffinity = s.WithRequiredAntiAffinity[:0]
	for _, n := range s.Nodes {
		s.byName[n.Node.Name] = n
		s.indexAffinity(n)
	}
}

func (s *Snapshot) indexAffinity(n *NodeInfo) {
	if len(n.PodsWithAffinity) > 0 {
		s.WithAffinity = append(s.WithAffinity, n)
	}
	if len(n.PodsWithRequiredAntiAffinity) > 0 {
		s.WithRequiredAntiAffinity = append(s.WithRequiredAntiAffinity, n)
	}
}

// Get returns the node named name, or nil.
func (s *Snapshot) Get(name string) *NodeInfo { return s.byName[name] }

// Replace swaps in a newer copy of node at index i (the cache's
// incremental update); call RebuildAffinity after a batch of Replaces.
func (s *Snapshot) Replace(i int, n *NodeInfo) {
	s.Nodes[i] = n
	s.byName[n.Node.Name] = n
}

// RebuildAffinity recomputes the affinity node lists.
func (s *Snapshot) RebuildAffinity() {
	s.WithAffinity = s.WithAffinity[:0]
	s.WithRequiredAntiAffinity = s.WithRequiredAntiAffinity[:0]
	for _, n := range s.Nodes {
		s.indexAffinity(n)
	}
}
