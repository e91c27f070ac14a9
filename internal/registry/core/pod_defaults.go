package core

import (
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// DefaultPodSpec applies upstream's defaults to a pod spec wherever it
// appears (pods, pod templates, workload templates): the spec-level fields
// and everything nested in containers and volumes.
//
// Upstream deliberately applies a few defaults only to Pod objects and not
// to templates (requests copied from limits, enableServiceLinks, host
// ports under hostNetwork); those live in defaultPod so that a Deployment's
// template reads back exactly as upstream stores it.
func DefaultPodSpec(spec *corev1.PodSpec) {
	if spec == nil {
		return
	}
	// serviceAccount is the deprecated alias of serviceAccountName; the
	// new name wins and the two are always written back equal.
	if spec.ServiceAccountName == "" {
		spec.ServiceAccountName = spec.DeprecatedServiceAccount
	}
	spec.DeprecatedServiceAccount = spec.ServiceAccountName
	if spec.DNSPolicy == "" {
		spec.DNSPolicy = corev1.DNSClusterFirst
	}
	if spec.RestartPolicy == "" {
		spec.RestartPolicy = corev1.RestartPolicyAlways
	}
	if spec.SecurityContext == nil {
		spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	if spec.TerminationGracePeriodSeconds == nil {
		period := int64(corev1.DefaultTerminationGracePeriodSeconds)
		spec.TerminationGracePeriodSeconds = &period
	}
	if spec.SchedulerName == "" {
		spec.SchedulerName = corev1.DefaultSchedulerName
	}
	for i := range spec.Volumes {
		defaultVolume(&spec.Volumes[i])
	}
	for i := range spec.InitContainers {
		defaultContainer(&spec.InitContainers[i])
	}
	for i := range spec.Containers {
		defaultContainer(&spec.Containers[i])
	}
	for i := range spec.EphemeralContainers {
		defaultContainer((*corev1.Container)(&spec.EphemeralContainers[i].EphemeralContainerCommon))
	}
	roundResourceList(spec.Overhead)
	if spec.Resources != nil {
		roundResourceList(spec.Resources.Limits)
		roundResourceList(spec.Resources.Requests)
	}
}

// DefaultPodTemplateSpec defaults the spec of a pod template. Template
// labels and annotations get no defaults upstream.
func DefaultPodTemplateSpec(t *corev1.PodTemplateSpec) {
	if t == nil {
		return
	}
	DefaultPodSpec(&t.Spec)
}

// defaultPod applies the Pod-only defaults on top of DefaultPodSpec.
func defaultPod(pod *corev1.Pod) {
	spec := &pod.Spec
	// A negative grace period would mean "never"; upstream turns it into
	// the shortest real one. Templates keep what they were given.
	if spec.TerminationGracePeriodSeconds != nil && *spec.TerminationGracePeriodSeconds < 0 {
		one := int64(1)
		spec.TerminationGracePeriodSeconds = &one
	}
	defaultRequestsFromLimits(spec.Containers)
	defaultRequestsFromLimits(spec.InitContainers)
	if spec.EnableServiceLinks == nil {
		enable := corev1.DefaultEnableServiceLinks
		spec.EnableServiceLinks = &enable
	}
	if spec.HostNetwork {
		defaultHostNetworkPorts(spec.Containers)
		defaultHostNetworkPorts(spec.InitContainers)
	}
	DefaultPodSpec(spec)
	defaultPodStatus(&pod.Status)
}

// defaultPodStatus keeps the singular podIP and the podIPs list in step;
// podIP wins on disagreement because older kubelets only write it.
func defaultPodStatus(s *corev1.PodStatus) {
	hasIP, hasIPs := s.PodIP != "", len(s.PodIPs) > 0
	switch {
	case hasIP && !hasIPs:
		s.PodIPs = []corev1.PodIP{{IP: s.PodIP}}
	case !hasIP && hasIPs:
		s.PodIP = s.PodIPs[0].IP
	case hasIP && hasIPs && s.PodIPs[0].IP != s.PodIP:
		s.PodIPs = []corev1.PodIP{{IP: s.PodIP}}
	}
	for _, list := range [][]corev1.ContainerStatus{s.InitContainerStatuses, s.ContainerStatuses, s.EphemeralContainerStatuses} {
		for i := range list {
			roundResourceList(list[i].AllocatedResources)
			if r := list[i].Resources; r != nil {
				roundResourceList(r.Limits)
				roundResourceList(r.Requests)
			}
		}
	}
}

// defaultRequestsFromLimits: a container that sets only a limit asks for
// exactly that much (this is what makes such a pod Guaranteed).
func defaultRequestsFromLimits(containers []corev1.Container) {
	for i := range containers {
		r := &containers[i].Resources
		if r.Limits == nil {
			continue
		}
		if r.Requests == nil {
			r.Requests = corev1.ResourceList{}
		}
		for name, q := range r.Limits {
			if _, ok := r.Requests[name]; !ok {
				r.Requests[name] = q.DeepCopy()
			}
		}
	}
}

func defaultHostNetworkPorts(containers []corev1.Container) {
	for i := range containers {
		for j := range containers[i].Ports {
			p := &containers[i].Ports[j]
			if p.HostPort == 0 {
				p.HostPort = p.ContainerPort
			}
		}
	}
}

func defaultContainer(c *corev1.Container) {
	if c.ImagePullPolicy == "" {
		if imageTag(c.Image) == "latest" {
			c.ImagePullPolicy = corev1.PullAlways
		} else {
			c.ImagePullPolicy = corev1.PullIfNotPresent
		}
	}
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = corev1.TerminationMessagePathDefault
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	}
	for i := range c.Ports {
		if c.Ports[i].Protocol == "" {
			c.Ports[i].Protocol = corev1.ProtocolTCP
		}
	}
	for i := range c.Env {
		vf := c.Env[i].ValueFrom
		if vf == nil {
			continue
		}
		if vf.FieldRef != nil && vf.FieldRef.APIVersion == "" {
			vf.FieldRef.APIVersion = "v1"
		}
		if vf.FileKeyRef != nil && vf.FileKeyRef.Optional == nil {
			optional := false
			vf.FileKeyRef.Optional = &optional
		}
	}
	roundResourceList(c.Resources.Limits)
	roundResourceList(c.Resources.Requests)
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		defaultProbe(p)
	}
	if c.Lifecycle != nil {
		for _, h := range []*corev1.LifecycleHandler{c.Lifecycle.PostStart, c.Lifecycle.PreStop} {
			if h != nil {
				defaultHTTPGet(h.HTTPGet)
			}
		}
	}
}

