package podtopologyspread

import (
	"context"
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/internal/scheduler/framework"
)

// cluster builds nodes "name/zone" holding n pods labelled app=web each.
func cluster(spec map[string]int) *framework.Snapshot {
	var infos []*framework.NodeInfo
	for _, name := range []string{"a1/za", "a2/za", "b1/zb", "c1/"} {
		count, ok := spec[name]
		if !ok {
			continue
		}
		host, zone := name[:2], name[3:]
		labels := map[string]string{v1.LabelHostname: host}
		if zone != "" {
			labels[v1.LabelTopologyZone] = zone
		}
		n := framework.NewNodeInfo(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: host, Labels: labels}})
		for i := range count {
			n.AddPod(framework.NewPodInfo(&v1.Pod{ObjectMeta: metav1.ObjectMeta{UID: types.UID(fmt.Sprint(host, i)), Namespace: "default", Labels: map[string]string{"app": "web"}}}, 0))
		}
		infos = append(infos, n)
	}
	return framework.NewSnapshot(infos)
}

func TestFilter(t *testing.T) {
	constraint := func(key string, skew int32, minDomains *int32) v1.TopologySpreadConstraint {
		return v1.TopologySpreadConstraint{MaxSkew: skew, TopologyKey: key, WhenUnsatisfiable: v1.DoNotSchedule, MinDomains: minDomains,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}
	}
	three := int32(3)
	tests := []struct {
		name       string
		nodes      map[string]int
		constraint v1.TopologySpreadConstraint
		want       map[string]framework.Code
	}{
		{"zone skew 1", map[string]int{"a1/za": 1, "a2/za": 1, "b1/zb": 1}, constraint(v1.LabelTopologyZone, 1, nil),
			map[string]framework.Code{"a1": framework.Unschedulable, "a2": framework.Unschedulable, "b1": framework.Success}},
		{"node without the key", map[string]int{"a1/za": 0, "c1/": 0}, constraint(v1.LabelTopologyZone, 1, nil),
			map[string]framework.Code{"a1": framework.Success, "c1": framework.UnschedulableAndUnresolvable}},
		{"host skew 2", map[string]int{"a1/za": 2, "a2/za": 0, "b1/zb": 1}, constraint(v1.LabelHostname, 2, nil),
			map[string]framework.Code{"a1": framework.Unschedulable, "a2": framework.Success, "b1": framework.Success}},
		{"minDomains above the domains makes the minimum zero", map[string]int{"a1/za": 1, "b1/zb": 1}, constraint(v1.LabelTopologyZone, 1, &three),
			map[string]framework.Code{"a1": framework.Unschedulable, "b1": framework.Unschedulable}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := cluster(tt.nodes)
			pod := framework.NewPodInfo(&v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Labels: map[string]string{"app": "web"}},
				Spec: v1.PodSpec{TopologySpreadConstraints: []v1.TopologySpreadConstraint{tt.constraint}}}, 0)
			pl := &PodTopologySpread{}
			state := framework.NewCycleState()
			if st := pl.PreFilter(context.Background(), state, pod, snap); !st.IsSuccess() {
				t.Fatal(st.Message())
			}
			for name, want := range tt.want {
				if got := pl.Filter(context.Background(), state, pod, snap.Get(name)); got.Code() != want {
					t.Errorf("%s: %v %q, want %v", name, got.Code(), got.Reasons(), want)
				}
			}
		})
	}
}

