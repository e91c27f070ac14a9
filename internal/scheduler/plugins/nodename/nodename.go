// Package nodename is the NodeName filter: a pod that names a node in
// spec.nodeName fits only there.
package nodename

import (
	"context"

	"skiff.dev/skiff/internal/scheduler/framework"
)

// Name is the plug-in's name, as upstream.
const Name = "NodeName"

// ErrReason is upstream's reason text.
const ErrReason = "node(s) didn't match the requested node name"

// NodeName is the plug-in.
type NodeName struct{}

var _ framework.FilterPlugin = NodeName{}

func (NodeName) Name() string { return Name }

// Filter rejects every node but the one the pod names, if it names one.
func (NodeName) Filter(_ context.Context, _ *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	if want := pod.Pod.Spec.NodeName; want != "" && want != node.Node.Name {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReason)
	}
	return nil
}
