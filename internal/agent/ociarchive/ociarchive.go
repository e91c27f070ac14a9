// Package ociarchive writes single-layer OCI image archives (an OCI image
// layout packed in a tar: oci-layout, index.json, blobs/sha256/...) from a
// list of files and an image config. containerd imports them with
// `ctr images import`, which is how Skiff gets images onto a node that has
// no registry: its own pause image at agent start, and the small images
// tests build (internal/testimages).
//
// The output is deterministic: the same Image gives the same bytes, so the
// same digests, and importing it twice is a no-op for containerd.
package ociarchive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	goruntime "runtime"
	"sort"
	"strings"
	"time"
)

// Media types and annotations of the OCI image spec and containerd.
const (
	MediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	MediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	MediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"

	// AnnotationImageName is the full image name containerd's importer
	// gives the image ("skiff.dev/pause:1").
	AnnotationImageName = "io.containerd.image.name"
	// AnnotationRefName is the OCI reference name: the tag, as
	// `ctr images export` writes it.
	AnnotationRefName = "org.opencontainers.image.ref.name"
)

// File is one entry of the image's only layer.
type File struct {
	// Path inside the image, e.g. "bin/sh" (a leading "/" is ignored).
	// Parent directories are created as needed.
	Path string
	// Mode holds the permission bits and, for a directory or symbolic
	// link, fs.ModeDir or fs.ModeSymlink. Zero means 0644 for a file and
	// 0755 for a directory.
	Mode fs.FileMode
	// Data is the content of a regular file. When nil and Source is set,
	// the content is read from the host file Source.
	Data   []byte
	Source string
	// Link is a symbolic link's target.
	Link     string
	UID, GID int
}

// Config is the part of the OCI image config a runtime acts on.
type Config struct {
	Entrypoint []string
	Cmd        []string
	Env        []string
	// User is "uid", "uid:gid" or a name in the image's /etc/passwd.
	User       string
	WorkingDir string
	Labels     map[string]string
	StopSignal string
}

// Image is an image to write.
type Image struct {
	// Name is the full reference, e.g. "skiff.test/busybox:1".
	Name   string
	Config Config
	Files  []File
	// Created is recorded in the config; zero means the Unix epoch, which
	// keeps the archive deterministic.
	Created time.Time
}

// Write writes img as an OCI archive (an uncompressed tar) to w.
func Write(w io.Writer, img Image) error {
	if img.Name == "" {
		return fmt.Errorf("oci archive: image name is empty")
	}
	layer, diffID, err := buildLayer(img.Files)
	if err != nil {
		return fmt.Errorf("oci archive %s: %w", img.Name, err)
	}
	created := img.Created
	if created.IsZero() {
		created = time.Unix(0, 0)
	}
	cfg, err := json.Marshal(imageConfig{
		Created:      created.UTC(),
		Architecture: goruntime.GOARCH,
		OS:           "linux",
		Config: execConfig{
			User:       img.Config.User,
			Env:        img.Config.Env,
			Entrypoint: img.Config.Entrypoint,
			Cmd:        img.Config.Cmd,
			WorkingDir: img.Config.WorkingDir,
			Labels:     img.Config.Labels,
			StopSignal: img.Config.StopSignal,
		},
		RootFS: rootFS{Type: "layers", DiffIDs: []string{diffID}},
	})
	if err != nil {
		return fmt.Errorf("oci archive %s: config: %w", img.Name, err)
	}
	manifest, err := json.Marshal(imageManifest{
		SchemaVersion: 2,
		MediaType:     MediaTypeManifest,
		Config:        describe(MediaTypeConfig, cfg),
		Layers:        []descriptor{describe(MediaTypeLayer, layer)},
	})
	if err != nil {
		return fmt.Errorf("oci archive %s: manifest: %w", img.Name, err)
	}
	md := describe(MediaTypeManifest, manifest)
	md.Annotations = map[string]string{
		AnnotationImageName: img.Name,
		AnnotationRefName:   refName(img.Name),
	}
	md.Platform = &platform{Architecture: goruntime.GOARCH, OS: "linux"}
	index, err := json.Marshal(imageIndex{SchemaVersion: 2, MediaType: MediaTypeIndex, Manifests: []descriptor{md}})
	if err != nil {
		return fmt.Errorf("oci archive %s: index: %w", img.Name, err)
	}

	tw := tar.NewWriter(w)
	entries := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
		{blobPath(layer), layer},
		{blobPath(cfg), cfg},
		{blobPath(manifest), manifest},
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}); err != nil {
			return fmt.Errorf("oci archive %s: %w", img.Name, err)
		}
	}
	for _, e := range entries {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: 0o644, Size: int64(len(e.data)), ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("oci archive %s: %w", img.Name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return fmt.Errorf("oci archive %s: %w", img.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("oci archive %s: %w", img.Name, err)
	}
	return nil
}

// WriteFile writes img as an OCI archive to the file path.
func WriteFile(path string, img Image) error {
	var buf bytes.Buffer
	if err := Write(&buf, img); err != nil {
		return err
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("oci archive %s: %w", img.Name, err)
	}
	return nil
}

// refName is the tag of a reference ("1" for "skiff.dev/pause:1"), or the
// whole reference when it has no tag.
func refName(name string) string {
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		return name[i+1:]
	}
	return name
}

