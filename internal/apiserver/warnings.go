package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// warningSink collects the warnings a request's handling produces (the
// strategies' create and update warnings) for the response's Warning
// headers. It is safe for concurrent use and drops duplicates, as
// upstream's recorder does, so an update retried after a conflict does not
// repeat itself.
type warningSink struct {
	mu   sync.Mutex
	msgs []string
}

type warningSinkKey struct{}

// withWarnings returns a context whose warnings are collected in the
// returned sink.
func withWarnings(ctx context.Context) (context.Context, *warningSink) {
	s := &warningSink{}
	return context.WithValue(ctx, warningSinkKey{}, s), s
}

// addContextWarnings records msgs in ctx's sink, if it has one.
func addContextWarnings(ctx context.Context, msgs ...string) {
	s, _ := ctx.Value(warningSinkKey{}).(*warningSink)
	if s == nil || len(msgs) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range msgs {
		if m != "" && !slices.Contains(s.msgs, m) {
			s.msgs = append(s.msgs, m)
		}
	}
}

// writeTo adds the collected warnings after those in first (the decoder's).
func (s *warningSink) writeTo(w http.ResponseWriter, first []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	addWarnings(w, first)
	for _, m := range s.msgs {
		if !slices.Contains(first, m) {
			addWarnings(w, []string{m})
		}
	}
}

// servedMajor and servedMinor are the Kubernetes minor version whose API Skiff serves;
// deprecations from this release or earlier are announced.
const servedMajor, servedMinor = 1, 37

// deprecationWarning is upstream's warning for every request to an API
// whose Go type declares itself deprecated (prerelease-lifecycle-gen),
// e.g. "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1
// EndpointSlice". It is "" for APIs that are not deprecated.
func deprecationWarning(gvk schema.GroupVersionKind, obj runtime.Object) string {
	dep, ok := obj.(interface{ APILifecycleDeprecated() (int, int) })
	if !ok {
		return ""
	}
	major, minor := dep.APILifecycleDeprecated()
	if major == 0 && minor == 0 || major > servedMajor || major == servedMajor && minor > servedMinor {
		return ""
	}
	msg := fmt.Sprintf("%s %s is deprecated in v%d.%d+", gvk.GroupVersion().String(), gvk.Kind, major, minor)
	if rem, ok := obj.(interface{ APILifecycleRemoved() (int, int) }); ok {
		if major, minor := rem.APILifecycleRemoved(); major != 0 || minor != 0 {
			msg += fmt.Sprintf(", unavailable in v%d.%d+", major, minor)
		}
	}
	if rep, ok := obj.(interface {
		APILifecycleReplacement() schema.GroupVersionKind
	}); ok {
		if gvk := rep.APILifecycleReplacement(); !gvk.Empty() {
			msg += fmt.Sprintf("; use %s %s", gvk.GroupVersion().String(), gvk.Kind)
		}
	}
	return msg
}
