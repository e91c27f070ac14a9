package openapi

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	openapi_v3 "github.com/google/gnostic-models/openapiv3"
	"google.golang.org/protobuf/proto"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/openapi3"
	"k8s.io/client-go/rest"
)

var (
	sharedServiceOnce sync.Once
	sharedService     *Service
)

// testService is shared: each document is built once for all tests, as in
// the server.
func testService() *Service {
	sharedServiceOnce.Do(func() { sharedService = NewService(testKinds(), nil) })
	return sharedService
}

func newTestServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(testService())
	t.Cleanup(srv.Close)
	return srv
}

// TestClientGoReadsDocuments uses client-go's own clients, the ones kubectl
// uses: the discovery client asks for v2 as protobuf only, and the v3 root
// walks the discovery index to the group-version document.
func TestClientGoReadsDocuments(t *testing.T) {
	srv := newTestServer(t)
	dc, err := discovery.NewDiscoveryClientForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := dc.OpenAPISchema()
	if err != nil {
		t.Fatalf("OpenAPISchema (v2 protobuf): %v", err)
	}
	var found bool
	for _, def := range v2.GetDefinitions().GetAdditionalProperties() {
		found = found || def.GetName() == "io.k8s.api.core.v1.Pod"
	}
	if !found {
		t.Error("v2 protobuf has no io.k8s.api.core.v1.Pod")
	}

	root := openapi3.NewRoot(dc.OpenAPIV3())
	gvs, err := root.GroupVersions()
	if err != nil {
		t.Fatalf("GroupVersions: %v", err)
	}
	if !containsGV(gvs, appsv1.SchemeGroupVersion) || !containsGV(gvs, schema.GroupVersion{Version: "v1"}) {
		t.Errorf("v3 group versions %v lack apps/v1 or v1", gvs)
	}
	doc, err := root.GVSpec(appsv1.SchemeGroupVersion)
	if err != nil {
		t.Fatalf("GVSpec(apps/v1): %v", err)
	}
	if _, ok := doc.Components.Schemas["io.k8s.api.apps.v1.Deployment"]; !ok {
		t.Error("apps/v1 document has no Deployment")
	}
}

func containsGV(gvs []schema.GroupVersion, want schema.GroupVersion) bool {
	for _, gv := range gvs {
		if gv == want {
			return true
		}
	}
	return false
}

