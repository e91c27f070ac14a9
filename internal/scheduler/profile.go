package scheduler

import (
	"skiff.dev/skiff/internal/scheduler/framework"
	"skiff.dev/skiff/internal/scheduler/plugins/imagelocality"
	"skiff.dev/skiff/internal/scheduler/plugins/interpodaffinity"
	"skiff.dev/skiff/internal/scheduler/plugins/nodeaffinity"
	"skiff.dev/skiff/internal/scheduler/plugins/nodename"
	"skiff.dev/skiff/internal/scheduler/plugins/nodeports"
	"skiff.dev/skiff/internal/scheduler/plugins/noderesources"
	"skiff.dev/skiff/internal/scheduler/plugins/nodeunschedulable"
	"skiff.dev/skiff/internal/scheduler/plugins/podtopologyspread"
	"skiff.dev/skiff/internal/scheduler/plugins/tainttoleration"
)

// DefaultWeights are upstream's default score weights.
var DefaultWeights = map[string]int64{
	tainttoleration.Name:       3,
	nodeaffinity.Name:          2,
	noderesources.FitName:      1,
	podtopologyspread.Name:     2,
	interpodaffinity.Name:      2,
	noderesources.BalancedName: 1,
	imagelocality.Name:         1,
}

// NewDefaultFramework builds upstream's default profile, plug-ins in
// upstream's order (which decides which reason a node is counted under).
// workloads and namespaces may be nil (no default spreading; namespace
// selectors in pod affinity match only when empty).
func NewDefaultFramework(workloads podtopologyspread.WorkloadSelector, namespaces interpodaffinity.NamespaceLabeler) *framework.Framework {
	return framework.New([]framework.Plugin{
		nodename.NodeName{},
		nodeunschedulable.NodeUnschedulable{},
		tainttoleration.TaintToleration{},
		nodeaffinity.NodeAffinity{},
		nodeports.NodePorts{},
		noderesources.Fit{},
		&podtopologyspread.PodTopologySpread{Workloads: workloads},
		&interpodaffinity.InterPodAffinity{Namespaces: namespaces},
		noderesources.BalancedAllocation{},
		imagelocality.ImageLocality{},
	}, DefaultWeights)
}
