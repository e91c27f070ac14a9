package apiserver

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestPodContainer(t *testing.T) {
	pod := func(ann string, names ...string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}}
		if ann != "" {
			p.Annotations = map[string]string{defaultContainerAnnotation: ann}
		}
		for _, n := range names {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: n})
		}
		return p
	}
	withInit := pod("", "a", "b")
	withInit.Spec.InitContainers = []corev1.Container{{Name: "init"}}
	tests := []struct {
		name    string
		pod     *corev1.Pod
		asked   string
		want    string
		wantErr string
	}{
		{"only container", pod("", "a"), "", "a", ""},
		{"named", pod("", "a", "b"), "b", "b", ""},
		{"init container by name", withInit, "init", "init", ""},
		{"must choose", pod("", "a", "b"), "", "", "a container name must be specified for pod web, choose one of: [a b]"},
		{"must choose, init containers listed", withInit, "", "", "a container name must be specified for pod web, choose one of: [init a b]"},
		{"no containers", pod(""), "", "", "a container name must be specified for pod web"},
		{"not in pod", pod("", "a"), "x", "", "container x is not valid for pod web"},
		{"default annotation", pod("b", "a", "b"), "", "b", ""},
		{"default annotation naming nothing", pod("zz", "a", "b"), "", "", "a container name must be specified for pod web, choose one of: [a b]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := podContainer(tt.pod, tt.asked)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("got %q, %v; want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestValidatePodLogOptions(t *testing.T) {
	tests := []struct {
		name string
		opts corev1.PodLogOptions
		want string
	}{
		{"ok", corev1.PodLogOptions{TailLines: ptr.To[int64](0), LimitBytes: ptr.To[int64](1), SinceSeconds: ptr.To[int64](1)}, ""},
		{"negative tail", corev1.PodLogOptions{TailLines: ptr.To[int64](-1)}, "tailLines: Invalid value: -1: must be greater than or equal to 0"},
		{"zero limit", corev1.PodLogOptions{LimitBytes: ptr.To[int64](0)}, "limitBytes: Invalid value: 0: must be greater than 0"},
		{"zero since", corev1.PodLogOptions{SinceSeconds: ptr.To[int64](0)}, "sinceSeconds: Invalid value: 0: must be greater than 0"},
		{"both since", corev1.PodLogOptions{SinceSeconds: ptr.To[int64](1), SinceTime: &metav1.Time{}}, "[]: Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified"},
		{"stream", corev1.PodLogOptions{Stream: ptr.To("Stdout")}, "stream: Forbidden: may not be specified"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := validatePodLogOptions(&tt.opts)
			got := errs.ToAggregate()
			if tt.want == "" {
				if got != nil {
					t.Fatalf("got %v", got)
				}
				return
			}
			if got == nil || got.Error() != tt.want {
				t.Fatalf("got %v, want %q", got, tt.want)
			}
		})
	}
}

func TestAgentURL(t *testing.T) {
	node := &corev1.Node{Status: corev1.NodeStatus{
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "n1"}, {Type: corev1.NodeInternalIP, Address: "10.0.0.5"}},
	}}
	if u, err := agentURL(node); err != nil || u.String() != "https://10.0.0.5:10250" {
		t.Errorf("got %v, %v", u, err)
	}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = 12345
	node.Status.Addresses = node.Status.Addresses[:1]
	if u, err := agentURL(node); err != nil || u.String() != "https://n1:12345" {
		t.Errorf("got %v, %v", u, err)
	}
	node.Status.Addresses = nil
	if _, err := agentURL(node); err == nil {
		t.Error("no addresses: want an error")
	}
}
