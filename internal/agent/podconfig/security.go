package podconfig

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"skiff.dev/skiff/internal/agent/runtime"
)

// Security profile types, as runtime.SecurityProfile.Type holds them.
const (
	ProfileRuntimeDefault = "RuntimeDefault"
	ProfileUnconfined     = "Unconfined"
	ProfileLocalhost      = "Localhost"
)

// SecurityOptions are the node's security settings.
type SecurityOptions struct {
	// SeccompProfileRoot is the directory Localhost seccomp profiles are
	// resolved under (upstream: <root-dir>/seccomp).
	SeccompProfileRoot string
	// SeccompDefault makes RuntimeDefault the profile of containers that
	// set none (kubelet's --seccomp-default); otherwise they run Unconfined.
	SeccompDefault bool
}

// effectiveSecurity merges the pod's security context into the
// container's: the container's fields win; capabilities, privileged,
// readOnlyRootFilesystem, allowPrivilegeEscalation and procMount exist on
// the container only.
func effectiveSecurity(pod *corev1.Pod, c *corev1.Container) *corev1.SecurityContext {
	eff := &corev1.SecurityContext{}
	if c.SecurityContext != nil {
		eff = c.SecurityContext.DeepCopy()
	}
	if psc := pod.Spec.SecurityContext; psc != nil {
		if eff.RunAsUser == nil {
			eff.RunAsUser = psc.RunAsUser
		}
		if eff.RunAsGroup == nil {
			eff.RunAsGroup = psc.RunAsGroup
		}
		if eff.RunAsNonRoot == nil {
			eff.RunAsNonRoot = psc.RunAsNonRoot
		}
		if eff.SeccompProfile == nil {
			eff.SeccompProfile = psc.SeccompProfile
		}
		if eff.AppArmorProfile == nil {
			eff.AppArmorProfile = psc.AppArmorProfile
		}
		if eff.SELinuxOptions == nil {
			eff.SELinuxOptions = psc.SELinuxOptions
		}
	}
	return eff
}

// SecurityContext returns the container's effective security settings.
// imageUID and imageUser are the image's configured user (from the
// runtime's image status); they apply when neither the pod nor the
// container sets runAsUser.
//
// Capabilities are passed without the "CAP_" prefix and upper-cased, since
// containerd prepends "CAP_" to whatever it gets ("ALL" is kept as is).
// NoNewPrivs is set only when allowPrivilegeEscalation is false, as
// upstream does (validation refuses false together with privileged or
// CAP_SYS_ADMIN). procMount Unmasked yields empty masked and read-only
// path lists; the default leaves them nil (the runtime's defaults).
func SecurityContext(pod *corev1.Pod, c *corev1.Container, imageUID *int64, imageUser string, opts SecurityOptions) (*runtime.SecurityContext, error) {
	eff := effectiveSecurity(pod, c)
	sc := &runtime.SecurityContext{
		RunAsUser:            eff.RunAsUser,
		RunAsGroup:           eff.RunAsGroup,
		Privileged:           isTrue(eff.Privileged),
		NamespaceHostPID:     pod.Spec.HostPID,
		NamespaceHostIPC:     pod.Spec.HostIPC,
		NamespaceHostNetwork: pod.Spec.HostNetwork,
	}
	if sc.RunAsUser == nil {
		sc.RunAsUser = imageUID
		sc.RunAsUsername = imageUser
	}
	sc.ReadOnlyRootFilesystem = isTrue(eff.ReadOnlyRootFilesystem)
	if eff.Capabilities != nil {
		sc.AddCapabilities = capabilityNames(eff.Capabilities.Add)
		sc.DropCapabilities = capabilityNames(eff.Capabilities.Drop)
	}
	sc.NoNewPrivs = eff.AllowPrivilegeEscalation != nil && !*eff.AllowPrivilegeEscalation &&
		!sc.Privileged && !hasCapability(sc.AddCapabilities, "SYS_ADMIN")
	if psc := pod.Spec.SecurityContext; psc != nil {
		if psc.FSGroup != nil {
			sc.SupplementalGroups = append(sc.SupplementalGroups, *psc.FSGroup)
		}
		sc.SupplementalGroups = append(sc.SupplementalGroups, psc.SupplementalGroups...)
	}

	var err error
	if sc.Seccomp, err = seccompProfile(eff.SeccompProfile, opts); err != nil {
		return nil, err
	}
	if sc.AppArmor, err = appArmorProfile(eff.AppArmorProfile); err != nil {
		return nil, err
	}
	if eff.ProcMount != nil && *eff.ProcMount == corev1.UnmaskedProcMount {
		sc.MaskedPaths, sc.ReadonlyPaths = []string{}, []string{}
	}
	return sc, nil
}

// capabilityNames normalizes capability names to CRI's form: upper case,
// no "CAP_" prefix.
func capabilityNames(caps []corev1.Capability) []string {
	if len(caps) == 0 {
		return nil
	}
	out := make([]string, 0, len(caps))
	for _, c := range caps {
		name := strings.ToUpper(string(c))
		name = strings.TrimPrefix(name, "CAP_")
		out = append(out, name)
	}
	return out
}

func hasCapability(caps []string, name string) bool {
	for _, c := range caps {
		if c == name {
			return true
		}
	}
	return false
}

