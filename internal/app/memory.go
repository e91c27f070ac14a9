package app

import (
	"bufio"
	"fmt"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// releaseStartupMemory gives back what start-up needed once: the heap's
// start-up garbage (at once, instead of over minutes by the runtime's
// scavenger) and the pages of the executable that only package
// initialisation touched. The latter are clean, read-only, file-backed
// pages: dropping them from this process loses nothing, and a page that
// is needed again comes back from the page cache on first touch. What
// stays resident afterwards is the server's real working set.
func releaseStartupMemory() {
	debug.FreeOSMemory()
	if err := dropExecutablePages(); err != nil {
		// Only a smaller resident set is lost; say why once.
		fmt.Fprintf(os.Stderr, "release start-up pages: %v\n", err)
	}
}

// dropExecutablePages advises the kernel that this process no longer needs
// the read-only mappings of its own executable (text and read-only data).
func dropExecutablePages() error {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return err
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || strings.Contains(fields[1], "w") {
			continue
		}
		start, end, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		lo, err1 := strconv.ParseUint(start, 16, 64)
		hi, err2 := strconv.ParseUint(end, 16, 64)
		if err1 != nil || err2 != nil || hi <= lo {
			continue
		}
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, uintptr(lo), uintptr(hi-lo), syscall.MADV_DONTNEED); errno != 0 {
			return fmt.Errorf("madvise %s: %w", fields[0], errno)
		}
	}
	return sc.Err()
}

// The collector's pacing for a long-running server. Go's default (GOGC=100)
// lets the heap grow to twice the live data before collecting: right for
// a small heap, but with 10,000 pods the control plane's ~250 MB of live
// data became ~500 MB of heap and more of RSS. The tuner keeps GOGC at 100
// while the headroom that gives is at most gcHeadroom, and lowers it as
// the live heap grows so that the headroom stays gcHeadroom, down to
// gcPercentMin (the heap then grows to live × 1.3 between collections).
// Each step down costs collector CPU: a collection marks the whole live
// heap and runs once per headroom's worth of allocation. Measured with
// 10,000 pods (~150-200 MB live): a 64 MB headroom (GOGC 30 there) cost
// about a quarter more server CPU for the creates than GOGC 100; this one
// (GOGC 50-60 there) costs ~6% and cuts RSS by ~120 MB.
const (
	gcHeadroom     = 100 << 20
	gcPercentMax   = 100
	gcPercentMin   = 30
	gcTunePeriod   = time.Second
	liveHeapMetric = "/gc/heap/live:bytes"
)

var gcTunerOnce sync.Once

// startGCTuner runs the tuner for the rest of the process (once, however
// many servers a test process starts). A user who sets GOGC or GOMEMLIMIT
// has chosen the pacing: the tuner then leaves it alone.
func startGCTuner() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	gcTunerOnce.Do(func() {
		go func() {
			sample := []metrics.Sample{{Name: liveHeapMetric}}
			current := gcPercentMax
			for range time.Tick(gcTunePeriod) {
				metrics.Read(sample)
				if sample[0].Value.Kind() != metrics.KindUint64 {
					return
				}
				if p := gcPercentFor(sample[0].Value.Uint64()); p != current {
					debug.SetGCPercent(p)
					current = p
				}
			}
		}()
	})
}

// gcPercentFor is the GOGC that gives a live heap of live bytes a headroom
// of gcHeadroom, within [gcPercentMin, gcPercentMax], in steps of 10 so
// that a heap hovering around one size does not retune at every tick.
func gcPercentFor(live uint64) int {
	if live == 0 {
		return gcPercentMax
	}
	p := int(uint64(gcHeadroom) * 100 / live)
	p = p / 10 * 10
	return min(max(p, gcPercentMin), gcPercentMax)
}
