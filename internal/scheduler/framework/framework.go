package framework

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
)

// ErrNoNodesAvailable is returned by Schedule when the cluster has no
// nodes, with upstream's text.
var ErrNoNodesAvailable = errors.New("no nodes available to schedule pods")

// Upstream's bounds on sampling: at least this many feasible nodes are
// looked for, and never less than this percentage of the cluster.
const (
	minFeasibleNodesToFind           = 100
	minFeasibleNodesPercentageToFind = 5
)

// Framework runs a profile of plug-ins. Schedule is not safe for
// concurrent use (it rotates a start index, as upstream): one scheduling
// loop owns a Framework.
type Framework struct {
	preFilters []PreFilterPlugin
	filters    []FilterPlugin
	extensions []PreFilterExtensions
	preScores  []PreScorePlugin
	scores     []weightedScore

	// PercentageOfNodesToScore is upstream's setting: 0 is adaptive
	// (50% minus 1% per 125 nodes, at least 5%), 100 evaluates every node.
	PercentageOfNodesToScore int
	// Parallelism bounds the goroutines filtering and scoring nodes.
	Parallelism int

	next int
	rnd  *rand.Rand
}

type weightedScore struct {
	ScorePlugin
	weight int64
}

// New builds a framework from plugins, in the order filters run; each
// plug-in joins every phase it implements. weights gives Score plug-ins'
// weights by name (a missing weight is 1).
func New(plugins []Plugin, weights map[string]int64) *Framework {
	f := &Framework{Parallelism: runtime.GOMAXPROCS(0), rnd: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
	for _, p := range plugins {
		if pf, ok := p.(PreFilterPlugin); ok {
			f.preFilters = append(f.preFilters, pf)
		}
		if fp, ok := p.(FilterPlugin); ok {
			f.filters = append(f.filters, fp)
		}
		if ext, ok := p.(PreFilterExtensions); ok {
			f.extensions = append(f.extensions, ext)
		}
		if ps, ok := p.(PreScorePlugin); ok {
			f.preScores = append(f.preScores, ps)
		}
		if sp, ok := p.(ScorePlugin); ok {
			w, ok := weights[p.Name()]
			if !ok {
				w = 1
			}
			f.scores = append(f.scores, weightedScore{sp, w})
		}
	}
	return f
}

// Result is where a pod goes and how much work finding it took.
type Result struct {
	Node      string
	Evaluated int
	Feasible  int
}

// Schedule picks a node for pod in snap. When no node fits it returns a
// *FitError (its Diagnosis feeds preemption); ErrNoNodesAvailable when
// the cluster is empty; another error for a plug-in's internal error.
// state must be fresh; it holds the PreFilter results on return, for
// preemption.
func (f *Framework) Schedule(ctx context.Context, state *CycleState, snap *Snapshot, pod *PodInfo) (Result, error) {
	if len(snap.Nodes) == 0 {
		return Result{}, ErrNoNodesAvailable
	}
	diag := Diagnosis{NodeToStatus: map[string]*Status{}, UnschedulablePlugins: map[string]bool{}}
	if st := f.RunPreFilter(ctx, state, pod, snap); !st.IsSuccess() {
		if st.Code() == Error {
			return Result{}, fmt.Errorf("prefilter %s: %w", st.Plugin(), st.AsError())
		}
		diag.PreFilterMsg = st.Message()
		diag.UnschedulablePlugins[st.Plugin()] = true
		diag.AbsentStatus = st
		return Result{}, &FitError{NumAllNodes: len(snap.Nodes), Diagnosis: diag}
	}

	// A pod that preemption nominated to a node tries that node first.
	if nn := pod.Pod.Status.NominatedNodeName; nn != "" {
		if ni := snap.Get(nn); ni != nil && f.RunFiltersWithNominated(ctx, state, pod, ni, snap).IsSuccess() {
			return Result{Node: nn, Evaluated: 1, Feasible: 1}, nil
		}
	}

	feasible, evaluated, err := f.findFeasible(ctx, state, snap, pod, &diag)
	if err != nil {
		return Result{}, err
	}
	if len(feasible) == 0 {
		return Result{}, &FitError{NumAllNodes: len(snap.Nodes), Diagnosis: diag}
	}
	if len(feasible) == 1 {
		return Result{Node: feasible[0].Node.Name, Evaluated: evaluated, Feasible: 1}, nil
	}
	node, err := f.prioritize(ctx, state, pod, feasible, snap)
	if err != nil {
		return Result{}, err
	}
	return Result{Node: node, Evaluated: evaluated, Feasible: len(feasible)}, nil
}

// RunPreFilter runs every PreFilter plug-in; it returns the first
// rejection or error, with the plug-in's name.
func (f *Framework) RunPreFilter(ctx context.Context, state *CycleState, pod *PodInfo, snap *Snapshot) *Status {
	state.skipFilter = nil
	for _, pf := range f.preFilters {
		st := pf.PreFilter(ctx, state, pod, snap)
		switch {
		case st.IsSkip():
			if state.skipFilter == nil {
				state.skipFilter = map[string]bool{}
			}
			state.skipFilter[pf.Name()] = true
		case !st.IsSuccess():
			return st.WithPlugin(pf.Name())
		}
	}
	return nil
}

// RunFilters runs the filters on one node in order and returns the first
// rejection, with the plug-in's name.
func (f *Framework) RunFilters(ctx context.Context, state *CycleState, pod *PodInfo, node *NodeInfo) *Status {
	for _, fp := range f.filters {
		if state.skipFilter[fp.Name()] {
			continue
		}
		if st := fp.Filter(ctx, state, pod, node); !st.IsSuccess() {
			if st.Code() != Error && !st.IsRejected() {
				continue
			}
			return st.WithPlugin(fp.Name())
		}
	}
	return nil
}

// RunFiltersWithNominated is upstream's RunFilterPluginsWithNominatedPods:
// a node must fit the pod both with and without the pods of equal or
// higher priority that preemption nominated to it, so a preemptor's room
// is not taken.
func (f *Framework) RunFiltersWithNominated(ctx context.Context, state *CycleState, pod *PodInfo, node *NodeInfo, snap *Snapshot) *Status {
	var nominated []*PodInfo
	for _, np := range snap.Nominated[node.Node.Name] {
		if np.Priority >= pod.Priority && np.Pod.UID != pod.Pod.UID {
			nominated = append(nominated, np)
		}
	}
	if len(nominated) > 0 {
		withState := state.Clone()
		with := node.Clone()
		for _, np := range nominated {
			with.AddPod(np)
			f.AddPodToState(withState, pod, np, with)
		}
		if st := f.RunFilters(ctx, withState, pod, with); !st.IsSuccess() {
			return st
		}
	}
	return f.RunFilters(ctx, state, pod, node)
}

// AddPodToState and RemovePodFromState tell the PreFilter extensions that
// a simulation added or removed a pod on node.
func (f *Framework) AddPodToState(state *CycleState, pod, added *PodInfo, node *NodeInfo) {
	for _, e := range f.extensions {
		e.AddPod(state, pod, added, node)
	}
}

// RemovePodFromState: see AddPodToState.
func (f *Framework) RemovePodFromState(state *CycleState, pod, removed *PodInfo, node *NodeInfo) {
	for _, e := range f.extensions {
		e.RemovePod(state, pod, removed, node)
	}
}

// NumFeasibleNodesToFind is how many feasible nodes a cycle looks for
// before it stops filtering, upstream's numFeasibleNodesToFind.
func (f *Framework) NumFeasibleNodesToFind(numAll int) int {
	if numAll < minFeasibleNodesToFind {
		return numAll
	}
	pct := f.PercentageOfNodesToScore
	if pct <= 0 {
		pct = 50 - numAll/125
		if pct < minFeasibleNodesPercentageToFind {
			pct = minFeasibleNodesPercentageToFind
		}
	}
	if pct >= 100 {
		return numAll
	}
	n := numAll * pct / 100
	if n < minFeasibleNodesToFind {
		return minFeasibleNodesToFind
	}
	return n
}

// findFeasible filters nodes in parallel, starting where the previous
// cycle stopped, until enough feasible nodes are found. Rejections are
// recorded in diag. It returns the feasible nodes and how many nodes it
// filtered: always a whole run from the start, so the next cycle starts
// right after it and every node gets its turn (upstream's
// nextStartNodeIndex). Feasible nodes found past the wanted number are
// dropped, as upstream.
func (f *Framework) findFeasible(ctx context.Context, state *CycleState, snap *Snapshot, pod *PodInfo, diag *Diagnosis) ([]*NodeInfo, int, error) {
	all := snap.Nodes
	n := len(all)
	want := f.NumFeasibleNodesToFind(n)
	feasible := make([]*NodeInfo, want)
	var (
		found   atomic.Int64
		mu      sync.Mutex
		firstEr error
	)
	start := f.next % n
	const chunk = 8
	stop := func() bool { return found.Load() >= int64(want) || ctx.Err() != nil }
	chunks := f.parallelChunks(n, chunk, stop, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			ni := all[(start+i)%n]
			st := f.RunFiltersWithNominated(ctx, state, pod, ni, snap)
			if st.IsSuccess() {
				if k := found.Add(1) - 1; k < int64(want) {
					feasible[k] = ni
				}
				continue
			}
			mu.Lock()
			if st.Code() == Error {
				if firstEr == nil {
					firstEr = fmt.Errorf("filter %s on node %s: %w", st.Plugin(), ni.Node.Name, st.AsError())
				}
			} else {
				diag.NodeToStatus[ni.Node.Name] = st
				diag.UnschedulablePlugins[st.Plugin()] = true
			}
			mu.Unlock()
		}
	})
	if firstEr != nil {
		return nil, 0, firstEr
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	got := int(found.Load())
	if got > want {
		got = want
	}
	evaluated := min(n, chunks*chunk)
	f.next = (start + evaluated) % n
	return feasible[:got], evaluated, nil
}

