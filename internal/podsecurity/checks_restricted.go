package podsecurity

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func allowPrivilegeEscalation(_ *metav1.ObjectMeta, spec *corev1.PodSpec) (Result, bool) {
	var bad, fields []string
	for _, c := range containers(spec) {
		if sc := c.c.SecurityContext; sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			bad = append(bad, c.c.Name)
			fields = append(fields, c.path+".securityContext.allowPrivilegeEscalation")
		}
	}
	if len(bad) == 0 {
		return Result{}, true
	}
	return Result{
		Detail: fmt.Sprintf("%s %s must set securityContext.allowPrivilegeEscalation=false", pluralize("container", "containers", len(bad)), joinQuote(bad)),
		Fields: fields,
	}, false
}

func capabilitiesRestricted(_ *metav1.ObjectMeta, spec *corev1.PodSpec) (Result, bool) {
	var missingDrop, adding, caps, fields []string
	for _, c := range containers(spec) {
		sc := c.c.SecurityContext
		if sc == nil || sc.Capabilities == nil {
			missingDrop = append(missingDrop, c.c.Name)
			fields = append(fields, c.path+".securityContext.capabilities.drop")
			continue
		}
		dropsAll := false
		for _, cp := range sc.Capabilities.Drop {
			if cp == "ALL" {
				dropsAll = true
				break
			}
		}
		if !dropsAll {
			missingDrop = append(missingDrop, c.c.Name)
			fields = append(fields, c.path+".securityContext.capabilities.drop")
		}
		found := false
		for i, cp := range sc.Capabilities.Add {
			if cp != "NET_BIND_SERVICE" {
				found = true
				caps = append(caps, string(cp))
				fields = append(fields, fmt.Sprintf("%s.securityContext.capabilities.add[%d]", c.path, i))
			}
		}
		if found {
			adding = append(adding, c.c.Name)
		}
	}
	var details []string
	if len(missingDrop) > 0 {
		details = append(details, fmt.Sprintf(`%s %s must set securityContext.capabilities.drop=["ALL"]`,
			pluralize("container", "containers", len(missingDrop)), joinQuote(missingDrop)))
	}
	if len(adding) > 0 {
		details = append(details, fmt.Sprintf("%s %s must not include %s in securityContext.capabilities.add",
			pluralize("container", "containers", len(adding)), joinQuote(adding), joinQuote(sortedSet(caps))))
	}
	if len(details) == 0 {
		return Result{}, true
	}
	return Result{Detail: strings.Join(details, "; "), Fields: fields}, false
}

// volumeType names a volume's source as upstream's restrictedVolumes does;
// "" for the allowed types.
func volumeType(v *corev1.Volume) string {
	switch {
	case v.ConfigMap != nil, v.CSI != nil, v.DownwardAPI != nil, v.EmptyDir != nil, v.Ephemeral != nil,
		v.Image != nil, v.PersistentVolumeClaim != nil, v.Projected != nil, v.Secret != nil:
		return ""
	case v.HostPath != nil:
		return "hostPath"
	case v.GCEPersistentDisk != nil:
		return "gcePersistentDisk"
	case v.AWSElasticBlockStore != nil:
		return "awsElasticBlockStore"
	case v.GitRepo != nil:
		return "gitRepo"
	case v.NFS != nil:
		return "nfs"
	case v.ISCSI != nil:
		return "iscsi"
	case v.Glusterfs != nil:
		return "glusterfs"
	case v.RBD != nil:
		return "rbd"
	case v.FlexVolume != nil:
		return "flexVolume"
	case v.Cinder != nil:
		return "cinder"
	case v.CephFS != nil:
		return "cephfs"
	case v.Flocker != nil:
		return "flocker"
	case v.FC != nil:
		return "fc"
	case v.AzureFile != nil:
		return "azureFile"
	case v.VsphereVolume != nil:
		return "vsphereVolume"
	case v.Quobyte != nil:
		return "quobyte"
	case v.AzureDisk != nil:
		return "azureDisk"
	case v.PhotonPersistentDisk != nil:
		return "photonPersistentDisk"
	case v.PortworxVolume != nil:
		return "portworxVolume"
	case v.ScaleIO != nil:
		return "scaleIO"
	case v.StorageOS != nil:
		return "storageos"
	}
	return "unknown"
}

