package apiserver

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/internal/registry"
)

func TestGCFinalizers(t *testing.T) {
	orphan, fg := metav1.FinalizerOrphanDependents, metav1.FinalizerDeleteDependents
	policy := func(p metav1.DeletionPropagation) *metav1.DeleteOptions {
		return &metav1.DeleteOptions{PropagationPolicy: &p}
	}
	cases := []struct {
		name    string
		def     registry.GCPolicy
		current []string
		opts    *metav1.DeleteOptions
		want    []string
		changed bool
	}{
		{"background default adds nothing", registry.GCBackground, nil, &metav1.DeleteOptions{}, nil, false},
		{"orphan default (jobs)", registry.GCOrphan, nil, &metav1.DeleteOptions{}, []string{orphan}, true},
		{"explicit background beats the orphan default", registry.GCOrphan, nil, policy(metav1.DeletePropagationBackground), nil, false},
		{"foreground", registry.GCBackground, []string{"x"}, policy(metav1.DeletePropagationForeground), []string{"x", fg}, true},
		{"orphan replaces foreground", registry.GCBackground, []string{fg}, policy(metav1.DeletePropagationOrphan), []string{orphan}, true},
		{"a present finalizer beats the default", registry.GCOrphan, []string{fg}, &metav1.DeleteOptions{}, []string{fg}, false},
		{"orphanDependents=true", registry.GCBackground, nil, &metav1.DeleteOptions{OrphanDependents: ptr.To(true)}, []string{orphan}, true},
		{"orphanDependents=false drops orphan", registry.GCBackground, []string{orphan}, &metav1.DeleteOptions{OrphanDependents: ptr.To(false)}, []string{}, true},
		{"unsupported kinds get nothing", registry.GCUnsupported, nil, policy(metav1.DeletePropagationForeground), nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := &resource{def: &registry.Resource{GCPolicy: c.def}}
			got, changed := gcFinalizers(res, c.current, c.opts)
			if changed != c.changed || (changed && !slices.Equal(got, c.want)) {
				t.Errorf("got %q changed=%v, want %q changed=%v", got, changed, c.want, c.changed)
			}
		})
	}
}

// A foreground delete leaves the object, marked and holding the
// garbage collector's finalizer, until the finalizer is removed.
func TestForegroundDeleteWaitsForFinalizer(t *testing.T) {
	f := newFixture(t)
	cms := f.client.CoreV1().ConfigMaps("default")
	if _, err := cms.Create(bg, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "owner"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	fg := metav1.DeletePropagationForeground
	if err := cms.Delete(bg, "owner", metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil {
		t.Fatal(err)
	}
	got, err := cms.Get(bg, "owner", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("after a foreground delete the object must remain: %v", err)
	}
	if got.DeletionTimestamp == nil || !slices.Equal(got.Finalizers, []string{metav1.FinalizerDeleteDependents}) {
		t.Fatalf("deletionTimestamp %v finalizers %q", got.DeletionTimestamp, got.Finalizers)
	}
	got.Finalizers = nil
	if _, err := cms.Update(bg, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Get(bg, "owner", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("once the finalizer is gone the object must be: %v", err)
	}
}