// prioritize scores the feasible nodes and picks the best, breaking ties
// at random (reservoir sampling, as upstream's selectHost).
func (f *Framework) prioritize(ctx context.Context, state *CycleState, pod *PodInfo, nodes []*NodeInfo, snap *Snapshot) (string, error) {
	state.skipScore = nil
	for _, ps := range f.preScores {
		st := ps.PreScore(ctx, state, pod, nodes, snap)
		switch {
		case st.IsSkip():
			if state.skipScore == nil {
				state.skipScore = map[string]bool{}
			}
			state.skipScore[ps.Name()] = true
		case !st.IsSuccess():
			return "", fmt.Errorf("prescore %s: %w", ps.Name(), st.AsError())
		}
	}
	active := make([]weightedScore, 0, len(f.scores))
	for _, s := range f.scores {
		if !state.skipScore[s.Name()] {
			active = append(active, s)
		}
	}
	total := make([]int64, len(nodes))
	if len(active) == 0 {
		return f.selectHost(nodes, total), nil
	}
	perPlugin := make([][]NodeScore, len(active))
	for i := range perPlugin {
		perPlugin[i] = make([]NodeScore, len(nodes))
	}
	var (
		mu      sync.Mutex
		firstEr error
	)
	f.parallel(len(nodes), func(j int) {
		for i, s := range active {
			sc, st := s.Score(ctx, state, pod, nodes[j])
			if !st.IsSuccess() {
				mu.Lock()
				if firstEr == nil {
					firstEr = fmt.Errorf("score %s on node %s: %w", s.Name(), nodes[j].Node.Name, st.AsError())
				}
				mu.Unlock()
			}
			perPlugin[i][j] = NodeScore{Name: nodes[j].Node.Name, Score: sc}
		}
	})
	if firstEr != nil {
		return "", firstEr
	}
	for i, s := range active {
		if nz, ok := s.ScorePlugin.(ScoreNormalizer); ok {
			if st := nz.NormalizeScore(ctx, state, pod, perPlugin[i]); !st.IsSuccess() {
				return "", fmt.Errorf("normalize %s: %w", s.Name(), st.AsError())
			}
		}
		for j := range nodes {
			total[j] += perPlugin[i][j].Score * s.weight
		}
	}
	return f.selectHost(nodes, total), nil
}

