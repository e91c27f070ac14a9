package podconfig

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/internal/agent/runtime"
)

func secPod(psc *corev1.PodSecurityContext, csc *corev1.SecurityContext) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1"},
		Spec:       corev1.PodSpec{SecurityContext: psc, Containers: []corev1.Container{{Name: "c", SecurityContext: csc}}},
	}
}

func TestSecurityContext(t *testing.T) {
	opts := SecurityOptions{SeccompProfileRoot: "/var/lib/skiff/seccomp"}
	unmasked := corev1.UnmaskedProcMount
	tests := []struct {
		name     string
		psc      *corev1.PodSecurityContext
		csc      *corev1.SecurityContext
		imageUID *int64
		imageUsr string
		opts     SecurityOptions
		want     runtime.SecurityContext
		err      string
	}{{
		name:     "nothing set: image user, unconfined",
		imageUID: ptr.To[int64](33), imageUsr: "",
		want: runtime.SecurityContext{RunAsUser: ptr.To[int64](33), Seccomp: &runtime.SecurityProfile{Type: "Unconfined"}},
	}, {
		name: "seccomp default",
		opts: SecurityOptions{SeccompDefault: true}, imageUsr: "nginx",
		want: runtime.SecurityContext{RunAsUsername: "nginx", Seccomp: &runtime.SecurityProfile{Type: "RuntimeDefault"}},
	}, {
		name: "pod settings apply, container wins",
		psc: &corev1.PodSecurityContext{
			RunAsUser: ptr.To[int64](1000), RunAsGroup: ptr.To[int64](2000), FSGroup: ptr.To[int64](3000),
			SupplementalGroups: []int64{4000, 4001},
			SeccompProfile:     &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		csc:      &corev1.SecurityContext{RunAsUser: ptr.To[int64](1001), ReadOnlyRootFilesystem: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false)},
		imageUID: ptr.To[int64](0),
		want: runtime.SecurityContext{
			RunAsUser: ptr.To[int64](1001), RunAsGroup: ptr.To[int64](2000), SupplementalGroups: []int64{3000, 4000, 4001},
			ReadOnlyRootFilesystem: true, NoNewPrivs: true, Seccomp: &runtime.SecurityProfile{Type: "RuntimeDefault"},
		},
	}, {
		name: "localhost seccomp under the root, container overrides pod",
		psc:  &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
		csc:  &corev1.SecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr.To("profiles/audit.json")}},
		want: runtime.SecurityContext{Seccomp: &runtime.SecurityProfile{Type: "Localhost", LocalhostProfile: "/var/lib/skiff/seccomp/profiles/audit.json"}},
	}, {
		name: "localhost seccomp without a profile",
		csc:  &corev1.SecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost}},
		err:  "localhostProfile must be set if seccompProfile type is Localhost.",
	}, {
		name: "unconfined seccomp",
		csc:  &corev1.SecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}},
		opts: SecurityOptions{SeccompDefault: true},
		want: runtime.SecurityContext{Seccomp: &runtime.SecurityProfile{Type: "Unconfined"}},
	}, {
		name: "capabilities normalized",
		csc: &corev1.SecurityContext{Capabilities: &corev1.Capabilities{
			Add: []corev1.Capability{"NET_ADMIN", "CAP_SYS_TIME", "cap_chown"}, Drop: []corev1.Capability{"ALL"},
		}},
		want: runtime.SecurityContext{AddCapabilities: []string{"NET_ADMIN", "SYS_TIME", "CHOWN"}, DropCapabilities: []string{"ALL"}, Seccomp: &runtime.SecurityProfile{Type: "Unconfined"}},
	}, {
		name: "privileged keeps privilege escalation",
		csc:  &corev1.SecurityContext{Privileged: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false)},
		want: runtime.SecurityContext{Privileged: true, Seccomp: &runtime.SecurityProfile{Type: "Unconfined"}},
	}, {
		name: "CAP_SYS_ADMIN keeps privilege escalation",
		csc:  &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"SYS_ADMIN"}}},
		want: runtime.SecurityContext{AddCapabilities: []string{"SYS_ADMIN"}, Seccomp: &runtime.SecurityProfile{Type: "Unconfined"}},
	}, {
		name: "allowPrivilegeEscalation unset means allowed",
		csc:  &corev1.SecurityContext{},
		want: runtime.SecurityContext{Seccomp: &runtime.SecurityProfile{Type: "Unconfined"}},
	}, {
		name: "procMount unmasked",
		csc:  &corev1.SecurityContext{ProcMount: &unmasked},
		want: runtime.SecurityContext{MaskedPaths: []string{}, ReadonlyPaths: []string{}, Seccomp: &runtime.SecurityProfile{Type: "Unconfined"}},
	}, {
		name: "apparmor",
		psc:  &corev1.PodSecurityContext{AppArmorProfile: &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeLocalhost, LocalhostProfile: ptr.To("k8s-deny")}},
		want: runtime.SecurityContext{AppArmor: &runtime.SecurityProfile{Type: "Localhost", LocalhostProfile: "k8s-deny"}, Seccomp: &runtime.SecurityProfile{Type: "Unconfined"}},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := secPod(tc.psc, tc.csc)
			o := tc.opts
			if o.SeccompProfileRoot == "" {
				o.SeccompProfileRoot = opts.SeccompProfileRoot
			}
			got, err := SecurityContext(pod, &pod.Spec.Containers[0], tc.imageUID, tc.imageUsr, o)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", *got, tc.want)
			}
		})
	}
}

