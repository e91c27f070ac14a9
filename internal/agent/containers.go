package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/reference"

	"skiff.dev/skiff/internal/agent/podconfig"
	"skiff.dev/skiff/internal/agent/podsync"
	"skiff.dev/skiff/internal/agent/runtime"
)

// Upstream's container waiting reasons for failures to start.
const (
	reasonErrImagePull             = "ErrImagePull"
	reasonImagePullBackOff         = "ImagePullBackOff"
	reasonErrImageNeverPull        = "ErrImageNeverPull"
	reasonCreateContainerConfigErr = "CreateContainerConfigError"
	reasonCreateContainerErr       = "CreateContainerError"
	reasonRunContainerErr          = "RunContainerError"
	reasonPostStartHookErr         = "PostStartHookError"
)

// errStart marks a container start that failed with a waiting reason
// already recorded.
var errStart = errors.New("container did not start")

// event records an event on the pod, or on one of its containers (with
// upstream's fieldPath) when c is set.
func (a *Agent) event(pod *corev1.Pod, c *corev1.Container, eventType, reason, message string) {
	ref, err := reference.GetReference(scheme.Scheme, pod)
	if err != nil {
		return
	}
	if c != nil {
		ref.FieldPath = fieldPath(pod, c.Name)
	}
	a.recorder.Event(ref, eventType, reason, message)
}

func fieldPath(pod *corev1.Pod, name string) string {
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return fmt.Sprintf("spec.initContainers{%s}", name)
		}
	}
	return fmt.Sprintf("spec.containers{%s}", name)
}

// sandboxConfig describes the pod's sandbox: its hostname, security,
// port mappings and, with withDNS (only when the sandbox is to be
// created: DNS may record events), its resolv.conf.
func (a *Agent) sandboxConfig(pod *corev1.Pod, attempt uint32, withDNS bool) (*runtime.SandboxConfig, error) {
	labels := podLabels(pod)
	for k, v := range pod.Labels {
		if _, ours := labels[k]; !ours {
			labels[k] = v
		}
	}
	hostname, err := podconfig.SandboxHostname(pod, a.cfg.ClusterDomain)
	if err != nil {
		return nil, err
	}
	cfg := &runtime.SandboxConfig{
		Name: pod.Name, Namespace: pod.Namespace, UID: string(pod.UID), Attempt: attempt,
		Hostname: hostname, LogDir: a.logDir(pod), Labels: labels, Annotations: pod.Annotations,
		Ports: podconfig.PortMappings(pod), CgroupParent: a.podCgroupParent(pod),
	}
	podconfig.SandboxSecurity(pod, cfg)
	if withDNS {
		cfg.DNS = a.dnsConfig(pod)
	}
	return cfg, nil
}

// dnsConfig is the pod's resolv.conf (podconfig.DNS), from the cluster
// DNS and the node's resolv.conf, read afresh as upstream does.
func (a *Agent) dnsConfig(pod *corev1.Pod) *runtime.DNSConfig {
	var host *runtime.DNSConfig
	if b, err := os.ReadFile(a.cfg.ResolvConf); err == nil {
		host = podconfig.ParseResolvConf(b)
	} else {
		a.log.Warn("read resolv.conf", "path", a.cfg.ResolvConf, "err", err)
		host = &runtime.DNSConfig{}
	}
	dns, events := podconfig.DNS(pod, podconfig.DNSOptions{
		ClusterDNS: a.clusterDNS(), ClusterDomain: a.cfg.ClusterDomain, Host: host, HostIPs: a.hostIPs,
	})
	for _, e := range events {
		a.event(pod, nil, corev1.EventTypeWarning, e.Reason, e.Message)
	}
	return dns
}

func (a *Agent) createSandbox(ctx context.Context, pod *corev1.Pod, cfg *runtime.SandboxConfig) (string, error) {
	if cfg.LogDir != "" {
		if err := os.MkdirAll(cfg.LogDir, 0o755); err != nil {
			return "", fmt.Errorf("create log directory: %w", err)
		}
	}
	if err := a.ensurePodCgroup(pod); err != nil {
		return "", err
	}
	id, err := a.rt.RunSandbox(ctx, cfg)
	if err != nil {
		return "", err
	}
	return id, nil
}

