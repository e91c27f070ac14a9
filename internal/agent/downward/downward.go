// Package downward resolves the Kubernetes downward API: the values a pod's
// fieldRef and resourceFieldRef selectors name, as upstream's kubelet
// computes them for environment variables and downwardAPI volumes. It is
// pure: what only the node knows (pod and host IPs, allocatable resources)
// comes in as arguments.
package downward

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Node holds what the node knows about a pod that the downward API exposes.
type Node struct {
	// PodIPs are the pod's IPs, the primary (status.podIP) first.
	PodIPs []string
	// HostIPs are the node's IPs, the primary (status.hostIP) first.
	HostIPs []string
}

// FieldValue returns the value of a fieldRef selector (env var or
// downwardAPI volume item). Errors carry upstream's messages, e.g.
// "field label not supported: spec.foo".
func FieldValue(pod *corev1.Pod, sel *corev1.ObjectFieldSelector, n Node) (string, error) {
	path, err := convertFieldLabel(sel.APIVersion, sel.FieldPath)
	if err != nil {
		return "", err
	}
	switch path {
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP":
		if len(n.HostIPs) == 0 {
			return "", fmt.Errorf("no host IP known for status.hostIP")
		}
		return n.HostIPs[0], nil
	case "status.hostIPs":
		if len(n.HostIPs) == 0 {
			return "", fmt.Errorf("no host IP known for status.hostIPs")
		}
		return strings.Join(n.HostIPs, ","), nil
	case "status.podIP":
		if len(n.PodIPs) == 0 {
			return "", nil
		}
		return n.PodIPs[0], nil
	case "status.podIPs":
		return strings.Join(n.PodIPs, ","), nil
	}
	return metadataValue(pod, path)
}

// convertFieldLabel validates a field path as the API does for the pod's
// downward API, mapping the legacy spec.host to spec.nodeName.
func convertFieldLabel(version, label string) (string, error) {
	if version != "" && version != "v1" {
		return "", fmt.Errorf("unsupported pod version: %s", version)
	}
	if path, _, ok := splitSubscript(label); ok {
		switch path {
		case "metadata.annotations", "metadata.labels":
			return label, nil
		default:
			return "", fmt.Errorf("field label does not support subscript: %s", label)
		}
	}
	switch label {
	case "metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid",
		"spec.nodeName", "spec.restartPolicy", "spec.serviceAccountName", "spec.schedulerName",
		"status.phase", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs":
		return label, nil
	case "spec.host":
		return "spec.nodeName", nil
	}
	return "", fmt.Errorf("field label not supported: %s", label)
}

// splitSubscript splits "metadata.labels['key']" into its path and key.
func splitSubscript(fieldPath string) (path, subscript string, ok bool) {
	if !strings.HasSuffix(fieldPath, "']") {
		return fieldPath, "", false
	}
	parts := strings.SplitN(strings.TrimSuffix(fieldPath, "']"), "['", 2)
	if len(parts) < 2 || parts[0] == "" {
		return fieldPath, "", false
	}
	return parts[0], parts[1], true
}

func metadataValue(pod *corev1.Pod, fieldPath string) (string, error) {
	if path, key, ok := splitSubscript(fieldPath); ok {
		switch path {
		case "metadata.annotations":
			if errs := validation.IsQualifiedName(strings.ToLower(key)); len(errs) != 0 {
				return "", fmt.Errorf("invalid key subscript in %s: %s", fieldPath, strings.Join(errs, ";"))
			}
			return pod.Annotations[key], nil
		case "metadata.labels":
			if errs := validation.IsQualifiedName(key); len(errs) != 0 {
				return "", fmt.Errorf("invalid key subscript in %s: %s", fieldPath, strings.Join(errs, ";"))
			}
			return pod.Labels[key], nil
		default:
			return "", fmt.Errorf("fieldPath %q does not support subscript", fieldPath)
		}
	}
	switch fieldPath {
	case "metadata.annotations":
		return FormatMap(pod.Annotations), nil
	case "metadata.labels":
		return FormatMap(pod.Labels), nil
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	}
	return "", fmt.Errorf("unsupported fieldPath: %v", fieldPath)
}

// FormatMap renders labels or annotations as downwardAPI volumes show them:
// one key="quoted value" per line, sorted by key, no trailing newline.
func FormatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%v=%q", k, m[k])
	}
	return b.String()
}

// ResourceValue returns the value of a resourceFieldRef selector, for
// container or, when sel.ContainerName is set, for that container of the
// pod. Limits that are not set read as the node's allocatable amount, as
// upstream does (so a container without a memory limit sees the node's
// allocatable memory in limits.memory).
func ResourceValue(pod *corev1.Pod, container *corev1.Container, sel *corev1.ResourceFieldSelector, allocatable corev1.ResourceList) (string, error) {
	c := container
	if sel.ContainerName != "" {
		var ok bool
		if c, ok = findContainer(pod, sel.ContainerName); !ok {
			return "", fmt.Errorf("container %s not found", sel.ContainerName)
		}
	}
	if c == nil {
		return "", fmt.Errorf("resourceFieldRef %s needs a containerName", sel.Resource)
	}
	limits := withDefaultLimits(c.Resources.Limits, allocatable)
	requests := c.Resources.Requests

	divisor := sel.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	switch sel.Resource {
	case "limits.cpu":
		return cpuString(limits.Cpu(), divisor), nil
	case "limits.memory":
		return bytesString(limits.Memory(), divisor), nil
	case "limits.ephemeral-storage":
		return bytesString(limits.StorageEphemeral(), divisor), nil
	case "requests.cpu":
		return cpuString(requests.Cpu(), divisor), nil
	case "requests.memory":
		return bytesString(requests.Memory(), divisor), nil
	case "requests.ephemeral-storage":
		return bytesString(requests.StorageEphemeral(), divisor), nil
	}
	for _, prefix := range []string{"requests.", "limits."} {
		name, ok := strings.CutPrefix(sel.Resource, prefix)
		if !ok || !strings.HasPrefix(name, corev1.ResourceHugePagesPrefix) {
			continue
		}
		list := requests
		if prefix == "limits." {
			list = limits
		}
		return bytesString(list.Name(corev1.ResourceName(name), resource.BinarySI), divisor), nil
	}
	return "", fmt.Errorf("unsupported container resource : %v", sel.Resource)
}

// withDefaultLimits fills the cpu, memory and ephemeral-storage limits that
// are unset or zero from allocatable (hugepages are never overcommitted,
// so they are left alone).
func withDefaultLimits(limits, allocatable corev1.ResourceList) corev1.ResourceList {
	out := make(corev1.ResourceList, len(limits)+3)
	for k, v := range limits {
		out[k] = v
	}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		if q, ok := out[name]; ok && !q.IsZero() {
			continue
		}
		if a, ok := allocatable[name]; ok {
			out[name] = a.DeepCopy()
		}
	}
	return out
}

func findContainer(pod *corev1.Pod, name string) (*corev1.Container, bool) {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i], true
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i], true
		}
	}
	return nil, false
}

// cpuString is the ceiling of cpu in units of divisor.
func cpuString(cpu *resource.Quantity, divisor resource.Quantity) string {
	return strconv.FormatInt(int64(math.Ceil(float64(cpu.MilliValue())/float64(divisor.MilliValue()))), 10)
}

// bytesString is the ceiling of q in units of divisor.
func bytesString(q *resource.Quantity, divisor resource.Quantity) string {
	return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10)
}
