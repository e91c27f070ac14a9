// Package volumes sets up a pod's volumes on the node and says where each
// container mounts them, as upstream's kubelet volume plugins do for the
// volume kinds that need no storage system: emptyDir (disk, or tmpfs for
// medium Memory), hostPath (with its type checks), configMap, secret,
// downwardAPI and projected (configMap, secret, downwardAPI,
// serviceAccountToken).
//
// Volumes live under <root>/pods/<uid>/volumes/<plugin>/<name>, plugin
// being upstream's directory name (kubernetes.io~empty-dir,
// kubernetes.io~configmap, ...). configMap, secret, downwardAPI and
// projected volumes are written atomically (a timestamped directory and a
// "..data" symlink swapped by rename) so that re-running SetUp brings
// updates of their sources to running containers. Secret and projected
// volumes sit on tmpfs, as upstream, so that secrets never reach the disk.
//
// The Manager keeps no state between calls: everything is read back from
// the pod spec and the disk, so an agent restart loses nothing.
package volumes

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
)

// Getter reads the config maps and secrets volumes project. For an object
// that does not exist it returns an error for which apierrors.IsNotFound
// is true.
type Getter interface {
	Secret(namespace, name string) (*corev1.Secret, error)
	ConfigMap(namespace, name string) (*corev1.ConfigMap, error)
}

// TokenSource issues service account tokens for serviceAccountToken
// projections (the TokenRequest API), bound to pod.
type TokenSource interface {
	Token(ctx context.Context, pod *corev1.Pod, audience string, expirationSeconds int64) (string, error)
}

// Config configures a Manager.
type Config struct {
	// Root is the agent's directory; pods live under Root/pods.
	Root   string
	Getter Getter
	// Tokens may be nil: serviceAccountToken projections then fail with a
	// clear error.
	Tokens TokenSource
	// Allocatable is the node's allocatable resources: downward API limits
	// that are unset read as these, and memory-backed volumes are sized
	// to at most its memory.
	Allocatable corev1.ResourceList
	// NoTmpfs puts secret and projected volumes on disk instead of tmpfs
	// (for agents that cannot mount); emptyDir medium Memory then fails.
	NoTmpfs bool
}

// Manager sets up and tears down pods' volumes. Its methods may be called
// concurrently for different pods, not for the same pod.
type Manager struct {
	cfg Config
}

// New returns a Manager.
func New(cfg Config) *Manager { return &Manager{cfg: cfg} }

// Upstream's plugin directory names.
const (
	pluginEmptyDir  = "kubernetes.io~empty-dir"
	pluginConfigMap = "kubernetes.io~configmap"
	pluginSecret    = "kubernetes.io~secret"
	pluginDownward  = "kubernetes.io~downward-api"
	pluginProjected = "kubernetes.io~projected"
)

// PodDir is the pod's directory on the node.
func (m *Manager) PodDir(uid types.UID) string {
	return filepath.Join(m.cfg.Root, "pods", string(uid))
}

func (m *Manager) volumeDir(uid types.UID, plugin, name string) string {
	return filepath.Join(m.PodDir(uid), "volumes", plugin, name)
}

// Path returns where a volume of the pod is on the node, and whether its
// contents are read-only for containers (configMap, secret, downwardAPI
// and projected). It fails for kinds this package does not support.
func (m *Manager) Path(pod *corev1.Pod, v *corev1.Volume) (path string, readOnly bool, err error) {
	switch {
	case v.EmptyDir != nil:
		return m.volumeDir(pod.UID, pluginEmptyDir, v.Name), false, nil
	case v.HostPath != nil:
		return v.HostPath.Path, false, nil
	case v.ConfigMap != nil:
		return m.volumeDir(pod.UID, pluginConfigMap, v.Name), true, nil
	case v.Secret != nil:
		return m.volumeDir(pod.UID, pluginSecret, v.Name), true, nil
	case v.DownwardAPI != nil:
		return m.volumeDir(pod.UID, pluginDownward, v.Name), true, nil
	case v.Projected != nil:
		return m.volumeDir(pod.UID, pluginProjected, v.Name), true, nil
	}
	return "", false, fmt.Errorf("volume %q: %w", v.Name, ErrUnsupported)
}

// ErrUnsupported is returned (wrapped) for volume kinds that need a
// storage system (persistentVolumeClaim, csi, nfs, ...).
var ErrUnsupported = errors.New("volume type not supported by this agent")

