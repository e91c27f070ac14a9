package runtime

import (
	"maps"
	"strings"
	"time"

	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// The paths upstream's kubelet masks and makes read-only in every
// unprivileged container with the Default procMount (pkg/securitycontext).
// containerd masks nothing when CRI sends no list, so the list is sent.
var (
	defaultMaskedPaths = []string{
		"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
		"/sys/firmware", "/sys/devices/virtual/powercap",
	}
	defaultReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

func sandboxConfigToCRI(cfg *SandboxConfig) *cri.PodSandboxConfig {
	out := &cri.PodSandboxConfig{
		Metadata:     &cri.PodSandboxMetadata{Name: cfg.Name, Namespace: cfg.Namespace, Uid: cfg.UID, Attempt: cfg.Attempt},
		Hostname:     cfg.Hostname,
		LogDirectory: cfg.LogDir,
		Labels:       podLabels(cfg.Labels, cfg),
		Annotations:  cfg.Annotations,
		Linux: &cri.LinuxPodSandboxConfig{
			CgroupParent: cfg.CgroupParent,
			Sysctls:      cfg.Sysctls,
			Resources:    resourcesToCRI(cfg.Resources),
			SecurityContext: &cri.LinuxSandboxSecurityContext{
				NamespaceOptions:   namespaceOptions(cfg, nil),
				RunAsUser:          int64Value(cfg.RunAsUser),
				RunAsGroup:         int64Value(cfg.RunAsGroup),
				SupplementalGroups: sandboxGroups(cfg),
				Privileged:         cfg.Privileged,
				Seccomp:            securityProfile(cfg.SeccompProfile),
			},
		},
	}
	if cfg.DNS != nil {
		out.DnsConfig = &cri.DNSConfig{Servers: cfg.DNS.Servers, Searches: cfg.DNS.Searches, Options: cfg.DNS.Options}
	}
	for _, p := range cfg.Ports {
		out.PortMappings = append(out.PortMappings, &cri.PortMapping{
			Protocol: protocol(p.Protocol), ContainerPort: p.ContainerPort, HostPort: p.HostPort, HostIp: p.HostIP,
		})
	}
	return out
}

// sandboxGroups are the pod's supplemental groups plus its fsGroup, as
// kubelet gives them to the sandbox.
func sandboxGroups(cfg *SandboxConfig) []int64 {
	groups := append([]int64(nil), cfg.SupplementalGroups...)
	if cfg.FSGroup != nil {
		groups = append(groups, *cfg.FSGroup)
	}
	return groups
}

// podLabels returns labels with the pod's identity labels added.
func podLabels(labels map[string]string, sb *SandboxConfig) map[string]string {
	out := maps.Clone(labels)
	if out == nil {
		out = map[string]string{}
	}
	if sb == nil {
		return out
	}
	for k, v := range map[string]string{LabelPodName: sb.Name, LabelPodNamespace: sb.Namespace, LabelPodUID: sb.UID} {
		if _, ok := out[k]; !ok && v != "" {
			out[k] = v
		}
	}
	return out
}

// namespaceOptions follows kubelet: the pod decides the network, PID and
// IPC namespaces of the sandbox and of all its containers.
func namespaceOptions(sb *SandboxConfig, sc *SecurityContext) *cri.NamespaceOption {
	var hostNet, hostPID, hostIPC, sharePID bool
	if sb != nil {
		hostNet, hostPID, hostIPC, sharePID = sb.HostNetwork, sb.HostPID, sb.HostIPC, sb.ShareProcessNamespace
	}
	if sc != nil {
		hostNet = hostNet || sc.NamespaceHostNetwork
		hostPID = hostPID || sc.NamespaceHostPID
		hostIPC = hostIPC || sc.NamespaceHostIPC
	}
	ns := &cri.NamespaceOption{Network: cri.NamespaceMode_POD, Pid: cri.NamespaceMode_CONTAINER, Ipc: cri.NamespaceMode_POD}
	if hostNet {
		ns.Network = cri.NamespaceMode_NODE
	}
	switch {
	case hostPID:
		ns.Pid = cri.NamespaceMode_NODE
	case sharePID:
		ns.Pid = cri.NamespaceMode_POD
	}
	if hostIPC {
		ns.Ipc = cri.NamespaceMode_NODE
	}
	return ns
}

func containerConfigToCRI(cfg *ContainerConfig, sb *SandboxConfig) *cri.ContainerConfig {
	labels := podLabels(cfg.Labels, sb)
	if _, ok := labels[LabelContainerName]; !ok {
		labels[LabelContainerName] = cfg.Name
	}
	out := &cri.ContainerConfig{
		Metadata:    &cri.ContainerMetadata{Name: cfg.Name, Attempt: cfg.Attempt},
		Image:       &cri.ImageSpec{Image: cfg.Image},
		Command:     cfg.Command,
		Args:        cfg.Args,
		WorkingDir:  cfg.WorkingDir,
		Labels:      labels,
		Annotations: cfg.Annotations,
		LogPath:     cfg.LogPath,
		Stdin:       cfg.Stdin,
		StdinOnce:   cfg.StdinOnce,
		Tty:         cfg.TTY,
		Linux: &cri.LinuxContainerConfig{
			Resources:       resourcesToCRI(cfg.Resources),
			SecurityContext: securityContextToCRI(cfg.Security, sb),
		},
	}
	for _, e := range cfg.Env {
		out.Envs = append(out.Envs, &cri.KeyValue{Key: e.Key, Value: []byte(e.Value)})
	}
	for _, m := range cfg.Mounts {
		out.Mounts = append(out.Mounts, &cri.Mount{
			ContainerPath: m.ContainerPath, HostPath: m.HostPath, Readonly: m.ReadOnly,
			SelinuxRelabel: m.SELinuxRelabel, Propagation: propagation(m.Propagation),
		})
	}
	for _, d := range cfg.Devices {
		out.Devices = append(out.Devices, &cri.Device{ContainerPath: d.ContainerPath, HostPath: d.HostPath, Permissions: d.Permissions})
	}
	return out
}

func securityContextToCRI(sc *SecurityContext, sb *SandboxConfig) *cri.LinuxContainerSecurityContext {
	if sc == nil {
		sc = &SecurityContext{}
	}
	seccomp := sc.Seccomp
	if seccomp == nil && sb != nil {
		seccomp = sb.SeccompProfile
	}
	out := &cri.LinuxContainerSecurityContext{
		Privileged:         sc.Privileged,
		NamespaceOptions:   namespaceOptions(sb, sc),
		RunAsUser:          int64Value(sc.RunAsUser),
		RunAsGroup:         int64Value(sc.RunAsGroup),
		RunAsUsername:      sc.RunAsUsername,
		ReadonlyRootfs:     sc.ReadOnlyRootFilesystem,
		SupplementalGroups: sc.SupplementalGroups,
		NoNewPrivs:         sc.NoNewPrivs,
		Seccomp:            securityProfile(seccomp),
		MaskedPaths:        sc.MaskedPaths,
		ReadonlyPaths:      sc.ReadonlyPaths,
	}
	if sc.AppArmor != nil {
		out.Apparmor = securityProfile(sc.AppArmor)
	}
	if len(sc.AddCapabilities) > 0 || len(sc.DropCapabilities) > 0 {
		out.Capabilities = &cri.Capability{AddCapabilities: sc.AddCapabilities, DropCapabilities: sc.DropCapabilities}
	}
	// nil means the runtime's defaults, which for upstream are kubelet's
	// lists; a privileged container gets none.
	if !sc.Privileged {
		if sc.MaskedPaths == nil {
			out.MaskedPaths = defaultMaskedPaths
		}
		if sc.ReadonlyPaths == nil {
			out.ReadonlyPaths = defaultReadonlyPaths
		}
	}
	return out
}

// securityProfile translates a profile; nil means Unconfined, kubelet's
// default for seccomp when the pod does not ask for one.
func securityProfile(p *SecurityProfile) *cri.SecurityProfile {
	if p == nil {
		return &cri.SecurityProfile{ProfileType: cri.SecurityProfile_Unconfined}
	}
	switch p.Type {
	case "RuntimeDefault":
		return &cri.SecurityProfile{ProfileType: cri.SecurityProfile_RuntimeDefault}
	case "Localhost":
		return &cri.SecurityProfile{ProfileType: cri.SecurityProfile_Localhost, LocalhostRef: p.LocalhostProfile}
	default:
		return &cri.SecurityProfile{ProfileType: cri.SecurityProfile_Unconfined}
	}
}

func resourcesToCRI(r *Resources) *cri.LinuxContainerResources {
	if r == nil {
		return nil
	}
	return &cri.LinuxContainerResources{
		CpuShares: r.CPUShares, CpuQuota: r.CPUQuota, CpuPeriod: r.CPUPeriod,
		MemoryLimitInBytes: r.MemoryLimit, OomScoreAdj: r.OOMScoreAdj,
	}
}

func int64Value(v *int64) *cri.Int64Value {
	if v == nil {
		return nil
	}
	return &cri.Int64Value{Value: *v}
}

func protocol(p string) cri.Protocol {
	switch strings.ToUpper(p) {
	case "UDP":
		return cri.Protocol_UDP
	case "SCTP":
		return cri.Protocol_SCTP
	default:
		return cri.Protocol_TCP
	}
}

func propagation(p string) cri.MountPropagation {
	switch p {
	case "rslave":
		return cri.MountPropagation_PROPAGATION_HOST_TO_CONTAINER
	case "rshared":
		return cri.MountPropagation_PROPAGATION_BIDIRECTIONAL
	default:
		return cri.MountPropagation_PROPAGATION_PRIVATE
	}
}

func unixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func sandboxState(s cri.PodSandboxState) SandboxState {
	if s == cri.PodSandboxState_SANDBOX_READY {
		return SandboxReady
	}
	return SandboxNotReady
}

func containerState(s cri.ContainerState) ContainerState {
	switch s {
	case cri.ContainerState_CONTAINER_CREATED:
		return ContainerCreated
	case cri.ContainerState_CONTAINER_RUNNING:
		return ContainerRunning
	case cri.ContainerState_CONTAINER_EXITED:
		return ContainerExited
	default:
		return ContainerUnknown
	}
}

func sandboxFromCRI(s *cri.PodSandbox) *Sandbox {
	md := s.GetMetadata()
	return &Sandbox{
		ID: s.Id, Name: md.GetName(), Namespace: md.GetNamespace(), UID: md.GetUid(), Attempt: md.GetAttempt(),
		State: sandboxState(s.State), CreatedAt: unixNano(s.CreatedAt), Labels: s.Labels, Annotations: s.Annotations,
	}
}

func sandboxStatusFromCRI(s *cri.PodSandboxStatus) *Sandbox {
	md := s.GetMetadata()
	out := &Sandbox{
		ID: s.Id, Name: md.GetName(), Namespace: md.GetNamespace(), UID: md.GetUid(), Attempt: md.GetAttempt(),
		State: sandboxState(s.State), CreatedAt: unixNano(s.CreatedAt), Labels: s.Labels, Annotations: s.Annotations,
		IP: s.GetNetwork().GetIp(),
	}
	for _, ip := range s.GetNetwork().GetAdditionalIps() {
		out.AdditionalIPs = append(out.AdditionalIPs, ip.GetIp())
	}
	return out
}

func containerFromCRI(c *cri.Container) *Container {
	md := c.GetMetadata()
	imageID := c.ImageId
	if imageID == "" {
		imageID = c.ImageRef
	}
	return &Container{
		ID: c.Id, SandboxID: c.PodSandboxId, Name: md.GetName(), Attempt: md.GetAttempt(),
		Image: c.GetImage().GetImage(), ImageRef: c.ImageRef, ImageID: imageID,
		State: containerState(c.State), CreatedAt: unixNano(c.CreatedAt),
		Labels: c.Labels, Annotations: c.Annotations,
	}
}

func containerStatusFromCRI(s *cri.ContainerStatus) *Container {
	md := s.GetMetadata()
	imageID := s.ImageId
	if imageID == "" {
		imageID = s.ImageRef
	}
	return &Container{
		ID: s.Id, Name: md.GetName(), Attempt: md.GetAttempt(),
		Image: s.GetImage().GetImage(), ImageRef: s.ImageRef, ImageID: imageID,
		State: containerState(s.State), CreatedAt: unixNano(s.CreatedAt), StartedAt: unixNano(s.StartedAt), FinishedAt: unixNano(s.FinishedAt),
		ExitCode: s.ExitCode, Reason: s.Reason, Message: s.Message, LogPath: s.LogPath,
		Labels: s.Labels, Annotations: s.Annotations,
	}
}

func imageFromCRI(img *cri.Image) *Image {
	out := &Image{ID: img.Id, RepoTags: img.RepoTags, RepoDigests: img.RepoDigests, Size: img.Size, Username: img.Username, Pinned: img.Pinned}
	if img.Uid != nil {
		uid := img.Uid.Value
		out.UID = &uid
	}
	return out
}
