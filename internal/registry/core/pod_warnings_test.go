package core

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestPodWarnings(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*corev1.Pod)
		want   []string
	}{
		{"clean pod", func(*corev1.Pod) {}, nil},
		{"deprecated node label in nodeSelector", func(p *corev1.Pod) {
			p.Spec.NodeSelector = map[string]string{"beta.kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "beta.kubernetes.io/arch": "amd64"}
		}, []string{
			`spec.nodeSelector[beta.kubernetes.io/arch]: deprecated since v1.14; use "kubernetes.io/arch" instead`,
			`spec.nodeSelector[beta.kubernetes.io/os]: deprecated since v1.14; use "kubernetes.io/os" instead`,
		}},
		{"node affinity: deprecated key, and a preferred value that is no label value", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "failure-domain.beta.kubernetes.io/zone", Operator: "In", Values: []string{"a"}}},
				}}},
				PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{Weight: 1, Preference: corev1.NodeSelectorTerm{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "disk", Operator: "In", Values: []string{"fast ssd"}}},
				}}},
			}}
		}, []string{
			`spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key: failure-domain.beta.kubernetes.io/zone is deprecated since v1.17; use "topology.kubernetes.io/zone" instead`,
			`spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].preference.matchExpressions[0].values[0]: fast ssd is invalid, a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`,
		}},
		{"topology spread with a deprecated key and no selector", func(p *corev1.Pod) {
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "failure-domain.beta.kubernetes.io/region", WhenUnsatisfiable: corev1.DoNotSchedule}}
		}, []string{
			`spec.topologySpreadConstraints[0].topologyKey: failure-domain.beta.kubernetes.io/region is deprecated since v1.17; use "topology.kubernetes.io/region" instead`,
			`spec.topologySpreadConstraints[0].labelSelector: a null labelSelector results in matching no pod`,
		}},
		{"deprecated annotations", func(p *corev1.Pod) {
			p.Annotations = map[string]string{
				"scheduler.alpha.kubernetes.io/critical-pod":         "",
				"seccomp.security.alpha.kubernetes.io/pod":           "runtime/default",
				"container.seccomp.security.alpha.kubernetes.io/web": "runtime/default",
			}
		}, []string{
			`metadata.annotations[scheduler.alpha.kubernetes.io/critical-pod]: non-functional in v1.16+; use the "priorityClassName" field instead`,
			`metadata.annotations[seccomp.security.alpha.kubernetes.io/pod]: non-functional in v1.27+; use the "seccompProfile" field instead`,
			`metadata.annotations[container.seccomp.security.alpha.kubernetes.io/web]: non-functional in v1.27+; use the "seccompProfile" field instead`,
		}},
		{"removed volume plugins", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{
				{Name: "repo", VolumeSource: corev1.VolumeSource{GitRepo: &corev1.GitRepoVolumeSource{Repository: "x"}}},
				{Name: "fs", VolumeSource: corev1.VolumeSource{Glusterfs: &corev1.GlusterfsVolumeSource{EndpointsName: "e", Path: "p"}}},
			}
		}, []string{
			`spec.volumes[0].gitRepo: deprecated in v1.11, and disabled by default in v1.33+`,
			`spec.volumes[1].glusterfs: deprecated in v1.25, non-functional in v1.26+`,
		}},
		{"duplicate host alias IPs and pull secrets", func(p *corev1.Pod) {
			p.Spec.HostAliases = []corev1.HostAlias{{IP: "10.0.0.1"}, {IP: "10.0.0.1"}, {IP: "010.0.0.2"}}
			p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "reg"}, {Name: "reg"}, {Name: ""}}
		}, []string{
			`spec.hostAliases[1].ip: duplicate ip "10.0.0.1"`,
			`spec.imagePullSecrets[1].name: duplicate name "reg"`,
			`spec.imagePullSecrets[2].name: invalid empty name ""`,
			`spec.hostAliases[2].ip: non-standard IP address "010.0.0.2" is invalid: use "10.0.0.2"`,
		}},
		{"fractional bytes", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("500m")},
				Requests: corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("1.5")},
			}
		}, []string{
			`spec.containers[0].resources.limits[memory]: fractional byte value "500m" is invalid, must be an integer`,
			`spec.containers[0].resources.requests[ephemeral-storage]: fractional byte value "1500m" is invalid, must be an integer`,
		}},
		{"env entry hiding an earlier one", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{
				{Name: "A", Value: "1"}, {Name: "A", Value: "2"},
				{Name: "PATH", Value: "/bin"}, {Name: "PATH", Value: "$(PATH):/opt/bin"},
			}
		}, []string{`spec.containers[0].env[1]: hides previous definition of "A", which may be dropped when using apply`}},
		{"ports colliding across containers, names reused", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 80, Protocol: "TCP"}}
			p.Spec.Containers[1].Ports = []corev1.ContainerPort{
				{Name: "http", ContainerPort: 80, Protocol: "TCP"},
				{ContainerPort: 90, Protocol: "TCP", HostIP: "10.0.0.1"},
			}
		}, []string{
			`spec.containers[1].ports[0]: duplicate port definition with spec.containers[0].ports[0]`,
			`spec.containers[1].ports[1]: hostIP set without hostPort: {Name: HostPort:0 ContainerPort:90 Protocol:TCP HostIP:10.0.0.1}`,
			`spec.containers[1].ports[0]: duplicate port name "http" with spec.containers[0].ports[0], services and probes that select ports by name will use spec.containers[0].ports[0]`,
		}},
		{"negative grace period and null affinity selectors", func(p *corev1.Pod) {
			g := int64(-5)
			p.Spec.TerminationGracePeriodSeconds = &g
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution:  []corev1.PodAffinityTerm{{TopologyKey: "kubernetes.io/hostname"}},
				PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 1, PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: "zone"}}},
			}}
		}, []string{
			`spec.terminationGracePeriodSeconds: must be >= 0; negative values are invalid and will be treated as 1`,
			`spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector: a null labelSelector results in matching no pod`,
			`spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.labelSelector: a null labelSelector results in matching no pod`,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
				Spec: corev1.PodSpec{Containers: []corev1.Container{
					{Name: "web", Image: "nginx"}, {Name: "log", Image: "busybox"},
				}},
			}
			tc.mutate(pod)
			got := podStrategy{}.Warnings(context.Background(), pod, nil)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestPodWarningsUnderTemplatePaths(t *testing.T) {
	tmpl := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		NodeSelector: map[string]string{"beta.kubernetes.io/os": "linux"},
		Containers:   []corev1.Container{{Name: "web", Image: "nginx"}},
	}}
	want := `spec.template.spec.nodeSelector[beta.kubernetes.io/os]: deprecated since v1.14; use "kubernetes.io/os" instead`
	if got := PodTemplateWarnings(field.NewPath("spec", "template"), tmpl); len(got) != 1 || got[0] != want {
		t.Fatalf("warnings = %q, want %q", got, want)
	}

	ctx := context.Background()
	pt := &corev1.PodTemplate{ObjectMeta: metav1.ObjectMeta{Name: "t"}, Template: *tmpl}
	if got := (podTemplateStrategy{}).Warnings(ctx, pt, nil); len(got) != 1 || !strings.HasPrefix(got[0], "template.spec.nodeSelector") {
		t.Errorf("pod template warnings = %q", got)
	}
	if got := (podTemplateStrategy{}).Warnings(ctx, pt, pt.DeepCopy()); got != nil {
		t.Errorf("unchanged template warned again: %q", got)
	}

	rc := &corev1.ReplicationController{ObjectMeta: metav1.ObjectMeta{Name: "Web"}, Spec: corev1.ReplicationControllerSpec{Template: tmpl.DeepCopy()}}
	got := replicationControllerStrategy{}.Warnings(ctx, rc, nil)
	if len(got) != 2 || !strings.HasPrefix(got[0], "metadata.name: this is used in Pod names and hostnames") || got[1] != want {
		t.Errorf("RC create warnings = %q", got)
	}
	// On update upstream reports the previous template's warnings.
	updated := rc.DeepCopy()
	updated.Spec.Template.Spec.NodeSelector = nil
	if got := (replicationControllerStrategy{}).Warnings(ctx, updated, rc); len(got) != 1 || got[0] != want {
		t.Errorf("RC update warnings = %q", got)
	}
}