// SetUp creates the pod's volumes, or refreshes them: emptyDirs are made
// once, hostPaths checked, and configMap, secret, downwardAPI and
// projected contents rewritten when their sources changed. Call it before
// creating the pod's containers and again whenever a source may have
// changed (upstream re-syncs every minute or so).
//
// Each failing volume contributes an error in upstream's event form,
// `MountVolume.SetUp failed for volume "cfg" : configmap "x" not found`;
// they are joined. The other volumes are still set up.
func (m *Manager) SetUp(ctx context.Context, pod *corev1.Pod) error {
	var errs []error
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if err := m.setUpVolume(ctx, pod, v); err != nil {
			errs = append(errs, fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (m *Manager) setUpVolume(ctx context.Context, pod *corev1.Pod, v *corev1.Volume) error {
	dir, _, err := m.Path(pod, v)
	if err != nil {
		return err
	}
	fsGroup := podFSGroup(pod)
	switch {
	case v.EmptyDir != nil:
		return m.setUpEmptyDir(pod, v.EmptyDir, dir, fsGroup)
	case v.HostPath != nil:
		return checkHostPath(v.HostPath)
	}

	var (
		files map[string]file
		tmpfs bool
	)
	switch {
	case v.ConfigMap != nil:
		optional := isTrue(v.ConfigMap.Optional)
		cm, err := m.configMap(pod.Namespace, v.ConfigMap.Name, optional)
		if err != nil {
			return err
		}
		if files, err = configMapFiles(v.ConfigMap.Items, cm, modeOr(v.ConfigMap.DefaultMode, defaultConfigMapMode), optional); err != nil {
			return err
		}
	case v.Secret != nil:
		tmpfs = true
		optional := isTrue(v.Secret.Optional)
		s, err := m.secret(pod.Namespace, v.Secret.SecretName, optional)
		if err != nil {
			return err
		}
		if files, err = secretFiles(v.Secret.Items, s, modeOr(v.Secret.DefaultMode, defaultSecretMode), optional); err != nil {
			return err
		}
	case v.DownwardAPI != nil:
		if files, err = m.downwardFiles(pod, v.DownwardAPI.Items, modeOr(v.DownwardAPI.DefaultMode, defaultDownwardMode)); err != nil {
			return err
		}
	case v.Projected != nil:
		tmpfs = true
		if files, err = m.projectedFiles(ctx, pod, v.Name, v.Projected); err != nil {
			return err
		}
	}
	if err := m.ensureDir(pod, dir, tmpfs && !m.cfg.NoTmpfs, nil); err != nil {
		return err
	}
	// Upstream sets these volumes up on a wrapped emptyDir, mode 0777:
	// containers running as any user must be able to list them.
	if err := os.Chmod(dir, 0o777); err != nil {
		return err
	}
	var perms func(string) error
	if fsGroup != nil {
		perms = func(version string) error { return setOwnership(version, *fsGroup, true) }
	}
	if _, err := writeAtomic(dir, files, perms); err != nil {
		return err
	}
	if fsGroup != nil {
		// The volume's root, so that the group can list it.
		return setOwnershipOne(dir, *fsGroup, true)
	}
	return nil
}

// ensureDir makes a volume's directory, mounting a tmpfs on it when asked
// (once: an existing mount is kept).
func (m *Manager) ensureDir(pod *corev1.Pod, dir string, tmpfs bool, sizeLimit *resource.Quantity) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	if !tmpfs {
		return nil
	}
	mounted, err := isMountPoint(dir)
	if err != nil || mounted {
		return err
	}
	return mountTmpfs(dir, m.memorySize(pod, sizeLimit))
}

func (m *Manager) setUpEmptyDir(pod *corev1.Pod, ed *corev1.EmptyDirVolumeSource, dir string, fsGroup *int64) error {
	switch ed.Medium {
	case corev1.StorageMediumDefault:
	case corev1.StorageMediumMemory:
		if m.cfg.NoTmpfs {
			return fmt.Errorf("emptyDir medium Memory needs a tmpfs mount, which this agent is configured not to make")
		}
	default:
		return fmt.Errorf("emptyDir medium %q: %w", ed.Medium, ErrUnsupported)
	}
	// Set up once: a later SetUp must not reset what the pod wrote.
	if _, err := os.Stat(dir); err == nil {
		if ed.Medium != corev1.StorageMediumMemory {
			return nil
		}
		if mounted, err := isMountPoint(dir); err != nil || mounted {
			return err
		}
	}
	if err := m.ensureDir(pod, dir, ed.Medium == corev1.StorageMediumMemory, ed.SizeLimit); err != nil {
		return err
	}
	// Everyone may write an emptyDir, whatever the umask.
	if err := os.Chmod(dir, 0o777); err != nil {
		return err
	}
	if fsGroup != nil {
		return setOwnership(dir, *fsGroup, false)
	}
	return nil
}

// memorySize is the size of a memory-backed volume, as upstream: the
// node's allocatable memory, or the pod's memory limit when every
// container has one and it is smaller, or sizeLimit when smaller still.
// 0 leaves the kernel's default (half the RAM).
func (m *Manager) memorySize(pod *corev1.Pod, sizeLimit *resource.Quantity) int64 {
	size := int64(0)
	if q, ok := m.cfg.Allocatable[corev1.ResourceMemory]; ok {
		size = q.Value()
	}
	smaller := func(v int64) {
		if v > 0 && (size == 0 || v <= size) {
			size = v
		}
	}
	smaller(podMemoryLimit(pod))
	if sizeLimit != nil {
		smaller(sizeLimit.Value())
	}
	return size
}

// podMemoryLimit is the pod's memory limit (the sum over containers, or
// the largest init container's when larger), 0 when any container has
// none.
func podMemoryLimit(pod *corev1.Pod) int64 {
	var sum, initMax int64
	for _, c := range pod.Spec.Containers {
		q, ok := c.Resources.Limits[corev1.ResourceMemory]
		if !ok || q.IsZero() {
			return 0
		}
		sum += q.Value()
	}
	for _, c := range pod.Spec.InitContainers {
		q, ok := c.Resources.Limits[corev1.ResourceMemory]
		if !ok || q.IsZero() {
			return 0
		}
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sum += q.Value()
		} else {
			initMax = max(initMax, q.Value())
		}
	}
	return max(sum, initMax)
}

func podFSGroup(pod *corev1.Pod) *int64 {
	if pod.Spec.SecurityContext != nil {
		return pod.Spec.SecurityContext.FSGroup
	}
	return nil
}

func setOwnershipOne(p string, fsGroup int64, readOnly bool) error {
	info, err := os.Lstat(p)
	if err != nil {
		return err
	}
	if err := os.Lchown(p, -1, int(fsGroup)); err != nil {
		return err
	}
	mask := fs.FileMode(0o440)
	if !readOnly {
		mask = 0o660
	}
	return os.Chmod(p, info.Mode()|mask|fs.ModeSetgid|0o110)
}

// checkHostPath applies a hostPath volume's type check, creating the path
// for the ...OrCreate types. Messages are upstream's.
func checkHostPath(hp *corev1.HostPathVolumeSource) error {
	if hp.Type == nil || *hp.Type == corev1.HostPathUnset {
		return nil
	}
	p := hp.Path
	is := func(want string) bool {
		t, err := fileType(p)
		return err == nil && t == want
	}
	exists := func() bool {
		_, err := os.Stat(p)
		return err == nil
	}
	switch *hp.Type {
	case corev1.HostPathDirectoryOrCreate:
		if !exists() {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
			return nil
		}
		fallthrough
	case corev1.HostPathDirectory:
		if !is("Directory") {
			return fmt.Errorf("hostPath type check failed: %s is not a directory", p)
		}
	case corev1.HostPathFileOrCreate:
		if !exists() {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(p, os.O_CREATE, 0o644)
			if err != nil {
				return err
			}
			return f.Close()
		}
		fallthrough
	case corev1.HostPathFile:
		if !is("File") {
			return fmt.Errorf("hostPath type check failed: %s is not a file", p)
		}
	case corev1.HostPathSocket:
		if !is("Socket") {
			return fmt.Errorf("hostPath type check failed: %s is not a socket file", p)
		}
	case corev1.HostPathCharDev:
		if !is("CharDevice") {
			return fmt.Errorf("hostPath type check failed: %s is not a character device", p)
		}
	case corev1.HostPathBlockDev:
		if !is("BlockDevice") {
			return fmt.Errorf("hostPath type check failed: %s is not a block device", p)
		}
	default:
		return fmt.Errorf("%s is an invalid volume type", *hp.Type)
	}
	return nil
}

// TearDown removes the pod's directory with all its volumes, unmounting
// the tmpfs mounts under it first. Nothing is removed while something
// under it is still mounted. hostPath volumes are left alone.
func (m *Manager) TearDown(uid types.UID) error {
	dir := m.PodDir(uid)
	if uid == "" {
		return fmt.Errorf("tear down: empty pod UID")
	}
	mps, err := mountPoints(dir)
	if err != nil {
		return fmt.Errorf("tear down pod %s: %w", uid, err)
	}
	for _, mp := range mps {
		if err := unmount(mp); err != nil {
			return fmt.Errorf("tear down pod %s: %w", uid, err)
		}
	}
	if mps, err := mountPoints(dir); err != nil || len(mps) > 0 {
		return fmt.Errorf("tear down pod %s: still mounted: %v %v", uid, mps, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("tear down pod %s: %w", uid, err)
	}
	return nil
}
