package openapi

import (
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	openapi_v3 "github.com/google/gnostic-models/openapiv3"
	"google.golang.org/protobuf/proto"
)

// Media types of the documents. client-go's discovery client asks for v2 as
// protobuf only (and fails on anything else); its v3 client asks for JSON.
const (
	mediaJSON         = "application/json"
	mediaV2Proto      = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
	mediaV2ProtoOld   = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
	mediaV3Proto      = "application/com.github.proto-openapi.spec.v3.v1.0+protobuf"
	mediaV3ProtoOld   = "application/com.github.proto-openapi.spec.v3@v1.0+protobuf"
	v3Prefix          = "/openapi/v3/"
	gzipMinBytes      = 1 << 10
	immutableLifetime = 365 * 24 * time.Hour
)

// Service serves /openapi/v2, /openapi/v3 and /openapi/v3/<group-version>.
// Each document is built on its first request and then served from memory:
// building all of them takes a few hundred milliseconds, which start-up
// should not pay. A Service is safe for concurrent use.
type Service struct {
	kinds []Kind
	log   *slog.Logger

	v2      lazy[*blob]
	v2Proto lazy[*blob]
	v3      lazy[*v3Set]
}

// v3Set is every v3 document and the discovery index that names them by
// hash; they are built together because the index needs every hash.
type v3Set struct {
	index  *blob
	docs   map[string]*blob
	protos map[string]*lazy[*blob]
}

// blob is one served representation with its entity tag and, built on the
// first request that accepts it, a gzip-compressed copy.
type blob struct {
	data     []byte
	etag     string // upstream's: upper-case hex SHA-512 of the JSON
	modified time.Time
	gz       lazy[[]byte]
}

// NewService returns a Service for the kinds; log receives build errors
// (nil discards them).
func NewService(kinds []Kind, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{kinds: append([]Kind(nil), kinds...), log: log}
}

// Hash is the hash a v3 document is published under in the discovery index,
// and the entity tag of every document: upper-case hex SHA-512.
func Hash(doc []byte) string {
	sum := sha512.Sum512(doc)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// V3Discovery is the document served at /openapi/v3.
type V3Discovery struct {
	Paths map[string]V3DiscoveryEntry `json:"paths"`
}

// V3DiscoveryEntry locates one group-version's document.
type V3DiscoveryEntry struct {
	// ServerRelativeURL is "/openapi/v3/<key>?hash=<Hash(doc)>".
	ServerRelativeURL string `json:"serverRelativeURL"`
}

// BuildV3Index returns the /openapi/v3 discovery document for the
// documents BuildV3 returned.
func BuildV3Index(docs map[string][]byte) ([]byte, error) {
	d := V3Discovery{Paths: make(map[string]V3DiscoveryEntry, len(docs))}
	for key, doc := range docs {
		d.Paths[key] = V3DiscoveryEntry{ServerRelativeURL: v3URL(key, Hash(doc))}
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("marshal openapi v3 index: %w", err)
	}
	return b, nil
}

func v3URL(key, hash string) string {
	return v3Prefix + key + "?" + url.Values{"hash": {hash}}.Encode()
}

// ServeHTTP answers GET and HEAD for the OpenAPI paths; anything else under
// /openapi/ is 404.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	switch {
	case p == "/openapi/v2":
		s.serveV2(w, r)
	case p == "/openapi/v3" || p == "/openapi/v3/":
		set, ok := s.v3Docs(w)
		if !ok {
			return
		}
		serveBlob(w, r, set.index, mediaJSON)
	case strings.HasPrefix(p, v3Prefix):
		s.serveV3(w, r, strings.TrimPrefix(p, v3Prefix))
	default:
		http.NotFound(w, r)
	}
}

func (s *Service) serveV2(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Vary", "Accept")
	switch negotiate(r.Header.Get("Accept"), mediaJSON, mediaV2Proto, mediaV2ProtoOld) {
	case mediaJSON:
		b, err := s.v2.get(s.buildV2)
		if s.failed(w, "v2", err) {
			return
		}
		serveBlob(w, r, b, mediaJSON)
	case mediaV2Proto, mediaV2ProtoOld:
		b, err := s.v2Proto.get(func() (*blob, error) {
			j, err := s.v2.get(s.buildV2)
			if err != nil {
				return nil, err
			}
			return protoBlob(j, v2ToProto)
		})
		if s.failed(w, "v2 protobuf", err) {
			return
		}
		serveBlob(w, r, b, mediaV2Proto)
	default:
		http.Error(w, "the OpenAPI v2 document is served as application/json or "+mediaV2Proto, http.StatusNotAcceptable)
	}
}

func (s *Service) serveV3(w http.ResponseWriter, r *http.Request, key string) {
	set, ok := s.v3Docs(w)
	if !ok {
		return
	}
	doc, ok := set.docs[key]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Add("Vary", "Accept")
	// A hash names one version of the document: an old hash is sent to
	// the current one, the current one may be cached forever.
	if hash := r.URL.Query().Get("hash"); hash != "" {
		if hash != doc.etag {
			http.Redirect(w, r, v3URL(key, doc.etag), http.StatusMovedPermanently)
			return
		}
		w.Header().Set("Cache-Control", "public, immutable")
		w.Header().Set("Expires", time.Now().Add(immutableLifetime).UTC().Format(http.TimeFormat))
	}
	switch negotiate(r.Header.Get("Accept"), mediaJSON, mediaV3Proto, mediaV3ProtoOld) {
	case mediaJSON:
		serveBlob(w, r, doc, mediaJSON)
	case mediaV3Proto, mediaV3ProtoOld:
		b, err := set.protos[key].get(func() (*blob, error) { return protoBlob(doc, v3ToProto) })
		if s.failed(w, "v3 protobuf "+key, err) {
			return
		}
		serveBlob(w, r, b, mediaV3Proto)
	default:
		http.Error(w, "OpenAPI v3 documents are served as application/json or "+mediaV3Proto, http.StatusNotAcceptable)
	}
}

