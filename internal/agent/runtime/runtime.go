// Package runtime is the agent's view of a container runtime: pod
// sandboxes, containers and images, in Skiff's own small types. The CRI
// implementation (cri.go and friends) is the only code in Skiff that
// imports k8s.io/cri-api; runtime/fake is a simulated runtime for hollow
// nodes. The pod sync loop and status code depend only on this interface.
//
// The shapes follow CRI closely (a sandbox holds the pod's network and
// shared namespaces, containers run inside it, and both carry labels the
// agent uses to find them again after a restart), so the CRI
// implementation is a translation, not a second design.
package runtime

import (
	"context"
	"errors"
	"io"
	"time"
)

// Runtime runs pod sandboxes and containers on one node.
type Runtime interface {
	// Name and Version of the runtime, e.g. "containerd", "1.6.20"
	// (nodeInfo.containerRuntimeVersion is "containerd://1.6.20").
	Version(ctx context.Context) (name, version string, err error)
	// Status reports whether the runtime and its network are ready; the
	// message says why not.
	Status(ctx context.Context) (ready bool, message string, err error)

	RunSandbox(ctx context.Context, cfg *SandboxConfig) (id string, err error)
	StopSandbox(ctx context.Context, id string) error
	RemoveSandbox(ctx context.Context, id string) error
	SandboxStatus(ctx context.Context, id string) (*Sandbox, error)
	ListSandboxes(ctx context.Context) ([]*Sandbox, error)

	CreateContainer(ctx context.Context, sandboxID string, cfg *ContainerConfig, sandbox *SandboxConfig) (id string, err error)
	StartContainer(ctx context.Context, id string) error
	// StopContainer sends the stop signal and kills the container once
	// timeout has passed (0: at once).
	StopContainer(ctx context.Context, id string, timeout time.Duration) error
	RemoveContainer(ctx context.Context, id string) error
	ContainerStatus(ctx context.Context, id string) (*Container, error)
	ListContainers(ctx context.Context) ([]*Container, error)
	// ExecSync runs cmd in a container and returns its output and exit
	// code (probes, hooks).
	ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) (stdout, stderr []byte, exitCode int, err error)
	// UpdateResources changes a running container's cgroup limits.
	UpdateResources(ctx context.Context, id string, r *Resources) error

	// Exec, Attach and PortForward return the URL of the runtime's
	// streaming server for the session, which the agent proxies.
	Exec(ctx context.Context, req *ExecRequest) (url string, err error)
	Attach(ctx context.Context, req *AttachRequest) (url string, err error)
	PortForward(ctx context.Context, sandboxID string, ports []int32) (url string, err error)

	PullImage(ctx context.Context, image string, auth *Auth, sandbox *SandboxConfig) (ref string, err error)
	// ImageStatus returns nil, nil when the image is not present.
	ImageStatus(ctx context.Context, image string) (*Image, error)
	ListImages(ctx context.Context) ([]*Image, error)
	RemoveImage(ctx context.Context, image string) error
	// ImportImages loads an OCI or docker-archive tarball and returns
	// the names of the images it held.
	ImportImages(ctx context.Context, r io.Reader) ([]string, error)
}

// ErrNotFound is returned (wrapped) for a sandbox, container or image that
// does not exist.
var ErrNotFound = errors.New("not found")

// Labels the agent puts on sandboxes and containers, as upstream's kubelet
// does, so it can adopt them after a restart.
const (
	LabelPodName       = "io.kubernetes.pod.name"
	LabelPodNamespace  = "io.kubernetes.pod.namespace"
	LabelPodUID        = "io.kubernetes.pod.uid"
	LabelContainerName = "io.kubernetes.container.name"
	// AnnotationContainerHash records the hash of the container's spec
	// the container was created from; a change means restart.
	AnnotationContainerHash = "io.kubernetes.container.hash"
	// AnnotationRestartCount is the container's restart count.
	AnnotationRestartCount = "io.kubernetes.container.restartCount"
	// AnnotationTerminationMessagePath and policy, for the termination
	// message after the container exits.
	AnnotationTerminationMessagePath   = "io.kubernetes.container.terminationMessagePath"
	AnnotationTerminationMessagePolicy = "io.kubernetes.container.terminationMessagePolicy"
)

// SandboxState and ContainerState mirror CRI's.
type (
	SandboxState   int
	ContainerState int
)

const (
	SandboxReady SandboxState = iota
	SandboxNotReady
)

const (
	ContainerCreated ContainerState = iota
	ContainerRunning
	ContainerExited
	ContainerUnknown
)