func TestScoreSpreadsByHost(t *testing.T) {
	snap := cluster(map[string]int{"a1/za": 2, "a2/za": 0, "b1/zb": 1})
	pod := framework.NewPodInfo(&v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Labels: map[string]string{"app": "web"}}}, 0)
	pl := &PodTopologySpread{Workloads: selectAll{}}
	state := framework.NewCycleState()
	if st := pl.PreScore(context.Background(), state, pod, snap.Nodes, snap); !st.IsSuccess() {
		t.Fatalf("prescore %v", st.Code())
	}
	scores := make([]framework.NodeScore, len(snap.Nodes))
	for i, n := range snap.Nodes {
		s, _ := pl.Score(context.Background(), state, pod, n)
		scores[i] = framework.NodeScore{Name: n.Node.Name, Score: s}
	}
	pl.NormalizeScore(context.Background(), state, pod, scores)
	got := map[string]int64{}
	for _, s := range scores {
		got[s.Name] = s.Score
	}
	// Raw: a1 = 2·ln4+4 + 2·ln5+2 ≈ 12, a2 = 2·ln4+4+2 ≈ 9, b1 = ln4+4+ln5+2 ≈ 9.
	if got["a2"] != 100 || got["b1"] != 100 || got["a1"] != 75 {
		t.Fatalf("scores %v, want a2 100, b1 100, a1 75", got)
	}
}

type selectAll struct{}

func (selectAll) SelectorFor(*v1.Pod) labels.Selector {
	return labels.SelectorFromSet(labels.Set{"app": "web"})
}

// The zone counts carried from cycle to cycle follow the snapshot's
// changes, and equal a full count (a fresh plug-in) every time.
func TestPreScoreZoneCountsFollowTheSnapshot(t *testing.T) {
	web := func(uid string) *framework.PodInfo {
		return framework.NewPodInfo(&v1.Pod{ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid), Namespace: "default", Labels: map[string]string{"app": "web"}}}, 0)
	}
	zoneCounts := func(pl *PodTopologySpread, snap *framework.Snapshot) map[string]int64 {
		state := framework.NewCycleState()
		if st := pl.PreScore(context.Background(), state, web("new"), snap.Nodes, snap); !st.IsSuccess() {
			t.Fatalf("prescore %v", st.Code())
		}
		s := state.Read(scoreKey).(*scoreState)
		for i, c := range s.constraints {
			if c.key == v1.LabelTopologyZone {
				return s.counts[i]
			}
		}
		t.Fatal("no zone constraint")
		return nil
	}
	snap := cluster(map[string]int{"a1/za": 2, "a2/za": 0, "b1/zb": 1, "c1/": 3})
	carried := &PodTopologySpread{Workloads: selectAll{}}
	steps := []struct {
		name   string
		change func()
		want   map[string]int64
	}{
		{"first cycle", func() {}, map[string]int64{"za": 2, "zb": 1}},
		{"a pod added on a2", func() {
			i := index(snap, "a2")
			n := snap.Nodes[i].Clone()
			n.AddPod(web("x"))
			snap.Replace(i, n)
		}, map[string]int64{"za": 3, "zb": 1}},
		{"b1 moves to zone za", func() {
			i := index(snap, "b1")
			n := snap.Nodes[i].Clone()
			node := n.Node.DeepCopy()
			node.Labels[v1.LabelTopologyZone] = "za"
			n.SetNode(node)
			snap.Replace(i, n)
		}, map[string]int64{"za": 4}},
		{"a pod removed from a1", func() {
			i := index(snap, "a1")
			n := snap.Nodes[i].Clone()
			n.RemovePod("a10")
			snap.Replace(i, n)
		}, map[string]int64{"za": 3}},
	}
	for _, st := range steps {
		st.change()
		got := zoneCounts(carried, snap)
		fresh := zoneCounts(&PodTopologySpread{Workloads: selectAll{}}, snap)
		if fmt.Sprint(got) != fmt.Sprint(st.want) || fmt.Sprint(fresh) != fmt.Sprint(st.want) {
			t.Fatalf("%s: carried %v, fresh %v; want %v", st.name, got, fresh, st.want)
		}
	}
}

func index(snap *framework.Snapshot, name string) int {
	for i, n := range snap.Nodes {
		if n.Node.Name == name {
			return i
		}
	}
	panic(name)
}
