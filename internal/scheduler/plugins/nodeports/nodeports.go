// Package nodeports is the NodePorts filter: a pod's host ports must be
// free on the node (same protocol and port, overlapping host IP).
package nodeports

import (
	"context"

	v1 "k8s.io/api/core/v1"

	"skiff.dev/skiff/internal/scheduler/framework"
)

// Name is the plug-in's name, as upstream.
const Name = "NodePorts"

// ErrReason is upstream's reason text.
const ErrReason = "node(s) didn't have free ports for the requested pod ports"

// NodePorts is the plug-in.
type NodePorts struct{}

var _ framework.FilterPlugin = NodePorts{}

func (NodePorts) Name() string { return Name }

// Filter rejects a node where a requested host port is taken.
func (NodePorts) Filter(_ context.Context, _ *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	for _, want := range pod.HostPorts {
		for _, used := range node.UsedPorts {
			if Conflict(want, used) {
				return framework.NewStatus(framework.Unschedulable, ErrReason)
			}
		}
	}
	return nil
}

// Conflict reports whether two host ports collide: same port and
// protocol (TCP by default) on the same IP, 0.0.0.0 (or empty) meaning
// every IP.
func Conflict(a, b v1.ContainerPort) bool {
	if a.HostPort != b.HostPort || protocol(a) != protocol(b) {
		return false
	}
	ia, ib := hostIP(a), hostIP(b)
	return ia == ib || ia == "0.0.0.0" || ib == "0.0.0.0"
}

func protocol(p v1.ContainerPort) v1.Protocol {
	if p.Protocol == "" {
		return v1.ProtocolTCP
	}
	return p.Protocol
}

func hostIP(p v1.ContainerPort) string {
	if p.HostIP == "" {
		return "0.0.0.0"
	}
	return p.HostIP
}