// buildLayer returns the gzipped layer tar and its diff ID (the digest of
// the uncompressed tar).
func buildLayer(files []File) (layer []byte, diffID string, err error) {
	entries, err := layerEntries(files)
	if err != nil {
		return nil, "", err
	}
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return nil, "", err
	}
	h := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(zw, h))
	for _, e := range entries {
		if err := tw.WriteHeader(e.hdr); err != nil {
			return nil, "", fmt.Errorf("layer entry %s: %w", e.hdr.Name, err)
		}
		if len(e.data) > 0 {
			if _, err := tw.Write(e.data); err != nil {
				return nil, "", fmt.Errorf("layer entry %s: %w", e.hdr.Name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	return gz.Bytes(), "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

type layerEntry struct {
	hdr  *tar.Header
	data []byte
}

// layerEntries turns files into tar entries sorted by path, adding the
// parent directories nobody listed, so a directory always precedes its
// content.
func layerEntries(files []File) ([]layerEntry, error) {
	byPath := map[string]layerEntry{}
	for _, f := range files {
		p := path.Clean(strings.TrimLeft(f.Path, "/"))
		if p == "." || p == ".." || strings.HasPrefix(p, "../") {
			return nil, fmt.Errorf("bad path %q", f.Path)
		}
		hdr := &tar.Header{Name: p, Uid: f.UID, Gid: f.GID, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		var data []byte
		switch {
		case f.Mode&fs.ModeSymlink != 0:
			hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, f.Link, 0o777
		case f.Mode.IsDir():
			hdr.Typeflag, hdr.Mode, hdr.Name = tar.TypeDir, permOr(f.Mode, 0o755), p+"/"
		default:
			data = f.Data
			if data == nil && f.Source != "" {
				var err error
				if data, err = os.ReadFile(f.Source); err != nil {
					return nil, fmt.Errorf("file %s: %w", p, err)
				}
			}
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeReg, permOr(f.Mode, 0o644), int64(len(data))
		}
		byPath[p] = layerEntry{hdr: hdr, data: data}
		for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
			if _, ok := byPath[dir]; !ok {
				byPath[dir] = layerEntry{hdr: &tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}}
			}
		}
	}
	paths := make([]string, 0, len(byPath))
	for p := range byPath {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	out := make([]layerEntry, 0, len(paths))
	for _, p := range paths {
		out = append(out, byPath[p])
	}
	return out, nil
}

// permOr returns the permission and special bits of m as tar wants them,
// or def when m has none.
func permOr(m fs.FileMode, def int64) int64 {
	perm := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		perm |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		perm |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		perm |= 0o1000
	}
	if perm == 0 {
		return def
	}
	return perm
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func blobPath(b []byte) string {
	return "blobs/sha256/" + strings.TrimPrefix(digestOf(b), "sha256:")
}

func describe(mediaType string, b []byte) descriptor {
	return descriptor{MediaType: mediaType, Digest: digestOf(b), Size: int64(len(b))}
}

// The JSON documents of the OCI image spec, reduced to the fields written.
type (
	descriptor struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Size        int64             `json:"size"`
		Annotations map[string]string `json:"annotations,omitempty"`
		Platform    *platform         `json:"platform,omitempty"`
	}
	platform struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
	}
	imageIndex struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Manifests     []descriptor `json:"manifests"`
	}
	imageManifest struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Config        descriptor   `json:"config"`
		Layers        []descriptor `json:"layers"`
	}
	imageConfig struct {
		Created      time.Time  `json:"created"`
		Architecture string     `json:"architecture"`
		OS           string     `json:"os"`
		Config       execConfig `json:"config"`
		RootFS       rootFS     `json:"rootfs"`
	}
	execConfig struct {
		User       string            `json:"User,omitempty"`
		Env        []string          `json:"Env,omitempty"`
		Entrypoint []string          `json:"Entrypoint,omitempty"`
		Cmd        []string          `json:"Cmd,omitempty"`
		WorkingDir string            `json:"WorkingDir,omitempty"`
		Labels     map[string]string `json:"Labels,omitempty"`
		StopSignal string            `json:"StopSignal,omitempty"`
	}
	rootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	}
)
