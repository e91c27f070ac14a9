// Package images garbage-collects a node's unused images, as upstream's
// kubelet image manager does: when the image filesystem is fuller than
// the high threshold, the images no container uses are removed, least
// recently used first, until it is below the low threshold. An image is
// never removed before it has been on the node for the minimum age (a
// pull that has not started its container yet must not lose its image),
// nor when it is pinned (the sandbox image) or named by a pod of the
// node.
//
// Select is the decision, a pure function; Manager is the loop around it
// that reads the runtime and the filesystem and removes images.
package images

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Upstream's defaults (KubeletConfiguration imageGCHighThresholdPercent,
// imageGCLowThresholdPercent, imageMinimumGCAge).
const (
	DefaultHighThresholdPercent = 85
	DefaultLowThresholdPercent  = 80
	DefaultMinAge               = 2 * time.Minute
	// Period is how often the filesystem is checked (upstream's
	// ImageGCPeriod).
	Period = 5 * time.Minute
)

// Policy says when to collect. The zero value is upstream's defaults.
type Policy struct {
	// HighThresholdPercent of the image filesystem's capacity in use
	// starts a collection; 100 disables collection.
	HighThresholdPercent int
	// LowThresholdPercent is the usage a collection brings the filesystem
	// down to.
	LowThresholdPercent int
	// MinAge is how long an image must have been on the node before it
	// may be removed.
	MinAge time.Duration
}

// WithDefaults fills zero fields with upstream's defaults.
func (p Policy) WithDefaults() Policy {
	if p.HighThresholdPercent == 0 {
		p.HighThresholdPercent = DefaultHighThresholdPercent
	}
	if p.LowThresholdPercent == 0 {
		p.LowThresholdPercent = DefaultLowThresholdPercent
	}
	if p.MinAge == 0 {
		p.MinAge = DefaultMinAge
	}
	return p
}

// Validate reports thresholds that upstream rejects too.
func (p Policy) Validate() error {
	switch {
	case p.HighThresholdPercent < 0 || p.HighThresholdPercent > 100:
		return fmt.Errorf("image GC high threshold %d%% is not between 0 and 100", p.HighThresholdPercent)
	case p.LowThresholdPercent < 0 || p.LowThresholdPercent > 100:
		return fmt.Errorf("image GC low threshold %d%% is not between 0 and 100", p.LowThresholdPercent)
	case p.LowThresholdPercent > p.HighThresholdPercent:
		return fmt.Errorf("image GC low threshold %d%% is above the high threshold %d%%", p.LowThresholdPercent, p.HighThresholdPercent)
	case p.MinAge < 0:
		return fmt.Errorf("image minimum GC age %v is negative", p.MinAge)
	}
	return nil
}

// Usage is the image filesystem's size and free space.
type Usage struct {
	CapacityBytes  uint64
	AvailableBytes uint64
}

// Record is what the manager knows of one image.
type Record struct {
	ID   string
	Size uint64
	// FirstDetected is when the manager first saw the image; LastUsed
	// when it last saw a container using it (zero: never).
	FirstDetected, LastUsed time.Time
	// InUse: a container (of any state) or a pod of the node uses it.
	InUse bool
	// Pinned images are never removed (the sandbox image).
	Pinned bool
}

// Select decides which images to remove, in order, and how many bytes
// that is meant to free: nothing while usage is below the high threshold;
// above it, unused, unpinned images at least MinAge old, least recently
// used first (then first detected first), until the freed size brings
// usage to the low threshold. It may return too few images to reach the
// low threshold: everything else is in use or too young. p must have its
// defaults filled.
func Select(p Policy, u Usage, records []Record, now time.Time) (ids []string, bytesToFree uint64) {
	if p.HighThresholdPercent >= 100 || u.CapacityBytes == 0 || u.AvailableBytes > u.CapacityBytes {
		return nil, 0
	}
	used := u.CapacityBytes - u.AvailableBytes
	if used*100 < uint64(p.HighThresholdPercent)*u.CapacityBytes {
		return nil, 0
	}
	// Free enough that the low threshold's share is what stays in use
	// (upstream: capacity*(100-low)/100 - available).
	target := u.CapacityBytes * uint64(100-p.LowThresholdPercent) / 100
	if target <= u.AvailableBytes {
		return nil, 0
	}
	bytesToFree = target - u.AvailableBytes
	var candidates []Record
	for _, r := range records {
		if r.InUse || r.Pinned || now.Sub(r.FirstDetected) < p.MinAge {
			continue
		}
		candidates = append(candidates, r)
	}
	slices.SortStableFunc(candidates, func(a, b Record) int {
		return cmp.Or(a.LastUsed.Compare(b.LastUsed), a.FirstDetected.Compare(b.FirstDetected), cmp.Compare(a.ID, b.ID))
	})
	var freed uint64
	for _, r := range candidates {
		if freed >= bytesToFree {
			break
		}
		ids = append(ids, r.ID)
		freed += r.Size
	}
	return ids, bytesToFree
}
