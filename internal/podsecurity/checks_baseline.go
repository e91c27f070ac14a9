package podsecurity

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var itoa = strconv.Itoa

// allChecks are the Pod Security Standards controls, each with upstream's
// id and versions. Their reason and detail texts are upstream's, word for
// word: clients and documentation match on them.
var allChecks = []*check{
	{id: "appArmorProfile", level: Baseline, versions: []versioned{{min: 0, fn: appArmorProfile}}},
	{id: "capabilities_baseline", level: Baseline, reason: "non-default capabilities", versions: []versioned{{min: 0, fn: capabilitiesBaseline}}},
	{id: "hostNamespaces", level: Baseline, reason: "host namespaces", versions: []versioned{{min: 0, fn: hostNamespaces}}},
	{id: "hostPathVolumes", level: Baseline, reason: "hostPath volumes", versions: []versioned{{min: 0, fn: hostPathVolumes}}},
	{id: "hostPorts", level: Baseline, reason: "hostPort", versions: []versioned{{min: 0, fn: hostPorts}}},
	{id: "hostProbesAndHostLifecycle", level: Baseline, reason: "probe or lifecycle host", versions: []versioned{{min: 34, fn: hostProbesAndLifecycle}}},
	{id: "privileged", level: Baseline, reason: "privileged", versions: []versioned{{min: 0, fn: privileged}}},
	{id: "procMount", level: Baseline, reason: "procMount", versions: []versioned{
		{min: 0, fn: procMount},
		{min: 35, fn: func(m *metav1.ObjectMeta, s *corev1.PodSpec) (Result, bool) {
			if userNamespaced(s) {
				return Result{}, true
			}
			return procMount(m, s)
		}},
	}},
	{id: "seLinuxOptions", level: Baseline, reason: "seLinuxOptions", versions: []versioned{
		{min: 0, fn: seLinuxOptions("container_t", "container_init_t", "container_kvm_t")},
		{min: 31, fn: seLinuxOptions("container_t", "container_init_t", "container_kvm_t", "container_engine_t")},
	}},
	{id: "seccompProfile_baseline", level: Baseline, reason: "seccompProfile", versions: []versioned{
		{min: 0, fn: seccompAnnotations},
		{min: 19, fn: seccompBaseline},
	}},
	{id: "sysctls", level: Baseline, reason: "forbidden sysctls", versions: []versioned{
		{min: 0, fn: sysctls(sysctls1_0...)},
		{min: 27, fn: sysctls(sysctls1_27...)},
		{min: 29, fn: sysctls(sysctls1_29...)},
		{min: 32, fn: sysctls(sysctls1_32...)},
		{min: 37, fn: sysctls(sysctls1_37...)},
	}},
	{id: "windowsHostProcess", level: Baseline, reason: "hostProcess", versions: []versioned{{min: 0, fn: windowsHostProcess}}},

	{id: "allowPrivilegeEscalation", level: Restricted, reason: "allowPrivilegeEscalation != false", versions: []versioned{
		{min: 8, fn: allowPrivilegeEscalation},
		{min: 25, fn: exceptWindows(allowPrivilegeEscalation)},
	}},
	{id: "capabilities_restricted", level: Restricted, reason: "unrestricted capabilities", versions: []versioned{
		{min: 22, fn: capabilitiesRestricted, overrides: []string{"capabilities_baseline"}},
		{min: 25, fn: exceptWindows(capabilitiesRestricted), overrides: []string{"capabilities_baseline"}},
	}},
	{id: "procMount_restricted", level: Restricted, reason: "procMount", versions: []versioned{
		{min: 35, fn: procMount, overrides: []string{"procMount"}},
	}},
	{id: "restrictedVolumes", level: Restricted, reason: "restricted volume types", versions: []versioned{
		{min: 0, fn: restrictedVolumes, overrides: []string{"hostPathVolumes"}},
	}},
	{id: "runAsNonRoot", level: Restricted, reason: "runAsNonRoot != true", versions: []versioned{
		{min: 0, fn: runAsNonRoot},
		{min: 35, fn: exceptUserNamespaced(runAsNonRoot)},
	}},
	{id: "runAsUser", level: Restricted, reason: "runAsUser=0", versions: []versioned{
		{min: 23, fn: runAsUser},
		{min: 35, fn: exceptUserNamespaced(runAsUser)},
	}},
	{id: "seccompProfile_restricted", level: Restricted, reason: "seccompProfile", versions: []versioned{
		{min: 19, fn: seccompRestricted, overrides: []string{"seccompProfile_baseline"}},
		{min: 25, fn: exceptWindows(seccompRestricted), overrides: []string{"seccompProfile_baseline"}},
	}},
}

