package core

import corev1 "k8s.io/api/core/v1"

// defaultPVCSpec defaults a claim spec, standalone or inside a pod's
// ephemeral volume or a StatefulSet's claim template.
func defaultPVCSpec(spec *corev1.PersistentVolumeClaimSpec) {
	if spec.VolumeMode == nil {
		mode := corev1.PersistentVolumeFilesystem
		spec.VolumeMode = &mode
	}
	roundResourceList(spec.Resources.Limits)
	roundResourceList(spec.Resources.Requests)
}
