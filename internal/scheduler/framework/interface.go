package framework

import (
	"context"
)

// Plugin is anything with a name; the name appears in statuses and in
// the queue's record of which plug-ins rejected a pod.
type Plugin interface {
	Name() string
}

// FilterPlugin decides whether a node can run a pod. Filter is called
// concurrently for different nodes; it must only read state and node.
type FilterPlugin interface {
	Plugin
	Filter(ctx context.Context, state *CycleState, pod *PodInfo, node *NodeInfo) *Status
}

// PreFilterPlugin computes per-pod state once before Filter runs, from the
// whole snapshot. Returning Skip disables the plug-in's Filter for this
// pod; Unschedulable or UnschedulableAndUnresolvable rejects every node.
type PreFilterPlugin interface {
	Plugin
	PreFilter(ctx context.Context, state *CycleState, pod *PodInfo, snap *Snapshot) *Status
}

// PreFilterExtensions keep PreFilter state right when preemption
// simulates adding or removing a pod on node: the state is a clone owned
// by the caller.
type PreFilterExtensions interface {
	AddPod(state *CycleState, pod, added *PodInfo, node *NodeInfo)
	RemovePod(state *CycleState, pod, removed *PodInfo, node *NodeInfo)
}

// ScorePlugin ranks a feasible node; a higher score is better. Score is
// called concurrently for different nodes.
type ScorePlugin interface {
	Plugin
	Score(ctx context.Context, state *CycleState, pod *PodInfo, node *NodeInfo) (int64, *Status)
}

// PreScorePlugin computes per-pod state before Score from the feasible
// nodes and the snapshot. Skip disables the plug-in's Score for the pod.
type PreScorePlugin interface {
	Plugin
	PreScore(ctx context.Context, state *CycleState, pod *PodInfo, feasible []*NodeInfo, snap *Snapshot) *Status
}

// ScoreNormalizer maps raw scores into [0, MaxNodeScore] in place.
type ScoreNormalizer interface {
	NormalizeScore(ctx context.Context, state *CycleState, pod *PodInfo, scores []NodeScore) *Status
}

// StateData is what a plug-in stores in a CycleState. Clone is used by
// preemption, which changes the state of one node's simulation.
type StateData interface {
	Clone() StateData
}

// CycleState carries per-pod data between a plug-in's phases. It is
// written only by PreFilter/PreScore (one goroutine) and read by the
// parallel Filter/Score calls.
type CycleState struct {
	data map[string]StateData
	// skipFilter and skipScore hold plug-ins that returned Skip.
	skipFilter map[string]bool
	skipScore  map[string]bool
}

// NewCycleState returns an empty state.
func NewCycleState() *CycleState {
	return &CycleState{data: map[string]StateData{}}
}

// Write stores d under key.
func (c *CycleState) Write(key string, d StateData) { c.data[key] = d }

// Read returns the data under key, or nil.
func (c *CycleState) Read(key string) StateData { return c.data[key] }

// Clone deep-copies the state through each StateData's Clone.
func (c *CycleState) Clone() *CycleState {
	out := &CycleState{data: make(map[string]StateData, len(c.data)), skipFilter: c.skipFilter, skipScore: c.skipScore}
	for k, v := range c.data {
		if v != nil {
			out.data[k] = v.Clone()
		}
	}
	return out
}
