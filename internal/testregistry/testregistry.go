// Package testregistry is a small, read-only OCI distribution (registry
// v2 API) server for tests, so that image pulls can be tested on machines
// without a network: it serves images loaded from OCI archives over plain
// HTTP on 127.0.0.1, behind basic authentication when given a user.
//
//	reg := testregistry.Start(t, "alice", "s3cret")
//	reg.Push(t, "team/busybox", "1", testimages.Busybox(t))
//	// pull reg.Host()+"/team/busybox:1" with alice's credentials
package testregistry

import (
	"archive/tar"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Registry is a running test registry.
type Registry struct {
	srv            *httptest.Server
	user, password string

	mu        sync.RWMutex
	blobs     map[string][]byte   // by digest
	manifests map[string]manifest // by "repo:tag" and "repo@digest"
}

type manifest struct {
	mediaType, digest string
}

// Start starts a registry on a free port of 127.0.0.1, stopped when the
// test ends. With a non-empty user, every request needs basic
// authentication with user and password.
func Start(t testing.TB, user, password string) *Registry {
	t.Helper()
	r := &Registry{user: user, password: password, blobs: map[string][]byte{}, manifests: map[string]manifest{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

// Host is the registry's host:port, the first part of its images' names.
func (r *Registry) Host() string {
	return strings.TrimPrefix(r.srv.URL, "http://")
}

// Push makes the first image of an OCI archive (as ociarchive writes, and
// testimages provides) available as repo:tag.
func (r *Registry) Push(t testing.TB, repo, tag, archive string) {
	t.Helper()
	if err := r.push(repo, tag, archive); err != nil {
		t.Fatalf("testregistry: push %s:%s: %v", repo, tag, err)
	}
}

func (r *Registry) push(repo, tag, archive string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		files[strings.TrimPrefix(hdr.Name, "./")] = b
	}
	var index struct {
		Manifests []struct {
			MediaType string `json:"mediaType"`
			Digest    string `json:"digest"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(files["index.json"], &index); err != nil {
		return fmt.Errorf("index.json: %w", err)
	}
	if len(index.Manifests) == 0 {
		return errors.New("index.json lists no manifest")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, b := range files {
		if hex, ok := strings.CutPrefix(name, "blobs/sha256/"); ok {
			r.blobs["sha256:"+hex] = b
		}
	}
	m := manifest{mediaType: index.Manifests[0].MediaType, digest: index.Manifests[0].Digest}
	if _, ok := r.blobs[m.digest]; !ok {
		return fmt.Errorf("manifest %s is not in the archive", m.digest)
	}
	r.manifests[repo+":"+tag] = m
	r.manifests[repo+"@"+m.digest] = m
	return nil
}

// serve answers the registry API's read requests: the version check,
// manifests and blobs, by GET or HEAD.
func (r *Registry) serve(w http.ResponseWriter, req *http.Request) {
	if r.user != "" {
		u, p, ok := req.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(r.user)) != 1 || subtle.ConstantTimeCompare([]byte(p), []byte(r.password)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="testregistry"`)
			apiError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
			return
		}
	}
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		apiError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "the test registry is read-only")
		return
	}
	path := req.URL.Path
	if path == "/v2/" || path == "/v2" {
		w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
		w.WriteHeader(http.StatusOK)
		return
	}
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		apiError(w, http.StatusNotFound, "NOT_FOUND", "not found")
		return
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if i := strings.LastIndex(rest, "/manifests/"); i > 0 {
		repo, ref := rest[:i], rest[i+len("/manifests/"):]
		sep := ":"
		if strings.HasPrefix(ref, "sha256:") {
			sep = "@"
		}
		m, ok := r.manifests[repo+sep+ref]
		if !ok {
			apiError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest unknown")
			return
		}
		write(w, req, m.mediaType, m.digest, r.blobs[m.digest])
		return
	}
	if i := strings.LastIndex(rest, "/blobs/"); i > 0 {
		digest := rest[i+len("/blobs/"):]
		b, ok := r.blobs[digest]
		if !ok {
			apiError(w, http.StatusNotFound, "BLOB_UNKNOWN", "blob unknown")
			return
		}
		write(w, req, "application/octet-stream", digest, b)
		return
	}
	apiError(w, http.StatusNotFound, "NOT_FOUND", "not found")
}

func write(w http.ResponseWriter, req *http.Request, mediaType, digest string, b []byte) {
	w.Header().Set("Content-Type", mediaType)
	w.Header().Set("Docker-Content-Digest", digest)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	if req.Method == http.MethodGet {
		_, _ = w.Write(b)
	}
}

// apiError writes the registry API's error document.
func apiError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": message}}})
}
