package apiserver

import (
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"sync"

	"skiff.dev/skiff/internal/apiserver/openapi"
)

// openAPIDocs builds the OpenAPI documents on first request: start-up
// does not pay for them, and they never change while the server runs.
type openAPIDocs struct {
	kinds []openapi.Kind
	once  sync.Once
	err   error
	v2    []byte
	v3    map[string][]byte // "api/v1", "apis/apps/v1" → document
	index []byte
	hash  map[string]string
}

func (s *Server) openAPIKinds() []openapi.Kind {
	var kinds []openapi.Kind
	for _, gv := range s.sortedGroupVersions() {
		for _, res := range s.resources[gv] {
			d := res.def
			k := openapi.Kind{
				GVK:        res.gvk,
				Type:       reflect.TypeOf(d.New()).Elem(),
				ListType:   reflect.TypeOf(d.NewList()).Elem(),
				Resource:   d.Resource,
				Namespaced: d.Namespaced,
				Verbs:      d.Verbs,
			}
			for _, sub := range subresourcesOf(d) {
				os := openapi.Subresource{Name: sub.name, Verbs: sub.verbs}
				if sub.kind != res.gvk {
					os.GVK = sub.kind
					obj, err := s.codecs.scheme.New(sub.kind)
					if err != nil {
						continue
					}
					os.Type = reflect.TypeOf(obj).Elem()
				}
				k.Subresources = append(k.Subresources, os)
			}
			kinds = append(kinds, k)
		}
	}
	return kinds
}

func (d *openAPIDocs) build() error {
	d.once.Do(func() {
		if d.v2, d.err = openapi.BuildV2(d.kinds); d.err != nil {
			return
		}
		if d.v3, d.err = openapi.BuildV3(d.kinds); d.err != nil {
			return
		}
		d.hash = map[string]string{}
		type entry struct {
			ServerRelativeURL string `json:"serverRelativeURL"`
		}
		paths := map[string]entry{}
		for p, doc := range d.v3 {
			sum := sha512.Sum512(doc)
			h := strings.ToUpper(hex.EncodeToString(sum[:]))
			d.hash[p] = h
			paths[p] = entry{ServerRelativeURL: "/openapi/v3/" + p + "?hash=" + h}
		}
		d.index, d.err = json.Marshal(map[string]interface{}{"paths": paths})
	})
	return d.err
}

func (s *Server) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	if err := s.openapi.build(); err != nil {
		s.writeError(w, r, err)
		return
	}
	p := r.URL.Path
	switch {
	case p == "/openapi/v2":
		w.Header().Set("ETag", `"`+etag(s.openapi.v2)+`"`)
		writeRaw(w, http.StatusOK, mediaJSON, s.openapi.v2)
	case p == "/openapi/v3" || p == "/openapi/v3/":
		writeRaw(w, http.StatusOK, mediaJSON, s.openapi.index)
	case strings.HasPrefix(p, "/openapi/v3/"):
		key := strings.TrimPrefix(p, "/openapi/v3/")
		doc, ok := s.openapi.v3[key]
		if !ok {
			s.writeError(w, r, errNotFoundPath())
			return
		}
		h := s.openapi.hash[key]
		w.Header().Set("ETag", `"`+h+`"`)
		if r.URL.Query().Get("hash") == h {
			w.Header().Set("Cache-Control", "public, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache, private")
		}
		if r.Header.Get("If-None-Match") == `"`+h+`"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		writeRaw(w, http.StatusOK, mediaJSON, doc)
	default:
		s.writeError(w, r, errNotFoundPath())
	}
}

func etag(b []byte) string {
	sum := sha512.Sum512(b)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}
