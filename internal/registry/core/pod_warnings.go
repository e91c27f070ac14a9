package core

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// deprecatedNodeLabels are the node label keys upstream warns about when
// a pod selects on them, with upstream's advice.
var deprecatedNodeLabels = map[string]string{
	"beta.kubernetes.io/arch":                       `deprecated since v1.14; use "kubernetes.io/arch" instead`,
	"beta.kubernetes.io/os":                         `deprecated since v1.14; use "kubernetes.io/os" instead`,
	"failure-domain.beta.kubernetes.io/region":      `deprecated since v1.17; use "topology.kubernetes.io/region" instead`,
	"failure-domain.beta.kubernetes.io/zone":        `deprecated since v1.17; use "topology.kubernetes.io/zone" instead`,
	"beta.kubernetes.io/instance-type":              `deprecated since v1.17; use "node.kubernetes.io/instance-type" instead`,
	"app.kubernetes.io/created-by":                  `deprecated since v1.9`,
	"scheduler.alpha.kubernetes.io/preferAvoidPods": `deprecated since v1.22; use Taints and Tolerations instead`,
	"node-role.kubernetes.io/master":                `use "node-role.kubernetes.io/control-plane" instead`,
}

// deprecatedPodAnnotations are pod annotations that no longer do
// anything, in upstream's order.
var deprecatedPodAnnotations = []struct{ key, message string }{
	{"scheduler.alpha.kubernetes.io/critical-pod", `non-functional in v1.16+; use the "priorityClassName" field instead`},
	{"security.alpha.kubernetes.io/sysctls", `non-functional in v1.11+; use the "sysctls" field instead`},
	{"security.alpha.kubernetes.io/unsafe-sysctls", `non-functional in v1.11+; use the "sysctls" field instead`},
}

const (
	seccompPodAnnotation             = "seccomp.security.alpha.kubernetes.io/pod"
	seccompContainerAnnotationPrefix = "container.seccomp.security.alpha.kubernetes.io/"
	nullSelectorWarning              = "a null labelSelector results in matching no pod"
)

