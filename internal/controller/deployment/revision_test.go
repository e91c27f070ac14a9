package deployment

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestResolveFenceposts(t *testing.T) {
	pct := intstr.FromString
	num := intstr.FromInt32
	tests := []struct {
		surge, unavail intstr.IntOrString
		desired        int32
		wantS, wantU   int32
	}{
		{pct("25%"), pct("25%"), 10, 3, 2}, // surge rounds up, unavailable down
		{pct("25%"), pct("25%"), 4, 1, 1},
		{pct("25%"), pct("25%"), 1, 1, 0},
		{num(0), num(0), 5, 0, 1}, // both zero: one may be unavailable
		{pct("0%"), pct("0%"), 5, 0, 1},
		{num(2), num(0), 3, 2, 0},
		{pct("50%"), pct("30%"), 3, 2, 0},
		{pct("100%"), pct("100%"), 7, 7, 7},
	}
	for _, tt := range tests {
		s, u, err := resolveFenceposts(&tt.surge, &tt.unavail, tt.desired)
		if err != nil || s != tt.wantS || u != tt.wantU {
			t.Errorf("resolveFenceposts(%s, %s, %d) = %d, %d, %v; want %d, %d", tt.surge.String(), tt.unavail.String(), tt.desired, s, u, err, tt.wantS, tt.wantU)
		}
	}
}

func deploy(replicas int32, surge, unavail string) *appsv1.Deployment {
	s, u := intstr.Parse(surge), intstr.Parse(unavail)
	return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas: &replicas,
		Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &s, MaxUnavailable: &u}},
	}}
}

func rs(name string, replicas int32, annotations map[string]string) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations}, Spec: appsv1.ReplicaSetSpec{Replicas: &replicas}}
}

func TestNewRSNewReplicas(t *testing.T) {
	tests := []struct {
		name       string
		d          *appsv1.Deployment
		old, new   int32
		wantNewRep int32
	}{
		{"start of rollout: surge only", deploy(10, "25%", "25%"), 10, 0, 3},
		{"surge used up", deploy(10, "25%", "25%"), 10, 3, 3},
		{"old scaled down", deploy(10, "25%", "25%"), 5, 3, 8},
		{"never above replicas", deploy(10, "25%", "25%"), 0, 9, 10},
		{"no surge", deploy(4, "0", "1"), 3, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			newRS := rs("new", tt.new, nil)
			got, err := newRSNewReplicas(tt.d, []*appsv1.ReplicaSet{rs("old", tt.old, nil), newRS}, newRS)
			if err != nil || got != tt.wantNewRep {
				t.Fatalf("got %d, %v; want %d", got, err, tt.wantNewRep)
			}
		})
	}
	rec := deploy(5, "0", "1")
	rec.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	if got, _ := newRSNewReplicas(rec, nil, rs("new", 0, nil)); got != 5 {
		t.Fatalf("recreate: got %d, want 5", got)
	}
}

func TestReplicaSetProportion(t *testing.T) {
	// A Deployment of 10 (max 13 with surge 3) in mid-rollout, 8 old + 5
	// new, scaled to 20 (max 25): +12 to hand out.
	d := deploy(20, "25%", "25%")
	ann := map[string]string{MaxReplicasAnnotation: "13"}
	old, nw := rs("old", 8, ann), rs("new", 5, ann)
	toAdd := int32(25 - 13)
	p1 := replicaSetProportion(old, d, toAdd, 0)
	p2 := replicaSetProportion(nw, d, toAdd, p1)
	// 8*25/13 = 15.38 → 15: +7; 5*25/13 = 9.6 → 10: +5.
	if p1 != 7 || p2 != 5 {
		t.Fatalf("proportions %d, %d; want 7, 5", p1, p2)
	}
	// Scaling to zero removes everything.
	d0 := deploy(0, "25%", "25%")
	if p := replicaSetProportion(old, d0, -13, 0); p != -8 {
		t.Fatalf("scale to zero: %d, want -8", p)
	}
}

func TestComputeHashAndNames(t *testing.T) {
	tmpl := &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
	}
	h := ComputeHash(tmpl, nil)
	if h != ComputeHash(tmpl.DeepCopy(), nil) {
		t.Fatal("hash not deterministic")
	}
	one := int32(1)
	if h == ComputeHash(tmpl, &one) {
		t.Fatal("collisionCount does not change the hash")
	}
	other := tmpl.DeepCopy()
	other.Spec.Containers[0].Image = "nginx:2"
	if h == ComputeHash(other, nil) {
		t.Fatal("template change does not change the hash")
	}
	const alphanums = "bcdfghjklmnpqrstvwxz2456789"
	for _, r := range h {
		if !strings.ContainsRune(alphanums, r) {
			t.Fatalf("hash %q has %q, not from rand's safe alphabet", h, r)
		}
	}
	long := strings.Repeat("a", 260)
	if n := replicaSetName(long, h); len(n) != 253 || !strings.HasSuffix(n, "-"+h) {
		t.Fatalf("long name %q (%d chars)", n, len(n))
	}
	if n := replicaSetName("web", "abc"); n != "web-abc" {
		t.Fatalf("name %q", n)
	}
}

func TestRevisionHistoryAnnotation(t *testing.T) {
	d := deploy(1, "1", "0")
	d.Annotations = map[string]string{"team": "a", corev1.LastAppliedConfigAnnotation: "{}"}
	r := rs("x", 1, map[string]string{RevisionAnnotation: "1"})
	if !setNewReplicaSetAnnotations(d, r, "3", true) {
		t.Fatal("no change reported")
	}
	if r.Annotations[RevisionAnnotation] != "3" || r.Annotations[RevisionHistoryAnnotation] != "1" || r.Annotations["team"] != "a" {
		t.Fatalf("annotations %v", r.Annotations)
	}
	if _, ok := r.Annotations[corev1.LastAppliedConfigAnnotation]; ok {
		t.Fatal("last-applied copied to the replica set")
	}
	setNewReplicaSetAnnotations(d, r, "5", true)
	if r.Annotations[RevisionHistoryAnnotation] != "1,3" {
		t.Fatalf("history %q, want 1,3", r.Annotations[RevisionHistoryAnnotation])
	}
}
