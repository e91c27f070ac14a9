package podsecurity

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// restrictedPod passes every check at every level.
func restrictedPod() (*metav1.ObjectMeta, *corev1.PodSpec) {
	return &metav1.ObjectMeta{Name: "p"}, &corev1.PodSpec{
		Containers: []corev1.Container{{Name: "a", Image: "nginx", SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			RunAsNonRoot:             ptr.To(true),
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		}}},
	}
}

func TestEvaluate(t *testing.T) {
	latest := func(l Level) LevelVersion { return LevelVersion{Level: l, Version: LatestVersion} }
	at := func(l Level, minor int) LevelVersion { return LevelVersion{Level: l, Version: Version{Minor: minor}} }
	sc := func(s *corev1.PodSpec) *corev1.SecurityContext { return s.Containers[0].SecurityContext }
	psc := func(s *corev1.PodSpec) *corev1.PodSecurityContext {
		if s.SecurityContext == nil {
			s.SecurityContext = &corev1.PodSecurityContext{}
		}
		return s.SecurityContext
	}
	tests := []struct {
		name   string
		mutate func(m *metav1.ObjectMeta, s *corev1.PodSpec)
		lv     LevelVersion
		want   string // Detail(results); "" = allowed
		fields []string
	}{
		{name: "restricted pod at restricted", mutate: func(*metav1.ObjectMeta, *corev1.PodSpec) {}, lv: latest(Restricted)},
		{name: "anything at privileged", lv: latest(Privileged), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			sc(s).Privileged = ptr.To(true)
			s.HostNetwork = true
		}},
		{name: "plain pod at baseline", lv: latest(Baseline), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			s.Containers[0].SecurityContext = nil
		}},
		{name: "plain pod at restricted", lv: latest(Restricted), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			s.Containers[0].Name = "nginx"
			s.Containers[0].SecurityContext = nil
		}, want: `allowPrivilegeEscalation != false (container "nginx" must set securityContext.allowPrivilegeEscalation=false), ` +
			`unrestricted capabilities (container "nginx" must set securityContext.capabilities.drop=["ALL"]), ` +
			`runAsNonRoot != true (pod or container "nginx" must set securityContext.runAsNonRoot=true), ` +
			`seccompProfile (pod or container "nginx" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`},

		// baseline controls
		{name: "privileged", lv: latest(Baseline), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			s.Containers[0].Name = "nginx"
			sc(s).Privileged = ptr.To(true)
		}, want: `privileged (container "nginx" must not set securityContext.privileged=true)`,
			fields: []string{"spec.containers[0].securityContext.privileged"}},
		{name: "privileged init and regular", lv: latest(Restricted), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			sc(s).Privileged = ptr.To(true)
			s.InitContainers = []corev1.Container{{Name: "init", SecurityContext: s.Containers[0].SecurityContext.DeepCopy()}}
		}, want: `privileged (containers "init", "a" must not set securityContext.privileged=true)`},
		{name: "host namespaces", lv: latest(Baseline), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			s.HostNetwork, s.HostPID, s.HostIPC = true, true, true
		}, want: `host namespaces (hostIPC, hostNetwork, hostPID)`},
		{name: "hostPath at baseline", lv: latest(Baseline), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			s.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
		}, want: `hostPath volumes (volume "data")`, fields: []string{"spec.volumes[0].hostPath"}},
		{name: "hostPath at restricted is a restricted volume type", lv: latest(Restricted), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			s.Volumes = []corev1.Volume{
				{Name: "data", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}},
				{Name: "ok", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "nfs", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "s", Path: "/"}}},
			}
		}, want: `restricted volume types (volumes "data", "nfs" use restricted volume types "hostPath", "nfs")`},
		{name: "host ports", lv: latest(Baseline), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			s.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080}, {ContainerPort: 81, HostPort: 10000}}
		}, want: `hostPort (container "a" uses hostPorts 10000, 8080)`},
		{name: "capabilities baseline", lv: latest(Baseline), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			sc(s).Capabilities.Add = []corev1.Capability{"NET_ADMIN", "CHOWN", "SYS_TIME"}
		}, want: `non-default capabilities (container "a" must not include "NET_ADMIN", "SYS_TIME" in securityContext.capabilities.add)`},
		{name: "capabilities restricted", lv: latest(Restricted), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			sc(s).Capabilities = &corev1.Capabilities{Add: []corev1.Capability{"CHOWN", "NET_BIND_SERVICE"}}
		}, want: `unrestricted capabilities (container "a" must set securityContext.capabilities.drop=["ALL"]; container "a" must not include "CHOWN" in securityContext.capabilities.add)`},
		{name: "capabilities baseline at restricted before v1.22", lv: at(Restricted, 21), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			sc(s).Capabilities = &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}}
		}, want: `non-default capabilities (container "a" must not include "NET_ADMIN" in securityContext.capabilities.add)`},
		{name: "apparmor field and annotation", lv: latest(Baseline), mutate: func(m *metav1.ObjectMeta, s *corev1.PodSpec) {
			sc(s).AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}
			m.Annotations = map[string]string{"container.apparmor.security.beta.kubernetes.io/a": "unconfined"}
		}, want: `forbidden AppArmor profiles (container "a" and annotation must not set AppArmor profile type to "Unconfined", "container.apparmor.security.beta.kubernetes.io/a="unconfined"")`},
		{name: "apparmor localhost allowed", lv: latest(Baseline), mutate: func(m *metav1.ObjectMeta, s *corev1.PodSpec) {
			psc(s).AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeLocalhost, LocalhostProfile: ptr.To("x")}
			m.Annotations = map[string]string{"container.apparmor.security.beta.kubernetes.io/a": "localhost/x"}
		}},
		{name: "selinux", lv: latest(Baseline), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			psc(s).SELinuxOptions = &corev1.SELinuxOptions{Type: "spc_t"}
			sc(s).SELinuxOptions = &corev1.SELinuxOptions{User: "u", Role: "r", Type: "container_t"}
		}, want: `seLinuxOptions (pod and container "a" set forbidden securityContext.seLinuxOptions: type "spc_t"; user may not be set; role may not be set)`},
		{name: "selinux container_engine_t since v1.31", lv: at(Baseline, 31), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			psc(s).SELinuxOptions = &corev1.SELinuxOptions{Type: "container_engine_t"}
		}},
		{name: "selinux container_engine_t before v1.31", lv: at(Baseline, 30), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			psc(s).SELinuxOptions = &corev1.SELinuxOptions{Type: "container_engine_t"}
		}, want: `seLinuxOptions (pod set forbidden securityContext.seLinuxOptions: type "container_engine_t")`},
		{name: "procMount", lv: latest(Baseline), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			sc(s).ProcMount = ptr.To(corev1.UnmaskedProcMount)
		}, want: `procMount (container "a" must not set securityContext.procMount to "Unmasked")`},
		{name: "procMount in a user namespace at baseline", lv: latest(Baseline), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			sc(s).ProcMount = ptr.To(corev1.UnmaskedProcMount)
			s.HostUsers = ptr.To(false)
		}},
		{name: "procMount in a user namespace at restricted", lv: latest(Restricted), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			sc(s).ProcMount = ptr.To(corev1.UnmaskedProcMount)
			s.HostUsers = ptr.To(false)
		}, want: `procMount (container "a" must not set securityContext.procMount to "Unmasked")`},
		{name: "seccomp unconfined at baseline", lv: latest(Baseline), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			psc(s).SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
		}, want: `seccompProfile (pod must not set securityContext.seccompProfile.type to "Unconfined")`},
		{name: "seccomp annotation before v1.19", lv: at(Baseline, 18), mutate: func(m *metav1.ObjectMeta, _ *corev1.PodSpec) {
			m.Annotations = map[string]string{"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}
		}, want: `seccompProfile (forbidden annotation seccomp.security.alpha.kubernetes.io/pod="unconfined")`},
		{name: "sysctls", lv: latest(Baseline), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			psc(s).Sysctls = []corev1.Sysctl{{Name: "net.ipv4.tcp_syncookies"}, {Name: "kernel.msgmax"}, {Name: "net.ipv4.tcp_notsent_lowat"}}
		}, want: `forbidden sysctls (kernel.msgmax)`},
		{name: "sysctls of v1.37 before it", lv: at(Baseline, 36), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			psc(s).Sysctls = []corev1.Sysctl{{Name: "net.ipv4.tcp_notsent_lowat"}}
		}, want: `forbidden sysctls (net.ipv4.tcp_notsent_lowat)`},
		{name: "windows host process", lv: latest(Baseline), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			psc(s).WindowsOptions = &corev1.WindowsSecurityContextOptions{HostProcess: ptr.To(true)}
			sc(s).WindowsOptions = &corev1.WindowsSecurityContextOptions{HostProcess: ptr.To(true)}
		}, want: `hostProcess (pod and container "a" must not set securityContext.windowsOptions.hostProcess=true)`},
		{name: "probe host", lv: latest(Baseline), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			s.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Host: "10.0.0.1"}}}
		}, want: `probe or lifecycle host (container "a" uses probe or lifecycle host "10.0.0.1")`,
			fields: []string{"spec.containers[0].livenessProbe.httpGet.host"}},
		{name: "probe host before v1.34", lv: at(Baseline, 33), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			s.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Host: "10.0.0.1"}}}
		}},

		// restricted controls
		{name: "allowPrivilegeEscalation", lv: latest(Restricted), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			sc(s).AllowPrivilegeEscalation = ptr.To(true)
		}, want: `allowPrivilegeEscalation != false (container "a" must set securityContext.allowPrivilegeEscalation=false)`},
		{name: "allowPrivilegeEscalation before v1.8", lv: at(Restricted, 7), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			sc(s).AllowPrivilegeEscalation = nil
		}},
		{name: "runAsNonRoot false", lv: latest(Restricted), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			psc(s).RunAsNonRoot = ptr.To(false)
			sc(s).RunAsNonRoot = nil
		}, want: `runAsNonRoot != true (pod must not set securityContext.runAsNonRoot=false)`},
		{name: "runAsNonRoot at pod level", lv: latest(Restricted), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			psc(s).RunAsNonRoot = ptr.To(true)
			sc(s).RunAsNonRoot = nil
		}},
		{name: "runAsUser 0", lv: latest(Restricted), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			sc(s).RunAsUser = ptr.To[int64](0)
		}, want: `runAsUser=0 (container "a" must not set runAsUser=0)`, fields: []string{"spec.containers[0].securityContext.runAsUser"}},
		{name: "runAsUser 0 before v1.23", lv: at(Restricted, 22), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			sc(s).RunAsUser = ptr.To[int64](0)
		}},
		{name: "root in a user namespace", lv: latest(Restricted), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			s.HostUsers = ptr.To(false)
			sc(s).RunAsUser = ptr.To[int64](0)
			sc(s).RunAsNonRoot = nil
		}},
		{name: "root in a user namespace before v1.35", lv: at(Restricted, 34), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			s.HostUsers = ptr.To(false)
			sc(s).RunAsUser = ptr.To[int64](0)
		}, want: `runAsUser=0 (container "a" must not set runAsUser=0)`},
		{name: "seccomp restricted unconfined container", lv: latest(Restricted), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			sc(s).SeccompProfile.Type = corev1.SeccompProfileTypeUnconfined
		}, want: `seccompProfile (container "a" must not set securityContext.seccompProfile.type to "Unconfined")`},
		{name: "windows pod skips linux-only restricted checks", lv: latest(Restricted), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			s.OS = &corev1.PodOS{Name: corev1.Windows}
			s.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsNonRoot: ptr.To(true)}
		}},
		{name: "ephemeral containers are checked", lv: latest(Baseline), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			s.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: "debug", SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}}}
		}, want: `privileged (container "debug" must not set securityContext.privileged=true)`,
			fields: []string{"spec.ephemeralContainers[0].securityContext.privileged"}},
		{name: "order: baseline ids sorted, then restricted", lv: latest(Restricted), mutate: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
			s.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true), RunAsUser: ptr.To[int64](0)}
			s.HostPID = true
		}, want: `host namespaces (hostPID), privileged (container "a" must not set securityContext.privileged=true), ` +
			`allowPrivilegeEscalation != false (container "a" must set securityContext.allowPrivilegeEscalation=false), ` +
			`unrestricted capabilities (container "a" must set securityContext.capabilities.drop=["ALL"]), ` +
			`runAsNonRoot != true (pod or container "a" must set securityContext.runAsNonRoot=true), ` +
			`runAsUser=0 (container "a" must not set runAsUser=0), ` +
			`seccompProfile (pod or container "a" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, s := restrictedPod()
			tc.mutate(m, s)
			results := Evaluate(tc.lv, m, s)
			if got := Detail(results); got != tc.want {
				t.Errorf("at %s:\n got %s\nwant %s", tc.lv, got, tc.want)
			}
			if tc.fields != nil {
				var got []string
				for _, r := range results {
					got = append(got, r.Fields...)
				}
				if len(got) != len(tc.fields) || got[0] != tc.fields[0] {
					t.Errorf("fields = %q, want %q", got, tc.fields)
				}
			}
		})
	}
}

func TestPolicyFromLabels(t *testing.T) {
	defaults := Policy{
		Enforce: LevelVersion{Baseline, LatestVersion},
		Audit:   LevelVersion{Privileged, LatestVersion},
		Warn:    LevelVersion{Restricted, LatestVersion},
	}
	tests := []struct {
		labels map[string]string
		want   string // enforce audit warn
		errs   int
	}{
		{nil, "baseline:latest privileged:latest restricted:latest", 0},
		{map[string]string{EnforceLevelLabel: "privileged"}, "privileged:latest privileged:latest restricted:latest", 0},
		{map[string]string{EnforceLevelLabel: "restricted", EnforceVersionLabel: "v1.30"}, "restricted:v1.30 privileged:latest restricted:latest", 0},
		{map[string]string{EnforceLevelLabel: "restricted", EnforceVersionLabel: "v1.30", WarnLevelLabel: "baseline"}, "restricted:v1.30 privileged:latest baseline:latest", 0},
		{map[string]string{EnforceLevelLabel: "bogus", AuditLevelLabel: "x", WarnVersionLabel: "1.2"}, "restricted:latest privileged:latest restricted:latest", 3},
	}
	for _, tc := range tests {
		p, errs := PolicyFromLabels(tc.labels, defaults)
		if got := p.Enforce.String() + " " + p.Audit.String() + " " + p.Warn.String(); got != tc.want || len(errs) != tc.errs {
			t.Errorf("%v: %s (%d errors: %v), want %s (%d errors)", tc.labels, got, len(errs), errs, tc.want, tc.errs)
		}
	}
	// warn follows a stricter enforce label
	lax := Policy{Enforce: LevelVersion{Privileged, LatestVersion}, Audit: LevelVersion{Privileged, LatestVersion}, Warn: LevelVersion{Privileged, LatestVersion}}
	p, _ := PolicyFromLabels(map[string]string{EnforceLevelLabel: "baseline", EnforceVersionLabel: "v1.29"}, lax)
	if p.Warn.String() != "baseline:v1.29" {
		t.Errorf("warn = %s, want baseline:v1.29", p.Warn)
	}
	if _, errs := PolicyFromLabels(map[string]string{EnforceLevelLabel: "bogus"}, defaults); errs[0].Error() != `metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "bogus": must be one of privileged, baseline, restricted` {
		t.Errorf("error = %q", errs[0].Error())
	}
}
