package core

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// TestDefaultPodGolden defaults a pod with one of every commonly used
// nested type and compares the result with what upstream stores.
func TestDefaultPodGolden(t *testing.T) {
	in := `
metadata: {name: p}
spec:
  containers:
  - name: app
    image: nginx
    ports: [{containerPort: 80}]
    env:
    - name: POD
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    resources:
      limits: {cpu: 500m, memory: 128Mi}
    livenessProbe:
      httpGet: {port: 80}
    readinessProbe:
      tcpSocket: {port: 80}
  initContainers:
  - name: init
    image: busybox:1.36
  volumes:
  - name: scratch
  - name: cfg
    configMap: {name: cfg}
  - name: sec
    secret: {secretName: s}
  - name: host
    hostPath: {path: /var/log}
  - name: token
    projected:
      sources:
      - serviceAccountToken: {path: token}
      - downwardAPI:
          items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]
`
	want := `
metadata: {name: p, creationTimestamp: null}
spec:
  containers:
  - name: app
    image: nginx
    imagePullPolicy: Always
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
    ports: [{containerPort: 80, protocol: TCP}]
    env:
    - name: POD
      valueFrom: {fieldRef: {apiVersion: v1, fieldPath: metadata.name}}
    resources:
      limits: {cpu: 500m, memory: 128Mi}
      requests: {cpu: 500m, memory: 128Mi}
    livenessProbe:
      httpGet: {port: 80, path: /, scheme: HTTP}
      timeoutSeconds: 1
      periodSeconds: 10
      successThreshold: 1
      failureThreshold: 3
    readinessProbe:
      tcpSocket: {port: 80}
      timeoutSeconds: 1
      periodSeconds: 10
      successThreshold: 1
      failureThreshold: 3
  initContainers:
  - name: init
    image: busybox:1.36
    imagePullPolicy: IfNotPresent
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
    resources: {}
  volumes:
  - name: scratch
    emptyDir: {}
  - name: cfg
    configMap: {name: cfg, defaultMode: 420}
  - name: sec
    secret: {secretName: s, defaultMode: 420}
  - name: host
    hostPath: {path: /var/log, type: ""}
  - name: token
    projected:
      defaultMode: 420
      sources:
      - serviceAccountToken: {path: token, expirationSeconds: 3600}
      - downwardAPI:
          items: [{path: labels, fieldRef: {apiVersion: v1, fieldPath: metadata.labels}}]
  restartPolicy: Always
  terminationGracePeriodSeconds: 30
  dnsPolicy: ClusterFirst
  securityContext: {}
  schedulerName: default-scheduler
  enableServiceLinks: true
status: {}
`
	var pod, wantPod corev1.Pod
	if err := yaml.UnmarshalStrict([]byte(in), &pod); err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict([]byte(want), &wantPod); err != nil {
		t.Fatal(err)
	}
	defaultPod(&pod)
	got, _ := json.Marshal(&pod)
	exp, _ := json.Marshal(&wantPod)
	if string(got) != string(exp) {
		t.Errorf("defaulted pod:\n got %s\nwant %s", got, exp)
	}
}

// TestDefaultPodTemplateSpecSkipsPodOnlyDefaults: templates do not get
// requests copied from limits nor enableServiceLinks, exactly as upstream
// (a Deployment read back shows neither).
func TestDefaultPodTemplateSpecSkipsPodOnlyDefaults(t *testing.T) {
	tmpl := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
		Name: "a", Image: "a:1",
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: q("1")}},
	}}}}
	DefaultPodTemplateSpec(tmpl)
	if tmpl.Spec.Containers[0].Resources.Requests != nil {
		t.Errorf("template requests defaulted: %v", tmpl.Spec.Containers[0].Resources.Requests)
	}
	if tmpl.Spec.EnableServiceLinks != nil {
		t.Errorf("template enableServiceLinks defaulted")
	}
	if tmpl.Spec.RestartPolicy != corev1.RestartPolicyAlways || tmpl.Spec.DNSPolicy != corev1.DNSClusterFirst {
		t.Errorf("spec defaults missing: %+v", tmpl.Spec)
	}
	DefaultPodTemplateSpec(nil) // must not panic
	DefaultPodSpec(nil)
}

func TestImagePullPolicyDefault(t *testing.T) {
	cases := map[string]corev1.PullPolicy{
		"nginx":                          corev1.PullAlways,
		"nginx:latest":                   corev1.PullAlways,
		"nginx:1.27":                     corev1.PullIfNotPresent,
		"docker.io/library/nginx:latest": corev1.PullAlways,
		"localhost:5000/app":             corev1.PullAlways,
		"localhost:5000/app:v2":          corev1.PullIfNotPresent,
		"registry.k8s.io/pause:3.10":     corev1.PullIfNotPresent,
		"nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef":        corev1.PullIfNotPresent,
		"nginx:latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef": corev1.PullAlways,
		"NGINX": corev1.PullIfNotPresent, // not a valid reference
		"":      corev1.PullIfNotPresent,
	}
	for image, want := range cases {
		t.Run(image, func(t *testing.T) {
			c := corev1.Container{Image: image}
			defaultContainer(&c)
			if c.ImagePullPolicy != want {
				t.Errorf("got %s, want %s", c.ImagePullPolicy, want)
			}
		})
	}
}

func TestDefaultPodHostNetworkAndGrace(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		HostNetwork:                   true,
		TerminationGracePeriodSeconds: ptr(int64(-5)),
		DeprecatedServiceAccount:      "legacy",
		Containers:                    []corev1.Container{{Name: "a", Image: "a", Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}},
	}}
	defaultPod(pod)
	if got := pod.Spec.Containers[0].Ports[0].HostPort; got != 8080 {
		t.Errorf("hostPort = %d, want 8080", got)
	}
	if got := *pod.Spec.TerminationGracePeriodSeconds; got != 1 {
		t.Errorf("grace = %d, want 1", got)
	}
	if pod.Spec.ServiceAccountName != "legacy" || pod.Spec.DeprecatedServiceAccount != "legacy" {
		t.Errorf("service account alias not synced: %q %q", pod.Spec.ServiceAccountName, pod.Spec.DeprecatedServiceAccount)
	}
}

func TestDefaultPodStatusIPs(t *testing.T) {
	pod := &corev1.Pod{Status: corev1.PodStatus{PodIP: "10.0.0.1"}}
	defaultPod(pod)
	if len(pod.Status.PodIPs) != 1 || pod.Status.PodIPs[0].IP != "10.0.0.1" {
		t.Errorf("podIPs = %v", pod.Status.PodIPs)
	}
	pod = &corev1.Pod{Status: corev1.PodStatus{PodIPs: []corev1.PodIP{{IP: "10.0.0.2"}}}}
	defaultPod(pod)
	if pod.Status.PodIP != "10.0.0.2" {
		t.Errorf("podIP = %q", pod.Status.PodIP)
	}
}

func TestDefaultRoundsQuantities(t *testing.T) {
	c := corev1.Container{Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: q("0.0001")}}}
	defaultContainer(&c)
	if got := c.Resources.Requests.Cpu().String(); got != "1m" {
		t.Errorf("cpu = %s, want 1m", got)
	}
}
