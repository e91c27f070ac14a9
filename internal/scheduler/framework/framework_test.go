package framework

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

func TestFitErrorMessage(t *testing.T) {
	st := func(code Code, reasons ...string) *Status { return NewStatus(code, reasons...) }
	tests := []struct {
		name string
		err  FitError
		want string
	}{
		{
			name: "counts sorted as strings",
			err: FitError{NumAllNodes: 3, Diagnosis: Diagnosis{NodeToStatus: map[string]*Status{
				"a": st(Unschedulable, "Insufficient cpu"), "b": st(Unschedulable, "Insufficient cpu"),
				"c": st(UnschedulableAndUnresolvable, "node(s) had untolerated taint(s)"),
			}, PostFilterMsg: "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."}},
			want: "0/3 nodes are available: 1 node(s) had untolerated taint(s), 2 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
		},
		{
			name: "several reasons on one node",
			err: FitError{NumAllNodes: 2, Diagnosis: Diagnosis{NodeToStatus: map[string]*Status{
				"a": st(Unschedulable, "Too many pods", "Insufficient cpu"), "b": st(Unschedulable, "Insufficient memory"),
			}}},
			want: "0/2 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, 1 Too many pods.",
		},
		{
			name: "absent nodes take the absent status",
			err: FitError{NumAllNodes: 4, Diagnosis: Diagnosis{NodeToStatus: map[string]*Status{
				"a": st(UnschedulableAndUnresolvable, "No preemption victims found for incoming pod"),
			}, AbsentStatus: st(UnschedulableAndUnresolvable, "Preemption is not helpful for scheduling")}},
			want: "0/4 nodes are available: 1 No preemption victims found for incoming pod, 3 Preemption is not helpful for scheduling.",
		},
		{
			name: "prefilter message replaces the counts",
			err:  FitError{NumAllNodes: 5, Diagnosis: Diagnosis{PreFilterMsg: "pod has unbound immediate PersistentVolumeClaims", AbsentStatus: st(UnschedulableAndUnresolvable, "x")}},
			want: "0/5 nodes are available: pod has unbound immediate PersistentVolumeClaims.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestNumFeasibleNodesToFind(t *testing.T) {
	tests := []struct{ pct, nodes, want int }{
		{0, 10, 10}, {0, 99, 99}, {0, 100, 100}, {0, 1000, 420}, {0, 5000, 500}, {0, 6000, 300},
		{0, 10000, 500}, {50, 1000, 500}, {100, 5000, 5000}, {1, 1000, 100},
	}
	for _, tt := range tests {
		f := &Framework{PercentageOfNodesToScore: tt.pct}
		if got := f.NumFeasibleNodesToFind(tt.nodes); got != tt.want {
			t.Errorf("pct %d nodes %d: got %d, want %d", tt.pct, tt.nodes, got, tt.want)
		}
	}
}

// rejectNamed rejects nodes by name; scoreLength prefers longer names.
type rejectNamed map[string]Code

func (rejectNamed) Name() string { return "RejectNamed" }
func (r rejectNamed) Filter(_ context.Context, _ *CycleState, _ *PodInfo, n *NodeInfo) *Status {
	if c, ok := r[n.Node.Name]; ok {
		return NewStatus(c, "rejected "+n.Node.Name[:1])
	}
	return nil
}

type scoreLength struct{}

func (scoreLength) Name() string { return "ScoreLength" }
func (scoreLength) Score(_ context.Context, _ *CycleState, _ *PodInfo, n *NodeInfo) (int64, *Status) {
	return int64(len(n.Node.Name)), nil
}

func nodes(names ...string) *Snapshot {
	var infos []*NodeInfo
	for _, n := range names {
		infos = append(infos, NewNodeInfo(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}}))
	}
	return NewSnapshot(infos)
}

func TestSchedule(t *testing.T) {
	pod := NewPodInfo(&v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", UID: "u"}}, 0)
	tests := []struct {
		name    string
		reject  rejectNamed
		nodes   []string
		want    string
		wantErr string
	}{
		{name: "highest score wins", nodes: []string{"a", "bbb", "cc"}, want: "bbb"},
		{name: "rejected best", reject: rejectNamed{"bbb": Unschedulable}, nodes: []string{"a", "bbb", "cc"}, want: "cc"},
		{name: "none fit", reject: rejectNamed{"a": Unschedulable, "b": UnschedulableAndUnresolvable, "c": Unschedulable}, nodes: []string{"a", "b", "c"},
			wantErr: "0/3 nodes are available: 1 rejected a, 1 rejected b, 1 rejected c."},
		{name: "no nodes", wantErr: "no nodes available to schedule pods"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := New([]Plugin{tt.reject, scoreLength{}}, nil)
			res, err := f.Schedule(context.Background(), NewCycleState(), nodes(tt.nodes...), pod)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				var fe *FitError
				if errors.As(err, &fe) && !fe.Diagnosis.UnschedulablePlugins["RejectNamed"] {
					t.Errorf("UnschedulablePlugins = %v", fe.Diagnosis.UnschedulablePlugins)
				}
				return
			}
			if err != nil || res.Node != tt.want {
				t.Fatalf("got %q, %v; want %q", res.Node, err, tt.want)
			}
		})
	}
}