// exceptWindows: from v1.25 on, pods with spec.os.name=windows pass checks
// of Linux-only fields (their API validation forbids setting them).
func exceptWindows(fn checkFn) checkFn {
	return func(m *metav1.ObjectMeta, s *corev1.PodSpec) (Result, bool) {
		if isWindows(s) {
			return Result{}, true
		}
		return fn(m, s)
	}
}

// exceptUserNamespaced: from v1.35 on, root in a user namespace
// (hostUsers=false) is not root on the host.
func exceptUserNamespaced(fn checkFn) checkFn {
	return func(m *metav1.ObjectMeta, s *corev1.PodSpec) (Result, bool) {
		if userNamespaced(s) {
			return Result{}, true
		}
		return fn(m, s)
	}
}

// setters joins "pod" (if podBad) and `container(s) "a", "b"` with " and ".
func setters(podBad bool, badContainers []string) string {
	var s []string
	if podBad {
		s = append(s, "pod")
	}
	if len(badContainers) > 0 {
		s = append(s, pluralize("container", "containers", len(badContainers))+" "+joinQuote(badContainers))
	}
	return strings.Join(s, " and ")
}

func appArmorProfile(meta *metav1.ObjectMeta, spec *corev1.PodSpec) (Result, bool) {
	allowedType := func(t corev1.AppArmorProfileType) bool {
		return t == corev1.AppArmorProfileTypeRuntimeDefault || t == corev1.AppArmorProfileTypeLocalhost
	}
	var badValues, fields, badContainers []string
	podBad := false
	if sc := spec.SecurityContext; sc != nil && sc.AppArmorProfile != nil && !allowedType(sc.AppArmorProfile.Type) {
		podBad = true
		badValues = append(badValues, string(sc.AppArmorProfile.Type))
		fields = append(fields, "spec.securityContext.appArmorProfile.type")
	}
	for _, c := range containers(spec) {
		if sc := c.c.SecurityContext; sc != nil && sc.AppArmorProfile != nil && !allowedType(sc.AppArmorProfile.Type) {
			badContainers = append(badContainers, c.c.Name)
			badValues = append(badValues, string(sc.AppArmorProfile.Type))
			fields = append(fields, c.path+".securityContext.appArmorProfile.type")
		}
	}
	badSetters := setters(podBad, badContainers)
	values := sortedSet(badValues)
	var annotations []string
	for k, v := range meta.Annotations {
		if strings.HasPrefix(k, corev1.DeprecatedAppArmorBetaContainerAnnotationKeyPrefix) &&
			v != "" && v != corev1.DeprecatedAppArmorBetaProfileRuntimeDefault && !strings.HasPrefix(v, corev1.DeprecatedAppArmorBetaProfileNamePrefix) {
			annotations = append(annotations, fmt.Sprintf("%s=%q", k, v))
			fields = append(fields, "metadata.annotations["+k+"]")
		}
	}
	if len(annotations) > 0 {
		slices.Sort(annotations)
		values = append(values, annotations...)
		if badSetters != "" {
			badSetters += " and "
		}
		badSetters += pluralize("annotation", "annotations", len(annotations))
	}
	if badSetters == "" {
		return Result{}, true
	}
	slices.Sort(fields)
	return Result{
		Reason: pluralize("forbidden AppArmor profile", "forbidden AppArmor profiles", len(values)),
		Detail: fmt.Sprintf("%s must not set AppArmor profile type to %s", badSetters, joinQuote(values)),
		Fields: fields,
	}, false
}