// PodWarnings returns the warnings upstream gives for a pod, or for a
// workload's pod template when base is its path (spec.template): use of
// deprecated node labels, annotations and volume plugins, duplicates that
// kubectl apply would silently drop, fractional byte quantities,
// conflicting container ports, null selectors that match nothing and
// non-standard IP addresses. Where upstream ranges over a map the
// warnings come in sorted key order, so they are stable.
func PodWarnings(base *field.Path, spec *corev1.PodSpec, meta *metav1.ObjectMeta) []string {
	var w []string
	sp := base.Child("spec")
	addf := func(format string, args ...any) { w = append(w, fmt.Sprintf(format, args...)) }

	for _, k := range sortedKeys(spec.NodeSelector) {
		if msg, ok := deprecatedNodeLabels[k]; ok {
			addf("%s: %s", sp.Child("nodeSelector").Key(k), msg)
		}
	}
	if a := spec.Affinity; a != nil && a.NodeAffinity != nil {
		na := a.NodeAffinity
		if req := na.RequiredDuringSchedulingIgnoredDuringExecution; req != nil {
			tp := sp.Child("affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
			for i, term := range req.NodeSelectorTerms {
				w = append(w, nodeSelectorTermWarnings(term, false, tp.Index(i))...)
			}
		}
		pp := sp.Child("affinity", "nodeAffinity", "preferredDuringSchedulingIgnoredDuringExecution")
		for i, term := range na.PreferredDuringSchedulingIgnoredDuringExecution {
			w = append(w, nodeSelectorTermWarnings(term.Preference, true, pp.Index(i).Child("preference"))...)
		}
	}
	for i, c := range spec.TopologySpreadConstraints {
		cp := sp.Child("topologySpreadConstraints").Index(i)
		if msg, ok := deprecatedNodeLabels[c.TopologyKey]; ok {
			addf("%s: %s is %s", cp.Child("topologyKey"), c.TopologyKey, msg)
		}
		if c.LabelSelector == nil {
			addf("%s: %s", cp.Child("labelSelector"), nullSelectorWarning)
		}
	}

	annotations := base.Child("metadata", "annotations")
	for _, d := range deprecatedPodAnnotations {
		if _, ok := meta.Annotations[d.key]; ok {
			addf("%s: %s", annotations.Key(d.key), d.message)
		}
	}

	w = append(w, volumeWarnings(sp.Child("volumes"), spec.Volumes)...)

	if len(spec.HostAliases) > 1 {
		seen := map[string]bool{}
		for i, h := range spec.HostAliases {
			if seen[h.IP] {
				addf("%s: duplicate ip %q", sp.Child("hostAliases").Index(i).Child("ip"), h.IP)
			}
			seen[h.IP] = true
		}
	}
	if len(spec.ImagePullSecrets) > 1 {
		seen := map[string]bool{}
		for i, s := range spec.ImagePullSecrets {
			if seen[s.Name] {
				addf("%s: duplicate name %q", sp.Child("imagePullSecrets").Index(i).Child("name"), s.Name)
			}
			seen[s.Name] = true
		}
	}
	for i, s := range spec.ImagePullSecrets {
		if s.Name == "" {
			addf("%s: invalid empty name %q", sp.Child("imagePullSecrets").Index(i).Child("name"), s.Name)
		}
	}

	for _, r := range []corev1.ResourceName{corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		if q, ok := spec.Overhead[r]; ok && fractionalBytes(q) {
			addf("%s: fractional byte value %q is invalid, must be an integer", sp.Child("overhead").Key(string(r)), q.String())
		}
	}
	if spec.SecurityContext == nil || spec.SecurityContext.SeccompProfile == nil {
		if _, ok := meta.Annotations[seccompPodAnnotation]; ok {
			addf(`%s: non-functional in v1.27+; use the "seccompProfile" field instead`, annotations.Key(seccompPodAnnotation))
		}
	}

	containers := podContainers(spec, sp)
	for _, c := range containers {
		w = append(w, containerWarnings(c.c, c.path, meta, annotations)...)
	}
	w = append(w, portWarnings(containers)...)

	if g := spec.TerminationGracePeriodSeconds; g != nil && *g < 0 {
		addf("%s: must be >= 0; negative values are invalid and will be treated as 1", sp.Child("terminationGracePeriodSeconds"))
	}
	if a := spec.Affinity; a != nil {
		if pa := a.PodAffinity; pa != nil {
			ap := sp.Child("affinity", "podAffinity")
			w = append(w, podAffinityWarnings(pa.RequiredDuringSchedulingIgnoredDuringExecution, pa.PreferredDuringSchedulingIgnoredDuringExecution, ap)...)
		}
		if pa := a.PodAntiAffinity; pa != nil {
			ap := sp.Child("affinity", "podAntiAffinity")
			w = append(w, podAffinityWarnings(pa.RequiredDuringSchedulingIgnoredDuringExecution, pa.PreferredDuringSchedulingIgnoredDuringExecution, ap)...)
		}
	}
	if dc := spec.DNSConfig; dc != nil {
		for i, ns := range dc.Nameservers {
			if validIP(ns) {
				w = append(w, validation.GetWarningsForIP(sp.Child("dnsConfig", "nameservers").Index(i), ns)...)
			}
		}
	}
	for i, h := range spec.HostAliases {
		if validIP(h.IP) {
			w = append(w, validation.GetWarningsForIP(sp.Child("hostAliases").Index(i).Child("ip"), h.IP)...)
		}
	}
	return w
}

// PodTemplateWarnings is PodWarnings for a workload's template at path.
func PodTemplateWarnings(path *field.Path, t *corev1.PodTemplateSpec) []string {
	if t == nil {
		return nil
	}
	return PodWarnings(path, &t.Spec, &t.ObjectMeta)
}

func nodeSelectorTermWarnings(term corev1.NodeSelectorTerm, checkValues bool, p *field.Path) []string {
	var w []string
	for i, e := range term.MatchExpressions {
		ep := p.Child("matchExpressions").Index(i)
		if msg, ok := deprecatedNodeLabels[e.Key]; ok {
			w = append(w, fmt.Sprintf("%s: %s is %s", ep.Child("key"), e.Key, msg))
		}
		if !checkValues {
			continue
		}
		for j, v := range e.Values {
			for _, msg := range validation.IsValidLabelValue(v) {
				w = append(w, fmt.Sprintf("%s: %s is invalid, %s", ep.Child("values").Index(j), v, msg))
			}
		}
	}
	return w
}

// volumeWarnings names the volume plugins upstream has deprecated or
// removed.
func volumeWarnings(p *field.Path, volumes []corev1.Volume) []string {
	var w []string
	for i, v := range volumes {
		vp := p.Index(i)
		add := func(child, msg string) { w = append(w, fmt.Sprintf("%s: %s", vp.Child(child), msg)) }
		if v.PhotonPersistentDisk != nil {
			add("photonPersistentDisk", "deprecated in v1.11, non-functional in v1.16+")
		}
		if v.GitRepo != nil {
			// The GitRepoVolumeDriver gate is off by default in v1.37.
			add("gitRepo", "deprecated in v1.11, and disabled by default in v1.33+")
		}
		if v.ScaleIO != nil {
			add("scaleIO", "deprecated in v1.16, non-functional in v1.22+")
		}
		if v.Flocker != nil {
			add("flocker", "deprecated in v1.22, non-functional in v1.25+")
		}
		if v.StorageOS != nil {
			add("storageOS", "deprecated in v1.22, non-functional in v1.25+")
		}
		if v.Quobyte != nil {
			add("quobyte", "deprecated in v1.22, non-functional in v1.25+")
		}
		if v.Glusterfs != nil {
			add("glusterfs", "deprecated in v1.25, non-functional in v1.26+")
		}
		if v.CephFS != nil {
			add("cephfs", "deprecated in v1.28, non-functional in v1.31+")
		}
		if v.RBD != nil {
			add("rbd", "deprecated in v1.28, non-functional in v1.31+")
		}
	}
	return w
}

// pathedContainer is a container with its field path, in upstream's
// visiting order: init containers, containers, ephemeral containers.
type pathedContainer struct {
	c    *corev1.Container
	path *field.Path
}

func podContainers(spec *corev1.PodSpec, sp *field.Path) []pathedContainer {
	var out []pathedContainer
	for i := range spec.InitContainers {
		out = append(out, pathedContainer{&spec.InitContainers[i], sp.Child("initContainers").Index(i)})
	}
	for i := range spec.Containers {
		out = append(out, pathedContainer{&spec.Containers[i], sp.Child("containers").Index(i)})
	}
	for i := range spec.EphemeralContainers {
		c := corev1.Container(spec.EphemeralContainers[i].EphemeralContainerCommon)
		out = append(out, pathedContainer{&c, sp.Child("ephemeralContainers").Index(i)})
	}
	return out
}

func containerWarnings(c *corev1.Container, p *field.Path, meta *metav1.ObjectMeta, annotations *field.Path) []string {
	var w []string
	if c.SecurityContext == nil || c.SecurityContext.SeccompProfile == nil {
		key := seccompContainerAnnotationPrefix + c.Name
		if _, ok := meta.Annotations[key]; ok {
			w = append(w, fmt.Sprintf(`%s: non-functional in v1.27+; use the "seccompProfile" field instead`, annotations.Key(key)))
		}
	}
	// Upstream's order: memory limit, memory request, then the same for
	// ephemeral storage.
	for _, r := range []corev1.ResourceName{corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		if q, ok := c.Resources.Limits[r]; ok && fractionalBytes(q) {
			w = append(w, fmt.Sprintf("%s: fractional byte value %q is invalid, must be an integer", p.Child("resources", "limits").Key(string(r)), q.String()))
		}
		if q, ok := c.Resources.Requests[r]; ok && fractionalBytes(q) {
			w = append(w, fmt.Sprintf("%s: fractional byte value %q is invalid, must be an integer", p.Child("resources", "requests").Key(string(r)), q.String()))
		}
	}
	// A later env entry of the same name replaces the earlier one, and
	// kubectl apply's merge (keyed by name) then drops one of them, unless
	// the later one only extends the earlier value with $(NAME).
	seen := map[string]bool{}
	for i, e := range c.Env {
		if !seen[e.Name] {
			seen[e.Name] = true
			continue
		}
		ref := "$(" + e.Name + ")"
		if e.ValueFrom != nil || e.Value == ref || !strings.Contains(e.Value, ref) {
			w = append(w, fmt.Sprintf("%s: hides previous definition of %q, which may be dropped when using apply", p.Child("env").Index(i), e.Name))
		}
	}
	return w
}

// portWarnings finds container ports that collide across the pod, and
// port names used twice (services and probes then pick the first).
func portWarnings(containers []pathedContainer) []string {
	type block struct {
		path *field.Path
		port corev1.ContainerPort
	}
	var w []string
	byPort := map[string][]block{}
	for _, c := range containers {
		for i, port := range c.c.Ports {
			pp := c.path.Child("ports").Index(i)
			if port.HostIP != "" && port.HostPort == 0 {
				w = append(w, fmt.Sprintf("%s: hostIP set without hostPort: %+v", pp, port))
			}
			k := fmt.Sprintf("%d/%s", port.ContainerPort, port.Protocol)
			for _, other := range byPort[k] {
				switch a, b := port.HostIP == "", other.port.HostIP == ""; {
				case port.HostIP == other.port.HostIP && port.HostPort == other.port.HostPort:
					w = append(w, fmt.Sprintf("%s: duplicate port definition with %s", pp, other.path))
				case port.HostPort == 0 || other.port.HostPort == 0:
					w = append(w, fmt.Sprintf("%s: overlapping port definition with %s", pp, other.path))
				case port.HostPort == other.port.HostPort && a != b:
					w = append(w, fmt.Sprintf("%s: dangerously ambiguous port definition with %s", pp, other.path))
				}
			}
			byPort[k] = append(byPort[k], block{pp, port})
		}
	}
	names := map[string]*field.Path{}
	for _, c := range containers {
		for i, port := range c.c.Ports {
			if port.Name == "" {
				continue
			}
			pp := c.path.Child("ports").Index(i)
			if other, ok := names[port.Name]; ok {
				w = append(w, fmt.Sprintf("%s: duplicate port name %q with %s, services and probes that select ports by name will use %s", pp, port.Name, other, other))
				continue
			}
			names[port.Name] = pp
		}
	}
	return w
}

func podAffinityWarnings(required []corev1.PodAffinityTerm, preferred []corev1.WeightedPodAffinityTerm, p *field.Path) []string {
	var w []string
	for i, t := range required {
		if t.LabelSelector == nil {
			w = append(w, fmt.Sprintf("%s: %s", p.Child("requiredDuringSchedulingIgnoredDuringExecution").Index(i).Child("labelSelector"), nullSelectorWarning))
		}
	}
	for i, t := range preferred {
		if t.PodAffinityTerm.LabelSelector == nil {
			w = append(w, fmt.Sprintf("%s: %s", p.Child("preferredDuringSchedulingIgnoredDuringExecution").Index(i).Child("podAffinityTerm", "labelSelector"), nullSelectorWarning))
		}
	}
	return w
}

// fractionalBytes reports a byte quantity with a fractional part, such as
// 0.5 (500m) bytes: the kubelet cannot honour it.
func fractionalBytes(q resource.Quantity) bool { return q.MilliValue()%1000 != 0 }

// validIP reports whether GetWarningsForIP may look at s: it expects an
// address validation has accepted, and logs an error otherwise.
func validIP(s string) bool { return len(validation.IsValidIPForLegacyField(nil, s, false, nil)) == 0 }
