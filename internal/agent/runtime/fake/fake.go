// Package fake is a simulated container runtime: a real, in-memory
// implementation of runtime.Runtime for hollow nodes and tests. Sandboxes
// get IPs from the node's pod CIDR, containers go Running as soon as they
// start, every image is present, and exec succeeds. Nothing runs: one
// process can host hundreds of simulated nodes, each with its own Runtime.
//
// Tests make containers exit with Exit, or give every new container a
// scripted fate with Options.Behavior.
package fake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"skiff.dev/skiff/internal/agent/runtime"
)

// Version is what the simulated runtime reports; a node shows
// containerRuntimeVersion "skiff-simulated://1.0.0".
const (
	RuntimeName    = "skiff-simulated"
	RuntimeVersion = "1.0.0"
)

// ErrStreamingUnsupported is returned by Exec, Attach and PortForward:
// there is no process to stream from.
var ErrStreamingUnsupported = fmt.Errorf("streaming is not supported by the simulated runtime: %w", errors.ErrUnsupported)

// Behavior is the scripted fate of a container, decided when it is
// created.
type Behavior struct {
	// ExitAfter > 0 makes the container exit that long after it starts
	// (as seen by the runtime's clock); 0 keeps it running until stopped.
	// A negative value makes it exit the moment it starts.
	ExitAfter time.Duration
	ExitCode  int32
	// Reason for the exit, e.g. "OOMKilled"; empty means upstream's
	// "Completed" for 0, "Error" otherwise.
	Reason string
}

// Options configure a Runtime. The zero value works: pods get IPs from
// 10.42.0.0/24 and the clock is the real one.
type Options struct {
	// PodCIDR is the node's pod network; sandbox IPs come from it.
	PodCIDR netip.Prefix
	Clock   clock.PassiveClock
	// Behavior, if set, scripts each new container.
	Behavior func(sandbox *runtime.SandboxConfig, c *runtime.ContainerConfig) Behavior
	// PullError, if set, fails pulls of the images it returns an error
	// for (ErrImagePull in the pod's status).
	PullError func(image string) error
}

// Runtime is the simulated runtime. It is safe for concurrent use.
type Runtime struct {
	opts   Options
	clock  clock.PassiveClock
	prefix string // makes IDs unique across Runtimes in one process

	mu         sync.Mutex
	seq        uint64
	sandboxes  map[string]*sandbox
	containers map[string]*container
	images     map[string]*runtime.Image // by normalized reference
	ipsInUse   map[netip.Addr]bool
	nextIP     netip.Addr
}

type sandbox struct {
	runtime.Sandbox
	// view is the copy ListSandboxes hands out until the sandbox
	// changes: every simulated node relists its sandboxes every second,
	// and a thousand of them copying each one each time is a steady
	// stream of garbage for the process that hosts them.
	view *runtime.Sandbox
}

type container struct {
	runtime.Container
	behavior Behavior
}

var _ runtime.Runtime = (*Runtime)(nil)

// New returns an empty simulated runtime.
func New(opts Options) *Runtime {
	if !opts.PodCIDR.IsValid() {
		opts.PodCIDR = netip.MustParsePrefix("10.42.0.0/24")
	}
	opts.PodCIDR = opts.PodCIDR.Masked()
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	sum := sha256.Sum256([]byte(opts.PodCIDR.String() + strconv.FormatInt(time.Now().UnixNano(), 10)))
	return &Runtime{
		opts:       opts,
		clock:      opts.Clock,
		prefix:     hex.EncodeToString(sum[:8]),
		sandboxes:  map[string]*sandbox{},
		containers: map[string]*container{},
		images:     map[string]*runtime.Image{},
		ipsInUse:   map[netip.Addr]bool{},
		// .0 is the network, .1 the node's bridge: pods start at .2.
		nextIP: opts.PodCIDR.Addr().Next().Next(),
	}
}

func (r *Runtime) newID() string {
	r.seq++
	return fmt.Sprintf("%s%048x", r.prefix, r.seq)
}

// Version reports the simulated runtime's name and version.
func (r *Runtime) Version(context.Context) (string, string, error) {
	return RuntimeName, RuntimeVersion, nil
}

// Status: the simulated runtime and its network are always ready.
func (r *Runtime) Status(context.Context) (bool, string, error) { return true, "", nil }

