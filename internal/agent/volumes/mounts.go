package volumes

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"skiff.dev/skiff/internal/agent/expansion"
	"skiff.dev/skiff/internal/agent/runtime"
)

// Mounts returns the bind mounts of a container's volumeMounts, in order,
// for volumes SetUp has prepared. env is the container's environment
// (for subPathExpr). A subPath that does not exist yet is created as a
// directory with the volume's mode, as upstream; one that resolves (through
// symlinks) outside its volume is refused. configMap, secret, downwardAPI
// and projected volumes are always read-only.
func (m *Manager) Mounts(pod *corev1.Pod, c *corev1.Container, env []runtime.KeyValue) ([]runtime.Mount, error) {
	var out []runtime.Mount
	for _, vm := range c.VolumeMounts {
		v := findVolume(pod, vm.Name)
		if v == nil {
			return nil, fmt.Errorf("cannot find volume %q to mount into container %q", vm.Name, c.Name)
		}
		hostPath, readOnly, err := m.Path(pod, v)
		if err != nil {
			return nil, err
		}
		subPath := vm.SubPath
		if vm.SubPathExpr != "" {
			if subPath, err = expandSubPath(vm.SubPathExpr, env); err != nil {
				return nil, err
			}
		}
		if subPath != "" {
			if filepath.IsAbs(subPath) {
				return nil, fmt.Errorf("error SubPath `%s` must not be an absolute path", subPath)
			}
			for _, part := range strings.Split(filepath.ToSlash(subPath), "/") {
				if part == ".." {
					return nil, fmt.Errorf("unable to provision SubPath `%s`: must not contain '..'", subPath)
				}
			}
			if hostPath, err = prepareSubPath(hostPath, subPath); err != nil {
				if errors.Is(err, errSubPathCreate) {
					return nil, fmt.Errorf("failed to create subPath directory for volumeMount %q of container %q", vm.Name, c.Name)
				}
				return nil, fmt.Errorf("failed to prepare subPath for volumeMount %q of container %q", vm.Name, c.Name)
			}
		}
		propagation, err := translatePropagation(vm.MountPropagation)
		if err != nil {
			return nil, err
		}
		out = append(out, runtime.Mount{
			ContainerPath: vm.MountPath,
			HostPath:      hostPath,
			ReadOnly:      vm.ReadOnly || readOnly,
			Propagation:   propagation,
		})
	}
	return out, nil
}

func findVolume(pod *corev1.Pod, name string) *corev1.Volume {
	for i := range pod.Spec.Volumes {
		if pod.Spec.Volumes[i].Name == name {
			return &pod.Spec.Volumes[i]
		}
	}
	return nil
}

// expandSubPath expands subPathExpr; every referenced variable must have
// a non-empty value.
func expandSubPath(expr string, env []runtime.KeyValue) (string, error) {
	vars := make(map[string]string, len(env))
	for _, kv := range env {
		vars[kv.Key] = kv.Value
	}
	missing := map[string]bool{}
	out := expansion.Expand(expr, func(k string) string {
		v, ok := vars[k]
		if !ok || v == "" {
			missing[k] = true
		}
		return v
	})
	if len(missing) > 0 {
		keys := make([]string, 0, len(missing))
		for k := range missing {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return "", fmt.Errorf("missing value for %s", strings.Join(keys, ", "))
	}
	return out, nil
}

var errSubPathCreate = errors.New("create subPath")

// prepareSubPath returns the real path of volume/subPath, creating it as a
// directory (with the volume's mode) when missing, and refusing a path
// whose symlinks lead out of the volume. The caller's error hides details
// of the host's filesystem, as upstream.
func prepareSubPath(volume, subPath string) (string, error) {
	root, err := filepath.EvalSymlinks(volume)
	if err != nil {
		return "", err
	}
	p := filepath.Join(volume, subPath)
	if _, err := os.Lstat(p); os.IsNotExist(err) {
		st, err := os.Stat(root)
		if err != nil {
			return "", err
		}
		// Create component by component, checking each stays inside.
		cur := root
		for _, part := range strings.Split(filepath.ToSlash(filepath.Clean(subPath)), "/") {
			next := filepath.Join(cur, part)
			if _, err := os.Lstat(next); os.IsNotExist(err) {
				if err := os.Mkdir(next, st.Mode().Perm()); err != nil && !os.IsExist(err) {
					return "", errSubPathCreate
				}
				_ = os.Chmod(next, st.Mode().Perm())
			}
			if cur, err = filepath.EvalSymlinks(next); err != nil || !within(root, cur) {
				return "", errSubPathCreate
			}
		}
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", err
	}
	if !within(root, real) {
		return "", fmt.Errorf("subPath %s is outside the volume", subPath)
	}
	return real, nil
}

func within(root, p string) bool {
	return p == root || strings.HasPrefix(p, root+string(filepath.Separator))
}

func translatePropagation(m *corev1.MountPropagationMode) (string, error) {
	switch {
	case m == nil, *m == corev1.MountPropagationNone:
		return "private", nil
	case *m == corev1.MountPropagationHostToContainer:
		return "rslave", nil
	case *m == corev1.MountPropagationBidirectional:
		return "rshared", nil
	}
	return "", fmt.Errorf("invalid MountPropagation mode: %q", *m)
}
