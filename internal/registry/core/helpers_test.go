package core

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// testNow is the fixed clock of the table tests.
var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

var testClock = clock{now: func() time.Time { return testNow }}

// errSummary renders errors as "type path" lines, sorted, so tests can
// compare exact field paths and error types.
func errSummary(errs field.ErrorList) []string {
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		out = append(out, fmt.Sprintf("%s %s", string(e.Type), e.Field))
	}
	sort.Strings(out)
	return out
}

// expectErrs checks that errs are exactly want ("Type path" entries, any
// order).
func expectErrs(t *testing.T, errs field.ErrorList, want ...string) {
	t.Helper()
	got := errSummary(errs)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n got %q\nwant %q\nfull: %v", got, want, errs.ToAggregate())
	}
}

// expectErrDetail checks that one error on path has a detail containing
// substr.
func expectErrDetail(t *testing.T, errs field.ErrorList, path, substr string) {
	t.Helper()
	for _, e := range errs {
		if e.Field == path && strings.Contains(e.Detail, substr) {
			return
		}
	}
	t.Errorf("no error on %s containing %q in %v", path, substr, errs.ToAggregate())
}

func q(s string) resource.Quantity { return resource.MustParse(s) }

func ptr[T any](v T) *T { return &v }

// validPod returns a defaulted, valid pod.
func validPod() *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "nginx", Image: "nginx:1.27", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80}}}},
		},
	}
	defaultPod(pod)
	return pod
}
