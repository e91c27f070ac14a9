package apps

import (
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// fixedNow is the clock of every table test: objects are created an hour
// before it.
var (
	fixedNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	clock    = func() time.Time { return fixedNow }
	hourAgo  = metav1.NewTime(fixedNow.Add(-time.Hour))
)

// want is one expected validation error: its type and field path, and
// optionally a fragment of its detail.
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

func podTemplate(labels map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}, {Name: "log", Image: "busybox"}},
		},
	}
}

var appLabels = map[string]string{"app": "web"}

func objectMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: hourAgo, UID: "uid-1"}
}