func defaultProbe(p *corev1.Probe) {
	if p == nil {
		return
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = 3
	}
	defaultHTTPGet(p.HTTPGet)
	if p.GRPC != nil && p.GRPC.Service == nil {
		empty := ""
		p.GRPC.Service = &empty
	}
}

func defaultHTTPGet(h *corev1.HTTPGetAction) {
	if h == nil {
		return
	}
	if h.Path == "" {
		h.Path = "/"
	}
	if h.Scheme == "" {
		h.Scheme = corev1.URISchemeHTTP
	}
}

func defaultVolume(v *corev1.Volume) {
	src := &v.VolumeSource
	if volumeSourceCount(src) == 0 {
		src.EmptyDir = &corev1.EmptyDirVolumeSource{}
	}
	if src.HostPath != nil {
		defaultHostPath(src.HostPath)
	}
	if src.Secret != nil && src.Secret.DefaultMode == nil {
		src.Secret.DefaultMode = int32Ptr(corev1.SecretVolumeSourceDefaultMode)
	}
	if src.ConfigMap != nil && src.ConfigMap.DefaultMode == nil {
		src.ConfigMap.DefaultMode = int32Ptr(corev1.ConfigMapVolumeSourceDefaultMode)
	}
	if src.DownwardAPI != nil {
		if src.DownwardAPI.DefaultMode == nil {
			src.DownwardAPI.DefaultMode = int32Ptr(corev1.DownwardAPIVolumeSourceDefaultMode)
		}
		defaultDownwardAPIItems(src.DownwardAPI.Items)
	}
	if p := src.Projected; p != nil {
		if p.DefaultMode == nil {
			p.DefaultMode = int32Ptr(corev1.ProjectedVolumeSourceDefaultMode)
		}
		for i := range p.Sources {
			s := &p.Sources[i]
			if s.DownwardAPI != nil {
				defaultDownwardAPIItems(s.DownwardAPI.Items)
			}
			if s.ServiceAccountToken != nil && s.ServiceAccountToken.ExpirationSeconds == nil {
				hour := int64(3600)
				s.ServiceAccountToken.ExpirationSeconds = &hour
			}
		}
	}
	if src.Image != nil && src.Image.PullPolicy == "" {
		if imageTag(src.Image.Reference) == "latest" {
			src.Image.PullPolicy = corev1.PullAlways
		} else {
			src.Image.PullPolicy = corev1.PullIfNotPresent
		}
	}
	if src.ISCSI != nil && src.ISCSI.ISCSIInterface == "" {
		src.ISCSI.ISCSIInterface = "default"
	}
	if src.RBD != nil {
		defaultRBD(&src.RBD.RBDPool, &src.RBD.RadosUser, &src.RBD.Keyring)
	}
	if src.AzureDisk != nil {
		defaultAzureDisk(src.AzureDisk)
	}
	if src.ScaleIO != nil {
		defaultScaleIO(&src.ScaleIO.StorageMode, &src.ScaleIO.FSType)
	}
	if src.Ephemeral != nil && src.Ephemeral.VolumeClaimTemplate != nil {
		defaultPVCSpec(&src.Ephemeral.VolumeClaimTemplate.Spec)
	}
}

