package apiserver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"skiff.dev/skiff/internal/audit"
	"skiff.dev/skiff/internal/auth/authn"
)

// auditFilter runs handler behind the audit filter, as user alice, with
// a real audit log under policy.
func auditFilter(t *testing.T, policy *audit.Policy, handler http.Handler) (url string, events func() []audit.Event) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.log")
	backend, err := audit.NewLogBackend(audit.LogOptions{Path: path, MaxSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	logger := audit.NewLogger(policy, backend)
	s := &Server{cfg: Config{Audit: logger}, now: time.Now, codecs: newCodecs(newScheme())}
	inner := s.withAudit(handler)
	// Handlers of hijacked connections outlive the server's Close.
	var running sync.WaitGroup
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		running.Add(1)
		defer running.Done()
		defer func() {
			if p := recover(); p != nil {
				w.WriteHeader(http.StatusInternalServerError) // as withRecovery
			}
		}()
		r.Body = http.MaxBytesReader(w, r.Body, 1024)
		inner.ServeHTTP(w, r.WithContext(authn.WithUser(r.Context(), &authn.User{Name: "alice", Groups: []string{"dev"}})))
	}))
	t.Cleanup(hs.Close)
	return hs.URL, func() []audit.Event {
		t.Helper()
		hs.Close()
		done := make(chan struct{})
		go func() { running.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("handlers still running")
		}
		if err := logger.Close(); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var evs []audit.Event
		for _, l := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
			var ev audit.Event
			if err := json.Unmarshal(l, &ev); err != nil {
				t.Fatalf("%s: %v", l, err)
			}
			evs = append(evs, ev)
		}
		return evs
	}
}

func policyAt(level audit.Level, omitManagedFields bool) *audit.Policy {
	return &audit.Policy{OmitManagedFields: omitManagedFields, Rules: []audit.PolicyRule{{Level: level}}}
}

func stages(evs []audit.Event) string {
	var s []string
	for _, e := range evs {
		code := int32(0)
		if e.ResponseStatus != nil {
			code = e.ResponseStatus.Code
		}
		s = append(s, fmt.Sprintf("%s/%d", e.Stage, code))
	}
	return strings.Join(s, " ")
}

// An exec-like upgrade through httputil.ReverseProxy, as proxyUpgrade
// passes exec, attach and port-forward to the agent: the connection is
// hijacked through the audit writer and the stream works both ways.
func TestAuditUpgradeThroughReverseProxy(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		fmt.Fprint(rw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: test-stream\r\n\r\n")
		rw.Flush()
		line, _ := rw.ReadString('\n')
		fmt.Fprint(rw, "echo: "+line)
		rw.Flush()
	}))
	defer backend.Close()
	target, _ := url.Parse(backend.URL)
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.Out.Host = target.Host }}
	u, events := auditFilter(t, policyAt(audit.LevelRequestResponse, false), proxy)

	conn, err := net.Dial("tcp", strings.TrimPrefix(u, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprint(conn, "POST /api/v1/namespaces/default/pods/p1/exec?command=sh HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test-stream\r\nContent-Length: 0\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Audit-Id") == "" {
		t.Fatalf("upgrade: %s, Audit-Id %q", resp.Status, resp.Header.Get("Audit-Id"))
	}
	fmt.Fprint(conn, "hello\n")
	if line, err := br.ReadString('\n'); err != nil || line != "echo: hello\n" {
		t.Fatalf("stream: %q, %v", line, err)
	}
	conn.Close()

	evs := events()
	if got := stages(evs); got != "RequestReceived/0 ResponseStarted/101 ResponseComplete/101" {
		t.Errorf("stages %q", got)
	}
	if evs[0].ResponseStatus != nil {
		t.Errorf("RequestReceived has a responseStatus: %+v", evs[0].ResponseStatus)
	}
	if evs[2].Verb != "create" || evs[2].ObjectRef.Subresource != "exec" || evs[2].ResponseObject != nil {
		t.Errorf("exec event: %+v", evs[2])
	}
}

// A watch-like stream: what the handler flushes reaches the client while
// the handler still runs.
func TestAuditKeepsFlushing(t *testing.T) {
	release := make(chan struct{})
	u, events := auditFilter(t, policyAt(audit.LevelRequestResponse, false), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"type":"ADDED"}`)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-time.After(30 * time.Second):
		}
	}))
	resp, err := http.Get(u + "/api/v1/namespaces/default/configmaps?watch=true")
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	close(release)
	resp.Body.Close()
	if err != nil || line != "{\"type\":\"ADDED\"}\n" {
		t.Fatalf("first event: %q, %v", line, err)
	}
	evs := events()
	if got := stages(evs); got != "RequestReceived/0 ResponseStarted/200 ResponseComplete/200" {
		t.Errorf("stages %q", got)
	}
	if evs[2].Verb != "watch" || evs[2].ResponseObject != nil {
		t.Errorf("watch: verb %s, responseObject %s (a stream is not a response object)", evs[2].Verb, evs[2].ResponseObject)
	}
}

func TestAuditBodiesAndManagedFields(t *testing.T) {
	const sent = `{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"cm1","managedFields":[{"manager":"kubectl"}]},"data":{"a":"b"}}`
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, err := io.ReadAll(r.Body)
		if string(got) != sent || err != nil {
			t.Errorf("the handler read %q, %v: the audit filter must put the body back", got, err)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"cm1","namespace":"default","uid":"u-1","resourceVersion":"7","managedFields":[{"manager":"kubectl"}]},"data":{"a":"b"}}`)
	})
	for _, omit := range []bool{true, false} {
		t.Run(fmt.Sprintf("omitManagedFields=%v", omit), func(t *testing.T) {
			u, events := auditFilter(t, policyAt(audit.LevelRequestResponse, omit), handler)
			resp, err := http.Post(u+"/api/v1/namespaces/default/configmaps", "application/json", strings.NewReader(sent))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			evs := events()
			if len(evs) != 2 {
				t.Fatalf("stages %q", stages(evs))
			}
			ev := evs[1]
			if ev.Stage != audit.StageResponseComplete || ev.ResponseStatus.Code != http.StatusCreated {
				t.Fatalf("event %+v", ev)
			}
			for name, body := range map[string]audit.RawObject{"requestObject": ev.RequestObject, "responseObject": ev.ResponseObject} {
				if !bytes.Contains(body, []byte(`"data":{"a":"b"}`)) {
					t.Errorf("%s %s: want the body", name, body)
				}
				if has := bytes.Contains(body, []byte("managedFields")); has == omit {
					t.Errorf("%s %s: managedFields present %v with omitManagedFields %v", name, body, has, omit)
				}
			}
			ref := ev.ObjectRef
			if ref.Name != "cm1" || ref.UID != "u-1" || ref.ResourceVersion != "7" || ref.Namespace != "default" {
				t.Errorf("objectRef %+v: name from the request, uid and resourceVersion from the response", ref)
			}
		})
	}
}

