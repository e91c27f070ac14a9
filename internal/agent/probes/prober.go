// Package probes runs a pod's liveness, readiness and startup probes the
// way upstream's kubelet does: exec, httpGet, tcpSocket and grpc probers
// (Prober), and one worker goroutine per container probe that applies the
// probe's timing and thresholds and publishes result changes (Manager).
// See docs/probes.md for the goroutines and channels.
package probes

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"skiff.dev/skiff/internal/agent/expansion"
)

// UserAgent is the User-Agent of HTTP and gRPC probes, upstream's for the
// Kubernetes minor version Skiff serves.
const UserAgent = "kube-probe/1.37"

// maxOutput bounds what a probe keeps of a response body or command
// output (upstream: 10 KiB).
const maxOutput = 10 << 10

// Result is a probe's verdict on a container.
type Result int

const (
	// Unknown: not probed yet (the startup probe's initial value).
	Unknown Result = iota
	Success
	Failure
)

func (r Result) String() string {
	switch r {
	case Success:
		return "Success"
	case Failure:
		return "Failure"
	}
	return "Unknown"
}

// outcome is one probe run's result before thresholds, as upstream's
// probe.Result (whose strings appear in event messages).
type outcome string

const (
	outcomeSuccess outcome = "success"
	outcomeWarning outcome = "warning"
	outcomeFailure outcome = "failure"
	outcomeUnknown outcome = "unknown"
)

// Execer runs a command in a container and returns its output and exit
// code: the runtime's ExecSync. A command that outlives timeout must end
// with an error for which errors.Is(err, context.DeadlineExceeded) holds
// (or a gRPC DeadlineExceeded status); any other error means the command
// could not be run.
type Execer interface {
	ExecSync(ctx context.Context, containerID string, cmd []string, timeout time.Duration) (stdout, stderr []byte, exitCode int, err error)
}

// Prober runs single probes. The zero value probes httpGet, tcpSocket and
// grpc; exec probes need Exec. It is safe for concurrent use.
type Prober struct {
	Exec Execer
}

// target is the container a probe runs against.
type target struct {
	Pod       *corev1.Pod
	Container *corev1.Container
	// ContainerID is the runtime's ID (without the "containerd://" form).
	ContainerID string
	// PodIP is the default host of httpGet and tcpSocket probes and the
	// host of grpc probes.
	PodIP string
}

// run performs one probe with upstream's retries on errors (not on
// failures): up to 3 attempts.
func (p *Prober) run(ctx context.Context, spec *corev1.Probe, t target) (outcome, string, error) {
	var (
		o   outcome
		out string
		err error
	)
	for i := 0; i < 3; i++ {
		if o, out, err = p.runOnce(ctx, spec, t); err == nil {
			return o, out, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return o, out, err
}

func (p *Prober) runOnce(ctx context.Context, spec *corev1.Probe, t target) (outcome, string, error) {
	timeout := time.Duration(spec.TimeoutSeconds) * time.Second
	if timeout <= 0 {
		timeout = time.Second
	}
	switch h := spec.ProbeHandler; {
	case h.Exec != nil:
		if p.Exec == nil {
			return outcomeUnknown, "", errors.New("exec probes are not supported by this runtime")
		}
		return execProbe(ctx, p.Exec, t.ContainerID, expandStatic(h.Exec.Command, t.Container.Env), timeout)
	case h.HTTPGet != nil:
		req, err := newHTTPRequest(h.HTTPGet, t.Container, t.PodIP)
		if err != nil {
			return outcomeUnknown, "", err
		}
		return httpProbe(ctx, req, timeout)
	case h.TCPSocket != nil:
		port, err := resolvePort(h.TCPSocket.Port, t.Container)
		if err != nil {
			return outcomeUnknown, "", err
		}
		host := h.TCPSocket.Host
		if host == "" {
			host = t.PodIP
		}
		return tcpProbe(ctx, host, port, timeout)
	case h.GRPC != nil:
		service := ""
		if h.GRPC.Service != nil {
			service = *h.GRPC.Service
		}
		return grpcProbe(ctx, t.PodIP, service, int(h.GRPC.Port), timeout)
	}
	return outcomeUnknown, "", fmt.Errorf("missing probe handler for %s:%s", formatPod(t.Pod), t.Container.Name)
}

// expandStatic expands $(VAR) in an exec probe's command with the
// container's literal env values only, as upstream does: probes do not see
// values from secrets, config maps or the downward API (such a variable
// expands to the empty string).
func expandStatic(cmd []string, env []corev1.EnvVar) []string {
	vars := make(map[string]string, len(env))
	for _, e := range env {
		vars[e.Name] = e.Value
	}
	mapping := expansion.MappingFor(vars)
	out := make([]string, len(cmd))
	for i, c := range cmd {
		out[i] = expansion.Expand(c, mapping)
	}
	return out
}

// resolvePort resolves a probe's port: a number, the name of one of the
// container's ports, or a number written as a string.
func resolvePort(param intstr.IntOrString, c *corev1.Container) (int, error) {
	port := -1
	switch param.Type {
	case intstr.Int:
		port = param.IntValue()
	case intstr.String:
		found := false
		for _, p := range c.Ports {
			if p.Name == param.StrVal {
				port, found = int(p.ContainerPort), true
				break
			}
		}
		if !found {
			n, err := strconv.Atoi(param.StrVal)
			if err != nil {
				return -1, fmt.Errorf("port %s not found", param.StrVal)
			}
			port = n
		}
	default:
		return port, fmt.Errorf("intOrString had no kind: %+v", param)
	}
	if port > 0 && port < 65536 {
		return port, nil
	}
	return port, fmt.Errorf("invalid port number: %v", port)
}

// formatPod is upstream's format.Pod: name_namespace(uid).
func formatPod(pod *corev1.Pod) string {
	return fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
}