// SandboxConfig describes a pod's sandbox.
type SandboxConfig struct {
	Name, Namespace, UID string
	// Attempt counts sandbox re-creations.
	Attempt     uint32
	Hostname    string
	LogDir      string // directory for the pod's container logs
	DNS         *DNSConfig
	Ports       []PortMapping
	Labels      map[string]string
	Annotations map[string]string
	// CgroupParent is the pod's cgroup (QoS tiers), may be empty.
	CgroupParent string
	// Namespace sharing.
	HostNetwork, HostPID, HostIPC bool
	ShareProcessNamespace         bool
	// Pod-level security.
	RunAsUser          *int64
	RunAsGroup         *int64
	SupplementalGroups []int64
	FSGroup            *int64
	SeccompProfile     *SecurityProfile
	Privileged         bool // any container privileged
	Sysctls            map[string]string
	// Overhead and Resources are the pod's totals (for the sandbox cgroup).
	Resources *Resources
}

// DNSConfig is the pod's resolv.conf.
type DNSConfig struct {
	Servers, Searches, Options []string
}

// PortMapping is a host port mapped to a container port.
type PortMapping struct {
	Protocol      string // TCP, UDP, SCTP
	ContainerPort int32
	HostPort      int32
	HostIP        string
}

// Sandbox is a sandbox the runtime has.
type Sandbox struct {
	ID            string
	Name          string // pod name
	Namespace     string
	UID           string
	Attempt       uint32
	State         SandboxState
	CreatedAt     time.Time
	IP            string
	AdditionalIPs []string
	Labels        map[string]string
	Annotations   map[string]string
}

// ContainerConfig describes one container to create in a sandbox.
type ContainerConfig struct {
	Name                  string
	Attempt               uint32
	Image                 string // the resolved image reference (from PullImage)
	Command               []string
	Args                  []string
	WorkingDir            string
	Env                   []KeyValue
	Mounts                []Mount
	Devices               []Device
	LogPath               string // relative to the sandbox's LogDir
	Stdin, StdinOnce, TTY bool
	Labels                map[string]string
	Annotations           map[string]string
	Resources             *Resources
	Security              *SecurityContext
}

// KeyValue is one environment variable.
type KeyValue struct{ Key, Value string }

// Mount is a bind mount into a container.
type Mount struct {
	ContainerPath string
	HostPath      string
	ReadOnly      bool
	// Propagation: "private" (default), "rslave" (HostToContainer),
	// "rshared" (Bidirectional).
	Propagation    string
	SELinuxRelabel bool
}

// Device is a host device made available in a container.
type Device struct {
	ContainerPath, HostPath, Permissions string
}

// Resources are cgroup settings (CRI's LinuxContainerResources).
type Resources struct {
	CPUShares   int64
	CPUQuota    int64 // microseconds per CPUPeriod; 0: unlimited
	CPUPeriod   int64
	MemoryLimit int64 // bytes; 0: unlimited
	OOMScoreAdj int64
	PidsLimit   int64
	// HugepageLimits and unified (cgroup v2) settings are left out.
}

// SecurityContext is a container's effective security settings, with the
// pod's merged in by the caller.
type SecurityContext struct {
	RunAsUser              *int64
	RunAsGroup             *int64
	RunAsUsername          string
	SupplementalGroups     []int64
	Privileged             bool
	ReadOnlyRootFilesystem bool
	NoNewPrivs             bool // !allowPrivilegeEscalation
	AddCapabilities        []string
	DropCapabilities       []string
	Seccomp                *SecurityProfile
	AppArmor               *SecurityProfile
	// MaskedPaths and ReadonlyPaths are empty for procMount Unmasked,
	// nil for the runtime's defaults.
	MaskedPaths, ReadonlyPaths                               []string
	NamespaceHostPID, NamespaceHostIPC, NamespaceHostNetwork bool
}

// SecurityProfile is a seccomp or AppArmor profile.
type SecurityProfile struct {
	Type             string // "RuntimeDefault", "Unconfined", "Localhost"
	LocalhostProfile string // path, for Localhost
}

// Container is a container the runtime has.
type Container struct {
	ID          string
	SandboxID   string
	Name        string // the container's name in the pod
	Attempt     uint32
	Image       string // as asked for
	ImageRef    string // resolved digest reference
	ImageID     string
	State       ContainerState
	CreatedAt   time.Time
	StartedAt   time.Time
	FinishedAt  time.Time
	ExitCode    int32
	Reason      string // e.g. "OOMKilled", "Completed", "Error"
	Message     string
	LogPath     string
	Labels      map[string]string
	Annotations map[string]string
}

// Image is an image the runtime has.
type Image struct {
	ID          string
	RepoTags    []string
	RepoDigests []string
	Size        uint64
	// User is the image's configured user (uid or name), for runAsNonRoot.
	UID      *int64
	Username string
	Pinned   bool
}

// Auth is registry credentials (from imagePullSecrets).
type Auth struct {
	Username, Password, Auth, ServerAddress, IdentityToken, RegistryToken string
}

// ExecRequest is an interactive exec session.
type ExecRequest struct {
	ContainerID                string
	Cmd                        []string
	Stdin, Stdout, Stderr, TTY bool
}

// AttachRequest attaches to a container's main process.
type AttachRequest struct {
	ContainerID                string
	Stdin, Stdout, Stderr, TTY bool
}
