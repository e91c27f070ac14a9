package runtime

import (
	"slices"
	"testing"
	"time"

	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestNamespaceOptions(t *testing.T) {
	for _, tc := range []struct {
		name          string
		sb            *SandboxConfig
		sc            *SecurityContext
		net, pid, ipc cri.NamespaceMode
	}{
		{"pod defaults", &SandboxConfig{}, nil, cri.NamespaceMode_POD, cri.NamespaceMode_CONTAINER, cri.NamespaceMode_POD},
		{"host namespaces", &SandboxConfig{HostNetwork: true, HostPID: true, HostIPC: true}, nil, cri.NamespaceMode_NODE, cri.NamespaceMode_NODE, cri.NamespaceMode_NODE},
		{"shared process namespace", &SandboxConfig{ShareProcessNamespace: true}, nil, cri.NamespaceMode_POD, cri.NamespaceMode_POD, cri.NamespaceMode_POD},
		{"hostPID wins over sharing", &SandboxConfig{ShareProcessNamespace: true, HostPID: true}, nil, cri.NamespaceMode_POD, cri.NamespaceMode_NODE, cri.NamespaceMode_POD},
		{"container asks for host network", &SandboxConfig{}, &SecurityContext{NamespaceHostNetwork: true}, cri.NamespaceMode_NODE, cri.NamespaceMode_CONTAINER, cri.NamespaceMode_POD},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := namespaceOptions(tc.sb, tc.sc)
			if ns.Network != tc.net || ns.Pid != tc.pid || ns.Ipc != tc.ipc {
				t.Errorf("got net %v pid %v ipc %v, want %v %v %v", ns.Network, ns.Pid, ns.Ipc, tc.net, tc.pid, tc.ipc)
			}
		})
	}
}

func TestSecurityContextToCRI(t *testing.T) {
	uid := int64(1000)
	sb := &SandboxConfig{SeccompProfile: &SecurityProfile{Type: "RuntimeDefault"}}
	for _, tc := range []struct {
		name  string
		sc    *SecurityContext
		sb    *SandboxConfig
		check func(*cri.LinuxContainerSecurityContext) bool
	}{
		{"nil: kubelet's masked paths, unconfined", nil, &SandboxConfig{}, func(c *cri.LinuxContainerSecurityContext) bool {
			return slices.Equal(c.MaskedPaths, defaultMaskedPaths) && slices.Equal(c.ReadonlyPaths, defaultReadonlyPaths) &&
				c.Seccomp.ProfileType == cri.SecurityProfile_Unconfined && c.RunAsUser == nil && c.Capabilities == nil
		}},
		{"unmasked procMount", &SecurityContext{MaskedPaths: []string{}, ReadonlyPaths: []string{}}, nil, func(c *cri.LinuxContainerSecurityContext) bool {
			return len(c.MaskedPaths) == 0 && len(c.ReadonlyPaths) == 0
		}},
		{"privileged: no masks", &SecurityContext{Privileged: true}, nil, func(c *cri.LinuxContainerSecurityContext) bool {
			return c.Privileged && c.MaskedPaths == nil && c.ReadonlyPaths == nil
		}},
		{"pod seccomp applies", &SecurityContext{}, sb, func(c *cri.LinuxContainerSecurityContext) bool {
			return c.Seccomp.ProfileType == cri.SecurityProfile_RuntimeDefault
		}},
		{"container seccomp wins", &SecurityContext{Seccomp: &SecurityProfile{Type: "Localhost", LocalhostProfile: "/p.json"}}, sb, func(c *cri.LinuxContainerSecurityContext) bool {
			return c.Seccomp.ProfileType == cri.SecurityProfile_Localhost && c.Seccomp.LocalhostRef == "/p.json"
		}},
		{"user and capabilities", &SecurityContext{RunAsUser: &uid, NoNewPrivs: true, ReadOnlyRootFilesystem: true, DropCapabilities: []string{"ALL"}}, nil, func(c *cri.LinuxContainerSecurityContext) bool {
			return c.RunAsUser.GetValue() == 1000 && c.NoNewPrivs && c.ReadonlyRootfs && slices.Equal(c.Capabilities.DropCapabilities, []string{"ALL"})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := securityContextToCRI(tc.sc, tc.sb); !tc.check(got) {
				t.Errorf("got %v", got)
			}
		})
	}
}

func TestSandboxConfigToCRI(t *testing.T) {
	fsGroup := int64(2000)
	got := sandboxConfigToCRI(&SandboxConfig{
		Name: "web", Namespace: "prod", UID: "u1", Attempt: 2,
		Labels:             map[string]string{"app": "web", LabelPodName: "explicit"},
		SupplementalGroups: []int64{10},
		FSGroup:            &fsGroup,
		Ports:              []PortMapping{{Protocol: "UDP", ContainerPort: 53, HostPort: 5353}, {ContainerPort: 80}},
		DNS:                &DNSConfig{Servers: []string{"10.0.0.10"}},
	})
	md := got.Metadata
	if md.Name != "web" || md.Namespace != "prod" || md.Uid != "u1" || md.Attempt != 2 {
		t.Errorf("metadata %v", md)
	}
	wantLabels := map[string]string{"app": "web", LabelPodName: "explicit", LabelPodNamespace: "prod", LabelPodUID: "u1"}
	if len(got.Labels) != len(wantLabels) {
		t.Errorf("labels %v, want %v", got.Labels, wantLabels)
	}
	for k, v := range wantLabels {
		if got.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, got.Labels[k], v)
		}
	}
	if g := got.Linux.SecurityContext.SupplementalGroups; !slices.Equal(g, []int64{10, 2000}) {
		t.Errorf("groups %v, want the supplemental groups and fsGroup", g)
	}
	if p := got.PortMappings; len(p) != 2 || p[0].Protocol != cri.Protocol_UDP || p[1].Protocol != cri.Protocol_TCP {
		t.Errorf("ports %v", p)
	}
	if got.DnsConfig.GetServers()[0] != "10.0.0.10" {
		t.Errorf("dns %v", got.DnsConfig)
	}
}

func TestImportedNames(t *testing.T) {
	out := "unpacking skiff.test/busybox:1 (sha256:0123)...done\n" +
		"unpacking docker.io/library/nginx:latest (sha256:4567)...done\n" +
		"something else\n"
	if got := importedNames(out); !slices.Equal(got, []string{"skiff.test/busybox:1", "docker.io/library/nginx:latest"}) {
		t.Errorf("importedNames = %q", got)
	}
}

func TestCeilSeconds(t *testing.T) {
	for d, want := range map[string]int64{"0s": 0, "-1s": 0, "1ns": 1, "1s": 1, "1500ms": 2, "30s": 30} {
		dur, _ := time.ParseDuration(d)
		if got := ceilSeconds(dur); got != want {
			t.Errorf("ceilSeconds(%s) = %d, want %d", d, got, want)
		}
	}
}
