package daemonset

import (
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	"skiff.dev/skiff/internal/controller/history"
)

// apps/v1 keeps the deprecated template generation in an annotation;
// pods get it as their pod-template-generation label, as upstream.
const (
	templateGenerationAnnotation = "deprecated.daemonset.template.generation"
	podTemplateGenerationLabel   = "pod-template-generation"
)

// daemonTolerations are the tolerations upstream adds to every daemon
// pod (AddOrUpdateDaemonPodTolerations): it keeps running through
// not-ready and unreachable nodes and node pressure, and lands on
// unschedulable nodes; host-network pods also on nodes whose network is
// not ready.
func daemonTolerations(spec *corev1.PodSpec) []corev1.Toleration {
	t := []corev1.Toleration{
		{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		{Key: corev1.TaintNodeDiskPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodePIDPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	}
	if spec.HostNetwork {
		t = append(t, corev1.Toleration{Key: corev1.TaintNodeNetworkUnavailable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
	}
	return t
}

// addTolerations adds the daemon tolerations the spec lacks (same key,
// operator and effect), as upstream's AddOrUpdateTolerationInPodSpec.
func addTolerations(spec *corev1.PodSpec) {
	for _, want := range daemonTolerations(spec) {
		found := false
		for i := range spec.Tolerations {
			have := &spec.Tolerations[i]
			if have.Key == want.Key && have.Effect == want.Effect && have.Operator == want.Operator {
				*have = want
				found = true
				break
			}
		}
		if !found {
			spec.Tolerations = append(spec.Tolerations, want)
		}
	}
}

// shouldRun is upstream's NodeShouldRunDaemonPod: whether a daemon pod
// should be created on node, and whether one there may keep running
// (an untolerated NoSchedule taint keeps it, NoExecute does not).
func shouldRun(ds *appsv1.DaemonSet, node *corev1.Node) (run, keep bool) {
	spec := ds.Spec.Template.Spec.DeepCopy()
	addTolerations(spec)
	if spec.NodeName != "" && spec.NodeName != node.Name {
		return false, false
	}
	pod := &corev1.Pod{Spec: *spec}
	if ok, _ := nodeaffinity.GetRequiredNodeAffinity(pod).Match(node); !ok {
		return false, false
	}
	if untolerated(node.Spec.Taints, spec.Tolerations, corev1.TaintEffectNoExecute) {
		return false, false
	}
	return !untolerated(node.Spec.Taints, spec.Tolerations, corev1.TaintEffectNoSchedule), true
}

// untolerated: a taint with effect is tolerated by none of tols.
func untolerated(taints []corev1.Taint, tols []corev1.Toleration, effect corev1.TaintEffect) bool {
	for i := range taints {
		if taints[i].Effect != effect {
			continue
		}
		tolerated := false
		for j := range tols {
			if tols[j].ToleratesTaint(klog.Background(), &taints[i], true) {
				tolerated = true
				break
			}
		}
		if !tolerated {
			return true
		}
	}
	return false
}

// nodeAffinityFor is the template's affinity with every required term
// pinned to node by a matchFields metadata.name term (upstream's
// ReplaceDaemonSetPodNodeNameNodeAffinity): the scheduler binds the pod
// there and checks the pod still fits.
func nodeAffinityFor(aff *corev1.Affinity, node string) *corev1.Affinity {
	req := corev1.NodeSelectorRequirement{Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}
	out := aff.DeepCopy()
	if out == nil {
		out = &corev1.Affinity{}
	}
	if out.NodeAffinity == nil {
		out.NodeAffinity = &corev1.NodeAffinity{}
	}
	r := out.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	if r == nil || len(r.NodeSelectorTerms) == 0 {
		out.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{req}}},
		}
		return out
	}
	for i := range r.NodeSelectorTerms {
		r.NodeSelectorTerms[i].MatchFields = []corev1.NodeSelectorRequirement{req}
	}
	return out
}

// targetNode is where a daemon pod is or will be: its node, or the node
// its affinity pins it to.
func targetNode(p *corev1.Pod) string {
	if p.Spec.NodeName != "" {
		return p.Spec.NodeName
	}
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range t.MatchFields {
			if f.Key == metav1.ObjectNameField && f.Operator == corev1.NodeSelectorOpIn && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}

// newPod is ds's pod for node at revision hash.
func newPod(ds *appsv1.DaemonSet, node, hash string) *corev1.Pod {
	t := ds.Spec.Template.DeepCopy()
	p := &corev1.Pod{ObjectMeta: t.ObjectMeta, Spec: t.Spec}
	p.Name, p.Namespace, p.GenerateName = "", ds.Namespace, ds.Name+"-"
	labels := make(map[string]string, len(t.Labels)+2)
	for k, v := range t.Labels {
		labels[k] = v
	}
	labels[history.HashLabel] = hash
	if g, ok := ds.Annotations[templateGenerationAnnotation]; ok {
		labels[podTemplateGenerationLabel] = g
	} else {
		labels[podTemplateGenerationLabel] = strconv.FormatInt(ds.Generation, 10)
	}
	p.Labels = labels
	addTolerations(&p.Spec)
	p.Spec.Affinity = nodeAffinityFor(p.Spec.Affinity, node)
	t2 := true
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: ds.Name, UID: ds.UID, Controller: &t2, BlockOwnerDeletion: &t2}}
	return p
}
