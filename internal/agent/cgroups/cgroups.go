// Package cgroups keeps the node's pod cgroups, as upstream's kubelet
// does with cgroupsPerQOS on the cgroupfs driver:
//
//	<root>/kubepods                    cpu.shares of the node's CPUs
//	<root>/kubepods/pod<uid>           Guaranteed pods
//	<root>/kubepods/burstable          cpu.shares: its pods' CPU requests
//	<root>/kubepods/burstable/pod<uid>
//	<root>/kubepods/besteffort         cpu.shares: 2
//	<root>/kubepods/besteffort/pod<uid>
//
// A pod's cgroup carries the pod's totals (CPU shares and quota, memory
// limit, pids.max); its path is the sandbox's CgroupParent, so the
// runtime puts the sandbox and its containers beneath it.
//
// Both cgroup v1 (a hierarchy per controller; cpu, memory and pids are
// required) and cgroup v2 (one unified hierarchy; the controllers are
// enabled down the tree) are supported; Detect finds which.
//
// A Manager's methods may be called from several goroutines: each writes
// only its own pod's directory, and the tier settings are whole-file
// writes.
//
//	m, err := cgroups.New(layout, "/")
//	err = m.Init(nodeMilliCPU)
//	parent, err := m.EnsurePod(corev1.PodQOSBurstable, uid, limits)
//	... RunSandbox with CgroupParent: parent ...
//	err = m.RemovePod(uid) // once the sandbox is gone
package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ErrBusy is returned (wrapped) by RemovePod while the pod's cgroup
// still holds processes or container cgroups.
var ErrBusy = errors.New("pod cgroup still in use")

// Limits are a pod cgroup's settings. Zero means none: no CFS quota, no
// memory limit, no PID limit.
type Limits struct {
	CPUShares   int64 // cgroup v1 cpu.shares (2..262144); 0: the kernel's default
	CPUQuota    int64 // microseconds per CPUPeriod
	CPUPeriod   int64 // microseconds
	MemoryBytes int64
	PidsMax     int64
}

// Tier names, upstream's.
const (
	kubepods   = "kubepods"
	burstable  = "burstable"
	besteffort = "besteffort"
	podPrefix  = "pod"
	// minShares is the lowest cpu.shares, BestEffort's.
	minShares = 2
)

// Manager creates, configures and removes pod cgroups under one root.
type Manager struct {
	layout Layout
	// base is the cgroup path of kubepods, e.g. "/kubepods".
	base string
}

// New returns a manager for the pods' cgroups under root (kubelet's
// --cgroup-root; "" or "/" puts them at /kubepods, upstream's default).
func New(layout Layout, root string) (*Manager, error) {
	if layout.Unified == "" && len(layout.V1) == 0 {
		return nil, ErrUnsupported
	}
	if root == "" {
		root = "/"
	}
	if !path.IsAbs(root) || path.Clean(root) != root {
		return nil, fmt.Errorf("cgroup root %q: not a clean absolute path", root)
	}
	return &Manager{layout: layout, base: path.Join(root, kubepods)}, nil
}

// Version is 1 or 2, the cgroup version the manager writes.
func (m *Manager) Version() int {
	if m.layout.Unified != "" {
		return 2
	}
	return 1
}

// tierPath is the cgroup path of a QoS class's tier.
func (m *Manager) tierPath(qos corev1.PodQOSClass) string {
	switch qos {
	case corev1.PodQOSBurstable:
		return path.Join(m.base, burstable)
	case corev1.PodQOSBestEffort:
		return path.Join(m.base, besteffort)
	}
	return m.base
}

// PodPath is the pod's cgroup path ("/kubepods/burstable/pod<uid>"), the
// sandbox's CgroupParent. It touches nothing.
func (m *Manager) PodPath(qos corev1.PodQOSClass, uid types.UID) string {
	return path.Join(m.tierPath(qos), podPrefix+string(uid))
}

// Init creates kubepods and its two tiers. kubepods gets the cpu.shares
// of nodeMilliCPU (the node's allocatable CPUs), besteffort the minimum,
// burstable the minimum until SetBurstableShares. Existing directories
// (an earlier run's, with their pods) are kept.
func (m *Manager) Init(nodeMilliCPU int64) error {
	if err := m.ensure(m.base, Limits{CPUShares: milliCPUToShares(nodeMilliCPU)}); err != nil {
		return err
	}
	if err := m.ensure(path.Join(m.base, besteffort), Limits{CPUShares: minShares}); err != nil {
		return err
	}
	return m.ensure(path.Join(m.base, burstable), Limits{CPUShares: minShares})
}

