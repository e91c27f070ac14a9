package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// CRI is a Runtime that speaks the Container Runtime Interface (v1) to
// containerd, or to any CRI runtime except for ImportImages, which needs
// containerd's own API (see ImportImages).
//
// Its methods are safe for concurrent use. Errors wrap the runtime's gRPC
// error (ErrorMessage returns its text as upstream's kubelet shows it);
// a gRPC NotFound also wraps ErrNotFound.
type CRI struct {
	endpoint string
	conn     *grpc.ClientConn
	rt       cri.RuntimeServiceClient
	img      cri.ImageServiceClient
}

var _ Runtime = (*CRI)(nil)

// maxMsgSize is the largest CRI message accepted: lists of thousands of
// containers are bigger than gRPC's 4 MiB default (kubelet uses 16 MiB).
const maxMsgSize = 16 << 20

// NewCRI connects to the CRI runtime at endpoint ("unix:///run/x.sock" or
// a socket path) and waits until it answers Version, or ctx ends. A
// runtime that is still starting (containerd's CRI plug-in answers "not
// initialized" for a moment after its socket appears) is waited for.
func NewCRI(ctx context.Context, endpoint string) (*CRI, error) {
	target := endpoint
	if strings.HasPrefix(endpoint, "/") {
		target = "unix://" + endpoint
	}
	conn, err := grpc.NewClient(target,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsgSize), grpc.MaxCallSendMsgSize(maxMsgSize)),
	)
	if err != nil {
		return nil, fmt.Errorf("container runtime %s: %w", endpoint, err)
	}
	c := &CRI{endpoint: target, conn: conn, rt: cri.NewRuntimeServiceClient(conn), img: cri.NewImageServiceClient(conn)}
	for {
		callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = c.rt.Version(callCtx, &cri.VersionRequest{})
		cancel()
		if err == nil {
			return c, nil
		}
		if status.Code(err) == codes.Unimplemented {
			conn.Close()
			return nil, fmt.Errorf("container runtime %s does not serve CRI v1: %w", endpoint, err)
		}
		select {
		case <-ctx.Done():
			conn.Close()
			return nil, fmt.Errorf("container runtime %s is not answering: %w", endpoint, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Close closes the connection.
func (c *CRI) Close() error { return c.conn.Close() }

// Endpoint is the runtime's address as dialled ("unix:///...").
func (c *CRI) Endpoint() string { return c.endpoint }

// Version implements Runtime.
func (c *CRI) Version(ctx context.Context) (string, string, error) {
	r, err := c.rt.Version(ctx, &cri.VersionRequest{})
	if err != nil {
		return "", "", wrap(err, "runtime version")
	}
	return r.RuntimeName, r.RuntimeVersion, nil
}

// Status implements Runtime. The message follows kubelet's node
// condition messages ("container runtime network not ready: ...").
func (c *CRI) Status(ctx context.Context) (bool, string, error) {
	r, err := c.rt.Status(ctx, &cri.StatusRequest{})
	if err != nil {
		return false, "", wrap(err, "runtime status")
	}
	var runtimeCond, networkCond *cri.RuntimeCondition
	for _, cond := range r.GetStatus().GetConditions() {
		switch cond.Type {
		case cri.RuntimeReady:
			runtimeCond = cond
		case cri.NetworkReady:
			networkCond = cond
		}
	}
	describe := func(cond *cri.RuntimeCondition) string {
		return fmt.Sprintf("%s=%t reason:%s message:%s", cond.Type, cond.Status, cond.Reason, cond.Message)
	}
	switch {
	case runtimeCond == nil:
		return false, "container runtime status check may not have completed yet: RuntimeReady condition is missing", nil
	case !runtimeCond.Status:
		return false, "container runtime not ready: " + describe(runtimeCond), nil
	case networkCond == nil:
		return false, "container runtime network status check may not have completed yet: NetworkReady condition is missing", nil
	case !networkCond.Status:
		return false, "container runtime network not ready: " + describe(networkCond), nil
	}
	return true, "", nil
}

// RunSandbox implements Runtime. The pod's name, namespace and UID are
// added to the sandbox's labels (LabelPod*) when the caller left them out.
func (c *CRI) RunSandbox(ctx context.Context, cfg *SandboxConfig) (string, error) {
	r, err := c.rt.RunPodSandbox(ctx, &cri.RunPodSandboxRequest{Config: sandboxConfigToCRI(cfg)})
	if err != nil {
		return "", wrap(err, "run sandbox for pod %s/%s", cfg.Namespace, cfg.Name)
	}
	return r.PodSandboxId, nil
}

// StopSandbox implements Runtime. It kills the sandbox's containers at
// once and tears down its network; stopping a stopped sandbox is a no-op.
func (c *CRI) StopSandbox(ctx context.Context, id string) error {
	_, err := c.rt.StopPodSandbox(ctx, &cri.StopPodSandboxRequest{PodSandboxId: id})
	return wrap(err, "stop sandbox %s", id)
}

// RemoveSandbox implements Runtime. It removes the sandbox's containers
// too; removing a sandbox that is gone is a no-op.
func (c *CRI) RemoveSandbox(ctx context.Context, id string) error {
	_, err := c.rt.RemovePodSandbox(ctx, &cri.RemovePodSandboxRequest{PodSandboxId: id})
	return wrap(err, "remove sandbox %s", id)
}

// SandboxStatus implements Runtime; it fills the IP addresses.
func (c *CRI) SandboxStatus(ctx context.Context, id string) (*Sandbox, error) {
	r, err := c.rt.PodSandboxStatus(ctx, &cri.PodSandboxStatusRequest{PodSandboxId: id})
	if err != nil {
		return nil, wrap(err, "sandbox status %s", id)
	}
	return sandboxStatusFromCRI(r.Status), nil
}

// ListSandboxes implements Runtime. The sandboxes have no IP addresses:
// SandboxStatus has them.
func (c *CRI) ListSandboxes(ctx context.Context) ([]*Sandbox, error) {
	r, err := c.rt.ListPodSandbox(ctx, &cri.ListPodSandboxRequest{})
	if err != nil {
		return nil, wrap(err, "list sandboxes")
	}
	out := make([]*Sandbox, 0, len(r.Items))
	for _, s := range r.Items {
		out = append(out, sandboxFromCRI(s))
	}
	return out, nil
}

// ListPodSandboxes lists the sandboxes labelled with the pod UID uid
// (LabelPodUID): the runtime filters, as upstream's kubelet asks it to,
// so a pod's sync does not receive and decode every sandbox of the node.
func (c *CRI) ListPodSandboxes(ctx context.Context, uid string) ([]*Sandbox, error) {
	r, err := c.rt.ListPodSandbox(ctx, &cri.ListPodSandboxRequest{
		Filter: &cri.PodSandboxFilter{LabelSelector: map[string]string{LabelPodUID: uid}},
	})
	if err != nil {
		return nil, wrap(err, "list sandboxes of pod %s", uid)
	}
	out := make([]*Sandbox, 0, len(r.Items))
	for _, s := range r.Items {
		out = append(out, sandboxFromCRI(s))
	}
	return out, nil
}

// CreateContainer implements Runtime. The pod's labels (LabelPod*) and
// LabelContainerName are added to the container's labels when missing,
// and the directory of the log file (sandbox.LogDir/cfg.LogPath, by
// kubelet's convention "<container>/<restartCount>.log") is created.
func (c *CRI) CreateContainer(ctx context.Context, sandboxID string, cfg *ContainerConfig, sandbox *SandboxConfig) (string, error) {
	if sandbox.LogDir != "" && cfg.LogPath != "" {
		// The runtime opens the log file but, as with kubelet, the
		// directories on its way are ours to make.
		if err := os.MkdirAll(filepath.Dir(filepath.Join(sandbox.LogDir, cfg.LogPath)), 0o755); err != nil {
			return "", fmt.Errorf("create container %s: log directory: %w", cfg.Name, err)
		}
	}
	r, err := c.rt.CreateContainer(ctx, &cri.CreateContainerRequest{
		PodSandboxId:  sandboxID,
		Config:        containerConfigToCRI(cfg, sandbox),
		SandboxConfig: sandboxConfigToCRI(sandbox),
	})
	if err != nil {
		return "", wrap(err, "create container %s in sandbox %s", cfg.Name, sandboxID)
	}
	return r.ContainerId, nil
}

// StartContainer implements Runtime.
func (c *CRI) StartContainer(ctx context.Context, id string) error {
	_, err := c.rt.StartContainer(ctx, &cri.StartContainerRequest{ContainerId: id})
	return wrap(err, "start container %s", id)
}

// StopContainer implements Runtime. CRI counts the timeout in whole
// seconds; a fraction is rounded up so the container never gets less
// time than asked. The call returns once the container has exited.
func (c *CRI) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	_, err := c.rt.StopContainer(ctx, &cri.StopContainerRequest{ContainerId: id, Timeout: ceilSeconds(timeout)})
	return wrap(err, "stop container %s", id)
}

// RemoveContainer implements Runtime; it kills a running container first.
func (c *CRI) RemoveContainer(ctx context.Context, id string) error {
	_, err := c.rt.RemoveContainer(ctx, &cri.RemoveContainerRequest{ContainerId: id})
	return wrap(err, "remove container %s", id)
}

// ContainerStatus implements Runtime; the container has every field set.
// For an exited container the runtime sets Reason: "Completed" (exit 0),
// "Error" or "OOMKilled".
func (c *CRI) ContainerStatus(ctx context.Context, id string) (*Container, error) {
	r, err := c.rt.ContainerStatus(ctx, &cri.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		return nil, wrap(err, "container status %s", id)
	}
	if r.Status == nil {
		return nil, fmt.Errorf("container status %s: %w", id, ErrNotFound)
	}
	ct := containerStatusFromCRI(r.Status)
	// CRI's status has no sandbox id; its list has.
	l, err := c.rt.ListContainers(ctx, &cri.ListContainersRequest{Filter: &cri.ContainerFilter{Id: id}})
	if err != nil {
		return nil, wrap(err, "container status %s", id)
	}
	for _, item := range l.Containers {
		if item.Id == r.Status.Id {
			ct.SandboxID = item.PodSandboxId
		}
	}
	return ct, nil
}

// ListContainers implements Runtime. The containers carry what CRI lists:
// ids, names, image, state, creation time, labels and annotations, not
// exit codes, reasons or log paths (ContainerStatus has those).
func (c *CRI) ListContainers(ctx context.Context) ([]*Container, error) {
	r, err := c.rt.ListContainers(ctx, &cri.ListContainersRequest{})
	if err != nil {
		return nil, wrap(err, "list containers")
	}
	out := make([]*Container, 0, len(r.Containers))
	for _, ct := range r.Containers {
		out = append(out, containerFromCRI(ct))
	}
	return out, nil
}

// ListPodContainers lists the containers labelled with the pod UID uid
// (LabelPodUID), filtered by the runtime as ListPodSandboxes.
func (c *CRI) ListPodContainers(ctx context.Context, uid string) ([]*Container, error) {
	r, err := c.rt.ListContainers(ctx, &cri.ListContainersRequest{
		Filter: &cri.ContainerFilter{LabelSelector: map[string]string{LabelPodUID: uid}},
	})
	if err != nil {
		return nil, wrap(err, "list containers of pod %s", uid)
	}
	out := make([]*Container, 0, len(r.Containers))
	for _, ct := range r.Containers {
		out = append(out, containerFromCRI(ct))
	}
	return out, nil
}

// ExecSync implements Runtime. A non-zero exit code is not an error; an
// error means the command could not run (or timed out).
func (c *CRI) ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) ([]byte, []byte, int, error) {
	if timeout > 0 {
		// The runtime enforces the timeout; the extra second lets its
		// answer arrive before our own deadline cuts the call.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout+time.Second)
		defer cancel()
	}
	r, err := c.rt.ExecSync(ctx, &cri.ExecSyncRequest{ContainerId: id, Cmd: cmd, Timeout: ceilSeconds(timeout)})
	if err != nil {
		return nil, nil, 0, wrap(err, "exec %q in container %s", cmd, id)
	}
	return r.Stdout, r.Stderr, int(r.ExitCode), nil
}

// UpdateResources implements Runtime.
func (c *CRI) UpdateResources(ctx context.Context, id string, res *Resources) error {
	_, err := c.rt.UpdateContainerResources(ctx, &cri.UpdateContainerResourcesRequest{ContainerId: id, Linux: resourcesToCRI(res)})
	return wrap(err, "update resources of container %s", id)
}

// Exec implements Runtime.
func (c *CRI) Exec(ctx context.Context, req *ExecRequest) (string, error) {
	r, err := c.rt.Exec(ctx, &cri.ExecRequest{
		ContainerId: req.ContainerID, Cmd: req.Cmd, Tty: req.TTY,
		Stdin: req.Stdin, Stdout: req.Stdout, Stderr: req.Stderr,
	})
	if err != nil {
		return "", wrap(err, "exec in container %s", req.ContainerID)
	}
	return r.Url, nil
}

// Attach implements Runtime.
func (c *CRI) Attach(ctx context.Context, req *AttachRequest) (string, error) {
	r, err := c.rt.Attach(ctx, &cri.AttachRequest{
		ContainerId: req.ContainerID, Tty: req.TTY,
		Stdin: req.Stdin, Stdout: req.Stdout, Stderr: req.Stderr,
	})
	if err != nil {
		return "", wrap(err, "attach to container %s", req.ContainerID)
	}
	return r.Url, nil
}

// PortForward implements Runtime.
func (c *CRI) PortForward(ctx context.Context, sandboxID string, ports []int32) (string, error) {
	r, err := c.rt.PortForward(ctx, &cri.PortForwardRequest{PodSandboxId: sandboxID, Port: ports})
	if err != nil {
		return "", wrap(err, "port-forward to sandbox %s", sandboxID)
	}
	return r.Url, nil
}

// PullImage implements Runtime. On failure, ErrorMessage(err) is the
// runtime's message for the pod's ErrImagePull status.
func (c *CRI) PullImage(ctx context.Context, image string, auth *Auth, sandbox *SandboxConfig) (string, error) {
	req := &cri.PullImageRequest{Image: &cri.ImageSpec{Image: image}}
	if auth != nil {
		req.Auth = &cri.AuthConfig{
			Username: auth.Username, Password: auth.Password, Auth: auth.Auth,
			ServerAddress: auth.ServerAddress, IdentityToken: auth.IdentityToken, RegistryToken: auth.RegistryToken,
		}
	}
	if sandbox != nil {
		req.SandboxConfig = sandboxConfigToCRI(sandbox)
	}
	r, err := c.img.PullImage(ctx, req)
	if err != nil {
		return "", wrap(err, "pull image %q", image)
	}
	return r.ImageRef, nil
}

// ImageStatus implements Runtime.
func (c *CRI) ImageStatus(ctx context.Context, image string) (*Image, error) {
	r, err := c.img.ImageStatus(ctx, &cri.ImageStatusRequest{Image: &cri.ImageSpec{Image: image}})
	if err != nil {
		return nil, wrap(err, "image status %q", image)
	}
	if r.Image == nil {
		return nil, nil
	}
	return imageFromCRI(r.Image), nil
}

// ListImages implements Runtime.
func (c *CRI) ListImages(ctx context.Context) ([]*Image, error) {
	r, err := c.img.ListImages(ctx, &cri.ListImagesRequest{})
	if err != nil {
		return nil, wrap(err, "list images")
	}
	out := make([]*Image, 0, len(r.Images))
	for _, img := range r.Images {
		out = append(out, imageFromCRI(img))
	}
	return out, nil
}

// RemoveImage implements Runtime.
func (c *CRI) RemoveImage(ctx context.Context, image string) error {
	_, err := c.img.RemoveImage(ctx, &cri.RemoveImageRequest{Image: &cri.ImageSpec{Image: image}})
	return wrap(err, "remove image %q", image)
}

// ImportImages implements Runtime: it loads the OCI or docker-archive
// tarball into containerd's "k8s.io" namespace with containerd's ctr
// (which must be in PATH, as Debian's containerd package puts it), then
// waits until the CRI lists every imported image, so a container can be
// created from it as soon as ImportImages returns. It needs the endpoint
// to be containerd's own socket.
func (c *CRI) ImportImages(ctx context.Context, r io.Reader) ([]string, error) {
	socket, ok := strings.CutPrefix(c.endpoint, "unix://")
	if !ok {
		return nil, fmt.Errorf("import images: endpoint %s is not a unix socket", c.endpoint)
	}
	names, err := ctrImport(ctx, socket, r)
	if err != nil {
		return nil, err
	}
	// containerd's CRI plug-in learns of new images from containerd's
	// events, a moment after ctr has returned.
	for _, name := range names {
		for {
			img, err := c.ImageStatus(ctx, name)
			if err != nil {
				return names, err
			}
			if img != nil {
				break
			}
			select {
			case <-ctx.Done():
				return names, fmt.Errorf("import images: %s was imported but the CRI does not list it: %w", name, ctx.Err())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return names, nil
}

// wrap adds context to a runtime error, and ErrNotFound to a NotFound.
func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf(format, args...)
	if status.Code(err) == codes.NotFound {
		return fmt.Errorf("%s: %w: %w", msg, ErrNotFound, err)
	}
	return fmt.Errorf("%s: %w", msg, err)
}

// ErrorMessage returns the container runtime's own message for err, as
// upstream's kubelet puts it in container statuses and events
// ("rpc error: code = NotFound desc = failed to pull and unpack image
// ..."), without the context Skiff added. For an error that did not come
// from the runtime it returns err.Error().
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var grpcErr interface {
		error
		GRPCStatus() *status.Status
	}
	if errors.As(err, &grpcErr) {
		return grpcErr.Error()
	}
	return err.Error()
}

// ceilSeconds converts d to whole seconds, rounding up.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
