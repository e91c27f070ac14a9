// Package nodeunschedulable is the NodeUnschedulable filter: a cordoned
// node (spec.unschedulable) takes only pods that tolerate the
// node.kubernetes.io/unschedulable:NoSchedule taint.
package nodeunschedulable

import (
	"context"

	"github.com/go-logr/logr"
	v1 "k8s.io/api/core/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"

	"skiff.dev/skiff/internal/scheduler/framework"
)

// Name is the plug-in's name, as upstream.
const Name = "NodeUnschedulable"

// ErrReasonUnschedulable is upstream's reason text.
const ErrReasonUnschedulable = "node(s) were unschedulable"

// NodeUnschedulable is the plug-in.
type NodeUnschedulable struct{}

var _ framework.FilterPlugin = NodeUnschedulable{}

func (NodeUnschedulable) Name() string { return Name }

var unschedulableTaint = v1.Taint{Key: v1.TaintNodeUnschedulable, Effect: v1.TaintEffectNoSchedule}

// Filter rejects a cordoned node unless the pod tolerates cordoning.
func (NodeUnschedulable) Filter(_ context.Context, _ *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	if !node.Node.Spec.Unschedulable {
		return nil
	}
	if corev1helpers.TolerationsTolerateTaint(logr.Discard(), pod.Pod.Spec.Tolerations, &unschedulableTaint, false) {
		return nil
	}
	return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonUnschedulable)
}
