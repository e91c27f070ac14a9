package core

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestValidatePodCreate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*corev1.Pod)
		want   []string
	}{
		{"valid", func(*corev1.Pod) {}, nil},
		{"no containers", func(p *corev1.Pod) { p.Spec.Containers = nil }, []string{"FieldValueRequired spec.containers"}},
		{"container name missing and image missing", func(p *corev1.Pod) {
			p.Spec.Containers[0].Name, p.Spec.Containers[0].Image = "", ""
		}, []string{"FieldValueRequired spec.containers[0].name", "FieldValueRequired spec.containers[0].image"}},
		{"container name not a DNS label", func(p *corev1.Pod) { p.Spec.Containers[0].Name = "Web_1" },
			[]string{"FieldValueInvalid spec.containers[0].name"}},
		{"duplicate container names", func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, p.Spec.Containers[0])
			p.Spec.Containers[1].Ports = nil
		}, []string{"FieldValueDuplicate spec.containers[1].name"}},
		{"init container name clashes with container", func(p *corev1.Pod) {
			c := p.Spec.Containers[0]
			c.Ports = nil
			p.Spec.InitContainers = []corev1.Container{c}
		}, []string{"FieldValueDuplicate spec.initContainers[0].name"}},
		{"port out of range", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 70000 },
			[]string{"FieldValueInvalid spec.containers[0].ports[0].containerPort"}},
		{"port missing", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 0 },
			[]string{"FieldValueRequired spec.containers[0].ports[0].containerPort"}},
		{"port name too long", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Name = "a-very-long-port-name" },
			[]string{"FieldValueInvalid spec.containers[0].ports[0].name"}},
		{"duplicate port names", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{Name: "http", ContainerPort: 81, Protocol: "TCP"})
		}, []string{"FieldValueDuplicate spec.containers[0].ports[1].name"}},
		{"bad protocol", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Protocol = "ICMP" },
			[]string{"FieldValueNotSupported spec.containers[0].ports[0].protocol"}},
		{"host port conflict", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{
				{ContainerPort: 80, HostPort: 8080, Protocol: "TCP"}, {ContainerPort: 81, HostPort: 8080, Protocol: "TCP"}}
		}, []string{"FieldValueDuplicate spec.containers[0].ports[1].hostPort"}},
		{"env name invalid", func(p *corev1.Pod) { p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A=B"}} },
			[]string{"FieldValueInvalid spec.containers[0].env[0].name"}},
		{"env name missing", func(p *corev1.Pod) { p.Spec.Containers[0].Env = []corev1.EnvVar{{Value: "x"}} },
			[]string{"FieldValueRequired spec.containers[0].env[0].name"}},
		{"valueFrom with two sources", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{
				FieldRef:        &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"},
				ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "c"}, Key: "k"},
			}}}
		}, []string{"FieldValueInvalid spec.containers[0].env[0].valueFrom"}},
		{"valueFrom empty", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{}}}
		}, []string{"FieldValueInvalid spec.containers[0].env[0].valueFrom"}},
		{"valueFrom with value", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", Value: "x", ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"}}}}
		}, []string{"FieldValueInvalid spec.containers[0].env[0].valueFrom"}},
		{"fieldRef path unsupported", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.containers"}}}}
		}, []string{"FieldValueNotSupported spec.containers[0].env[0].valueFrom.fieldRef.fieldPath"}},
		{"fieldRef label subscript ok", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels['app']"}}}}
		}, nil},
		{"mount of unknown volume", func(p *corev1.Pod) {
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
		}, []string{"FieldValueNotFound spec.containers[0].volumeMounts[0].name"}},
		{"mount path missing and duplicate", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/d"}, {Name: "data", MountPath: "/d"}, {Name: "data"}}
		}, []string{"FieldValueInvalid spec.containers[0].volumeMounts[1].mountPath", "FieldValueRequired spec.containers[0].volumeMounts[2].mountPath"}},
		{"subPath with backsteps", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/d", SubPath: "../etc"}}
		}, []string{"FieldValueInvalid spec.containers[0].volumeMounts.subPath"}},
		{"requests above limits", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: q("2")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: q("1")}}
		}, []string{"FieldValueInvalid spec.containers[0].resources.requests"}},
		{"negative request", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: q("-1")}}
		}, []string{"FieldValueInvalid spec.containers[0].resources.requests[memory]"}},
		{"unknown resource name", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{"gpu": q("1")}}
		}, []string{"FieldValueInvalid spec.containers[0].resources.requests[gpu]", "FieldValueInvalid spec.containers[0].resources.requests[gpu]"}},
		{"extended resource needs equal limit", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{"example.com/gpu": q("1")}}
		}, []string{"FieldValueRequired spec.containers[0].resources.limits"}},
		{"probe without handler", func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}
		}, []string{"FieldValueRequired spec.containers[0].livenessProbe"}},
		{"probe with two handlers", func(p *corev1.Pod) {
			p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
				Exec:      &corev1.ExecAction{Command: []string{"true"}},
				TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(80)},
			}, TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}
		}, []string{"FieldValueForbidden spec.containers[0].readinessProbe.tcpSocket"}},
		{"liveness successThreshold must be 1", func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("http")}},
				TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 2, FailureThreshold: 3}
		}, []string{"FieldValueInvalid spec.containers[0].livenessProbe.successThreshold"}},
		{"init container with probe", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox", ImagePullPolicy: "Always", TerminationMessagePolicy: "File",
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}}}
		}, []string{"FieldValueForbidden spec.initContainers[0].readinessProbe"}},
		{"volume names duplicate and invalid", func(p *corev1.Pod) {
			ed := corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
			p.Spec.Volumes = []corev1.Volume{{Name: "a", VolumeSource: ed}, {Name: "a", VolumeSource: ed}, {Name: "B", VolumeSource: ed}}
		}, []string{"FieldValueDuplicate spec.volumes[1].name", "FieldValueInvalid spec.volumes[2].name"}},
		{"volume with two sources", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "a", VolumeSource: corev1.VolumeSource{
				EmptyDir: &corev1.EmptyDirVolumeSource{}, HostPath: &corev1.HostPathVolumeSource{Path: "/x"}}}}
		}, []string{"FieldValueForbidden spec.volumes[0].hostPath"}},
		{"volume without source", func(p *corev1.Pod) { p.Spec.Volumes = []corev1.Volume{{Name: "a"}} },
			[]string{"FieldValueRequired spec.volumes[0]"}},
		{"secret volume without name and bad mode", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "a", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{DefaultMode: ptr(int32(01000))}}}}
		}, []string{"FieldValueRequired spec.volumes[0].secret.secretName", "FieldValueInvalid spec.volumes[0].secret.defaultMode"}},
		{"bad restartPolicy and dnsPolicy", func(p *corev1.Pod) {
			p.Spec.RestartPolicy, p.Spec.DNSPolicy = "Sometimes", "Google"
		}, []string{"FieldValueNotSupported spec.restartPolicy", "FieldValueNotSupported spec.dnsPolicy"}},
		{"negative runAsUser", func(p *corev1.Pod) {
			p.Spec.SecurityContext.RunAsUser = ptr(int64(-1))
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsGroup: ptr(int64(-2))}
		}, []string{"FieldValueInvalid spec.securityContext.runAsUser", "FieldValueInvalid spec.containers[0].securityContext.runAsGroup"}},
		{"privileged without escalation", func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr(true), AllowPrivilegeEscalation: ptr(false)}
		}, []string{"FieldValueInvalid spec.containers[0].securityContext"}},
		{"nodeSelector invalid label", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"bad key": "v"} },
			[]string{"FieldValueInvalid spec.nodeSelector"}},
		{"tolerations", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{
				{Operator: "Equal", Value: "x"},
				{Key: "k", Operator: "Exists", Value: "v"},
				{Key: "k", Operator: "Equal", Effect: "NoSchedule", TolerationSeconds: ptr(int64(5))},
				{Key: "k", Operator: "Maybe"},
				{Key: "k", Effect: "Sometimes"},
			}
		}, []string{
			"FieldValueInvalid spec.tolerations[0].operator",
			"FieldValueInvalid spec.tolerations[1].operator",
			"FieldValueInvalid spec.tolerations[2].effect",
			"FieldValueNotSupported spec.tolerations[3].operator",
			"FieldValueNotSupported spec.tolerations[4].effect",
		}},
		{"node affinity", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: "In"}, {Key: "x", Operator: "Near"}},
				}}},
				PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{Weight: 0}},
			}}
		}, []string{
			"FieldValueRequired spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values",
			"FieldValueInvalid spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[1].operator",
			"FieldValueInvalid spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight",
		}},
		{"pod anti affinity without topology key", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{}},
			}}
		}, []string{
			"FieldValueRequired spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey",
			// ...and, as upstream, two label-name errors for the empty key.
			"FieldValueInvalid spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey",
			"FieldValueInvalid spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey",
		}},
		{"activeDeadlineSeconds zero", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(0)) },
			[]string{"FieldValueInvalid spec.activeDeadlineSeconds"}},
		{"serviceAccount alias mismatch", func(p *corev1.Pod) { p.Spec.DeprecatedServiceAccount = "other" },
			[]string{"FieldValueInvalid spec.deprecatedServiceAccount"}},
		{"token projection without service account", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "t", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "t", ExpirationSeconds: ptr(int64(3600))}}}}}}}
		}, []string{"FieldValueForbidden spec.volumes[0].projected.sources[0].serviceAccountToken"}},
		{"ephemeral containers on create", func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{}}
		}, []string{"FieldValueForbidden spec.ephemeralContainers"}},
		{"dnsPolicy None needs config", func(p *corev1.Pod) { p.Spec.DNSPolicy = corev1.DNSNone },
			[]string{"FieldValueRequired spec.dnsConfig"}},
		{"hostNetwork hostPort must match", func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			p.Spec.Containers[0].Ports[0].HostPort = 81
		}, []string{"FieldValueInvalid spec.containers[0].ports[0].hostPort"}},
		{"topology spread", func(p *corev1.Pod) {
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 0, WhenUnsatisfiable: "Whatever"}}
		}, []string{
			"FieldValueInvalid spec.topologySpreadConstraints[0].maxSkew",
			"FieldValueRequired spec.topologySpreadConstraints[0].topologyKey",
			"FieldValueNotSupported spec.topologySpreadConstraints[0].whenUnsatisfiable",
		}},
	}
	s := podStrategy{testClock}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := validPod()
			tc.mutate(pod)
			expectErrs(t, s.Validate(context.Background(), pod), tc.want...)
		})
	}
}

