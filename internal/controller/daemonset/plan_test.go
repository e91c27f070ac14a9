package daemonset

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"skiff.dev/skiff/internal/controller/history"
)

func TestShouldRun(t *testing.T) {
	noExec := corev1.Taint{Key: "k", Effect: corev1.TaintEffectNoExecute}
	noSched := corev1.Taint{Key: "k", Effect: corev1.TaintEffectNoSchedule}
	notReady := corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}
	for _, tc := range []struct {
		name      string
		tmpl      corev1.PodSpec
		node      corev1.Node
		run, keep bool
	}{
		{"plain", corev1.PodSpec{}, corev1.Node{}, true, true},
		{"selector mismatch", corev1.PodSpec{NodeSelector: map[string]string{"a": "b"}}, corev1.Node{}, false, false},
		{"selector match", corev1.PodSpec{NodeSelector: map[string]string{"a": "b"}},
			corev1.Node{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"a": "b"}}}, true, true},
		{"untolerated NoSchedule keeps", corev1.PodSpec{}, corev1.Node{Spec: corev1.NodeSpec{Taints: []corev1.Taint{noSched}}}, false, true},
		{"untolerated NoExecute evicts", corev1.PodSpec{}, corev1.Node{Spec: corev1.NodeSpec{Taints: []corev1.Taint{noExec}}}, false, false},
		{"tolerated", corev1.PodSpec{Tolerations: []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}}},
			corev1.Node{Spec: corev1.NodeSpec{Taints: []corev1.Taint{noExec}}}, true, true},
		{"not-ready tolerated automatically", corev1.PodSpec{}, corev1.Node{Spec: corev1.NodeSpec{Taints: []corev1.Taint{notReady}}}, true, true},
		{"affinity", corev1.PodSpec{Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"z1"}}}}}}}}},
			corev1.Node{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"zone": "z2"}}}, false, false},
	} {
		ds := &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: tc.tmpl}}}
		tc.node.Name = "n"
		run, keep := shouldRun(ds, &tc.node)
		if run != tc.run || keep != tc.keep {
			t.Errorf("%s: run %v keep %v, want %v %v", tc.name, run, keep, tc.run, tc.keep)
		}
	}
}

func TestNodeAffinityKeepsExpressions(t *testing.T) {
	expr := corev1.NodeSelectorRequirement{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"z1"}}
	in := &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{expr}}}}}}
	out := nodeAffinityFor(in, "n7")
	term := out.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0]
	if len(term.MatchExpressions) != 1 || len(term.MatchFields) != 1 || term.MatchFields[0].Key != "metadata.name" || term.MatchFields[0].Values[0] != "n7" {
		t.Fatalf("term %+v", term)
	}
	if len(in.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchFields) != 0 {
		t.Fatal("the template's affinity was modified")
	}
	if targetNode(&corev1.Pod{Spec: corev1.PodSpec{Affinity: nodeAffinityFor(nil, "n1")}}) != "n1" {
		t.Fatal("target node of a new pod")
	}
}

func TestBudget(t *testing.T) {
	pct := func(s string) *intstr.IntOrString { v := intstr.FromString(s); return &v }
	num := func(i int32) *intstr.IntOrString { v := intstr.FromInt32(i); return &v }
	for _, tc := range []struct {
		surge, unavail        *intstr.IntOrString
		desired, wantS, wantU int
	}{
		{nil, nil, 10, 0, 1},
		{nil, pct("25%"), 10, 0, 3},
		{num(0), num(0), 10, 0, 1},
		{pct("10%"), num(0), 5, 1, 0},
		{num(2), num(0), 10, 2, 0},
	} {
		ds := &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{UpdateStrategy: appsv1.DaemonSetUpdateStrategy{
			Type: appsv1.RollingUpdateDaemonSetStrategyType, RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxSurge: tc.surge, MaxUnavailable: tc.unavail}}}}
		s, u := budget(ds, tc.desired)
		if s != tc.wantS || u != tc.wantU {
			t.Errorf("%v/%v of %d: got %d %d, want %d %d", tc.surge, tc.unavail, tc.desired, s, u, tc.wantS, tc.wantU)
		}
	}
}

func pod(name, hash string, ready bool) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{history.HashLabel: hash}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}}}
}

func TestRollingUpdateWithoutSurge(t *testing.T) {
	two := intstr.FromInt32(2)
	ds := &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{UpdateStrategy: appsv1.DaemonSetUpdateStrategy{
		Type: appsv1.RollingUpdateDaemonSetStrategyType, RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &two}}}}
	nodes := []nodeState{
		{name: "n1", run: true, keep: true, pods: []*corev1.Pod{pod("new1", "h2", false)}}, // unavailable: uses 1 of 2
		{name: "n2", run: true, keep: true, pods: []*corev1.Pod{pod("old2", "h1", false)}}, // unavailable old: replaced outside the budget
		{name: "n3", run: true, keep: true, pods: []*corev1.Pod{pod("old3", "h1", true)}},
		{name: "n4", run: true, keep: true, pods: []*corev1.Pod{pod("old4", "h1", true)}},
	}
	p := rollingUpdate(ds, nodes, "h2", time.Now())
	var got []string
	for _, d := range p.delete {
		got = append(got, d.Name)
	}
	if len(got) != 2 || got[0] != "old2" || got[1] != "old3" {
		t.Fatalf("deleted %v, want [old2 old3]", got)
	}
}