func (s *Service) v3Docs(w http.ResponseWriter) (*v3Set, bool) {
	set, err := s.v3.get(s.buildV3)
	return set, !s.failed(w, "v3", err)
}

func (s *Service) failed(w http.ResponseWriter, what string, err error) bool {
	if err == nil {
		return false
	}
	s.log.Error("openapi: build failed", "document", what, "err", err)
	http.Error(w, "the OpenAPI document could not be built", http.StatusInternalServerError)
	return true
}

func (s *Service) buildV2() (*blob, error) {
	b, err := BuildV2(s.kinds)
	if err != nil {
		return nil, err
	}
	return newBlob(b, Hash(b)), nil
}

func (s *Service) buildV3() (*v3Set, error) {
	docs, err := BuildV3(s.kinds)
	if err != nil {
		return nil, err
	}
	index, err := BuildV3Index(docs)
	if err != nil {
		return nil, err
	}
	set := &v3Set{
		index:  newBlob(index, Hash(index)),
		docs:   make(map[string]*blob, len(docs)),
		protos: make(map[string]*lazy[*blob], len(docs)),
	}
	for key, doc := range docs {
		set.docs[key] = newBlob(doc, Hash(doc))
		set.protos[key] = &lazy[*blob]{}
	}
	return set, nil
}

func newBlob(data []byte, etag string) *blob {
	return &blob{data: data, etag: etag, modified: time.Now()}
}

// protoBlob converts a JSON document to its protobuf form. The entity tag
// stays the JSON's, as upstream does; Vary: Accept tells caches apart.
func protoBlob(j *blob, convert func([]byte) ([]byte, error)) (*blob, error) {
	pb, err := convert(j.data)
	if err != nil {
		return nil, err
	}
	return &blob{data: pb, etag: j.etag, modified: j.modified}, nil
}

func v2ToProto(doc []byte) ([]byte, error) {
	d, err := openapi_v2.ParseDocument(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi v2 to protobuf: %w", err)
	}
	return proto.Marshal(d)
}

func v3ToProto(doc []byte) ([]byte, error) {
	d, err := openapi_v3.ParseDocument(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi v3 to protobuf: %w", err)
	}
	return proto.Marshal(d)
}

// serveBlob writes b with its entity tag; http.ServeContent answers
// If-None-Match with 304 and handles HEAD and ranges. Large documents go
// gzip-compressed to clients that accept it.
func serveBlob(w http.ResponseWriter, r *http.Request, b *blob, contentType string) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Etag", strconv.Quote(b.etag))
	data := b.data
	if len(data) >= gzipMinBytes {
		h.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			if gz, err := b.gz.get(func() ([]byte, error) { return gzipBytes(data) }); err == nil {
				h.Set("Content-Encoding", "gzip")
				data = gz
			}
		}
	}
	http.ServeContent(w, r, "", b.modified, bytes.NewReader(data))
}

func gzipBytes(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") && qValue(params) > 0 {
			return true
		}
	}
	return false
}

// negotiate picks the offer the Accept header prefers most: clauses in
// order of quality (ties keep the client's order), offers in the order
// given for wildcards. It returns "" when nothing is acceptable; an empty
// header accepts the first offer.
func negotiate(accept string, offers ...string) string {
	if strings.TrimSpace(accept) == "" {
		return offers[0]
	}
	type clause struct {
		typ, sub string
		q        float64
	}
	var clauses []clause
	for _, part := range strings.Split(accept, ",") {
		mediaRange, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		typ, sub, ok := strings.Cut(strings.TrimSpace(mediaRange), "/")
		if !ok {
			continue
		}
		if q := qValue(params); q > 0 {
			clauses = append(clauses, clause{strings.ToLower(typ), strings.ToLower(sub), q})
		}
	}
	sort.SliceStable(clauses, func(i, j int) bool { return clauses[i].q > clauses[j].q })
	for _, c := range clauses {
		for _, offer := range offers {
			typ, sub, _ := strings.Cut(offer, "/")
			if (c.typ == "*" || c.typ == typ) && (c.sub == "*" || c.sub == sub) {
				return offer
			}
		}
	}
	return ""
}

// qValue reads q= from media-type parameters; absent or malformed is 1.
func qValue(params string) float64 {
	for _, p := range strings.Split(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.TrimSpace(k) == "q" {
			q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 1
			}
			return q
		}
	}
	return 1
}

// lazy computes a value once, on first use, and keeps it; an error is kept
// too (documents are built from static types, so a failure is a bug that a
// retry would not fix).
type lazy[T any] struct {
	once sync.Once
	v    T
	err  error
}

func (l *lazy[T]) get(build func() (T, error)) (T, error) {
	l.once.Do(func() { l.v, l.err = build() })
	return l.v, l.err
}