// allocateIP hands out the next free address of the pod CIDR (not the
// network, bridge or broadcast address), wrapping around; it fails when
// every address is in use.
func (r *Runtime) allocateIP() (netip.Addr, error) {
	p := r.opts.PodCIDR
	first := p.Addr().Next().Next()
	usable := func(ip netip.Addr) bool { return p.Contains(ip) && p.Contains(ip.Next()) }
	ip := r.nextIP
	for range 1 << min(p.Addr().BitLen()-p.Bits(), 20) {
		if !usable(ip) {
			ip = first
		}
		if !r.ipsInUse[ip] && usable(ip) {
			r.ipsInUse[ip] = true
			r.nextIP = ip.Next()
			return ip, nil
		}
		ip = ip.Next()
	}
	return netip.Addr{}, fmt.Errorf("no free address in pod CIDR %s", p)
}

// RunSandbox creates a ready sandbox with the next free pod IP (or none
// for host-network pods).
func (r *Runtime) RunSandbox(_ context.Context, cfg *runtime.SandboxConfig) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &sandbox{Sandbox: runtime.Sandbox{
		ID: r.newID(), Name: cfg.Name, Namespace: cfg.Namespace, UID: cfg.UID, Attempt: cfg.Attempt,
		State: runtime.SandboxReady, CreatedAt: r.clock.Now(),
		Labels: maps.Clone(cfg.Labels), Annotations: maps.Clone(cfg.Annotations),
	}}
	if !cfg.HostNetwork {
		ip, err := r.allocateIP()
		if err != nil {
			return "", err
		}
		s.IP = ip.String()
	}
	r.sandboxes[s.ID] = s
	return s.ID, nil
}

// StopSandbox stops the sandbox's containers at once and releases its IP.
func (r *Runtime) StopSandbox(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.sandboxes[id]
	if !ok {
		// CRI: stopping a sandbox that is gone is not an error.
		return nil
	}
	for _, c := range r.containers {
		if c.SandboxID == id {
			r.stopLocked(c, 137, "Error")
		}
	}
	r.releaseLocked(s)
	s.State = runtime.SandboxNotReady
	s.view = nil
	return nil
}

func (r *Runtime) releaseLocked(s *sandbox) {
	if s.IP != "" {
		if ip, err := netip.ParseAddr(s.IP); err == nil {
			delete(r.ipsInUse, ip)
		}
	}
}

// RemoveSandbox removes the sandbox and its containers.
func (r *Runtime) RemoveSandbox(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.sandboxes[id]
	if !ok {
		return nil
	}
	for cid, c := range r.containers {
		if c.SandboxID == id {
			delete(r.containers, cid)
		}
	}
	if s.State == runtime.SandboxReady {
		r.releaseLocked(s)
	}
	delete(r.sandboxes, id)
	return nil
}

// SandboxStatus returns a copy of the sandbox, or ErrNotFound.
func (r *Runtime) SandboxStatus(_ context.Context, id string) (*runtime.Sandbox, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.sandboxes[id]
	if !ok {
		return nil, fmt.Errorf("sandbox %s: %w", id, runtime.ErrNotFound)
	}
	out := s.Sandbox
	return &out, nil
}

// ListSandboxes returns copies of every sandbox, in a new slice. The
// copies are shared between calls until the sandbox changes: they, their
// labels and annotations must not be modified.
func (r *Runtime) ListSandboxes(context.Context) ([]*runtime.Sandbox, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*runtime.Sandbox, 0, len(r.sandboxes))
	for _, s := range r.sandboxes {
		if s.view == nil {
			c := s.Sandbox
			s.view = &c
		}
		out = append(out, s.view)
	}
	return out, nil
}

// CreateContainer records a container in the Created state.
func (r *Runtime) CreateContainer(_ context.Context, sandboxID string, cfg *runtime.ContainerConfig, sb *runtime.SandboxConfig) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.sandboxes[sandboxID]
	if !ok {
		return "", fmt.Errorf("create container %s: sandbox %s: %w", cfg.Name, sandboxID, runtime.ErrNotFound)
	}
	if s.State != runtime.SandboxReady {
		return "", fmt.Errorf("create container %s: sandbox %s is not ready", cfg.Name, sandboxID)
	}
	ref := normalize(cfg.Image)
	img := r.imageLocked(ref)
	c := &container{Container: runtime.Container{
		ID: r.newID(), SandboxID: sandboxID, Name: cfg.Name, Attempt: cfg.Attempt,
		Image: cfg.Image, ImageRef: img.RepoDigests[0], ImageID: img.ID,
		State: runtime.ContainerCreated, CreatedAt: r.clock.Now(), LogPath: cfg.LogPath,
		Labels: maps.Clone(cfg.Labels), Annotations: maps.Clone(cfg.Annotations),
	}}
	if r.opts.Behavior != nil {
		c.behavior = r.opts.Behavior(sb, cfg)
	}
	r.containers[c.ID] = c
	return c.ID, nil
}

