// Package imagelocality is the ImageLocality score: nodes that already
// hold the pod's images score higher, weighted by image size and by how
// widely the image is spread (so one node does not attract everything).
package imagelocality

import (
	"context"

	"skiff.dev/skiff/internal/scheduler/framework"
)

// Name is the plug-in's name, as upstream.
const Name = "ImageLocality"

// Upstream's thresholds: images below 23 MB count as absent; a node is
// saturated at 1000 MB per container.
const (
	mb                    int64 = 1024 * 1024
	minThreshold                = 23 * mb
	maxContainerThreshold       = 1000 * mb
)

// ImageLocality is the plug-in.
type ImageLocality struct{}

var (
	_ framework.PreScorePlugin = ImageLocality{}
	_ framework.ScorePlugin    = ImageLocality{}
)

func (ImageLocality) Name() string { return Name }

const stateKey = Name + "/prescore"

type preScoreState struct {
	images     []string // normalized, one per container
	imageNodes map[string]int
	totalNodes int
}

func (s *preScoreState) Clone() framework.StateData { return s }

// PreScore records the pod's images and how many nodes hold each.
func (ImageLocality) PreScore(_ context.Context, state *framework.CycleState, pod *framework.PodInfo, _ []*framework.NodeInfo, snap *framework.Snapshot) *framework.Status {
	s := &preScoreState{imageNodes: snap.ImageNodes, totalNodes: len(snap.Nodes)}
	for _, c := range pod.Pod.Spec.InitContainers {
		s.images = append(s.images, framework.NormalizeImageName(c.Image))
	}
	for _, c := range pod.Pod.Spec.Containers {
		s.images = append(s.images, framework.NormalizeImageName(c.Image))
	}
	state.Write(stateKey, s)
	return nil
}

// Score sums size × spread of the images present on node, scaled between
// the thresholds into 0..100.
func (ImageLocality) Score(_ context.Context, state *framework.CycleState, _ *framework.PodInfo, node *framework.NodeInfo) (int64, *framework.Status) {
	s, ok := state.Read(stateKey).(*preScoreState)
	if !ok || s.totalNodes == 0 || len(s.images) == 0 {
		return 0, nil
	}
	var sum int64
	for _, img := range s.images {
		if size, ok := node.ImageSizes[img]; ok {
			sum += int64(float64(size) * float64(s.imageNodes[img]) / float64(s.totalNodes))
		}
	}
	max := maxContainerThreshold * int64(len(s.images))
	if sum < minThreshold {
		sum = minThreshold
	} else if sum > max {
		sum = max
	}
	return framework.MaxNodeScore * (sum - minThreshold) / (max - minThreshold), nil
}