func TestValidatePodSpecUndefaulted(t *testing.T) {
	// Callers are expected to default first; an undefaulted spec reports
	// the missing defaults, as upstream's validation would.
	spec := &corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: "a"}}}
	expectErrs(t, ValidatePodSpec(spec, field.NewPath("spec")),
		"FieldValueRequired spec.terminationGracePeriodSeconds",
		"FieldValueRequired spec.containers[0].terminationMessagePolicy",
		"FieldValueRequired spec.containers[0].imagePullPolicy",
		"FieldValueRequired spec.restartPolicy",
		"FieldValueRequired spec.dnsPolicy",
	)
	expectErrs(t, ValidatePodSpec(nil, field.NewPath("spec")), "FieldValueRequired spec")
}

func TestValidatePodTemplateSpec(t *testing.T) {
	tmpl := &corev1.PodTemplateSpec{}
	tmpl.Labels = map[string]string{"app": "x", "bad key": "v"}
	tmpl.Spec = validPod().Spec
	tmpl.Spec.EphemeralContainers = []corev1.EphemeralContainer{{}}
	expectErrs(t, ValidatePodTemplateSpec(tmpl, field.NewPath("spec", "template")),
		"FieldValueInvalid spec.template.labels",
		"FieldValueForbidden spec.template.spec.ephemeralContainers",
	)
	// Under hostNetwork a template may leave hostPort unset.
	tmpl = &corev1.PodTemplateSpec{Spec: validPod().Spec}
	tmpl.Spec.HostNetwork = true
	expectErrs(t, ValidatePodTemplateSpec(tmpl, field.NewPath("spec", "template")))
	expectErrs(t, ValidatePodTemplateSpec(nil, field.NewPath("spec", "template")), "FieldValueRequired spec.template")
}

