package volumes

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// file is one file of a projected volume.
type file struct {
	data []byte
	mode int32
	// uid, when set, owns the file (the projected service account token
	// of a pod whose containers all run as that user).
	uid *int64
}

const (
	dataDirName    = "..data"
	newDataDirName = "..data_tmp"
	maxFileName    = 255
	maxPathLength  = 4096
)

// validatePath refuses a payload path that could escape the volume or
// collide with the writer's own names, with upstream's messages.
func validatePath(p string) error {
	if p == "" {
		return fmt.Errorf("invalid path: must not be empty: %q", p)
	}
	if path.IsAbs(p) {
		return fmt.Errorf("invalid path: must be relative path: %s", p)
	}
	if len(p) > maxPathLength {
		return fmt.Errorf("invalid path: must be less than or equal to %d characters", maxPathLength)
	}
	items := strings.Split(p, "/")
	for _, item := range items {
		if item == ".." {
			return fmt.Errorf("invalid path: must not contain '..': %s", p)
		}
		if len(item) > maxFileName {
			return fmt.Errorf("invalid path: filenames must be less than or equal to %d characters", maxFileName)
		}
	}
	if strings.HasPrefix(items[0], "..") && len(items[0]) > 2 {
		return fmt.Errorf("invalid path: must not start with '..': %s", p)
	}
	return nil
}

// writeAtomic makes dir hold exactly payload, the way upstream's
// AtomicWriter does, so that a container sees either the old or the new
// set of files and never a mix:
//
//	dir/..2026_01_02_15_04_05.123456  the files of this version
//	dir/..data -> ..2026_01_02_...    swapped with one rename
//	dir/<key>  -> ..data/<key>        what the container opens
//
// Nothing is written when dir already holds payload. perms, when not nil,
// is applied to the new version's directory before it becomes visible
// (fsGroup ownership). It reports whether it wrote a new version.
func writeAtomic(dir string, payload map[string]file, perms func(string) error) (bool, error) {
	clean := make(map[string]file, len(payload))
	for p, f := range payload {
		if err := validatePath(p); err != nil {
			return false, err
		}
		clean[path.Clean(p)] = f
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}

	oldTS, err := os.Readlink(filepath.Join(dir, dataDirName))
	if err != nil && !os.IsNotExist(err) {
		return false, fmt.Errorf("read %s: %w", dataDirName, err)
	}
	var oldPaths map[string]bool
	if oldTS != "" {
		oldPaths, err = regularFiles(filepath.Join(dir, oldTS))
		if err != nil {
			return false, err
		}
		if same(filepath.Join(dir, oldTS), oldPaths, clean) {
			return false, nil
		}
	}

	tsDir, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return false, fmt.Errorf("create version directory: %w", err)
	}
	tsName := filepath.Base(tsDir)
	if err := writeFiles(tsDir, clean); err != nil {
		os.RemoveAll(tsDir)
		return false, err
	}
	if perms != nil {
		if err := perms(tsDir); err != nil {
			os.RemoveAll(tsDir)
			return false, err
		}
	}

	tmpLink := filepath.Join(dir, newDataDirName)
	os.Remove(tmpLink)
	if err := os.Symlink(tsName, tmpLink); err != nil {
		os.RemoveAll(tsDir)
		return false, fmt.Errorf("link new version: %w", err)
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, dataDirName)); err != nil {
		os.Remove(tmpLink)
		os.RemoveAll(tsDir)
		return false, fmt.Errorf("swap %s: %w", dataDirName, err)
	}

	// The user-visible names: one symlink per top-level entry.
	top := map[string]bool{}
	for p := range clean {
		top[strings.SplitN(p, "/", 2)[0]] = true
	}
	for name := range top {
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join(dataDirName, name), link); err != nil {
			return true, fmt.Errorf("link %s: %w", name, err)
		}
	}
	for p := range oldPaths {
		name := strings.SplitN(p, "/", 2)[0]
		if !top[name] {
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !os.IsNotExist(err) {
				return true, fmt.Errorf("remove stale %s: %w", name, err)
			}
		}
	}
	if oldTS != "" {
		if err := os.RemoveAll(filepath.Join(dir, oldTS)); err != nil {
			return true, fmt.Errorf("remove old version: %w", err)
		}
	}
	return true, nil
}

func writeFiles(root string, files map[string]file) error {
	if err := os.Chmod(root, 0o755); err != nil {
		return err
	}
	for p, f := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		mode := fs.FileMode(f.mode) & fs.ModePerm
		if err := os.WriteFile(full, f.data, mode); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		// WriteFile's mode is filtered by the umask.
		if err := os.Chmod(full, mode); err != nil {
			return err
		}
		if f.uid != nil {
			if err := os.Lchown(full, int(*f.uid), -1); err != nil {
				return fmt.Errorf("chown %s: %w", p, err)
			}
		}
	}
	return nil
}

// regularFiles lists the files under root, relative to it.
func regularFiles(root string) (map[string]bool, error) {
	out := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(root, p)
			out[filepath.ToSlash(rel)] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read current version: %w", err)
	}
	return out, nil
}

// same reports whether the version at root holds exactly files, with the
// same contents, modes and owners.
func same(root string, have map[string]bool, files map[string]file) bool {
	if len(have) != len(files) {
		return false
	}
	for p, f := range files {
		if !have[p] {
			return false
		}
		full := filepath.Join(root, p)
		st, err := os.Stat(full)
		// fsGroup ownership may add group bits: compare what was asked.
		if err != nil || st.Mode().Perm()&fs.FileMode(f.mode) != fs.FileMode(f.mode)&fs.ModePerm {
			return false
		}
		if f.uid != nil && fileUID(st) != *f.uid {
			return false
		}
		data, err := os.ReadFile(full)
		if err != nil || !bytes.Equal(data, f.data) {
			return false
		}
	}
	return true
}