// seenFilter rejects nodes by name and records every node it filters.
type seenFilter struct {
	mu     sync.Mutex
	seen   map[string]int
	reject func(name string) *Status
}

func (*seenFilter) Name() string { return "Seen" }
func (f *seenFilter) Filter(_ context.Context, _ *CycleState, _ *PodInfo, n *NodeInfo) *Status {
	f.mu.Lock()
	f.seen[n.Node.Name]++
	f.mu.Unlock()
	return f.reject(n.Node.Name)
}

func manyNodes(n int) *Snapshot {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("node-%04d", i)
	}
	return nodes(names...)
}

// Sampling as upstream: a cycle stops filtering once it has found
// numFeasibleNodesToFind nodes, and the next cycle starts where it
// stopped, so every node gets a turn.
func TestScheduleSamplesAndRotates(t *testing.T) {
	snap := manyNodes(1000)
	f := &seenFilter{seen: map[string]int{}, reject: func(string) *Status { return nil }}
	fw := New([]Plugin{f, scoreLength{}}, nil)
	fw.Parallelism = 4
	pod := NewPodInfo(&v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", UID: "u"}}, 0)
	want := fw.NumFeasibleNodesToFind(1000) // 420
	cycles := (1000 + want - 1) / want
	for range cycles {
		res, err := fw.Schedule(context.Background(), NewCycleState(), snap, pod)
		if err != nil {
			t.Fatal(err)
		}
		// Filtering goes by chunks of 8 nodes on 4 goroutines: those in
		// flight when the last wanted node is found finish.
		if res.Feasible != want || res.Evaluated < want || res.Evaluated > want+5*8 {
			t.Fatalf("feasible %d, evaluated %d; want %d of 1000", res.Feasible, res.Evaluated, want)
		}
	}
	for _, n := range snap.Nodes {
		if f.seen[n.Node.Name] == 0 {
			t.Fatalf("node %s never filtered in %d cycles", n.Node.Name, cycles)
		}
	}
}

// When nothing fits every node is filtered, and the message counts each
// reason over all of them.
func TestScheduleNothingFitsEvaluatesAll(t *testing.T) {
	snap := manyNodes(1000)
	f := &seenFilter{seen: map[string]int{}, reject: func(name string) *Status {
		if name[len(name)-1]%2 == 0 {
			return NewStatus(Unschedulable, "Insufficient cpu")
		}
		return NewStatus(UnschedulableAndUnresolvable, "node(s) had untolerated taint(s)")
	}}
	fw := New([]Plugin{f, scoreLength{}}, nil)
	fw.Parallelism = 4
	pod := NewPodInfo(&v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", UID: "u"}}, 0)
	for range 2 {
		_, err := fw.Schedule(context.Background(), NewCycleState(), snap, pod)
		want := "0/1000 nodes are available: 500 Insufficient cpu, 500 node(s) had untolerated taint(s)."
		if err == nil || err.Error() != want {
			t.Fatalf("err = %v, want %q", err, want)
		}
	}
	if len(f.seen) != 1000 {
		t.Fatalf("filtered %d nodes, want 1000", len(f.seen))
	}
}

func TestCountMatchingFollowsChanges(t *testing.T) {
	pod := func(name, app string) *PodInfo {
		return NewPodInfo(&v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name), Namespace: "ns", Labels: map[string]string{"app": app}}}, 0)
	}
	sel := labels.SelectorFromSet(labels.Set{"app": "web"})
	n := NewNodeInfo(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}})
	n.AddPod(pod("a", "web"))
	n.AddPod(pod("b", "db"))
	snap := n.Clone()
	if got := snap.CountMatching("ns", sel, sel.String()); got != 1 {
		t.Fatalf("count = %d, want 1", got)
	}
	if got := snap.CountMatching("other", sel, sel.String()); got != 0 {
		t.Fatalf("other namespace: count = %d, want 0", got)
	}
	// A clone being changed (a simulation, or the cache's next copy)
	// counts afresh.
	next := snap.Clone()
	next.AddPod(pod("c", "web"))
	if got := next.CountMatching("ns", sel, sel.String()); got != 2 {
		t.Fatalf("after AddPod: count = %d, want 2", got)
	}
	next.RemovePod("a")
	if got := next.CountMatching("ns", sel, sel.String()); got != 1 {
		t.Fatalf("after RemovePod: count = %d, want 1", got)
	}
	if got := snap.CountMatching("ns", sel, sel.String()); got != 1 {
		t.Fatalf("snapshot's node changed: count = %d, want 1", got)
	}
	deleting := pod("d", "web")
	deleting.Pod.DeletionTimestamp = &metav1.Time{}
	last := next.Clone()
	last.AddPod(deleting)
	if got := last.CountMatching("ns", sel, sel.String()); got != 1 {
		t.Fatalf("terminating pod counted: count = %d, want 1", got)
	}
}
