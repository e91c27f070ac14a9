package server

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"skiff.dev/skiff/internal/agent/runtime"
)

// Lookup finds the containers and sandboxes of the pods this node runs.
// It is all the server knows about the agent.
type Lookup interface {
	// Container returns container of pod namespace/name: the instance
	// running now (or the last one, if none runs), or with previous the
	// instance before it. Errors wrapping ErrPodNotFound or
	// ErrContainerNotFound are answered 404; any other error 400 with
	// its message, which reaches kubectl (upstream's kubelet answers
	// `container "x" in pod "y" is waiting to start: ContainerCreating`
	// this way).
	Container(ctx context.Context, namespace, pod, container string, previous bool) (Container, error)
	// Sandbox returns the ID of the pod's sandbox, for port forwarding.
	// Errors are answered as Container's.
	Sandbox(ctx context.Context, namespace, pod string) (string, error)
}

// Container is one instance of a container.
type Container struct {
	ID string
	// LogPath is the absolute path of the instance's CRI log file.
	LogPath string
}

// Errors a Lookup wraps for pods and containers the node does not have.
var (
	ErrPodNotFound       = errors.New("pod not found")
	ErrContainerNotFound = errors.New("container not found")
)

// PodGetter returns a pod bound to this node with its latest status, or
// false. The agent passes its pod informer's (or status manager's) view.
type PodGetter func(namespace, name string) (*corev1.Pod, bool)

// StatusRuntime is what StatusLookup asks the runtime.
type StatusRuntime interface {
	ContainerStatus(ctx context.Context, id string) (*runtime.Container, error)
	ListSandboxes(ctx context.Context) ([]*runtime.Sandbox, error)
}

// StatusLookup is the Lookup upstream's kubelet has: container IDs come
// from the pod's status (containerStatuses, their lastState for
// previous), log paths from the runtime.
type StatusLookup struct {
	Pods    PodGetter
	Runtime StatusRuntime
}

var _ Lookup = StatusLookup{}

// Container implements Lookup.
func (l StatusLookup) Container(ctx context.Context, namespace, name, container string, previous bool) (Container, error) {
	pod, ok := l.Pods(namespace, name)
	if !ok {
		return Container{}, fmt.Errorf("pod %q does not exist: %w", name, ErrPodNotFound)
	}
	if !hasContainer(pod, container) {
		return Container{}, fmt.Errorf("container %q not found in pod %q: %w", container, name, ErrContainerNotFound)
	}
	id, err := containerID(pod, container, previous)
	if err != nil {
		return Container{}, err
	}
	c, err := l.Runtime.ContainerStatus(ctx, id)
	if err != nil {
		return Container{}, fmt.Errorf("container %q in pod %q: %w", container, name, err)
	}
	return Container{ID: id, LogPath: c.LogPath}, nil
}

// Sandbox implements Lookup: the pod's newest ready sandbox, or its
// newest one.
func (l StatusLookup) Sandbox(ctx context.Context, namespace, name string) (string, error) {
	pod, ok := l.Pods(namespace, name)
	if !ok {
		return "", fmt.Errorf("pod %q does not exist: %w", name, ErrPodNotFound)
	}
	sbs, err := l.Runtime.ListSandboxes(ctx)
	if err != nil {
		return "", fmt.Errorf("list sandboxes: %w", err)
	}
	var best *runtime.Sandbox
	for _, sb := range sbs {
		if sb.UID != string(pod.UID) {
			continue
		}
		if best == nil || better(sb, best) {
			best = sb
		}
	}
	if best == nil {
		return "", fmt.Errorf("pod %q has no sandbox: %w", name, ErrPodNotFound)
	}
	return best.ID, nil
}

func better(a, b *runtime.Sandbox) bool {
	if (a.State == runtime.SandboxReady) != (b.State == runtime.SandboxReady) {
		return a.State == runtime.SandboxReady
	}
	return a.CreatedAt.After(b.CreatedAt)
}

func hasContainer(pod *corev1.Pod, name string) bool {
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			if c.Name == name {
				return true
			}
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}

// containerID picks the runtime container as upstream's kubelet
// (validateContainerLogStatus) does, with its messages.
func containerID(pod *corev1.Pod, container string, previous bool) (string, error) {
	cs, ok := findStatus(pod, container)
	if !ok {
		return "", fmt.Errorf("container %q in pod %q is not available", container, pod.Name)
	}
	last := cs.LastTerminationState
	var id string
	switch {
	case previous:
		if last.Terminated == nil || last.Terminated.ContainerID == "" {
			return "", fmt.Errorf("previous terminated container %q in pod %q not found", container, pod.Name)
		}
		id = last.Terminated.ContainerID
	case cs.State.Running != nil:
		id = cs.ContainerID
	case cs.State.Terminated != nil:
		id = cs.State.Terminated.ContainerID
		if id == "" && last.Terminated != nil {
			id = last.Terminated.ContainerID
		}
		if id == "" {
			return "", fmt.Errorf("container %q in pod %q is terminated", container, pod.Name)
		}
	case last.Terminated != nil:
		if last.Terminated.ContainerID == "" {
			return "", fmt.Errorf("container %q in pod %q is terminated", container, pod.Name)
		}
		id = last.Terminated.ContainerID
	case cs.State.Waiting != nil:
		switch reason := cs.State.Waiting.Reason; reason {
		case "ErrImagePull":
			return "", fmt.Errorf("container %q in pod %q is waiting to start: image can't be pulled", container, pod.Name)
		case "ImagePullBackOff":
			return "", fmt.Errorf("container %q in pod %q is waiting to start: trying and failing to pull image", container, pod.Name)
		default:
			return "", fmt.Errorf("container %q in pod %q is waiting to start: %v", container, pod.Name, reason)
		}
	default:
		return "", fmt.Errorf("container %q in pod %q is waiting to start - no logs yet", container, pod.Name)
	}
	// "containerd://<id>": the runtime knows the bare ID.
	if _, bare, ok := strings.Cut(id, "://"); ok {
		id = bare
	}
	return id, nil
}

func findStatus(pod *corev1.Pod, name string) (corev1.ContainerStatus, bool) {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses, pod.Status.EphemeralContainerStatuses} {
		for _, cs := range list {
			if cs.Name == name {
				return cs, true
			}
		}
	}
	return corev1.ContainerStatus{}, false
}
