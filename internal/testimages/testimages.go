// Package testimages builds the small container images Skiff's tests run,
// as OCI archives ready for Runtime.ImportImages or `skiff image import`:
// no registry, no network, no Docker.
//
//	Busybox(t)  skiff.test/busybox:1  Debian's static busybox, every applet
//	                                  linked in /bin; Cmd sh
//	GoHTTP(t)   skiff.test/http:1     a static Go HTTP server (./httpserver)
//	                                  on :8080: /healthz, /exit?code=N, and
//	                                  JSON about the request and its host
//
// Both images have /etc/passwd and /etc/group with root (0), skiff (1000)
// and nobody (65534), and a /tmp. Archives are built once per machine and
// content (under $TMPDIR/skiff-testimages) and once per test process.
//
// NewBusybox and NewGoHTTP return the same images without a testing.T,
// for programs (test/images writes them for users without a registry).
package testimages

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"skiff.dev/skiff/internal/agent/ociarchive"
)

// Image names.
const (
	BusyboxImage = "skiff.test/busybox:1"
	HTTPImage    = "skiff.test/http:1"
)

// busyboxPath is where Debian's busybox-static puts the binary.
const busyboxPath = "/bin/busybox"

// format versions the archives' layout: bump it when the files or
// configs below change, so stale cached archives are not reused.
const format = "1"

// Busybox returns the path of an OCI archive of BusyboxImage. The test
// fails if /bin/busybox is not a static busybox.
func Busybox(t testing.TB) string {
	t.Helper()
	busybox.once.Do(func() { busybox.path, busybox.err = buildBusybox() })
	if busybox.err != nil {
		t.Fatalf("busybox test image: %v", busybox.err)
	}
	return busybox.path
}

// GoHTTP returns the path of an OCI archive of HTTPImage. It builds
// ./httpserver with the go command in PATH (CGO_ENABLED=0).
func GoHTTP(t testing.TB) string {
	t.Helper()
	httpImage.once.Do(func() { httpImage.path, httpImage.err = buildHTTP() })
	if httpImage.err != nil {
		t.Fatalf("http test image: %v", httpImage.err)
	}
	return httpImage.path
}

type cached struct {
	once sync.Once
	path string
	err  error
}

var busybox, httpImage cached

// NewBusybox returns BusyboxImage: /bin/busybox of this machine, which
// must be a static busybox (Debian's busybox-static), with a symlink in
// /bin for each of its applets (sh, tar for kubectl cp, wget, nc, ...).
func NewBusybox() (ociarchive.Image, error) {
	bin, err := os.ReadFile(busyboxPath)
	if err != nil {
		return ociarchive.Image{}, fmt.Errorf("%w (install busybox-static: apt-get install busybox-static)", err)
	}
	out, err := exec.Command(busyboxPath, "--list").Output()
	if err != nil {
		return ociarchive.Image{}, fmt.Errorf("%s --list: %w", busyboxPath, err)
	}
	files := baseFiles()
	files = append(files, ociarchive.File{Path: "bin/busybox", Mode: 0o755, Data: bin})
	applets := strings.Fields(string(out))
	if !slices.Contains(applets, "sh") || !slices.Contains(applets, "tar") {
		return ociarchive.Image{}, fmt.Errorf("%s lacks the sh or tar applet", busyboxPath)
	}
	for _, applet := range applets {
		if applet != "busybox" && !strings.Contains(applet, "/") {
			files = append(files, ociarchive.File{Path: "bin/" + applet, Mode: fs.ModeSymlink, Link: "busybox"})
		}
	}
	return ociarchive.Image{
		Name: BusyboxImage,
		Config: ociarchive.Config{
			Cmd: []string{"sh"},
			Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		},
		Files: files,
	}, nil
}

// NewGoHTTP returns HTTPImage. It builds ./httpserver with the go
// command in PATH (CGO_ENABLED=0), from this package's source directory
// or, when that is not on this machine, by import path from the current
// directory (which must be inside Skiff's module).
func NewGoHTTP() (ociarchive.Image, error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return ociarchive.Image{}, fmt.Errorf("the go command is needed to build the http test image: %w", err)
	}
	tmp, err := os.MkdirTemp("", "skiff-httpserver-")
	if err != nil {
		return ociarchive.Image{}, err
	}
	defer os.RemoveAll(tmp)
	binPath := filepath.Join(tmp, "httpserver")
	cmd := exec.Command(goCmd, "build", "-trimpath", "-ldflags=-s -w", "-o", binPath, httpServerPackage)
	if _, self, _, ok := goruntime.Caller(0); ok {
		if fi, err := os.Stat(filepath.Dir(self)); err == nil && fi.IsDir() {
			cmd.Dir = filepath.Dir(self)
		}
	}
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		return ociarchive.Image{}, fmt.Errorf("go build %s: %w\n%s", httpServerPackage, err, out)
	}
	bin, err := os.ReadFile(binPath)
	if err != nil {
		return ociarchive.Image{}, err
	}
	return ociarchive.Image{
		Name: HTTPImage,
		Config: ociarchive.Config{
			Entrypoint: []string{"/httpserver"},
			Env:        []string{"PATH=/", "PORT=8080"},
		},
		Files: append(baseFiles(), ociarchive.File{Path: "httpserver", Mode: 0o755, Data: bin}),
	}, nil
}

// httpServerPackage is the Go HTTP server of HTTPImage.
const httpServerPackage = "skiff.dev/skiff/internal/testimages/httpserver"

func buildBusybox() (string, error) {
	img, err := NewBusybox()
	if err != nil {
		return "", err
	}
	return writeCached("busybox", img)
}

func buildHTTP() (string, error) {
	img, err := NewGoHTTP()
	if err != nil {
		return "", err
	}
	return writeCached("http", img)
}

// baseFiles are the files every test image has.
func baseFiles() []ociarchive.File {
	return []ociarchive.File{
		{Path: "etc/passwd", Data: []byte("root:x:0:0:root:/root:/bin/sh\nskiff:x:1000:1000:skiff:/home/skiff:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		{Path: "etc/group", Data: []byte("root:x:0:\nskiff:x:1000:\nnogroup:x:65534:\n")},
		{Path: "root", Mode: fs.ModeDir | 0o700},
		{Path: "home/skiff", Mode: fs.ModeDir | 0o755, UID: 1000, GID: 1000},
		{Path: "tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
	}
}

// writeCached writes img to $TMPDIR/skiff-testimages/<kind>-<key>.tar
// unless that file exists; key hashes the format, the name and the files,
// so the file's name says what is in it. Writes go through a temporary file and
// a rename, so concurrent test processes never see half an archive.
func writeCached(kind string, img ociarchive.Image) (string, error) {
	h := sha256.New()
	h.Write([]byte(format + "\x00" + img.Name + "\x00"))
	for _, f := range img.Files {
		fmt.Fprintf(h, "%s\x00%o\x00%s\x00%d\x00", f.Path, f.Mode, f.Link, len(f.Data))
		h.Write(f.Data)
	}
	dir := filepath.Join(os.TempDir(), "skiff-testimages")
	path := filepath.Join(dir, kind+"-"+hex.EncodeToString(h.Sum(nil))[:16]+".tar")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := ociarchive.Write(&buf, img); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, kind+"-*.tmp")
	if err != nil {
		return "", err
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return path, nil
}