func get(t *testing.T, url string, header map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{
		Transport:     &http.Transport{DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func v3Index(t *testing.T, srv *httptest.Server) V3Discovery {
	t.Helper()
	resp := get(t, srv.URL+"/openapi/v3", nil)
	var idx V3Discovery
	if err := json.NewDecoder(resp.Body).Decode(&idx); err != nil {
		t.Fatal(err)
	}
	return idx
}

func TestServiceHTTP(t *testing.T) {
	srv := newTestServer(t)
	appsURL := v3Index(t, srv).Paths["apis/apps/v1"].ServerRelativeURL
	if !strings.HasPrefix(appsURL, "/openapi/v3/apis/apps/v1?hash=") {
		t.Fatalf("apps/v1 URL = %q", appsURL)
	}
	hash := strings.TrimPrefix(appsURL, "/openapi/v3/apis/apps/v1?hash=")
	v2ETag := get(t, srv.URL+"/openapi/v2", nil).Header.Get("Etag")

	tests := []struct {
		name        string
		path        string
		header      map[string]string
		code        int
		contentType string
		wantHeader  map[string]string
	}{
		{"v2 json", "/openapi/v2", map[string]string{"Accept": "application/json"}, 200, mediaJSON, nil},
		{"v2 default", "/openapi/v2", nil, 200, mediaJSON, nil},
		{"v2 protobuf", "/openapi/v2", map[string]string{"Accept": mediaV2ProtoOld}, 200, mediaV2Proto, nil},
		{"v2 protobuf preferred", "/openapi/v2", map[string]string{"Accept": "application/json;q=0.5, " + mediaV2Proto}, 200, mediaV2Proto, nil},
		{"v2 not modified", "/openapi/v2", map[string]string{"If-None-Match": v2ETag}, 304, "", nil},
		{"v2 unacceptable", "/openapi/v2", map[string]string{"Accept": "text/html"}, 406, "", nil},
		{"v3 index", "/openapi/v3", nil, 200, mediaJSON, nil},
		{"v3 current hash", appsURL, nil, 200, mediaJSON, map[string]string{"Cache-Control": "public, immutable", "Etag": strconv.Quote(hash)}},
		{"v3 stale hash", "/openapi/v3/apis/apps/v1?hash=0123", nil, 301, "", map[string]string{"Location": appsURL}},
		{"v3 no hash", "/openapi/v3/api/v1", nil, 200, mediaJSON, map[string]string{"Cache-Control": ""}},
		{"v3 protobuf", "/openapi/v3/apis/apps/v1", map[string]string{"Accept": mediaV3ProtoOld}, 200, mediaV3Proto, nil},
		{"v3 unknown group", "/openapi/v3/apis/nope/v1", nil, 404, "", nil},
		{"unknown path", "/openapi/v4", nil, 404, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := get(t, srv.URL+tt.path, tt.header)
			if resp.StatusCode != tt.code {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.code)
			}
			if tt.contentType != "" && resp.Header.Get("Content-Type") != tt.contentType {
				t.Errorf("Content-Type %q, want %q", resp.Header.Get("Content-Type"), tt.contentType)
			}
			for k, v := range tt.wantHeader {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}

	t.Run("v3 protobuf parses", func(t *testing.T) {
		resp := get(t, srv.URL+appsURL, map[string]string{"Accept": mediaV3Proto})
		b, _ := io.ReadAll(resp.Body)
		var doc openapi_v3.Document
		if err := proto.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		if doc.GetComponents().GetSchemas() == nil {
			t.Error("no schemas in v3 protobuf")
		}
	})
	t.Run("gzip", func(t *testing.T) {
		resp := get(t, srv.URL+"/openapi/v2", map[string]string{"Accept-Encoding": "gzip"})
		if resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
		}
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(zr)
		if err != nil || !json.Valid(b) {
			t.Errorf("gzip body is not JSON (err %v)", err)
		}
	})
	t.Run("post", func(t *testing.T) {
		resp, err := http.Post(srv.URL+"/openapi/v2", "application/json", bytes.NewReader(nil))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("status %d, want 405", resp.StatusCode)
		}
	})
}

func TestServiceBuildError(t *testing.T) {
	srv := httptest.NewServer(NewService([]Kind{{GVK: schema.GroupVersionKind{Version: "v1", Kind: "X"}}}, nil))
	defer srv.Close()
	for _, p := range []string{"/openapi/v2", "/openapi/v3", "/openapi/v3/api/v1"} {
		resp := get(t, srv.URL+p, nil)
		if resp.StatusCode != http.StatusInternalServerError {
			t.Errorf("%s: status %d, want 500", p, resp.StatusCode)
		}
	}
}

func TestBuildV3IndexMatchesHashes(t *testing.T) {
	docs, err := BuildV3(testKinds())
	if err != nil {
		t.Fatal(err)
	}
	b, err := BuildV3Index(docs)
	if err != nil {
		t.Fatal(err)
	}
	var idx V3Discovery
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Paths) != len(docs) {
		t.Fatalf("%d index entries for %d documents", len(idx.Paths), len(docs))
	}
	for key, doc := range docs {
		want := "/openapi/v3/" + key + "?hash=" + Hash(doc)
		if got := idx.Paths[key].ServerRelativeURL; got != want {
			t.Errorf("%s: %q, want %q", key, got, want)
		}
	}
}

func TestNegotiate(t *testing.T) {
	offers := []string{mediaJSON, mediaV2Proto, mediaV2ProtoOld}
	tests := []struct {
		accept, want string
	}{
		{"", mediaJSON},
		{"*/*", mediaJSON},
		{"application/*", mediaJSON},
		{mediaV2ProtoOld, mediaV2ProtoOld},
		{"application/json;q=0.1, " + mediaV2Proto + ";q=0.9", mediaV2Proto},
		{"text/plain, application/json", mediaJSON},
		{"application/json;q=0", ""},
		{"text/html", ""},
		{"garbage", ""},
	}
	for _, tt := range tests {
		t.Run(tt.accept, func(t *testing.T) {
			if got := negotiate(tt.accept, offers...); got != tt.want {
				t.Errorf("negotiate(%q) = %q, want %q", tt.accept, got, tt.want)
			}
		})
	}
}

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"gzip": true, "deflate, gzip;q=0.5": true, "GZIP": true, "gzip;q=0": false, "": false, "br": false,
	} {
		if got := acceptsGzip(header); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", header, got, want)
		}
	}
}
