package batch

import (
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	fixedNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	clock    = func() time.Time { return fixedNow }
	hourAgo  = metav1.NewTime(fixedNow.Add(-time.Hour))
)

type want struct {
	typ    field.ErrorType
	path   string
	detail string
}

// checkErrors compares errors as a set of "type path" pairs, then checks
// details where the case names one.
func checkErrors(t *testing.T, got field.ErrorList, wants []want) {
	t.Helper()
	var g, w []string
	for _, e := range got {
		g = append(g, string(e.Type)+" "+e.Field)
	}
	for _, e := range wants {
		w = append(w, string(e.typ)+" "+e.path)
	}
	sort.Strings(g)
	sort.Strings(w)
	if strings.Join(g, "\n") != strings.Join(w, "\n") {
		t.Fatalf("errors:\n got  %v\n want %v\n full: %v", g, w, got.ToAggregate())
	}
	for _, e := range wants {
		if e.detail == "" {
			continue
		}
		found := false
		for _, ge := range got {
			if ge.Type == e.typ && ge.Field == e.path && strings.Contains(ge.Error(), e.detail) {
				found = true
			}
		}
		if !found {
			t.Errorf("no %s error at %s containing %q in %v", e.typ, e.path, e.detail, got.ToAggregate())
		}
	}
}

func podTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "pi", Image: "perl:5"}},
		},
	}
}

func mustQuantity(s string) resource.Quantity { return resource.MustParse(s) }