func TestValidatePodUpdate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*corev1.Pod)
		want   []string
	}{
		{"image change allowed", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "nginx:1.28" }, nil},
		{"labels change allowed", func(p *corev1.Pod) { p.Labels["x"] = "y" }, nil},
		{"adding a toleration allowed", func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "k", Operator: "Exists"})
		}, nil},
		{"removing a toleration forbidden", func(p *corev1.Pod) { p.Spec.Tolerations = nil },
			[]string{"FieldValueForbidden spec.tolerations"}},
		{"changing tolerationSeconds allowed", func(p *corev1.Pod) { p.Spec.Tolerations[0].TolerationSeconds = ptr(int64(10)) }, nil},
		{"env change forbidden", func(p *corev1.Pod) { p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", Value: "b"}} },
			[]string{"FieldValueForbidden spec"}},
		{"adding a container forbidden", func(p *corev1.Pod) {
			c := p.Spec.Containers[0]
			c.Name, c.Ports = "second", nil
			p.Spec.Containers = append(p.Spec.Containers, c)
		}, []string{"FieldValueForbidden spec.containers"}},
		{"activeDeadlineSeconds may shrink", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(50)) }, nil},
		{"activeDeadlineSeconds may not grow", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(200)) },
			[]string{"FieldValueInvalid spec.activeDeadlineSeconds"}},
		{"activeDeadlineSeconds may not be removed", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = nil },
			[]string{"FieldValueInvalid spec.activeDeadlineSeconds"}},
	}
	s := podStrategy{testClock}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := validPod()
			old.Spec.ActiveDeadlineSeconds = ptr(int64(100))
			old.Spec.Tolerations = []corev1.Toleration{{Key: "a", Operator: "Exists", Effect: "NoExecute", TolerationSeconds: ptr(int64(5))}}
			pod := old.DeepCopy()
			tc.mutate(pod)
			errs := s.ValidateUpdate(context.Background(), pod, old)
			expectErrs(t, errs, tc.want...)
		})
	}
	t.Run("message lists the mutable fields", func(t *testing.T) {
		old := validPod()
		pod := old.DeepCopy()
		pod.Spec.Containers[0].Args = []string{"x"}
		errs := s.ValidateUpdate(context.Background(), pod, old)
		expectErrDetail(t, errs, "spec", "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`")
	})
}