func TestSecurityContextHostNamespaces(t *testing.T) {
	pod := secPod(nil, nil)
	pod.Spec.HostNetwork, pod.Spec.HostPID, pod.Spec.HostIPC = true, true, true
	got, err := SecurityContext(pod, &pod.Spec.Containers[0], nil, "", SecurityOptions{})
	if err != nil || !got.NamespaceHostNetwork || !got.NamespaceHostPID || !got.NamespaceHostIPC {
		t.Fatalf("%+v %v", got, err)
	}
}

func TestVerifyRunAsNonRoot(t *testing.T) {
	const podRef = `"p_ns(u1)"`
	tests := []struct {
		name     string
		psc      *corev1.PodSecurityContext
		csc      *corev1.SecurityContext
		imageUID *int64
		imageUsr string
		err      string
	}{
		{name: "not asked", imageUID: ptr.To[int64](0)},
		{name: "runAsNonRoot false", csc: &corev1.SecurityContext{RunAsNonRoot: ptr.To(false)}, imageUID: ptr.To[int64](0)},
		{name: "root image", psc: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)}, imageUID: ptr.To[int64](0),
			err: "container has runAsNonRoot and image will run as root (pod: " + podRef + ", container: c)"},
		{name: "non-numeric user", csc: &corev1.SecurityContext{RunAsNonRoot: ptr.To(true)}, imageUsr: "nginx",
			err: "container has runAsNonRoot and image has non-numeric user (nginx), cannot verify user is non-root (pod: " + podRef + ", container: c)"},
		{name: "runAsUser 0", csc: &corev1.SecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](0)},
			err: "container's runAsUser breaks non-root policy (pod: " + podRef + ", container: c)"},
		{name: "runAsUser set wins over root image", psc: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](1000)}, imageUID: ptr.To[int64](0)},
		{name: "non-root image", csc: &corev1.SecurityContext{RunAsNonRoot: ptr.To(true)}, imageUID: ptr.To[int64](65534)},
		{name: "invalid uid", csc: &corev1.SecurityContext{RunAsNonRoot: ptr.To(true)}, imageUID: ptr.To[int64](1 << 40),
			err: "container has runAsNonRoot and image has an invalid user id (1099511627776). (Must be 1-(2147483647)): must be between 0 and 2147483647, inclusive (pod: " + podRef + ", container: c)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := secPod(tc.psc, tc.csc)
			err := VerifyRunAsNonRoot(pod, &pod.Spec.Containers[0], tc.imageUID, tc.imageUsr)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.err {
				t.Errorf("got %q\nwant %q", got, tc.err)
			}
		})
	}
}

func TestSandboxSecurity(t *testing.T) {
	pod := secPod(&corev1.PodSecurityContext{
		RunAsUser: ptr.To[int64](1), RunAsGroup: ptr.To[int64](2), FSGroup: ptr.To[int64](3), SupplementalGroups: []int64{4},
		Sysctls: []corev1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}},
	}, nil)
	pod.Spec.InitContainers = []corev1.Container{{Name: "i", SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}}
	pod.Spec.ShareProcessNamespace = ptr.To(true)
	var cfg runtime.SandboxConfig
	SandboxSecurity(pod, &cfg)
	want := runtime.SandboxConfig{
		ShareProcessNamespace: true, RunAsUser: ptr.To[int64](1), RunAsGroup: ptr.To[int64](2), FSGroup: ptr.To[int64](3),
		SupplementalGroups: []int64{3, 4}, SeccompProfile: &runtime.SecurityProfile{Type: "RuntimeDefault"}, Privileged: true,
		Sysctls: map[string]string{"net.ipv4.ip_unprivileged_port_start": "0"},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got  %+v\nwant %+v", cfg, want)
	}
}