// startContainer pulls the image as the pull policy says, creates and
// starts the container, and runs its postStart hook. A failure is
// recorded as the container's waiting reason (and an event) and returned.
func (w *podWorker) startContainer(ctx context.Context, pod *corev1.Pod, sandboxID string, sb *runtime.SandboxConfig, s podsync.Start, podIPs []string, tr *syncTrace) error {
	a := w.a
	spec := containerSpec(pod, s.Name)
	if spec == nil {
		return fmt.Errorf("no container %q in the pod", s.Name)
	}
	fail := func(reason, message string, eventMsg string) error {
		w.waiting[s.Name] = podsync.Waiting{Reason: reason, Message: message}
		if eventMsg != "" {
			a.event(pod, spec, corev1.EventTypeWarning, "Failed", eventMsg)
		}
		return fmt.Errorf("%w: %s: %s", errStart, reason, message)
	}
	imageRef, img, reason, msg := w.ensureImage(ctx, pod, spec, sb)
	tr.step("image")
	if reason != "" {
		return fail(reason, msg, "Error: "+reason)
	}
	cfg, err := a.containerConfig(pod, spec, s, imageRef, img, podIPs)
	if err != nil {
		return fail(reasonCreateContainerConfigErr, err.Error(), "Error: "+err.Error())
	}
	if cfg.LogPath != "" && sb.LogDir != "" {
		if err := os.MkdirAll(filepath.Join(sb.LogDir, spec.Name), 0o755); err != nil {
			return fail(reasonCreateContainerErr, err.Error(), "Error: "+err.Error())
		}
	}
	tr.step("config")
	id, err := a.rt.CreateContainer(ctx, sandboxID, cfg, sb)
	tr.step("create")
	if err != nil {
		msg := runtimeDesc(err)
		return fail(reasonCreateContainerErr, msg, "Error: "+msg)
	}
	a.event(pod, spec, corev1.EventTypeNormal, "Created", "Container created")
	err = a.rt.StartContainer(ctx, id)
	tr.step("start")
	if err != nil {
		msg := runtimeDesc(err)
		return fail(reasonRunContainerErr, msg, "Error: "+msg)
	}
	a.event(pod, spec, corev1.EventTypeNormal, "Started", "Container started")
	delete(w.waiting, s.Name)
	if spec.Lifecycle != nil && spec.Lifecycle.PostStart != nil {
		if err := a.runHook(ctx, pod, spec, id, spec.Lifecycle.PostStart, gracePeriod(pod)); err != nil {
			// The message stays out of the event: it may hold secrets.
			a.event(pod, spec, corev1.EventTypeWarning, "FailedPostStartHook", "PostStartHook failed")
			c, _ := a.rt.ContainerStatus(ctx, id)
			w.killContainer(ctx, pod, c, "FailedPostStartHook", gracePeriod(pod))
			return fail(reasonPostStartHookErr, err.Error(), "")
		}
	}
	return nil
}

// runtimeDesc is a runtime error as upstream reports a failed container
// create or start: the gRPC status's message alone ("failed to create
// containerd task: ..."), without the "rpc error: code = ... desc = "
// that pull and sandbox errors keep.
func runtimeDesc(err error) string {
	msg := runtime.ErrorMessage(err)
	if rest, ok := strings.CutPrefix(msg, "rpc error: code = "); ok {
		if _, desc, ok := strings.Cut(rest, " desc = "); ok {
			return desc
		}
	}
	return msg
}

// ensureImage makes the container's image present per its pull policy,
// with upstream's events and per-image pull back-off. It returns the
// image reference to create the container from, or a waiting reason and
// message.
func (w *podWorker) ensureImage(ctx context.Context, pod *corev1.Pod, spec *corev1.Container, sb *runtime.SandboxConfig) (ref string, img *runtime.Image, reason, message string) {
	a := w.a
	image := spec.Image
	img, err := a.rt.ImageStatus(ctx, image)
	if err != nil {
		return "", nil, "ImageInspectError", fmt.Sprintf("Failed to inspect image %q: %v", image, runtime.ErrorMessage(err))
	}
	present := img != nil
	if present && spec.ImagePullPolicy != corev1.PullAlways {
		a.event(pod, spec, corev1.EventTypeNormal, "Pulled", fmt.Sprintf("Container image %q already present on machine and can be accessed by the pod", image))
		return imageID(img, image), img, "", ""
	}
	if spec.ImagePullPolicy == corev1.PullNever {
		msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", image)
		a.event(pod, spec, corev1.EventTypeWarning, reasonErrImageNeverPull, msg)
		return "", nil, reasonErrImageNeverPull, msg
	}
	now := a.clock.Now()
	if w.pullBackoff.InBackoffSince(image, w.pullBackoffSince(image), now) {
		msg := fmt.Sprintf("Back-off pulling image %q", image)
		a.event(pod, spec, corev1.EventTypeNormal, "BackOff", msg)
		if prev, ok := w.pullErrs[image]; ok {
			msg += ": " + prev
		}
		return "", nil, reasonImagePullBackOff, msg
	}
	delete(w.pullErrs, image)
	a.event(pod, spec, corev1.EventTypeNormal, "Pulling", fmt.Sprintf("Pulling image %q", image))
	start := time.Now()
	pulled, err := a.pullImage(ctx, pod, image, sb)
	if err != nil {
		msg := runtime.ErrorMessage(err)
		a.event(pod, spec, corev1.EventTypeWarning, "Failed", fmt.Sprintf("Failed to pull image %q: %v", image, msg))
		w.pullBackoff.Next(image, now, now)
		w.pullErrs[image] = reasonErrImagePull + ": " + msg
		return "", nil, reasonErrImagePull, msg
	}
	took := time.Since(start).Truncate(time.Millisecond)
	var size uint64
	img, err = a.rt.ImageStatus(ctx, pulled)
	if err == nil && img != nil {
		size = img.Size
	}
	a.event(pod, spec, corev1.EventTypeNormal, "Pulled", fmt.Sprintf("Successfully pulled image %q in %v (%v including waiting). Image size: %v bytes.", image, took, took, size))
	return pulled, img, "", ""
}

