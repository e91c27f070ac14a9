package images

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/utils/clock"

	"skiff.dev/skiff/internal/agent/runtime"
)

// Runtime is what the manager needs of the container runtime.
type Runtime interface {
	ListImages(ctx context.Context) ([]*runtime.Image, error)
	ListContainers(ctx context.Context) ([]*runtime.Container, error)
	RemoveImage(ctx context.Context, image string) error
}

// Filesystem reports the image filesystem's usage.
type Filesystem interface {
	Usage(ctx context.Context) (Usage, error)
}

// ErrNotEnoughFreed is returned (wrapped, with upstream's message) when
// a collection could not free what the low threshold asks for: the rest
// is in use, pinned or too young.
var ErrNotEnoughFreed = errors.New("not enough unused images")

// Config configures a Manager.
type Config struct {
	Runtime Runtime
	FS      Filesystem
	// Policy; zero fields get upstream's defaults.
	Policy Policy
	// Pinned are image names never removed, such as the sandbox image,
	// whether or not the runtime reports them pinned.
	Pinned []string
	// PodImages, if set, returns the images the node's pods name: they
	// are in use even before their containers exist.
	PodImages func() []string
	// Clock; nil: the real one.
	Clock clock.PassiveClock
	Log   *slog.Logger
}

// Manager tracks when each image was first seen and last used, and
// removes unused images when the filesystem is full. Its methods are safe
// for concurrent use.
type Manager struct {
	cfg Config

	mu      sync.Mutex
	records map[string]*Record // by image ID
}

// New returns a manager; cfg.Runtime and cfg.FS are required.
func New(cfg Config) (*Manager, error) {
	if cfg.Runtime == nil || cfg.FS == nil {
		return nil, errors.New("images: Runtime and FS are required")
	}
	cfg.Policy = cfg.Policy.WithDefaults()
	if err := cfg.Policy.Validate(); err != nil {
		return nil, err
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Manager{cfg: cfg, records: map[string]*Record{}}, nil
}

// Run detects images every period and collects when the filesystem is
// above the high threshold, until ctx ends. onFailure, if set, hears each
// failed collection (the agent records upstream's ImageGCFailed event).
func (m *Manager) Run(ctx context.Context, period time.Duration, onFailure func(error)) {
	// A first detection at once, so that images present at start count
	// their age from now rather than from the first collection.
	if err := m.detect(ctx); err != nil {
		m.cfg.Log.Warn("image GC: detect images", "err", err)
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		removed, err := m.GarbageCollect(ctx)
		if len(removed) > 0 {
			m.cfg.Log.Info("image GC: removed unused images", "images", removed)
		}
		if err != nil && ctx.Err() == nil {
			m.cfg.Log.Warn("image GC", "err", err)
			if onFailure != nil {
				onFailure(err)
			}
		}
	}
}

// GarbageCollect runs one pass: it refreshes the image records, and when
// the filesystem is above the high threshold, removes the images Select
// picks. It returns the IDs it removed; ErrNotEnoughFreed when they fall
// short of the low threshold.
func (m *Manager) GarbageCollect(ctx context.Context) ([]string, error) {
	if err := m.detect(ctx); err != nil {
		return nil, err
	}
	u, err := m.cfg.FS.Usage(ctx)
	if err != nil {
		return nil, fmt.Errorf("image filesystem usage: %w", err)
	}
	now := m.cfg.Clock.Now()
	ids, toFree := Select(m.cfg.Policy, u, m.snapshot(), now)
	if toFree == 0 {
		return nil, nil
	}
	var removed []string
	var freed uint64
	var errs []error
	for _, id := range ids {
		size := m.size(id)
		if err := m.cfg.Runtime.RemoveImage(ctx, id); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			errs = append(errs, fmt.Errorf("remove image %s: %w", id, err))
			continue
		}
		m.forget(id)
		removed = append(removed, id)
		freed += size
	}
	if freed < toFree {
		errs = append(errs, fmt.Errorf("%w: Failed to garbage collect required amount of images. Attempted to free %d bytes, but only found %d bytes eligible to free.", ErrNotEnoughFreed, toFree, freed))
	}
	return removed, errors.Join(errs...)
}

