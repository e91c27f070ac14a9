package agent

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/internal/agent/images"
	"skiff.dev/skiff/internal/agent/runtime"
)

// imageFS is the optional runtime capability image garbage collection
// needs: where the runtime keeps its images (runtime.CRI has it; the
// simulated runtime has no disk to fill).
type imageFS interface {
	ImageFsInfo(ctx context.Context) ([]runtime.Filesystem, error)
}

// collectImages runs image garbage collection (images.Manager) until ctx
// ends, when the runtime reports its image filesystem. A failed
// collection is upstream's ImageGCFailed warning on the node.
func (a *Agent) collectImages(ctx context.Context) {
	fs, ok := a.rt.(imageFS)
	if !ok {
		return
	}
	m, err := images.New(images.Config{
		Runtime: a.rt, FS: images.RuntimeFS{Runtime: fs}, Policy: a.cfg.ImageGC,
		Pinned: a.cfg.PinnedImages, PodImages: a.podImages, Clock: a.clock, Log: a.log,
	})
	if err != nil {
		a.log.Error("image GC disabled", "err", err)
		return
	}
	node := &corev1.ObjectReference{Kind: "Node", Name: a.cfg.NodeName, UID: types.UID(a.cfg.NodeName)}
	m.Run(ctx, images.Period, func(err error) {
		a.recorder.Event(node, corev1.EventTypeWarning, "ImageGCFailed", err.Error())
	})
}

// podImages are the images the node's pods name, which image garbage
// collection keeps even before their containers exist.
func (a *Agent) podImages() []string {
	var out []string
	for _, obj := range a.pods.GetStore().List() {
		pod, ok := obj.(*corev1.Pod)
		if !ok || pod.Spec.NodeName != a.cfg.NodeName {
			continue // a shared informer holds other nodes' pods too
		}
		for _, c := range pod.Spec.InitContainers {
			out = append(out, c.Image)
		}
		for _, c := range pod.Spec.Containers {
			out = append(out, c.Image)
		}
		for _, c := range pod.Spec.EphemeralContainers {
			out = append(out, c.Image)
		}
	}
	return out
}