var defaultCapabilities = []string{
	"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
	"NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}

func capabilitiesBaseline(_ *metav1.ObjectMeta, spec *corev1.PodSpec) (Result, bool) {
	var bad, caps, fields []string
	for _, c := range containers(spec) {
		sc := c.c.SecurityContext
		if sc == nil || sc.Capabilities == nil {
			continue
		}
		found := false
		for i, cp := range sc.Capabilities.Add {
			if !slices.Contains(defaultCapabilities, string(cp)) {
				found = true
				caps = append(caps, string(cp))
				fields = append(fields, fmt.Sprintf("%s.securityContext.capabilities.add[%d]", c.path, i))
			}
		}
		if found {
			bad = append(bad, c.c.Name)
		}
	}
	if len(bad) == 0 {
		return Result{}, true
	}
	return Result{
		Detail: fmt.Sprintf("%s %s must not include %s in securityContext.capabilities.add",
			pluralize("container", "containers", len(bad)), joinQuote(bad), joinQuote(sortedSet(caps))),
		Fields: fields,
	}, false
}

func hostNamespaces(_ *metav1.ObjectMeta, spec *corev1.PodSpec) (Result, bool) {
	var names, fields []string
	// sorted, as upstream's string set
	if spec.HostIPC {
		names, fields = append(names, "hostIPC"), append(fields, "spec.hostIPC")
	}
	if spec.HostNetwork {
		names, fields = append(names, "hostNetwork"), append(fields, "spec.hostNetwork")
	}
	if spec.HostPID {
		names, fields = append(names, "hostPID"), append(fields, "spec.hostPID")
	}
	if len(names) == 0 {
		return Result{}, true
	}
	return Result{Detail: strings.Join(names, ", "), Fields: fields}, false
}

func hostPathVolumes(_ *metav1.ObjectMeta, spec *corev1.PodSpec) (Result, bool) {
	var names, fields []string
	for i, v := range spec.Volumes {
		if v.HostPath != nil {
			names = append(names, v.Name)
			fields = append(fields, fmt.Sprintf("spec.volumes[%d].hostPath", i))
		}
	}
	if len(names) == 0 {
		return Result{}, true
	}
	return Result{Detail: pluralize("volume", "volumes", len(names)) + " " + joinQuote(names), Fields: fields}, false
}

func hostPorts(_ *metav1.ObjectMeta, spec *corev1.PodSpec) (Result, bool) {
	var bad, ports, fields []string
	for _, c := range containers(spec) {
		found := false
		for i, p := range c.c.Ports {
			if p.HostPort != 0 {
				found = true
				ports = append(ports, itoa(int(p.HostPort)))
				fields = append(fields, fmt.Sprintf("%s.ports[%d].hostPort", c.path, i))
			}
		}
		if found {
			bad = append(bad, c.c.Name)
		}
	}
	if len(bad) == 0 {
		return Result{}, true
	}
	ports = sortedSet(ports) // as strings, as upstream
	return Result{
		Detail: fmt.Sprintf("%s %s %s %s %s", pluralize("container", "containers", len(bad)), joinQuote(bad),
			pluralize("uses", "use", len(bad)), pluralize("hostPort", "hostPorts", len(ports)), strings.Join(ports, ", ")),
		Fields: fields,
	}, false
}

func hostProbesAndLifecycle(_ *metav1.ObjectMeta, spec *corev1.PodSpec) (Result, bool) {
	var bad, hosts, fields []string
	for _, c := range containers(spec) {
		found := false
		add := func(host, path string) {
			if host != "" {
				found = true
				hosts = append(hosts, host)
				fields = append(fields, c.path+"."+path)
			}
		}
		for name, p := range map[string]*corev1.Probe{"livenessProbe": c.c.LivenessProbe, "readinessProbe": c.c.ReadinessProbe, "startupProbe": c.c.StartupProbe} {
			if p == nil {
				continue
			}
			if p.HTTPGet != nil {
				add(p.HTTPGet.Host, name+".httpGet.host")
			}
			if p.TCPSocket != nil {
				add(p.TCPSocket.Host, name+".tcpSocket.host")
			}
		}
		if lc := c.c.Lifecycle; lc != nil {
			for name, h := range map[string]*corev1.LifecycleHandler{"postStart": lc.PostStart, "preStop": lc.PreStop} {
				if h == nil {
					continue
				}
				if h.HTTPGet != nil {
					add(h.HTTPGet.Host, "lifecycle."+name+".httpGet.host")
				}
				if h.TCPSocket != nil {
					add(h.TCPSocket.Host, "lifecycle."+name+".tcpSocket.host")
				}
			}
		}
		if found {
			bad = append(bad, c.c.Name)
		}
	}
	if len(bad) == 0 {
		return Result{}, true
	}
	bad, hosts = sortedSet(bad), sortedSet(hosts)
	slices.Sort(fields)
	return Result{
		Detail: fmt.Sprintf("%s %s %s %s %s", pluralize("container", "containers", len(bad)), joinQuote(bad),
			pluralize("uses", "use", len(bad)), pluralize("probe or lifecycle host", "probe or lifecycle hosts", len(hosts)), joinQuote(hosts)),
		Fields: fields,
	}, false
}

func privileged(_ *metav1.ObjectMeta, spec *corev1.PodSpec) (Result, bool) {
	var bad, fields []string
	for _, c := range containers(spec) {
		if sc := c.c.SecurityContext; sc != nil && sc.Privileged != nil && *sc.Privileged {
			bad = append(bad, c.c.Name)
			fields = append(fields, c.path+".securityContext.privileged")
		}
	}
	if len(bad) == 0 {
		return Result{}, true
	}
	return Result{
		Detail: fmt.Sprintf("%s %s must not set securityContext.privileged=true", pluralize("container", "containers", len(bad)), joinQuote(bad)),
		Fields: fields,
	}, false
}

func procMount(_ *metav1.ObjectMeta, spec *corev1.PodSpec) (Result, bool) {
	var bad, types, fields []string
	for _, c := range containers(spec) {
		if sc := c.c.SecurityContext; sc != nil && sc.ProcMount != nil && *sc.ProcMount != corev1.DefaultProcMount {
			bad = append(bad, c.c.Name)
			types = append(types, string(*sc.ProcMount))
			fields = append(fields, c.path+".securityContext.procMount")
		}
	}
	if len(bad) == 0 {
		return Result{}, true
	}
	return Result{
		Reason: "procMount",
		Detail: fmt.Sprintf("%s %s must not set securityContext.procMount to %s",
			pluralize("container", "containers", len(bad)), joinQuote(bad), joinQuote(sortedSet(types))),
		Fields: fields,
	}, false
}

func seLinuxOptions(allowedTypes ...string) checkFn {
	allowed := append([]string{""}, allowedTypes...)
	return func(_ *metav1.ObjectMeta, spec *corev1.PodSpec) (Result, bool) {
		var badTypes, fields, bad []string
		setUser, setRole := false, false
		valid := func(o *corev1.SELinuxOptions, path string) bool {
			ok := true
			if !slices.Contains(allowed, o.Type) {
				ok = false
				badTypes = append(badTypes, o.Type)
				fields = append(fields, path+".type")
			}
			if o.User != "" {
				ok, setUser = false, true
				fields = append(fields, path+".user")
			}
			if o.Role != "" {
				ok, setRole = false, true
				fields = append(fields, path+".role")
			}
			return ok
		}
		podBad := false
		if sc := spec.SecurityContext; sc != nil && sc.SELinuxOptions != nil {
			podBad = !valid(sc.SELinuxOptions, "spec.securityContext.seLinuxOptions")
		}
		for _, c := range containers(spec) {
			if sc := c.c.SecurityContext; sc != nil && sc.SELinuxOptions != nil && !valid(sc.SELinuxOptions, c.path+".securityContext.seLinuxOptions") {
				bad = append(bad, c.c.Name)
			}
		}
		who := setters(podBad, bad)
		if who == "" {
			return Result{}, true
		}
		var data []string
		if badTypes = sortedSet(badTypes); len(badTypes) > 0 {
			data = append(data, pluralize("type", "types", len(badTypes))+" "+joinQuote(badTypes))
		}
		if setUser {
			data = append(data, "user may not be set")
		}
		if setRole {
			data = append(data, "role may not be set")
		}
		return Result{
			Detail: fmt.Sprintf("%s set forbidden securityContext.seLinuxOptions: %s", who, strings.Join(data, "; ")),
			Fields: fields,
		}, false
	}
}

const (
	seccompPodAnnotation             = "seccomp.security.alpha.kubernetes.io/pod"
	seccompContainerAnnotationPrefix = "container.seccomp.security.alpha.kubernetes.io/"
)

// seccompAnnotations is the seccomp check of policies before v1.19, on
// the alpha annotations.
func seccompAnnotations(meta *metav1.ObjectMeta, spec *corev1.PodSpec) (Result, bool) {
	validValue := func(v string) bool {
		return v == corev1.SeccompProfileRuntimeDefault || v == corev1.DeprecatedSeccompProfileDockerDefault ||
			strings.HasPrefix(v, corev1.SeccompLocalhostProfileNamePrefix)
	}
	var bad, fields []string
	if v, ok := meta.Annotations[seccompPodAnnotation]; ok && !validValue(v) {
		bad = append(bad, fmt.Sprintf("%s=%q", seccompPodAnnotation, v))
		fields = append(fields, "metadata.annotations["+seccompPodAnnotation+"]")
	}
	for _, c := range containers(spec) {
		key := seccompContainerAnnotationPrefix + c.c.Name
		if v, ok := meta.Annotations[key]; ok && !validValue(v) {
			bad = append(bad, fmt.Sprintf("%s=%q", key, v))
			fields = append(fields, "metadata.annotations["+key+"]")
		}
	}
	if len(bad) == 0 {
		return Result{}, true
	}
	bad = sortedSet(bad)
	return Result{
		Detail: fmt.Sprintf("forbidden %s %s", pluralize("annotation", "annotations", len(bad)), strings.Join(bad, ", ")),
		Fields: fields,
	}, false
}

func validSeccomp(t corev1.SeccompProfileType) bool {
	return t == corev1.SeccompProfileTypeLocalhost || t == corev1.SeccompProfileTypeRuntimeDefault
}

func seccompBaseline(_ *metav1.ObjectMeta, spec *corev1.PodSpec) (Result, bool) {
	var values, fields, bad []string
	podBad := false
	if sc := spec.SecurityContext; sc != nil && sc.SeccompProfile != nil && !validSeccomp(sc.SeccompProfile.Type) {
		podBad = true
		values = append(values, string(sc.SeccompProfile.Type))
		fields = append(fields, "spec.securityContext.seccompProfile.type")
	}
	for _, c := range containers(spec) {
		if sc := c.c.SecurityContext; sc != nil && sc.SeccompProfile != nil && !validSeccomp(sc.SeccompProfile.Type) {
			bad = append(bad, c.c.Name)
			values = append(values, string(sc.SeccompProfile.Type))
			fields = append(fields, c.path+".securityContext.seccompProfile.type")
		}
	}
	who := setters(podBad, bad)
	if who == "" {
		return Result{}, true
	}
	return Result{
		Detail: fmt.Sprintf("%s must not set securityContext.seccompProfile.type to %s", who, joinQuote(sortedSet(values))),
		Fields: fields,
	}, false
}

var (
	sysctls1_0  = []string{"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start"}
	sysctls1_27 = append(slices.Clone(sysctls1_0), "net.ipv4.ip_local_reserved_ports")
	sysctls1_29 = append(slices.Clone(sysctls1_27), "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes")
	sysctls1_32 = append(slices.Clone(sysctls1_29), "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem")
	sysctls1_37 = append(slices.Clone(sysctls1_32), "net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat")
)

func sysctls(allowed ...string) checkFn {
	return func(_ *metav1.ObjectMeta, spec *corev1.PodSpec) (Result, bool) {
		var bad, fields []string
		if sc := spec.SecurityContext; sc != nil {
			for i, s := range sc.Sysctls {
				if !slices.Contains(allowed, s.Name) {
					bad = append(bad, s.Name)
					fields = append(fields, fmt.Sprintf("spec.securityContext.sysctls[%d].name", i))
				}
			}
		}
		if len(bad) == 0 {
			return Result{}, true
		}
		return Result{Detail: strings.Join(bad, ", "), Fields: fields}, false
	}
}

func windowsHostProcess(_ *metav1.ObjectMeta, spec *corev1.PodSpec) (Result, bool) {
	isTrue := func(w *corev1.WindowsSecurityContextOptions) bool {
		return w != nil && w.HostProcess != nil && *w.HostProcess
	}
	var bad, fields []string
	for _, c := range containers(spec) {
		if sc := c.c.SecurityContext; sc != nil && isTrue(sc.WindowsOptions) {
			bad = append(bad, c.c.Name)
			fields = append(fields, c.path+".securityContext.windowsOptions.hostProcess")
		}
	}
	podBad := spec.SecurityContext != nil && isTrue(spec.SecurityContext.WindowsOptions)
	if podBad {
		fields = append([]string{"spec.securityContext.windowsOptions.hostProcess"}, fields...)
	}
	who := setters(podBad, bad)
	if who == "" {
		return Result{}, true
	}
	return Result{Detail: who + " must not set securityContext.windowsOptions.hostProcess=true", Fields: fields}, false
}
