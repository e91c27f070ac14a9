package apiserver

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/skiff/internal/registry"
)

// gracePeriod is how long deletion of obj waits: the resource's own rule
// (pods) or, for everything else, no wait.
func (s *Server) gracePeriod(res *resource, obj runtime.Object, opts *metav1.DeleteOptions) int64 {
	gd, ok := res.def.Strategy.(registry.GracefulDeleter)
	if !ok {
		return 0
	}
	g := gd.GracePeriod(obj, opts.GracePeriodSeconds)
	if g < 0 {
		return 0
	}
	return g
}

func secondsDuration(s int64) time.Duration { return time.Duration(s) * time.Second }
