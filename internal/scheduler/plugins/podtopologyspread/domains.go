package podtopologyspread

import (
	"sync"

	"skiff.dev/skiff/internal/scheduler/framework"
)

// domainCounts carries, from one cycle to the next, a workload's
// matching pods per domain of one topology key over all nodes, for pods
// every node is eligible for (no required node affinity, taints not
// honoured: the default spreading of a Deployment's pods). A snapshot
// changes a few nodes between cycles (the one the last pod went to), so
// only those are counted again, instead of every node of the cluster each
// cycle as upstream's PreScore does.
type domainCounts struct {
	mu      sync.Mutex
	entries []*domainEntry // most recently used first
}

// maxDomainEntries bounds the workloads and keys remembered at once.
const maxDomainEntries = 4

type domainEntry struct {
	id string // topology key, namespace and selector
	// nodes[i] is the snapshot's node i when it was counted: domain[i]
	// ("" without the key) holding count[i] matching pods.
	nodes  []*framework.NodeInfo
	domain []string
	count  []int64
	totals map[string]int64
}

// totals returns the matching pods per domain of c's key over all of
// snap's nodes, updated from the previous call for the same workload.
// The map is the cache's: read it, do not keep it.
func (d *domainCounts) totals(c *constraint, ns string, snap *framework.Snapshot) map[string]int64 {
	id := c.key + "\x00" + ns + "\x00" + c.selectorKey
	d.mu.Lock()
	defer d.mu.Unlock()
	var e *domainEntry
	for i, x := range d.entries {
		if x.id == id {
			e = x
			copy(d.entries[1:i+1], d.entries[:i])
			d.entries[0] = e
			break
		}
	}
	if e == nil {
		e = &domainEntry{id: id}
		if len(d.entries) < maxDomainEntries {
			d.entries = append(d.entries, nil)
		}
		copy(d.entries[1:], d.entries)
		d.entries[0] = e
	}
	if len(e.nodes) != len(snap.Nodes) {
		n := len(snap.Nodes)
		e.nodes, e.domain, e.count, e.totals = make([]*framework.NodeInfo, n), make([]string, n), make([]int64, n), map[string]int64{}
	}
	for i, n := range snap.Nodes {
		if e.nodes[i] == n {
			continue
		}
		if e.count[i] != 0 {
			e.totals[e.domain[i]] -= e.count[i]
		}
		v, ok := n.Node.Labels[c.key]
		var cnt int64
		if ok {
			cnt = c.countMatching(n, ns)
			e.totals[v] += cnt
		}
		e.nodes[i], e.domain[i], e.count[i] = n, v, cnt
	}
	return e.totals
}