func seccompProfile(p *corev1.SeccompProfile, opts SecurityOptions) (*runtime.SecurityProfile, error) {
	if p == nil {
		if opts.SeccompDefault {
			return &runtime.SecurityProfile{Type: ProfileRuntimeDefault}, nil
		}
		return &runtime.SecurityProfile{Type: ProfileUnconfined}, nil
	}
	switch p.Type {
	case corev1.SeccompProfileTypeRuntimeDefault:
		return &runtime.SecurityProfile{Type: ProfileRuntimeDefault}, nil
	case corev1.SeccompProfileTypeLocalhost:
		if p.LocalhostProfile == nil || *p.LocalhostProfile == "" {
			return nil, errors.New("localhostProfile must be set if seccompProfile type is Localhost.")
		}
		return &runtime.SecurityProfile{Type: ProfileLocalhost, LocalhostProfile: filepath.Join(opts.SeccompProfileRoot, *p.LocalhostProfile)}, nil
	}
	return &runtime.SecurityProfile{Type: ProfileUnconfined}, nil
}

func appArmorProfile(p *corev1.AppArmorProfile) (*runtime.SecurityProfile, error) {
	if p == nil {
		return nil, nil
	}
	switch p.Type {
	case corev1.AppArmorProfileTypeRuntimeDefault:
		return &runtime.SecurityProfile{Type: ProfileRuntimeDefault}, nil
	case corev1.AppArmorProfileTypeUnconfined:
		return &runtime.SecurityProfile{Type: ProfileUnconfined}, nil
	case corev1.AppArmorProfileTypeLocalhost:
		if p.LocalhostProfile == nil || *p.LocalhostProfile == "" {
			return nil, errors.New("missing localhost apparmor profile name")
		}
		return &runtime.SecurityProfile{Type: ProfileLocalhost, LocalhostProfile: *p.LocalhostProfile}, nil
	}
	return nil, fmt.Errorf("unknown apparmor profile type: %q", p.Type)
}

// VerifyRunAsNonRoot refuses a container that must not run as root but
// would, given the image's user (imageUID, or imageUser when the image
// names a user that is not numeric). The messages are upstream's; the
// caller reports them as CreateContainerConfigError.
func VerifyRunAsNonRoot(pod *corev1.Pod, c *corev1.Container, imageUID *int64, imageUser string) error {
	eff := effectiveSecurity(pod, c)
	if !isTrue(eff.RunAsNonRoot) {
		return nil
	}
	if eff.RunAsUser != nil {
		if *eff.RunAsUser == 0 {
			return fmt.Errorf("container's runAsUser breaks non-root policy (pod: %q, container: %s)", formatPod(pod), c.Name)
		}
		return nil
	}
	switch {
	case imageUID == nil && imageUser != "":
		return fmt.Errorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root (pod: %q, container: %s)", imageUser, formatPod(pod), c.Name)
	case imageUID != nil && *imageUID == 0:
		return fmt.Errorf("container has runAsNonRoot and image will run as root (pod: %q, container: %s)", formatPod(pod), c.Name)
	case imageUID != nil:
		if errs := validation.IsValidUserID(*imageUID); len(errs) > 0 {
			return fmt.Errorf("container has runAsNonRoot and image has an invalid user id (%d). (Must be 1-(%d)): %s (pod: %q, container: %s)",
				*imageUID, math.MaxInt32, strings.Join(errs, "; "), formatPod(pod), c.Name)
		}
	}
	// An image without a user runs as root, but upstream lets it through
	// here: the runtime then fails it (uid 0 is what CRI reports for it).
	return nil
}

// formatPod is upstream's format.Pod: name_namespace(uid).
func formatPod(pod *corev1.Pod) string {
	return fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
}

// SandboxSecurity fills the pod-level security fields of a sandbox config
// as upstream does: runAsUser/runAsGroup of the pod, fsGroup then
// supplementalGroups as supplemental groups, sysctls, namespace sharing,
// the RuntimeDefault seccomp profile (always, so that pods can use tight
// profiles at pod level), and Privileged when any container is.
func SandboxSecurity(pod *corev1.Pod, cfg *runtime.SandboxConfig) {
	cfg.HostNetwork = pod.Spec.HostNetwork
	cfg.HostPID = pod.Spec.HostPID
	cfg.HostIPC = pod.Spec.HostIPC
	cfg.ShareProcessNamespace = isTrue(pod.Spec.ShareProcessNamespace)
	cfg.SeccompProfile = &runtime.SecurityProfile{Type: ProfileRuntimeDefault}
	cfg.Privileged = hasPrivilegedContainer(pod)
	psc := pod.Spec.SecurityContext
	if psc == nil {
		return
	}
	cfg.RunAsUser = psc.RunAsUser
	cfg.RunAsGroup = psc.RunAsGroup
	cfg.FSGroup = psc.FSGroup
	cfg.SupplementalGroups = nil
	if psc.FSGroup != nil {
		cfg.SupplementalGroups = append(cfg.SupplementalGroups, *psc.FSGroup)
	}
	cfg.SupplementalGroups = append(cfg.SupplementalGroups, psc.SupplementalGroups...)
	if len(psc.Sysctls) > 0 {
		cfg.Sysctls = make(map[string]string, len(psc.Sysctls))
		for _, s := range psc.Sysctls {
			cfg.Sysctls[s.Name] = s.Value
		}
	}
}

func hasPrivilegedContainer(pod *corev1.Pod) bool {
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			if c.SecurityContext != nil && isTrue(c.SecurityContext.Privileged) {
				return true
			}
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.SecurityContext != nil && isTrue(c.SecurityContext.Privileged) {
			return true
		}
	}
	return false
}
