package statefulset

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestParentAndOrdinal(t *testing.T) {
	for _, tc := range []struct {
		name, parent string
		ordinal      int
	}{
		{"web-0", "web", 0},
		{"my-web-12", "my-web", 12},
		{"web", "", -1},
		{"web-x", "", -1},
	} {
		p, o := parentAndOrdinal(tc.name)
		if p != tc.parent || o != tc.ordinal {
			t.Errorf("%s: got %q %d, want %q %d", tc.name, p, o, tc.parent, tc.ordinal)
		}
	}
}

func TestClaimRefs(t *testing.T) {
	const (
		retain = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
		del    = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	)
	for _, tc := range []struct {
		whenDeleted, whenScaled appsv1.PersistentVolumeClaimRetentionPolicyType
		ordinal                 int // replicas is 2
		toSet, toPod            bool
	}{
		{retain, retain, 0, false, false},
		{retain, retain, 5, false, false},
		{del, retain, 0, true, false},
		{del, retain, 5, true, false},
		{retain, del, 0, false, false},
		{retain, del, 5, false, true},
		{del, del, 1, true, false},
		{del, del, 2, false, true},
	} {
		n := int32(2)
		set := &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Replicas: &n,
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: tc.whenDeleted, WhenScaled: tc.whenScaled}}}
		toSet, toPod := claimRefs(set, tc.ordinal)
		if toSet != tc.toSet || toPod != tc.toPod {
			t.Errorf("%s/%s ordinal %d: toSet %v toPod %v, want %v %v", tc.whenDeleted, tc.whenScaled, tc.ordinal, toSet, toPod, tc.toSet, tc.toPod)
		}
	}
}

func TestRevisionRoundTrip(t *testing.T) {
	set := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"},
		Spec: appsv1.StatefulSetSpec{ServiceName: "svc", Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "old"}}},
		}},
	}
	data, err := revisionPatch(set)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := revisionPatch(set.DeepCopy())
	if string(again) != string(data) {
		t.Fatal("revision data of the same template differs")
	}
	changed := set.DeepCopy()
	changed.Spec.Template.Spec.Containers[0].Image = "new"
	rev := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "web-1"}}
	rev.Data.Raw = data
	restored, err := fromRevision(changed, rev)
	if err != nil {
		t.Fatal(err)
	}
	if img := restored.Spec.Template.Spec.Containers[0].Image; img != "old" {
		t.Fatalf("restored image %q, want old", img)
	}
	p := newPod(restored, 3, "web-abc")
	if p.Name != "web-3" || p.Spec.Hostname != "web-3" || p.Spec.Subdomain != "svc" || p.Labels[podIndexLabel] != "3" ||
		!identityMatches(restored, p) || !storageMatches(restored, p) {
		t.Fatalf("pod %+v", p.ObjectMeta)
	}
}