// detect brings the records up to date with the runtime's images: new
// ones are first detected now, those a container uses are used now, and
// those gone are forgotten.
func (m *Manager) detect(ctx context.Context) error {
	imgs, err := m.cfg.Runtime.ListImages(ctx)
	if err != nil {
		return fmt.Errorf("list images: %w", err)
	}
	cs, err := m.cfg.Runtime.ListContainers(ctx)
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	used := map[string]bool{}
	for _, c := range cs {
		for _, ref := range []string{c.Image, c.ImageRef, c.ImageID} {
			if ref != "" {
				used[Normalize(ref)] = true
			}
		}
	}
	named := map[string]bool{}
	if m.cfg.PodImages != nil {
		for _, ref := range m.cfg.PodImages() {
			named[Normalize(ref)] = true
		}
	}
	pinned := map[string]bool{}
	for _, ref := range m.cfg.Pinned {
		pinned[Normalize(ref)] = true
	}
	now := m.cfg.Clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[string]bool{}
	for _, img := range imgs {
		seen[img.ID] = true
		r, ok := m.records[img.ID]
		if !ok {
			r = &Record{ID: img.ID, FirstDetected: now}
			m.records[img.ID] = r
		}
		r.Size = img.Size
		r.Pinned = img.Pinned || matchesAny(img, pinned)
		inContainer := matchesAny(img, used)
		r.InUse = inContainer || matchesAny(img, named)
		if inContainer {
			r.LastUsed = now
		}
	}
	for id := range m.records {
		if !seen[id] {
			delete(m.records, id)
		}
	}
	return nil
}

// matchesAny reports whether any of img's names is in refs (normalized).
func matchesAny(img *runtime.Image, refs map[string]bool) bool {
	if len(refs) == 0 {
		return false
	}
	if refs[Normalize(img.ID)] {
		return true
	}
	for _, list := range [][]string{img.RepoTags, img.RepoDigests} {
		for _, ref := range list {
			if refs[Normalize(ref)] {
				return true
			}
		}
	}
	return false
}

func (m *Manager) snapshot() []Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Record, 0, len(m.records))
	for _, r := range m.records {
		out = append(out, *r)
	}
	return out
}

func (m *Manager) size(id string) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.records[id]; ok {
		return r.Size
	}
	return 0
}

func (m *Manager) forget(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.records, id)
}

// Normalize makes a familiar image name a full reference, as containerd
// names images: busybox → docker.io/library/busybox:latest. Image IDs
// and digest references are returned as they are (digests keep no tag).
func Normalize(ref string) string {
	if strings.HasPrefix(ref, "sha256:") {
		return ref
	}
	name := ref
	if !strings.Contains(name, "@") {
		if i := strings.LastIndexByte(name, '/'); !strings.Contains(name[i+1:], ":") {
			name += ":latest"
		}
	}
	host, rest, found := strings.Cut(name, "/")
	switch {
	case !found:
		return "docker.io/library/" + name
	case !strings.ContainsAny(host, ".:") && host != "localhost":
		return "docker.io/" + name
	case host == "docker.io" || host == "index.docker.io" || host == "registry-1.docker.io":
		if !strings.Contains(rest, "/") {
			rest = "library/" + rest
		}
		return "docker.io/" + rest
	}
	return name
}

// RuntimeFS is the image filesystem of a runtime that reports where it
// keeps images (runtime.CRI's ImageFsInfo); its capacity and free space
// come from statfs on that mount point, as upstream's cadvisor reads
// them.
type RuntimeFS struct {
	Runtime interface {
		ImageFsInfo(ctx context.Context) ([]runtime.Filesystem, error)
	}
}

// Usage implements Filesystem, for the runtime's first image filesystem.
func (f RuntimeFS) Usage(ctx context.Context) (Usage, error) {
	fss, err := f.Runtime.ImageFsInfo(ctx)
	if err != nil {
		return Usage{}, err
	}
	if len(fss) == 0 || fss[0].Mountpoint == "" {
		return Usage{}, errors.New("the runtime reports no image filesystem")
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(fss[0].Mountpoint, &st); err != nil {
		return Usage{}, fmt.Errorf("statfs %s: %w", fss[0].Mountpoint, err)
	}
	return Usage{CapacityBytes: st.Blocks * uint64(st.Bsize), AvailableBytes: st.Bavail * uint64(st.Bsize)}, nil
}
