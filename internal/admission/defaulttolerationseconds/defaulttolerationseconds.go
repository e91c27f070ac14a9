// Package defaulttolerationseconds is upstream's DefaultTolerationSeconds
// admission plug-in: a new pod that does not tolerate the
// node.kubernetes.io/not-ready or node.kubernetes.io/unreachable NoExecute
// taints gets a toleration for each, bounded (300 s by default), so the
// node lifecycle controller evicts it that long after its node fails
// instead of at once.
package defaulttolerationseconds

import (
	"context"

	corev1 "k8s.io/api/core/v1"

	"skiff.dev/skiff/internal/admission"
)

// Name is the plug-in's upstream name.
const Name = "DefaultTolerationSeconds"

// DefaultSeconds is upstream's default for both
// --default-not-ready-toleration-seconds and
// --default-unreachable-toleration-seconds.
const DefaultSeconds = 300

// Plugin is the DefaultTolerationSeconds plug-in.
type Plugin struct {
	// NotReadySeconds and UnreachableSeconds are the tolerations' bounds.
	NotReadySeconds, UnreachableSeconds int64
}

var _ admission.Mutator = Plugin{}

// Name implements admission.Plugin.
func (Plugin) Name() string { return Name }

// Admit adds the missing tolerations to a pod being created.
func (p Plugin) Admit(_ context.Context, a *admission.Attributes) error {
	if a.Operation != admission.Create || a.Subresource != "" {
		return nil
	}
	pod, ok := a.Object.(*corev1.Pod)
	if !ok {
		return nil
	}
	var notReady, unreachable bool
	for _, t := range pod.Spec.Tolerations {
		// An empty key (with operator Exists) or an empty effect
		// tolerates every key or effect.
		if t.Effect != corev1.TaintEffectNoExecute && t.Effect != "" {
			continue
		}
		switch t.Key {
		case corev1.TaintNodeNotReady:
			notReady = true
		case corev1.TaintNodeUnreachable:
			unreachable = true
		case "":
			notReady, unreachable = true, true
		}
	}
	if !notReady {
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, toleration(corev1.TaintNodeNotReady, p.NotReadySeconds))
	}
	if !unreachable {
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, toleration(corev1.TaintNodeUnreachable, p.UnreachableSeconds))
	}
	return nil
}

func toleration(key string, seconds int64) corev1.Toleration {
	return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &seconds}
}