// StartContainer makes a created container Running (or Exited at once,
// if its Behavior says so).
func (r *Runtime) StartContainer(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return fmt.Errorf("start container %s: %w", id, runtime.ErrNotFound)
	}
	if c.State != runtime.ContainerCreated {
		return fmt.Errorf("start container %s: container is not in created state", id)
	}
	c.State = runtime.ContainerRunning
	c.StartedAt = r.clock.Now()
	if c.behavior.ExitAfter < 0 {
		r.exitLocked(c, c.StartedAt, c.behavior.ExitCode, c.behavior.Reason)
	}
	return nil
}

// StopContainer stops a container at once: nothing in it needs the grace
// period. The exit is a SIGKILL's (137) unless the container already
// exited.
func (r *Runtime) StopContainer(_ context.Context, id string, _ time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return fmt.Errorf("stop container %s: %w", id, runtime.ErrNotFound)
	}
	r.stopLocked(c, 137, "Error")
	return nil
}

func (r *Runtime) stopLocked(c *container, code int32, reason string) {
	r.advanceLocked(c)
	switch c.State {
	case runtime.ContainerRunning:
		r.exitLocked(c, r.clock.Now(), code, reason)
	case runtime.ContainerCreated:
		// Never started: CRI reports it exited with no start time.
		c.State = runtime.ContainerExited
		c.FinishedAt = r.clock.Now()
		c.ExitCode = code
		c.Reason = reason
	}
}

func (r *Runtime) exitLocked(c *container, at time.Time, code int32, reason string) {
	c.State = runtime.ContainerExited
	c.FinishedAt = at
	c.ExitCode = code
	switch {
	case reason != "":
		c.Reason = reason
	case code == 0:
		c.Reason = "Completed"
	default:
		c.Reason = "Error"
	}
}

// advanceLocked applies a scripted exit whose time has come.
func (r *Runtime) advanceLocked(c *container) {
	if c.State != runtime.ContainerRunning || c.behavior.ExitAfter <= 0 {
		return
	}
	if at := c.StartedAt.Add(c.behavior.ExitAfter); !r.clock.Now().Before(at) {
		r.exitLocked(c, at, c.behavior.ExitCode, c.behavior.Reason)
	}
}

// Exit makes a running container exit now with code and reason (empty:
// "Completed" or "Error"), as if its process had ended.
func (r *Runtime) Exit(id string, code int32, reason string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return fmt.Errorf("exit container %s: %w", id, runtime.ErrNotFound)
	}
	if c.State != runtime.ContainerRunning {
		return fmt.Errorf("exit container %s: not running", id)
	}
	r.exitLocked(c, r.clock.Now(), code, reason)
	return nil
}

// RemoveContainer forgets a container.
func (r *Runtime) RemoveContainer(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.containers, id)
	return nil
}

// ContainerStatus returns a copy of the container, or ErrNotFound.
func (r *Runtime) ContainerStatus(_ context.Context, id string) (*runtime.Container, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return nil, fmt.Errorf("container %s: %w", id, runtime.ErrNotFound)
	}
	r.advanceLocked(c)
	out := c.Container
	return &out, nil
}

// ListContainers returns copies of every container. Labels and
// annotations are shared with the runtime and must not be modified.
func (r *Runtime) ListContainers(context.Context) ([]*runtime.Container, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*runtime.Container, 0, len(r.containers))
	for _, c := range r.containers {
		r.advanceLocked(c)
		cc := c.Container
		out = append(out, &cc)
	}
	return out, nil
}

// ExecSync succeeds with no output in a running container.
func (r *Runtime) ExecSync(_ context.Context, id string, _ []string, _ time.Duration) ([]byte, []byte, int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return nil, nil, 0, fmt.Errorf("exec in container %s: %w", id, runtime.ErrNotFound)
	}
	r.advanceLocked(c)
	if c.State != runtime.ContainerRunning {
		return nil, nil, 0, fmt.Errorf("exec in container %s: container is not running", id)
	}
	return nil, nil, 0, nil
}