func defaultDownwardAPIItems(items []corev1.DownwardAPIVolumeFile) {
	for i := range items {
		if f := items[i].FieldRef; f != nil && f.APIVersion == "" {
			f.APIVersion = "v1"
		}
	}
}

func defaultHostPath(h *corev1.HostPathVolumeSource) {
	if h.Type == nil {
		t := corev1.HostPathUnset
		h.Type = &t
	}
}

func defaultRBD(pool, user, keyring *string) {
	if *pool == "" {
		*pool = "rbd"
	}
	if *user == "" {
		*user = "admin"
	}
	if *keyring == "" {
		*keyring = "/etc/ceph/keyring"
	}
}

func defaultAzureDisk(a *corev1.AzureDiskVolumeSource) {
	if a.CachingMode == nil {
		m := corev1.AzureDataDiskCachingReadWrite
		a.CachingMode = &m
	}
	if a.FSType == nil {
		fs := "ext4"
		a.FSType = &fs
	}
	if a.ReadOnly == nil {
		ro := false
		a.ReadOnly = &ro
	}
	if a.Kind == nil {
		k := corev1.AzureSharedBlobDisk
		a.Kind = &k
	}
}

func defaultScaleIO(mode, fs *string) {
	if *mode == "" {
		*mode = "ThinProvisioned"
	}
	if *fs == "" {
		*fs = "xfs"
	}
}

// roundResourceList rounds every quantity up to milli precision, as
// upstream does so that 0.0001 CPU cannot be stored and read back as 0.
func roundResourceList(rl corev1.ResourceList) {
	for name, q := range rl {
		q.RoundUp(-3)
		rl[name] = q
	}
}

func int32Ptr(v int32) *int32 { return &v }

// imageReference approximates the container image reference grammar
// (registry/path[:tag][@digest], lower-case path components). It only
// decides the default pull policy, so it need not be exact: a reference
// that fails it gets IfNotPresent, like upstream's unparsable images.
var (
	imagePathComponent = `[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`
	imageDomain        = `(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?`
	imageReference     = regexp.MustCompile(`^(?:` + imageDomain + `/)?` + imagePathComponent + `(?:/` + imagePathComponent + `)*` +
		`(?::([\w][\w.-]{0,127}))?(?:@([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?$`)
)

// imageTag returns the tag of an image reference: "latest" when neither a
// tag nor a digest is given, "" when only a digest is or the reference does
// not parse.
func imageTag(image string) string {
	m := imageReference.FindStringSubmatch(image)
	if m == nil {
		return ""
	}
	// The domain may be mistaken for a path component when it has no dot
	// or port ("localhost/x"); that does not change the tag.
	if strings.Contains(image, "@") && m[1] == "" {
		return ""
	}
	if m[1] == "" {
		return "latest"
	}
	return m[1]
}