// pullBackoffSince: image pull back-off counts from the last failed pull
// (upstream's IsInBackOffSinceUpdate), which Next recorded as "now".
func (w *podWorker) pullBackoffSince(image string) time.Time {
	return w.pullBackoff.LastUpdate(image)
}

func imageID(img *runtime.Image, fallback string) string {
	if img.ID != "" {
		return img.ID
	}
	return fallback
}

// containerConfig builds what the runtime needs to create a container:
// environment, command, mounts, security context (refusing a root user
// under runAsNonRoot, from the image's user) and cgroup resources. Its
// errors carry upstream's messages and mean CreateContainerConfigError.
func (a *Agent) containerConfig(pod *corev1.Pod, c *corev1.Container, s podsync.Start, imageRef string, img *runtime.Image, podIPs []string) (*runtime.ContainerConfig, error) {
	env, err := a.environment(pod, c, podIPs)
	if err != nil {
		return nil, err
	}
	// As upstream's getImageUser: an image that names no user runs as
	// root, so runAsNonRoot refuses it.
	imageUID, imageUser := new(int64), ""
	if img != nil && (img.UID != nil || img.Username != "") {
		imageUID, imageUser = img.UID, img.Username
	}
	if err := podconfig.VerifyRunAsNonRoot(pod, c, imageUID, imageUser); err != nil {
		return nil, err
	}
	security, err := podconfig.SecurityContext(pod, c, imageUID, imageUser, podconfig.SecurityOptions{
		SeccompProfileRoot: filepath.Join(a.cfg.DataDir, "seccomp"),
	})
	if err != nil {
		return nil, err
	}
	mounts, err := a.mounts(pod, c, env, podIPs)
	if err != nil {
		return nil, err
	}
	command, args := podconfig.ExpandCommand(c, env)
	labels := podLabels(pod)
	labels[runtime.LabelContainerName] = c.Name
	cfg := &runtime.ContainerConfig{
		Name: c.Name, Attempt: uint32(s.RestartCount), Image: imageRef,
		Command: command, Args: args, WorkingDir: c.WorkingDir, Env: env, Mounts: mounts,
		LogPath: filepath.Join(c.Name, strconv.Itoa(int(s.RestartCount))+".log"),
		Stdin:   c.Stdin, StdinOnce: c.StdinOnce, TTY: c.TTY,
		Labels:    labels,
		Resources: podconfig.ContainerResources(pod, c, a.machine.MemoryBytes),
		Security:  security,
		Annotations: map[string]string{
			runtime.AnnotationContainerHash:            podconfig.ContainerHash(c),
			runtime.AnnotationRestartCount:             strconv.Itoa(int(s.RestartCount)),
			runtime.AnnotationTerminationMessagePath:   c.TerminationMessagePath,
			runtime.AnnotationTerminationMessagePolicy: string(c.TerminationMessagePolicy),
		},
	}
	return cfg, nil
}

// runHook runs a lifecycle handler (exec, httpGet or sleep) within
// timeout.
func (a *Agent) runHook(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string, h *corev1.LifecycleHandler, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case h.Exec != nil:
		stdout, stderr, code, err := a.rt.ExecSync(ctx, id, h.Exec.Command, timeout)
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("command %q exited with %d: %s%s", h.Exec.Command, code, stdout, stderr)
		}
		return nil
	case h.HTTPGet != nil:
		return a.httpHook(ctx, pod, c, h.HTTPGet)
	case h.Sleep != nil:
		select {
		case <-ctx.Done():
		case <-a.clock.After(time.Duration(h.Sleep.Seconds) * time.Second):
		}
		return nil
	}
	return nil
}

func (a *Agent) httpHook(ctx context.Context, pod *corev1.Pod, c *corev1.Container, g *corev1.HTTPGetAction) error {
	host := g.Host
	if host == "" {
		host = pod.Status.PodIP
	}
	port, err := resolvePort(g.Port, c)
	if err != nil {
		return err
	}
	scheme := "http"
	if g.Scheme == corev1.URISchemeHTTPS {
		scheme = "https"
	}
	path := g.Path
	if path == "" || path[0] != '/' {
		path = "/" + path
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+net.JoinHostPort(host, strconv.Itoa(port))+path, nil)
	if err != nil {
		return err
	}
	for _, h := range g.HTTPHeaders {
		req.Header.Add(h.Name, h.Value)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

// resolvePort turns a named or numbered port into a number.
func resolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("couldn't find port: %v in %v", p, c)
}