// UpdateResources accepts any limits.
func (r *Runtime) UpdateResources(_ context.Context, id string, _ *runtime.Resources) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.containers[id]; !ok {
		return fmt.Errorf("update container %s: %w", id, runtime.ErrNotFound)
	}
	return nil
}

// Exec is unsupported: see ErrStreamingUnsupported.
func (r *Runtime) Exec(context.Context, *runtime.ExecRequest) (string, error) {
	return "", ErrStreamingUnsupported
}

// Attach is unsupported: see ErrStreamingUnsupported.
func (r *Runtime) Attach(context.Context, *runtime.AttachRequest) (string, error) {
	return "", ErrStreamingUnsupported
}

// PortForward is unsupported: see ErrStreamingUnsupported.
func (r *Runtime) PortForward(context.Context, string, []int32) (string, error) {
	return "", ErrStreamingUnsupported
}

// PullImage "pulls" any image at once, unless Options.PullError refuses
// it, and returns its digest reference.
func (r *Runtime) PullImage(_ context.Context, image string, _ *runtime.Auth, _ *runtime.SandboxConfig) (string, error) {
	if r.opts.PullError != nil {
		if err := r.opts.PullError(image); err != nil {
			return "", err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	img := r.imageLocked(normalize(image))
	return img.RepoDigests[0], nil
}

// imageLocked returns the image for a reference (normalized name, digest
// reference or image ID), recording it on first use: every image is
// present on a simulated node.
func (r *Runtime) imageLocked(ref string) *runtime.Image {
	if img, ok := r.images[ref]; ok {
		return img
	}
	repo := ref
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		repo = ref[:i]
	} else if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		repo = ref[:i]
	}
	sum := sha256.Sum256([]byte(ref))
	digest := "sha256:" + hex.EncodeToString(sum[:])
	img := &runtime.Image{ID: digest, RepoTags: []string{ref}, RepoDigests: []string{repo + "@" + digest}, Size: 1 << 20}
	if strings.Contains(ref, "@") {
		img.RepoTags = nil
	}
	r.images[ref] = img
	r.images[img.RepoDigests[0]] = img
	r.images[img.ID] = img
	return img
}

// ImageStatus reports every image as present.
func (r *Runtime) ImageStatus(_ context.Context, image string) (*runtime.Image, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	img := *r.imageLocked(normalize(image))
	return &img, nil
}

// ListImages returns the images pulled or used so far.
func (r *Runtime) ListImages(context.Context) ([]*runtime.Image, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[*runtime.Image]bool{}
	out := make([]*runtime.Image, 0, len(r.images))
	for _, img := range r.images {
		if !seen[img] {
			seen[img] = true
			c := *img
			out = append(out, &c)
		}
	}
	return out, nil
}

// RemoveImage forgets an image (it stays "present": the next use brings
// it back).
func (r *Runtime) RemoveImage(_ context.Context, image string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if img, ok := r.images[normalize(image)]; ok {
		for ref, other := range r.images {
			if other == img {
				delete(r.images, ref)
			}
		}
	}
	return nil
}

// ImportImages drains r and imports nothing: the simulated runtime has
// every image already.
func (r *Runtime) ImportImages(_ context.Context, rd io.Reader) ([]string, error) {
	if _, err := io.Copy(io.Discard, rd); err != nil {
		return nil, fmt.Errorf("read image archive: %w", err)
	}
	return nil, nil
}

// normalize turns a familiar image name into a full reference as
// containerd reports it: busybox → docker.io/library/busybox:latest.
func normalize(image string) string {
	if strings.HasPrefix(image, "sha256:") {
		return image // an image ID
	}
	name := image
	domain := ""
	if i := strings.IndexByte(name, '/'); i >= 0 && (strings.ContainsAny(name[:i], ".:") || name[:i] == "localhost") {
		domain, name = name[:i], name[i+1:]
	}
	if domain == "" {
		domain = "docker.io"
		if !strings.Contains(name, "/") {
			name = "library/" + name
		}
	}
	ref := domain + "/" + name
	if !strings.Contains(name, "@") && !strings.Contains(name[strings.LastIndex(name, "/")+1:], ":") {
		ref += ":latest"
	}
	return ref
}
