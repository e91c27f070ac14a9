package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// ErrUnsupported is returned by Detect when the machine has no usable
// cgroup hierarchy: no cgroup v2 mount, or cgroup v1 without the cpu,
// memory or pids controller.
var ErrUnsupported = errors.New("no usable cgroup hierarchy")

// Layout is where the machine mounts its cgroup hierarchies.
type Layout struct {
	// Unified is the cgroup v2 mount point when the machine runs cgroup
	// v2 alone; empty on cgroup v1 (and hybrid) machines.
	Unified string
	// V1 maps each cgroup v1 controller (cpu, memory, pids) to the mount
	// point of its hierarchy.
	V1 map[string]string
	// All is every cgroup mount point (v1 hierarchies, named ones such as
	// name=systemd, a hybrid cgroup2 mount): runc creates a container's
	// cgroup in each, so a pod's directories are removed from each.
	All []string
}

// controllers are those whose settings a pod cgroup carries.
var controllers = []string{"cpu", "memory", "pids"}

// Detect reads /proc/self/mountinfo.
func Detect() (Layout, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return Layout{}, fmt.Errorf("detect cgroups: %w", err)
	}
	defer f.Close()
	return ParseMountinfo(f)
}

// ParseMountinfo finds the cgroup mounts in a mountinfo file (proc(5)).
// A cgroup v1 hierarchy holding cpu makes it a v1 machine (a cgroup2
// mount beside it is hybrid mode's, without controllers); otherwise the
// cgroup2 mount is the unified hierarchy. Only mounts of a hierarchy's
// root count: a bind mount of a sub-tree cannot hold /kubepods.
func ParseMountinfo(r io.Reader) (Layout, error) {
	l := Layout{V1: map[string]string{}}
	var unified string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if sep < 5 || len(fields) < sep+4 || fields[3] != "/" {
			continue
		}
		mnt, fstype, super := unescapeMount(fields[4]), fields[sep+1], fields[sep+3]
		switch fstype {
		case "cgroup2":
			if unified == "" {
				unified = mnt
			}
			l.All = append(l.All, mnt)
		case "cgroup":
			if !slices.Contains(l.All, mnt) {
				l.All = append(l.All, mnt)
			}
			for _, opt := range strings.Split(super, ",") {
				if slices.Contains(controllers, opt) {
					l.V1[opt] = mnt
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return Layout{}, fmt.Errorf("read mountinfo: %w", err)
	}
	if _, ok := l.V1["cpu"]; ok {
		for _, c := range controllers {
			if _, ok := l.V1[c]; !ok {
				return Layout{}, fmt.Errorf("%w: cgroup v1 without the %s controller", ErrUnsupported, c)
			}
		}
		return l, nil
	}
	if unified == "" {
		return Layout{}, ErrUnsupported
	}
	return Layout{Unified: unified, All: []string{unified}}, nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