func restrictedVolumes(_ *metav1.ObjectMeta, spec *corev1.PodSpec) (Result, bool) {
	var names, types, fields []string
	for i := range spec.Volumes {
		v := &spec.Volumes[i]
		t := volumeType(v)
		if t == "" {
			continue
		}
		names, types = append(names, v.Name), append(types, t)
		if t == "unknown" {
			fields = append(fields, fmt.Sprintf("spec.volumes[%d]", i))
		} else {
			fields = append(fields, fmt.Sprintf("spec.volumes[%d].%s", i, t))
		}
	}
	if len(names) == 0 {
		return Result{}, true
	}
	types = sortedSet(types)
	return Result{
		Detail: fmt.Sprintf("%s %s %s %s %s", pluralize("volume", "volumes", len(names)), joinQuote(names),
			pluralize("uses", "use", len(names)), pluralize("restricted volume type", "restricted volume types", len(types)), joinQuote(types)),
		Fields: fields,
	}, false
}

func runAsNonRoot(_ *metav1.ObjectMeta, spec *corev1.PodSpec) (Result, bool) {
	podBad, podNonRoot := false, false
	var fields, explicit, implicit, implicitFields []string
	if sc := spec.SecurityContext; sc != nil && sc.RunAsNonRoot != nil {
		if *sc.RunAsNonRoot {
			podNonRoot = true
		} else {
			podBad = true
			fields = append(fields, "spec.securityContext.runAsNonRoot")
		}
	}
	for _, c := range containers(spec) {
		if sc := c.c.SecurityContext; sc != nil && sc.RunAsNonRoot != nil {
			if !*sc.RunAsNonRoot {
				explicit = append(explicit, c.c.Name)
				fields = append(fields, c.path+".securityContext.runAsNonRoot")
			}
		} else if !podNonRoot {
			implicit = append(implicit, c.c.Name)
			implicitFields = append(implicitFields, c.path+".securityContext.runAsNonRoot")
		}
	}
	if who := setters(podBad, explicit); who != "" {
		return Result{Detail: who + " must not set securityContext.runAsNonRoot=false", Fields: fields}, false
	}
	if len(implicit) > 0 {
		return Result{
			Detail: fmt.Sprintf("pod or %s %s must set securityContext.runAsNonRoot=true", pluralize("container", "containers", len(implicit)), joinQuote(implicit)),
			Fields: implicitFields,
		}, false
	}
	return Result{}, true
}

func runAsUser(_ *metav1.ObjectMeta, spec *corev1.PodSpec) (Result, bool) {
	var fields, bad []string
	podBad := false
	if sc := spec.SecurityContext; sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		podBad = true
		fields = append(fields, "spec.securityContext.runAsUser")
	}
	for _, c := range containers(spec) {
		if sc := c.c.SecurityContext; sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			bad = append(bad, c.c.Name)
			fields = append(fields, c.path+".securityContext.runAsUser")
		}
	}
	who := setters(podBad, bad)
	if who == "" {
		return Result{}, true
	}
	return Result{Detail: who + " must not set runAsUser=0", Fields: fields}, false
}

func seccompRestricted(_ *metav1.ObjectMeta, spec *corev1.PodSpec) (Result, bool) {
	podBad, podSet := false, false
	var values, fields, explicit, implicit, implicitFields []string
	if sc := spec.SecurityContext; sc != nil && sc.SeccompProfile != nil {
		if validSeccomp(sc.SeccompProfile.Type) {
			podSet = true
		} else {
			podBad = true
			values = append(values, string(sc.SeccompProfile.Type))
			fields = append(fields, "spec.securityContext.seccompProfile.type")
		}
	}
	for _, c := range containers(spec) {
		if sc := c.c.SecurityContext; sc != nil && sc.SeccompProfile != nil {
			if !validSeccomp(sc.SeccompProfile.Type) {
				explicit = append(explicit, c.c.Name)
				values = append(values, string(sc.SeccompProfile.Type))
				fields = append(fields, c.path+".securityContext.seccompProfile.type")
			}
		} else if !podSet {
			implicit = append(implicit, c.c.Name)
			implicitFields = append(implicitFields, c.path+".securityContext.seccompProfile.type")
		}
	}
	if who := setters(podBad, explicit); who != "" {
		return Result{
			Detail: fmt.Sprintf("%s must not set securityContext.seccompProfile.type to %s", who, joinQuote(sortedSet(values))),
			Fields: fields,
		}, false
	}
	if len(implicit) > 0 {
		return Result{
			Detail: fmt.Sprintf(`pod or %s %s must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"`,
				pluralize("container", "containers", len(implicit)), joinQuote(implicit)),
			Fields: implicitFields,
		}, false
	}
	return Result{}, true
}
