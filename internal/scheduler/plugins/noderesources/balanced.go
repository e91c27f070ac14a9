package noderesources

import (
	"context"
	"math"

	"skiff.dev/skiff/internal/scheduler/framework"
)

// BalancedName is the BalancedAllocation plug-in's name, as upstream.
const BalancedName = "NodeResourcesBalancedAllocation"

// BalancedAllocation favours nodes whose cpu and memory fractions stay
// close to each other, scoring the improvement the pod brings (1.37's
// formula: 50 + (50 + withPod - withoutPod)/2). Best-effort pods skip it.
type BalancedAllocation struct{}

var (
	_ framework.PreScorePlugin = BalancedAllocation{}
	_ framework.ScorePlugin    = BalancedAllocation{}
)

func (BalancedAllocation) Name() string { return BalancedName }

// PreScore skips best-effort pods, so they do not pile onto one node.
func (BalancedAllocation) PreScore(_ context.Context, _ *framework.CycleState, pod *framework.PodInfo, _ []*framework.NodeInfo, _ *framework.Snapshot) *framework.Status {
	if pod.Requests.MilliCPU == 0 && pod.Requests.Memory == 0 {
		return framework.NewStatus(framework.Skip)
	}
	return nil
}

func (BalancedAllocation) Score(_ context.Context, _ *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) (int64, *framework.Status) {
	alloc := [2]int64{node.Allocatable.MilliCPU, node.Allocatable.Memory}
	before := [2]int64{node.Requested.MilliCPU, node.Requested.Memory}
	after := [2]int64{before[0] + pod.Requests.MilliCPU, before[1] + pod.Requests.Memory}
	with, without := balance(after, alloc), balance(before, alloc)
	return framework.MaxNodeScore/2 + (framework.MaxNodeScore/2+with-without)/2, nil
}

// balance is (1 - standard deviation of the used fractions) * 100.
func balance(requested, allocatable [2]int64) int64 {
	var fr []float64
	for i := range requested {
		if allocatable[i] == 0 {
			continue
		}
		f := float64(requested[i]) / float64(allocatable[i])
		if f > 1 {
			f = 1
		}
		fr = append(fr, f)
	}
	std := 0.0
	if len(fr) == 2 {
		std = math.Abs((fr[0] - fr[1]) / 2)
	}
	return int64((1 - std) * float64(framework.MaxNodeScore))
}
