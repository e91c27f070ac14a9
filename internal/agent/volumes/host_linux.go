package volumes

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

func fileUID(st fs.FileInfo) int64 {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return int64(s.Uid)
	}
	return -1
}

// mountTmpfs mounts a tmpfs at dir, sized when size > 0.
func mountTmpfs(dir string, size int64) error {
	opts := ""
	if size > 0 {
		opts = "size=" + strconv.FormatInt(size, 10)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
		return fmt.Errorf("mount tmpfs at %s: %w (memory-backed volumes need the agent to run as root)", dir, err)
	}
	return nil
}

// mountPoints returns the mount points at or under dir, deepest first.
func mountPoints(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dir = filepath.Clean(dir)
	var out []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountPath(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out, nil
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isMountPoint(dir string) (bool, error) {
	mps, err := mountPoints(dir)
	if err != nil {
		return false, err
	}
	for _, mp := range mps {
		if mp == filepath.Clean(dir) {
			return true, nil
		}
	}
	return false, nil
}

func unmount(dir string) error {
	if err := syscall.Unmount(dir, 0); err != nil {
		return fmt.Errorf("unmount %s: %w", dir, err)
	}
	return nil
}

// fileType names what is at p (following symlinks) as hostPath types do.
func fileType(p string) (string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return "", err
	}
	switch m := st.Mode(); {
	case m&fs.ModeSocket != 0:
		return "Socket", nil
	case m&fs.ModeDevice != 0 && m&fs.ModeCharDevice != 0:
		return "CharDevice", nil
	case m&fs.ModeDevice != 0:
		return "BlockDevice", nil
	case m.IsDir():
		return "Directory", nil
	case m.IsRegular():
		return "File", nil
	}
	return "", fmt.Errorf("only recognise file, directory, socket, block device and character device")
}

// setOwnership gives a volume to the pod's fsGroup as upstream's
// SetVolumeOwnership: group fsGroup on everything, group read (and write
// unless readOnly) on files, plus search and setgid on directories.
// Symlinks are re-grouped but not chmod'ed (that would change their
// target).
func setOwnership(root string, fsGroup int64, readOnly bool) error {
	return filepath.Walk(root, func(p string, info fs.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(p, -1, int(fsGroup)); err != nil {
			return fmt.Errorf("set fsGroup on %s: %w", p, err)
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			return nil
		}
		mask := fs.FileMode(0o660)
		if readOnly {
			mask = 0o440
		}
		if info.IsDir() {
			mask |= fs.ModeSetgid | 0o110
		}
		return os.Chmod(p, info.Mode()|mask)
	})
}
