package node

import corev1 "k8s.io/api/core/v1"

// SecretNames returns the secrets a pod refers to, as upstream's
// VisitPodSecretNames: image pull secrets, env and envFrom of every
// container (init and ephemeral too), secret and projected volumes and the
// secret references of volume plug-ins.
func SecretNames(p *corev1.Pod) []string {
	var out []string
	add := func(name string) {
		if name != "" {
			out = append(out, name)
		}
	}
	for _, s := range p.Spec.ImagePullSecrets {
		add(s.Name)
	}
	visitEnv(p, func(env []corev1.EnvVar, from []corev1.EnvFromSource) {
		for _, e := range from {
			if e.SecretRef != nil {
				add(e.SecretRef.Name)
			}
		}
		for _, e := range env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				add(e.ValueFrom.SecretKeyRef.Name)
			}
		}
	})
	for _, v := range p.Spec.Volumes {
		src := v.VolumeSource
		switch {
		case src.Secret != nil:
			add(src.Secret.SecretName)
		case src.Projected != nil:
			for _, s := range src.Projected.Sources {
				if s.Secret != nil {
					add(s.Secret.Name)
				}
			}
		case src.AzureFile != nil:
			add(src.AzureFile.SecretName)
		case src.CephFS != nil && src.CephFS.SecretRef != nil:
			add(src.CephFS.SecretRef.Name)
		case src.Cinder != nil && src.Cinder.SecretRef != nil:
			add(src.Cinder.SecretRef.Name)
		case src.FlexVolume != nil && src.FlexVolume.SecretRef != nil:
			add(src.FlexVolume.SecretRef.Name)
		case src.RBD != nil && src.RBD.SecretRef != nil:
			add(src.RBD.SecretRef.Name)
		case src.ScaleIO != nil && src.ScaleIO.SecretRef != nil:
			add(src.ScaleIO.SecretRef.Name)
		case src.ISCSI != nil && src.ISCSI.SecretRef != nil:
			add(src.ISCSI.SecretRef.Name)
		case src.StorageOS != nil && src.StorageOS.SecretRef != nil:
			add(src.StorageOS.SecretRef.Name)
		case src.CSI != nil && src.CSI.NodePublishSecretRef != nil:
			add(src.CSI.NodePublishSecretRef.Name)
		}
	}
	return out
}

// ConfigMapNames returns the config maps a pod refers to, as upstream's
// VisitPodConfigmapNames.
func ConfigMapNames(p *corev1.Pod) []string {
	var out []string
	add := func(name string) {
		if name != "" {
			out = append(out, name)
		}
	}
	visitEnv(p, func(env []corev1.EnvVar, from []corev1.EnvFromSource) {
		for _, e := range from {
			if e.ConfigMapRef != nil {
				add(e.ConfigMapRef.Name)
			}
		}
		for _, e := range env {
			if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
				add(e.ValueFrom.ConfigMapKeyRef.Name)
			}
		}
	})
	for _, v := range p.Spec.Volumes {
		switch {
		case v.ConfigMap != nil:
			add(v.ConfigMap.Name)
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil {
					add(s.ConfigMap.Name)
				}
			}
		}
	}
	return out
}

// ClaimNames returns the persistent volume claims a pod mounts: claim
// volumes, and the <pod>-<volume> claims of its generic ephemeral
// volumes.
func ClaimNames(p *corev1.Pod) []string {
	var out []string
	for _, v := range p.Spec.Volumes {
		switch {
		case v.PersistentVolumeClaim != nil:
			out = append(out, v.PersistentVolumeClaim.ClaimName)
		case v.Ephemeral != nil:
			out = append(out, p.Name+"-"+v.Name)
		}
	}
	return out
}

func visitEnv(p *corev1.Pod, visit func([]corev1.EnvVar, []corev1.EnvFromSource)) {
	for _, c := range p.Spec.InitContainers {
		visit(c.Env, c.EnvFrom)
	}
	for _, c := range p.Spec.Containers {
		visit(c.Env, c.EnvFrom)
	}
	for _, c := range p.Spec.EphemeralContainers {
		visit(c.Env, c.EnvFrom)
	}
}