// SetBurstableShares sets the burstable tier's cpu.shares to the sum of
// its pods' CPU requests, so that, against Guaranteed pods, the tier
// weighs what its pods asked for (upstream's QoS container manager).
func (m *Manager) SetBurstableShares(milliCPU int64) error {
	return m.ensure(path.Join(m.base, burstable), Limits{CPUShares: milliCPUToShares(milliCPU)})
}

// EnsurePod creates the pod's cgroup if needed and applies limits; it
// returns the cgroup path for the sandbox's CgroupParent.
func (m *Manager) EnsurePod(qos corev1.PodQOSClass, uid types.UID, limits Limits) (string, error) {
	p := m.PodPath(qos, uid)
	if err := m.ensure(p, limits); err != nil {
		return "", fmt.Errorf("pod cgroup %s: %w", p, err)
	}
	return p, nil
}

// PodCgroup is a pod cgroup found on the machine.
type PodCgroup struct {
	UID  types.UID
	Path string
	// Created is when the directory was made (its change time).
	Created time.Time
}

// Pods lists the pod cgroups under kubepods, in all tiers: what a
// restarted agent adopts, or removes when their pods are gone. On cgroup
// v1 a pod counts while any of its cpu, memory or pids directories is
// left (a removal may have stopped half-way).
func (m *Manager) Pods() ([]PodCgroup, error) {
	mounts := []string{m.layout.Unified}
	if m.layout.Unified == "" {
		mounts = mounts[:0]
		for _, c := range controllers {
			mounts = append(mounts, m.layout.V1[c])
		}
	}
	var out []PodCgroup
	seen := map[string]bool{}
	for _, tier := range []string{m.base, path.Join(m.base, burstable), path.Join(m.base, besteffort)} {
		for _, mnt := range mounts {
			entries, err := os.ReadDir(filepath.Join(mnt, tier))
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("list pod cgroups: %w", err)
			}
			for _, e := range entries {
				uid, ok := strings.CutPrefix(e.Name(), podPrefix)
				p := path.Join(tier, e.Name())
				if !e.IsDir() || !ok || uid == "" || seen[p] {
					continue
				}
				seen[p] = true
				pc := PodCgroup{UID: types.UID(uid), Path: p}
				if info, err := e.Info(); err == nil {
					pc.Created = info.ModTime()
					if st, ok := info.Sys().(*syscall.Stat_t); ok {
						pc.Created = time.Unix(st.Ctim.Sec, st.Ctim.Nsec)
					}
				}
				out = append(out, pc)
			}
		}
	}
	return out, nil
}

// RemovePod removes the pod's cgroup, in whichever tier, from every
// hierarchy, container cgroups the runtime left behind included. It
// removes only empty cgroups (the kernel refuses others): while a
// process remains it returns ErrBusy, and the caller tries again later.
// A pod without a cgroup is not an error.
func (m *Manager) RemovePod(uid types.UID) error {
	var busy []string
	for _, qos := range []corev1.PodQOSClass{corev1.PodQOSGuaranteed, corev1.PodQOSBurstable, corev1.PodQOSBestEffort} {
		p := m.PodPath(qos, uid)
		for _, mnt := range m.layout.All {
			if err := removeTree(filepath.Join(mnt, p)); err != nil {
				if !errors.Is(err, syscall.EBUSY) {
					return fmt.Errorf("remove pod cgroup %s: %w", p, err)
				}
				busy = append(busy, filepath.Join(mnt, p))
			}
		}
	}
	if len(busy) > 0 {
		return fmt.Errorf("%w: %s", ErrBusy, strings.Join(busy, ", "))
	}
	return nil
}

// removeTree rmdirs dir's sub-directories, deepest first, then dir. On
// cgroupfs a directory whose only entries are the interface files is
// empty to rmdir.
func removeTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := removeTree(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	if err := syscall.Rmdir(dir); err != nil && !errors.Is(err, syscall.ENOENT) {
		return &os.PathError{Op: "rmdir", Path: dir, Err: err}
	}
	return nil
}

// ensure creates the cgroup p and writes limits to it.
func (m *Manager) ensure(p string, l Limits) error {
	if m.layout.Unified != "" {
		return m.ensureV2(p, l)
	}
	return m.ensureV1(p, l)
}