func TestPodPrepareForCreate(t *testing.T) {
	s := podStrategy{testClock}
	guaranteed := corev1.ResourceList{corev1.ResourceCPU: q("1"), corev1.ResourceMemory: q("1Gi")}
	cases := []struct {
		name string
		res  []corev1.ResourceRequirements
		want corev1.PodQOSClass
	}{
		{"best effort", []corev1.ResourceRequirements{{}}, corev1.PodQOSBestEffort},
		{"guaranteed", []corev1.ResourceRequirements{{Limits: guaranteed, Requests: guaranteed}}, corev1.PodQOSGuaranteed},
		{"limits only is guaranteed after defaulting", []corev1.ResourceRequirements{{Limits: guaranteed}}, corev1.PodQOSGuaranteed},
		{"requests only", []corev1.ResourceRequirements{{Requests: corev1.ResourceList{corev1.ResourceCPU: q("100m")}}}, corev1.PodQOSBurstable},
		{"cpu only limits", []corev1.ResourceRequirements{{Limits: corev1.ResourceList{corev1.ResourceCPU: q("1")}}}, corev1.PodQOSBurstable},
		{"guaranteed and best effort mix", []corev1.ResourceRequirements{{Limits: guaranteed}, {}}, corev1.PodQOSBurstable},
		{"only ephemeral storage", []corev1.ResourceRequirements{{Requests: corev1.ResourceList{corev1.ResourceEphemeralStorage: q("1Gi")}}}, corev1.PodQOSBestEffort},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{}
			for i, r := range tc.res {
				pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: string(rune('a' + i)), Image: "x", Resources: r})
			}
			pod.Status.Phase = corev1.PodRunning
			s.Default(pod)
			s.PrepareForCreate(context.Background(), pod)
			if pod.Status.Phase != corev1.PodPending {
				t.Errorf("phase = %s", pod.Status.Phase)
			}
			if pod.Status.QOSClass != tc.want {
				t.Errorf("qos = %s, want %s", pod.Status.QOSClass, tc.want)
			}
		})
	}
	t.Run("scheduling gates add a condition", func(t *testing.T) {
		pod := validPod()
		pod.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}}
		s.PrepareForCreate(context.Background(), pod)
		if len(pod.Status.Conditions) != 1 || pod.Status.Conditions[0].Reason != "SchedulingGated" {
			t.Errorf("conditions = %+v", pod.Status.Conditions)
		}
	})
}

