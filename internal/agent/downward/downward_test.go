package downward

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func testPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web", Namespace: "shop", UID: "uid-1",
			Labels:      map[string]string{"app": "web", "tier": "front"},
			Annotations: map[string]string{"note": `say "hi"`},
		},
		Spec: corev1.PodSpec{
			NodeName: "node-a", ServiceAccountName: "sa",
			Containers: []corev1.Container{{
				Name: "main",
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{"cpu": resource.MustParse("250m"), "memory": resource.MustParse("64Mi")},
					Limits:   corev1.ResourceList{"cpu": resource.MustParse("1500m"), "hugepages-2Mi": resource.MustParse("4Mi")},
				},
			}, {Name: "side"}},
		},
	}
}

func TestFieldValue(t *testing.T) {
	n := Node{PodIPs: []string{"10.0.0.5", "fd00::5"}, HostIPs: []string{"192.168.1.2", "fd01::2"}}
	tests := []struct {
		path, want, err string
	}{
		{path: "metadata.name", want: "web"},
		{path: "metadata.namespace", want: "shop"},
		{path: "metadata.uid", want: "uid-1"},
		{path: "metadata.labels['app']", want: "web"},
		{path: "metadata.labels['missing']", want: ""},
		{path: "metadata.annotations['note']", want: `say "hi"`},
		{path: "metadata.labels", want: "app=\"web\"\ntier=\"front\""},
		{path: "metadata.annotations", want: `note="say \"hi\""`},
		{path: "spec.nodeName", want: "node-a"},
		{path: "spec.host", want: "node-a"},
		{path: "spec.serviceAccountName", want: "sa"},
		{path: "status.hostIP", want: "192.168.1.2"},
		{path: "status.hostIPs", want: "192.168.1.2,fd01::2"},
		{path: "status.podIP", want: "10.0.0.5"},
		{path: "status.podIPs", want: "10.0.0.5,fd00::5"},
		{path: "spec.foo", err: "field label not supported: spec.foo"},
		{path: "metadata.name['x']", err: "field label does not support subscript: metadata.name['x']"},
		{path: "spec.restartPolicy", err: "unsupported fieldPath: spec.restartPolicy"},
		{path: "metadata.labels['a b']", err: "invalid key subscript in metadata.labels['a b']"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			got, err := FieldValue(testPod(), &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: tc.path}, n)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := FieldValue(testPod(), &corev1.ObjectFieldSelector{APIVersion: "v2", FieldPath: "metadata.name"}, n); err == nil || err.Error() != "unsupported pod version: v2" {
		t.Fatalf("version: %v", err)
	}
}

func TestResourceValue(t *testing.T) {
	alloc := corev1.ResourceList{"cpu": resource.MustParse("4"), "memory": resource.MustParse("8Gi"), "ephemeral-storage": resource.MustParse("100Gi")}
	q := resource.MustParse
	tests := []struct {
		name      string
		container string
		res       string
		divisor   resource.Quantity
		want, err string
	}{
		{name: "cpu limit rounds up to cores", res: "limits.cpu", want: "2"},
		{name: "cpu limit millis", res: "limits.cpu", divisor: q("1m"), want: "1500"},
		{name: "cpu request", res: "requests.cpu", divisor: q("1m"), want: "250"},
		{name: "cpu request cores ceil", res: "requests.cpu", want: "1"},
		{name: "memory request Mi", res: "requests.memory", divisor: q("1Mi"), want: "64"},
		{name: "memory request bytes", res: "requests.memory", want: "67108864"},
		{name: "memory limit defaults to allocatable", res: "limits.memory", divisor: q("1Gi"), want: "8"},
		{name: "ephemeral limit defaults", res: "limits.ephemeral-storage", divisor: q("1Gi"), want: "100"},
		{name: "ephemeral request unset", res: "requests.ephemeral-storage", want: "0"},
		{name: "hugepages limit", res: "limits.hugepages-2Mi", divisor: q("1Mi"), want: "4"},
		{name: "other container", container: "side", res: "limits.cpu", want: "4"},
		{name: "missing container", container: "nope", res: "limits.cpu", err: "container nope not found"},
		{name: "unsupported", res: "limits.gpu", err: "unsupported container resource : limits.gpu"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := testPod()
			sel := &corev1.ResourceFieldSelector{ContainerName: tc.container, Resource: tc.res, Divisor: tc.divisor}
			got, err := ResourceValue(pod, &pod.Spec.Containers[0], sel, alloc)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
