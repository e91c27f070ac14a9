package ociarchive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestWriteIsAValidImageLayout(t *testing.T) {
	hostFile := filepath.Join(t.TempDir(), "hello")
	if err := writeFile(hostFile, "from the host"); err != nil {
		t.Fatal(err)
	}
	img := Image{
		Name: "skiff.test/thing:2",
		Config: Config{
			Entrypoint: []string{"/bin/app"},
			Cmd:        []string{"--flag"},
			Env:        []string{"PATH=/bin"},
			User:       "1000:1000",
			WorkingDir: "/work",
		},
		Files: []File{
			{Path: "/bin/app", Mode: 0o755, Data: []byte("#!binary")},
			{Path: "bin/sh", Mode: fs.ModeSymlink, Link: "app"},
			{Path: "etc/hello", Source: hostFile},
			{Path: "tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
			{Path: "work/data", Data: []byte("x"), UID: 1000, GID: 1000},
		},
	}
	var buf bytes.Buffer
	if err := Write(&buf, img); err != nil {
		t.Fatal(err)
	}
	blobs := readTar(t, bytes.NewReader(buf.Bytes()))
	if got := string(blobs["oci-layout"]); got != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout = %s", got)
	}

	var index imageIndex
	mustJSON(t, blobs["index.json"], &index)
	if len(index.Manifests) != 1 {
		t.Fatalf("index has %d manifests", len(index.Manifests))
	}
	md := index.Manifests[0]
	wantAnn := map[string]string{AnnotationImageName: "skiff.test/thing:2", AnnotationRefName: "2"}
	if !reflect.DeepEqual(md.Annotations, wantAnn) {
		t.Errorf("annotations = %v, want %v", md.Annotations, wantAnn)
	}
	var manifest imageManifest
	mustJSON(t, blob(t, blobs, md), &manifest)
	var cfg imageConfig
	mustJSON(t, blob(t, blobs, manifest.Config), &cfg)
	if !reflect.DeepEqual(cfg.Config.Entrypoint, img.Config.Entrypoint) || cfg.Config.User != "1000:1000" || cfg.Config.WorkingDir != "/work" || cfg.OS != "linux" {
		t.Errorf("config = %+v", cfg)
	}
	if len(manifest.Layers) != 1 || len(cfg.RootFS.DiffIDs) != 1 {
		t.Fatalf("layers %d, diff ids %d", len(manifest.Layers), len(cfg.RootFS.DiffIDs))
	}
	zr, err := gzip.NewReader(bytes.NewReader(blob(t, blobs, manifest.Layers[0])))
	if err != nil {
		t.Fatal(err)
	}
	layer, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(layer); "sha256:"+hex.EncodeToString(sum[:]) != cfg.RootFS.DiffIDs[0] {
		t.Errorf("diff id %s does not match the layer", cfg.RootFS.DiffIDs[0])
	}

	tr := tar.NewReader(bytes.NewReader(layer))
	var names []string
	headers := map[string]*tar.Header{}
	contents := map[string]string{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
		headers[hdr.Name] = hdr
		b, _ := io.ReadAll(tr)
		contents[hdr.Name] = string(b)
	}
	wantNames := []string{"bin/", "bin/app", "bin/sh", "etc/", "etc/hello", "tmp/", "work/", "work/data"}
	if !reflect.DeepEqual(names, wantNames) {
		t.Errorf("layer entries = %q, want %q", names, wantNames)
	}
	for _, tc := range []struct {
		name     string
		typ      byte
		mode     int64
		content  string
		link     string
		uid, gid int
	}{
		{name: "bin/", typ: tar.TypeDir, mode: 0o755},
		{name: "bin/app", typ: tar.TypeReg, mode: 0o755, content: "#!binary"},
		{name: "bin/sh", typ: tar.TypeSymlink, mode: 0o777, link: "app"},
		{name: "etc/hello", typ: tar.TypeReg, mode: 0o644, content: "from the host"},
		{name: "tmp/", typ: tar.TypeDir, mode: 0o1777},
		{name: "work/data", typ: tar.TypeReg, mode: 0o644, content: "x", uid: 1000, gid: 1000},
	} {
		h := headers[tc.name]
		if h == nil {
			t.Errorf("%s missing", tc.name)
			continue
		}
		if h.Typeflag != tc.typ || h.Mode != tc.mode || h.Linkname != tc.link || h.Uid != tc.uid || h.Gid != tc.gid || contents[tc.name] != tc.content {
			t.Errorf("%s: type %c mode %o link %q uid %d gid %d content %q; want %c %o %q %d %d %q",
				tc.name, h.Typeflag, h.Mode, h.Linkname, h.Uid, h.Gid, contents[tc.name], tc.typ, tc.mode, tc.link, tc.uid, tc.gid, tc.content)
		}
	}

	var again bytes.Buffer
	if err := Write(&again, img); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("two writes of the same image differ")
	}
}

func TestWriteRejectsBadInput(t *testing.T) {
	for name, img := range map[string]Image{
		"no name":        {Files: []File{{Path: "a"}}},
		"path escapes":   {Name: "x:1", Files: []File{{Path: "../etc/passwd"}}},
		"root path":      {Name: "x:1", Files: []File{{Path: "/"}}},
		"missing source": {Name: "x:1", Files: []File{{Path: "a", Source: "/does/not/exist"}}},
	} {
		t.Run(name, func(t *testing.T) {
			if err := Write(io.Discard, img); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestRefName(t *testing.T) {
	for in, want := range map[string]string{
		"skiff.dev/pause:1":         "1",
		"localhost:5000/app":        "localhost:5000/app",
		"localhost:5000/app:v2":     "v2",
		"docker.io/library/busybox": "docker.io/library/busybox",
	} {
		if got := refName(in); got != want {
			t.Errorf("refName(%q) = %q, want %q", in, got, want)
		}
	}
}

func readTar(t *testing.T, r io.Reader) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[hdr.Name] = b
	}
}

// blob returns the blob d names, checking its size and digest.
func blob(t *testing.T, blobs map[string][]byte, d descriptor) []byte {
	t.Helper()
	b, ok := blobs["blobs/sha256/"+d.Digest[len("sha256:"):]]
	if !ok {
		t.Fatalf("blob %s missing", d.Digest)
	}
	if int64(len(b)) != d.Size || digestOf(b) != d.Digest {
		t.Fatalf("blob %s: size %d digest %s", d.Digest, len(b), digestOf(b))
	}
	return b
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
}

func writeFile(path, s string) error {
	return os.WriteFile(path, []byte(s), 0o644)
}
