// Package noderesources holds the resource plug-ins: NodeResourcesFit
// (requests against allocatable minus what bound and assumed pods
// request; LeastAllocated scoring) and NodeResourcesBalancedAllocation.
package noderesources

import (
	"context"
	"fmt"
	"sort"

	v1 "k8s.io/api/core/v1"

	"skiff.dev/skiff/internal/scheduler/framework"
)

// FitName is the Fit plug-in's name, as upstream.
const FitName = "NodeResourcesFit"

// Upstream's reason texts.
const (
	ReasonTooManyPods     = "Too many pods"
	ReasonInsufficientCPU = "Insufficient cpu"
	ReasonInsufficientMem = "Insufficient memory"
	ReasonInsufficientEph = "Insufficient ephemeral-storage"
)

// Fit is the NodeResourcesFit plug-in with the LeastAllocated scoring
// strategy (cpu and memory, weight 1 each), upstream's default.
type Fit struct{}

var (
	_ framework.FilterPlugin = Fit{}
	_ framework.ScorePlugin  = Fit{}
)

func (Fit) Name() string { return FitName }

// Filter rejects a node without room for the pod. Every shortfall is a
// reason; a request larger than the node's whole allocatable is
// unresolvable (preemption cannot help).
func (Fit) Filter(_ context.Context, _ *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	reasons, unresolvable := Insufficient(pod, node)
	if len(reasons) == 0 {
		return nil
	}
	code := framework.Unschedulable
	if unresolvable {
		code = framework.UnschedulableAndUnresolvable
	}
	return framework.NewStatus(code, reasons...)
}

// Insufficient lists what node lacks for pod, in upstream's order (pod
// count, cpu, memory, ephemeral storage, then scalar resources), and
// whether any request exceeds the node's allocatable outright.
func Insufficient(pod *framework.PodInfo, node *framework.NodeInfo) (reasons []string, unresolvable bool) {
	alloc, used, req := &node.Allocatable, &node.Requested, &pod.Requests
	if int64(len(node.Pods))+1 > alloc.AllowedPodNumber {
		reasons = append(reasons, ReasonTooManyPods)
	}
	if req.IsZero() {
		return reasons, false
	}
	check := func(want, have, inUse int64, reason string) {
		if want > 0 && want > have-inUse {
			reasons = append(reasons, reason)
			if want > have {
				unresolvable = true
			}
		}
	}
	check(req.MilliCPU, alloc.MilliCPU, used.MilliCPU, ReasonInsufficientCPU)
	check(req.Memory, alloc.Memory, used.Memory, ReasonInsufficientMem)
	check(req.EphemeralStorage, alloc.EphemeralStorage, used.EphemeralStorage, ReasonInsufficientEph)
	if len(req.Scalar) > 0 {
		names := make([]string, 0, len(req.Scalar))
		for n := range req.Scalar {
			names = append(names, string(n))
		}
		sort.Strings(names)
		for _, n := range names {
			rn := v1.ResourceName(n)
			check(req.Scalar[rn], alloc.Scalar[rn], used.Scalar[rn], fmt.Sprintf("Insufficient %v", rn))
		}
	}
	return reasons, unresolvable
}

// Score is LeastAllocated: the free fraction of cpu and memory after
// placing the pod, averaged, 0..100. Requests are non-zero-defaulted so
// best-effort pods spread too.
func (Fit) Score(_ context.Context, _ *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) (int64, *framework.Status) {
	var sum, weights int64
	for _, r := range [2][2]int64{
		{node.NonZeroRequested.MilliCPU + pod.NonZeroCPU, node.Allocatable.MilliCPU},
		{node.NonZeroRequested.Memory + pod.NonZeroMemory, node.Allocatable.Memory},
	} {
		requested, capacity := r[0], r[1]
		if capacity == 0 {
			continue
		}
		weights++
		if requested <= capacity {
			sum += (capacity - requested) * framework.MaxNodeScore / capacity
		}
	}
	if weights == 0 {
		return 0, nil
	}
	return sum / weights, nil
}