func TestPodStatusUpdate(t *testing.T) {
	s := podStrategy{testClock}
	old := validPod()
	old.Status.QOSClass = corev1.PodQOSBestEffort
	pod := old.DeepCopy()
	pod.Status.QOSClass = ""
	pod.Status.PodIP = "10.1.0.5"
	pod.Status.PodIPs = []corev1.PodIP{{IP: "10.1.0.5"}}
	expectErrs(t, s.ValidateStatusUpdate(context.Background(), pod, old))
	if pod.Status.QOSClass != corev1.PodQOSBestEffort {
		t.Errorf("qos not kept: %q", pod.Status.QOSClass)
	}
	pod.Status.QOSClass = corev1.PodQOSGuaranteed
	pod.Status.PodIPs = []corev1.PodIP{{IP: "not-an-ip"}}
	expectErrs(t, s.ValidateStatusUpdate(context.Background(), pod, old),
		"FieldValueInvalid status.qosClass", "FieldValueInvalid status.podIPs[0]", "FieldValueInvalid status.podIPs[0].ip")
}

func TestPodGracePeriod(t *testing.T) {
	s := podStrategy{testClock}
	pod := validPod()
	if got := s.GracePeriod(pod, nil); got != 0 {
		t.Errorf("unscheduled pod: %d, want 0", got)
	}
	pod.Spec.NodeName = "n1"
	if got := s.GracePeriod(pod, nil); got != 30 {
		t.Errorf("scheduled pod: %d, want 30", got)
	}
	if got := s.GracePeriod(pod, ptr(int64(5))); got != 5 {
		t.Errorf("requested: %d, want 5", got)
	}
	pod.Status.Phase = corev1.PodSucceeded
	if got := s.GracePeriod(pod, nil); got != 0 {
		t.Errorf("finished pod: %d, want 0", got)
	}
}

func TestPodSelectableFields(t *testing.T) {
	pod := validPod()
	pod.Spec.NodeName = "n1"
	pod.Status.Phase = corev1.PodRunning
	pod.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.9"}}
	f := podStrategy{}.SelectableFields(pod)
	for k, want := range map[string]string{
		"spec.nodeName": "n1", "status.phase": "Running", "status.podIP": "10.0.0.9",
		"spec.restartPolicy": "Always", "spec.schedulerName": "default-scheduler", "spec.hostNetwork": "false",
	} {
		if f[k] != want {
			t.Errorf("%s = %q, want %q", k, f[k], want)
		}
	}
}
