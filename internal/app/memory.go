package app

import (
	"bufio"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
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