func (m *Manager) ensureV1(p string, l Limits) error {
	for _, c := range controllers {
		if err := os.MkdirAll(filepath.Join(m.layout.V1[c], p), 0o755); err != nil {
			return fmt.Errorf("create cgroup: %w", err)
		}
	}
	cpu, mem, pids := filepath.Join(m.layout.V1["cpu"], p), filepath.Join(m.layout.V1["memory"], p), filepath.Join(m.layout.V1["pids"], p)
	var writes []fileWrite
	if l.CPUShares > 0 {
		writes = append(writes, fileWrite{cpu, "cpu.shares", strconv.FormatInt(l.CPUShares, 10)})
	}
	if l.CPUQuota > 0 && l.CPUPeriod > 0 {
		writes = append(writes, fileWrite{cpu, "cpu.cfs_period_us", strconv.FormatInt(l.CPUPeriod, 10)},
			fileWrite{cpu, "cpu.cfs_quota_us", strconv.FormatInt(l.CPUQuota, 10)})
	} else {
		writes = append(writes, fileWrite{cpu, "cpu.cfs_quota_us", "-1"})
	}
	writes = append(writes, fileWrite{mem, "memory.limit_in_bytes", limitOrMax(l.MemoryBytes, "-1")},
		fileWrite{pids, "pids.max", limitOrMax(l.PidsMax, "max")})
	return writeAll(writes)
}

// ensureV2 creates p in the unified hierarchy with cpu, memory and pids
// enabled from the mount's root down to p's parent.
func (m *Manager) ensureV2(p string, l Limits) error {
	root := m.layout.Unified
	dir := root
	for _, part := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		if err := enableControllers(dir); err != nil {
			return err
		}
		dir = filepath.Join(dir, part)
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create cgroup: %w", err)
		}
	}
	var writes []fileWrite
	if l.CPUShares > 0 {
		writes = append(writes, fileWrite{dir, "cpu.weight", strconv.FormatInt(sharesToWeight(l.CPUShares), 10)})
	}
	cpuMax := "max"
	if l.CPUQuota > 0 && l.CPUPeriod > 0 {
		cpuMax = fmt.Sprintf("%d %d", l.CPUQuota, l.CPUPeriod)
	}
	writes = append(writes, fileWrite{dir, "cpu.max", cpuMax},
		fileWrite{dir, "memory.max", limitOrMax(l.MemoryBytes, "max")},
		fileWrite{dir, "pids.max", limitOrMax(l.PidsMax, "max")})
	return writeAll(writes)
}

// enableControllers turns on cpu, memory and pids for dir's children.
func enableControllers(dir string) error {
	want := "+" + strings.Join(controllers, " +")
	if b, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control")); err == nil {
		have := strings.Fields(string(b))
		missing := false
		for _, c := range controllers {
			if !slices.Contains(have, c) {
				missing = true
			}
		}
		if !missing {
			return nil
		}
	}
	return writeAll([]fileWrite{{dir, "cgroup.subtree_control", want}})
}

type fileWrite struct{ dir, file, value string }

func writeAll(ws []fileWrite) error {
	for _, w := range ws {
		p := filepath.Join(w.dir, w.file)
		// cgroupfs refuses to create files, so O_CREATE changes nothing
		// there (a missing interface file is an error) and lets the tests
		// run on an ordinary directory.
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return fmt.Errorf("set %s: %w", p, err)
		}
		_, err = f.WriteString(w.value)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("set %s to %s: %w", p, w.value, err)
		}
	}
	return nil
}

func limitOrMax(v int64, max string) string {
	if v <= 0 {
		return max
	}
	return strconv.FormatInt(v, 10)
}

// milliCPUToShares is podconfig's conversion (upstream's), repeated to
// keep this package free of the pod model.
func milliCPUToShares(milliCPU int64) int64 {
	const maxShares = 262144
	if milliCPU <= 0 {
		return minShares
	}
	return min(max(milliCPU*1024/1000, minShares), maxShares)
}

// sharesToWeight maps cgroup v1 cpu.shares [2, 262144] onto cgroup v2
// cpu.weight [1, 10000], as runc and upstream's kubelet do.
func sharesToWeight(shares int64) int64 {
	if shares <= 0 {
		return 100
	}
	return 1 + ((shares-2)*9999)/262142
}