func (f *Framework) selectHost(nodes []*NodeInfo, total []int64) string {
	best, ties := 0, 1
	for j := 1; j < len(nodes); j++ {
		switch {
		case total[j] > total[best]:
			best, ties = j, 1
		case total[j] == total[best]:
			ties++
			if f.rnd.IntN(ties) == 0 {
				best = j
			}
		}
	}
	return nodes[best].Node.Name
}

// parallel calls fn(i) for i in [0,n) on up to Parallelism goroutines.
func (f *Framework) parallel(n int, fn func(i int)) {
	chunk := n / (f.Parallelism * 8)
	if chunk < 1 {
		chunk = 1
	}
	f.parallelChunks(n, chunk, nil, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			fn(i)
		}
	})
}

// parallelChunks calls fn(lo, hi) on consecutive chunks of [0,n), in
// order of their start, on up to Parallelism goroutines (the caller is
// one of them), until the chunks run out or stop (if not nil) says so;
// it returns how many chunks were done, always the first ones. stop must
// stay true once true.
//
// The caller waits only for chunks that helpers took: a helper that
// starts late (on a busy machine the wake-up of another thread can take
// milliseconds) finds nothing left and is not waited for.
func (f *Framework) parallelChunks(n, chunk int, stop func() bool, fn func(lo, hi int)) int {
	chunks := (n + chunk - 1) / chunk
	workers := f.Parallelism
	if workers > chunks {
		workers = chunks
	}
	if workers <= 1 {
		c := 0
		for ; c < chunks && (stop == nil || !stop()); c++ {
			fn(c*chunk, min(n, (c+1)*chunk))
		}
		return c
	}
	var (
		mu       sync.Mutex
		idle     = sync.NewCond(&mu)
		next     int
		inflight int
	)
	work := func() {
		mu.Lock()
		defer mu.Unlock()
		for next < chunks && (stop == nil || !stop()) {
			c := next
			next++
			inflight++
			mu.Unlock()
			fn(c*chunk, min(n, (c+1)*chunk))
			mu.Lock()
			inflight--
		}
		if inflight == 0 {
			idle.Broadcast()
		}
	}
	for w := 1; w < workers; w++ {
		go work()
	}
	work()
	mu.Lock()
	for inflight > 0 {
		idle.Wait()
	}
	done := next
	mu.Unlock()
	return done
}

// Parallel exposes the bounded fan-out to preemption's dry run.
func (f *Framework) Parallel(n int, fn func(i int)) { f.parallel(n, fn) }

// DefaultNormalizeScore scales scores so the highest becomes MaxNodeScore
// (reversed: the highest becomes 0), upstream's helper of that name.
func DefaultNormalizeScore(reverse bool, scores []NodeScore) {
	var max int64
	for _, s := range scores {
		if s.Score > max {
			max = s.Score
		}
	}
	if max == 0 {
		if reverse {
			for i := range scores {
				scores[i].Score = MaxNodeScore
			}
		}
		return
	}
	for i := range scores {
		s := MaxNodeScore * scores[i].Score / max
		if reverse {
			s = MaxNodeScore - s
		}
		scores[i].Score = s
	}
}