func TestAuditKeepsTheBodyLimit(t *testing.T) {
	u, events := auditFilter(t, policyAt(audit.LevelRequest, false), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		var tooBig *http.MaxBytesError
		if !errors.As(err, &tooBig) {
			t.Errorf("the handler read %v, want the MaxBytesError withLimits sets up", err)
		}
		w.WriteHeader(http.StatusRequestEntityTooLarge)
	}))
	resp, err := http.Post(u+"/api/v1/namespaces/default/configmaps", "application/json", strings.NewReader(`{"a":"`+strings.Repeat("x", 2048)+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ev := events()[1]
	if ev.ResponseStatus.Code != http.StatusRequestEntityTooLarge || ev.RequestObject != nil {
		t.Errorf("event %+v", ev)
	}
}

func TestAuditPanic(t *testing.T) {
	u, events := auditFilter(t, policyAt(audit.LevelMetadata, false), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("broken invariant")
	}))
	resp, err := http.Get(u + "/api/v1/namespaces/default/pods/p1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	evs := events()
	if got := stages(evs); got != "RequestReceived/0 Panic/500" {
		t.Fatalf("stages %q", got)
	}
	if !strings.Contains(evs[1].ResponseStatus.Message, "broken invariant") {
		t.Errorf("panic status %+v", evs[1].ResponseStatus)
	}
}

// The client's own Audit-ID is used; a request no rule records still gets
// the header.
func TestAuditIDHeader(t *testing.T) {
	u, events := auditFilter(t, &audit.Policy{Rules: []audit.PolicyRule{{Level: audit.LevelNone, NonResourceURLs: []string{"/healthz"}}, {Level: audit.LevelMetadata}}},
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	req, _ := http.NewRequest(http.MethodGet, u+"/version", nil)
	req.Header.Set("Audit-ID", "my-id")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Audit-Id") != "my-id" {
		t.Errorf("Audit-Id %q, want the client's", resp.Header.Get("Audit-Id"))
	}
	resp, err = http.Get(u + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Audit-Id") == "" {
		t.Error("no Audit-Id on an unrecorded request")
	}
	evs := events()
	if len(evs) != 2 || evs[0].AuditID != "my-id" || evs[1].ResponseStatus.Code != 200 || evs[1].Verb != "get" || evs[1].ObjectRef != nil {
		t.Errorf("events %+v", evs)
	}
}

// A patch is recorded as sent at Request level, and objectRef comes from
// the URL only, as upstream.
func TestAuditPatch(t *testing.T) {
	const patch = `{"metadata":{"uid":"not-from-a-patch","labels":{"a":"b"}}}`
	u, events := auditFilter(t, policyAt(audit.LevelRequest, false), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got, _ := io.ReadAll(r.Body); string(got) != patch {
			t.Errorf("the handler read %q", got)
		}
	}))
	req, _ := http.NewRequest(http.MethodPatch, u+"/apis/apps/v1/namespaces/ns1/deployments/d1", strings.NewReader(patch))
	req.Header.Set("Content-Type", "application/merge-patch+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	evs := events()
	ev := evs[len(evs)-1]
	if ev.Verb != "patch" || string(ev.RequestObject) != patch {
		t.Errorf("verb %s, requestObject %s", ev.Verb, ev.RequestObject)
	}
	want := audit.ObjectReference{Resource: "deployments", Namespace: "ns1", Name: "d1", APIGroup: "apps", APIVersion: "v1"}
	if *ev.ObjectRef != want {
		t.Errorf("objectRef %+v, want %+v", *ev.ObjectRef, want)
	}
}

func TestAuditAnnotate(t *testing.T) {
	u, events := auditFilter(t, policyAt(audit.LevelMetadata, false), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auditAnnotate(r.Context(), "pod-security.kubernetes.io/audit-violations", "first")
		auditAnnotate(r.Context(), "pod-security.kubernetes.io/audit-violations", "second")
		auditAnnotate(r.Context(), "example.com/other", "x")
	}))
	resp, err := http.Post(u+"/api/v1/namespaces/default/pods", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	evs := events()
	got := evs[len(evs)-1].Annotations
	if got["pod-security.kubernetes.io/audit-violations"] != "first" || got["example.com/other"] != "x" {
		t.Errorf("annotations %v: the first value of a key wins", got)
	}
	auditAnnotate(context.Background(), "k", "v") // not audited: no-op
}
