package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/agent/runtime"
	"skiff.dev/skiff/internal/agent/runtime/fake"
	"skiff.dev/skiff/internal/auth/pki"
)

// certs are a cluster CA and what the tests present with it.
type certs struct {
	pool      *x509.CertPool
	serving   tls.Certificate
	apiserver tls.Certificate
	other     tls.Certificate
	foreign   tls.Certificate // from another CA
}

func newCerts(t *testing.T) *certs {
	t.Helper()
	ca, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pair := func(certPEM, keyPEM []byte, err error) tls.Certificate {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	return &certs{
		pool:      ca.Pool(),
		serving:   pair(ca.SignServing([]string{"127.0.0.1"})),
		apiserver: pair(ca.SignClient(APIServerUser, nil)),
		other:     pair(ca.SignClient("alice", []string{"developers"})),
		foreign:   pair(other.SignClient(APIServerUser, nil)),
	}
}

func (c *certs) client(cert tls.Certificate) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: c.tlsConfig(cert)}}
}

func (c *certs) tlsConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{RootCAs: c.pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

// node is a fake runtime with one pod, "default/web", whose container
// "app" has a current and a previous instance with logs.
type node struct {
	rt      *streamingRuntime
	pods    map[string]*corev1.Pod
	mu      sync.Mutex
	logDir  string
	current string // container IDs
	prev    string
	sandbox string
}

func newNode(t *testing.T) *node {
	t.Helper()
	ctx := context.Background()
	n := &node{rt: &streamingRuntime{Runtime: fake.New(fake.Options{})}, pods: map[string]*corev1.Pod{}, logDir: t.TempDir()}
	sbCfg := &runtime.SandboxConfig{Name: "web", Namespace: "default", UID: "uid-web", LogDir: n.logDir}
	sb, err := n.rt.RunSandbox(ctx, sbCfg)
	if err != nil {
		t.Fatal(err)
	}
	n.sandbox = sb
	mk := func(attempt int, content string) string {
		t.Helper()
		path := filepath.Join(n.logDir, "app", fmt.Sprintf("%d.log", attempt))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		id, err := n.rt.CreateContainer(ctx, sb, &runtime.ContainerConfig{Name: "app", Attempt: uint32(attempt), Image: "busybox", LogPath: path}, sbCfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.rt.StartContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	n.prev = mk(0, "2024-01-01T00:00:00Z stdout F first life\n")
	if err := n.rt.Exit(n.prev, 1, "Error"); err != nil {
		t.Fatal(err)
	}
	n.current = mk(1, "2024-01-01T00:01:00Z stdout F one\n2024-01-01T00:01:01Z stderr F two\n")
	n.pods["default/web"] = &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", UID: "uid-web"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}, {Name: "sidecar"}}},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{
			{Name: "app", ContainerID: "fake://" + n.current, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ContainerID: "fake://" + n.prev}}},
			{Name: "sidecar", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}},
		}},
	}
	return n
}

func (n *node) pod(ns, name string) (*corev1.Pod, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	p, ok := n.pods[ns+"/"+name]
	return p, ok
}

// streamingRuntime gives the fake runtime a streaming server: every
// session is an upgrade echo server, and the requests are recorded.
type streamingRuntime struct {
	*fake.Runtime
	url string

	mu       sync.Mutex
	execs    []runtime.ExecRequest
	attaches []runtime.AttachRequest
	forwards [][]int32
}

func (r *streamingRuntime) Exec(_ context.Context, req *runtime.ExecRequest) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.execs = append(r.execs, *req)
	return r.url + "/exec/token1", nil
}

func (r *streamingRuntime) Attach(_ context.Context, req *runtime.AttachRequest) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attaches = append(r.attaches, *req)
	return r.url + "/attach/token2", nil
}

func (r *streamingRuntime) PortForward(_ context.Context, id string, ports []int32) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.forwards = append(r.forwards, ports)
	return r.url + "/portforward/token3", nil
}

// echoServer switches protocols and echoes, after a line naming the
// path it was reached at.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "" {
			http.Error(w, "not an upgrade", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\nX-Stream-Protocol-Version: %s\r\n\r\n%s %s\n",
			r.Header.Get("Upgrade"), r.Header.Get("X-Stream-Protocol-Version"), r.Method, r.URL.RequestURI())
		_ = brw.Flush()
		_, _ = io.Copy(conn, brw)
	})}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	return "http://" + ln.Addr().String()
}

type testServer struct {
	certs *certs
	node  *node
	addr  string
}

func startServer(t *testing.T) *testServer {
	t.Helper()
	ts := &testServer{certs: newCerts(t), node: newNode(t)}
	ts.node.rt.url = echoServer(t)
	srv, err := New(Config{Lookup: StatusLookup{Pods: ts.node.pod, Runtime: ts.node.rt}, Runtime: ts.node.rt})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, TLSConfig(ts.certs.serving, ts.certs.pool)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return ts
}

func (ts *testServer) get(t *testing.T, cert tls.Certificate, path string) (int, string) {
	t.Helper()
	resp, err := ts.certs.client(cert).Get("https://" + ts.addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestContainerLogs(t *testing.T) {
	ts := startServer(t)
	tests := []struct {
		path string
		code int
		body string
	}{
		{"/containerLogs/default/web/app", 200, "one\ntwo\n"},
		{"/containerLogs/default/web/app?tailLines=1", 200, "two\n"},
		{"/containerLogs/default/web/app?tail=1", 200, "two\n"},
		{"/containerLogs/default/web/app?tail=all", 200, "one\ntwo\n"},
		{"/containerLogs/default/web/app?limitBytes=5", 200, "one\nt"},
		{"/containerLogs/default/web/app?timestamps=true&sinceTime=2024-01-01T00:01:01Z", 200, "2024-01-01T00:01:01.000000000Z two\n"},
		{"/containerLogs/default/web/app?previous=true", 200, "first life\n"},
		{"/containerLogs/default/web/app?tailLines=-1", 422, `{"message": "Invalid request."}`},
		{"/containerLogs/default/web/app?sinceSeconds=1&sinceTime=2024-01-01T00:01:01Z", 422, `{"message": "Invalid request."}`},
		{"/containerLogs/default/web/sidecar", 400, `container "sidecar" in pod "web" is waiting to start: ContainerCreating`},
		{"/containerLogs/default/web/sidecar?previous=1", 400, `previous terminated container "sidecar" in pod "web" not found`},
		{"/containerLogs/default/web/nope", 404, `container "nope" not found in pod "web"`},
		{"/containerLogs/default/gone/app", 404, `pod "gone" does not exist`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			code, body := ts.get(t, ts.certs.apiserver, tt.path)
			if code != tt.code || body != tt.body {
				t.Errorf("got %d %q, want %d %q", code, body, tt.code, tt.body)
			}
		})
	}
}

func TestContainerLogsFollow(t *testing.T) {
	ts := startServer(t)
	resp, err := ts.certs.client(ts.certs.apiserver).Get("https://" + ts.addr + "/containerLogs/default/web/app?follow=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	for _, want := range []string{"one\n", "two\n"} {
		if line, err := r.ReadString('\n'); err != nil || line != want {
			t.Fatalf("got %q, %v; want %q", line, err, want)
		}
	}
	f, err := os.OpenFile(filepath.Join(ts.node.logDir, "app", "1.log"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("2024-01-01T00:01:02Z stdout F three\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if line, err := r.ReadString('\n'); err != nil || line != "three\n" {
		t.Fatalf("got %q, %v; want three", line, err)
	}
	// The container exits: the stream ends.
	if err := ts.node.rt.Exit(ts.node.current, 0, "Completed"); err != nil {
		t.Fatal(err)
	}
	if rest, err := io.ReadAll(r); err != nil || len(rest) != 0 {
		t.Fatalf("after exit: %q, %v", rest, err)
	}
}

func TestAuthorization(t *testing.T) {
	ts := startServer(t)
	if code, body := ts.get(t, ts.certs.other, "/containerLogs/default/web/app"); code != 403 ||
		body != "Forbidden (user=alice, verb=get, resource=nodes, subresource=proxy)" {
		t.Errorf("other user: %d %q", code, body)
	}
	if code, body := ts.get(t, ts.certs.other, "/healthz"); code != 200 || body != "ok" {
		t.Errorf("healthz: %d %q", code, body)
	}
	// No certificate, or one of another CA: the handshake fails.
	for name, cfg := range map[string]*tls.Config{
		"none":    {RootCAs: ts.certs.pool},
		"foreign": ts.certs.tlsConfig(ts.certs.foreign),
	} {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
		if resp, err := c.Get("https://" + ts.addr + "/healthz"); err == nil {
			resp.Body.Close()
			t.Errorf("%s: got %d, want a TLS error", name, resp.StatusCode)
		}
	}
}

// upgrade sends an upgrade request over a fresh connection and returns the
// response and the connection's reader.
func (ts *testServer) upgrade(t *testing.T, method, path string) (*http.Response, net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := tls.Dial("tcp", ts.addr, ts.certs.tlsConfig(ts.certs.apiserver))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\nContent-Length: 0\r\n\r\n", method, path, ts.addr)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp, conn, br
}

func TestStreamingProxy(t *testing.T) {
	ts := startServer(t)
	tests := []struct {
		method, path string
		reached      string // the streaming server's first line
	}{
		{"POST", "/exec/default/web/app?command=sh&command=-c&command=echo+hi&input=1&output=1&error=1", "POST /exec/token1"},
		{"GET", "/attach/default/web/app?output=1&tty=1&error=1", "GET /attach/token2"},
		{"POST", "/portForward/default/web?port=80,8080", "POST /portforward/token3"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, conn, br := ts.upgrade(t, tt.method, tt.path)
			if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("X-Stream-Protocol-Version") != "v4.channel.k8s.io" {
				t.Fatalf("got %s %v", resp.Status, resp.Header)
			}
			line, err := br.ReadString('\n')
			if err != nil || line != tt.reached+"\n" {
				t.Fatalf("streaming server saw %q, %v", line, err)
			}
			// The upgraded connection carries bytes both ways.
			if _, err := conn.Write([]byte("ping\n")); err != nil {
				t.Fatal(err)
			}
			if line, err := br.ReadString('\n'); err != nil || line != "ping\n" {
				t.Fatalf("echo: %q, %v", line, err)
			}
		})
	}
	rt := ts.node.rt
	rt.mu.Lock()
	defer rt.mu.Unlock()
	wantExec := runtime.ExecRequest{ContainerID: ts.node.current, Cmd: []string{"sh", "-c", "echo hi"}, Stdin: true, Stdout: true, Stderr: true}
	if len(rt.execs) != 1 || fmt.Sprint(rt.execs[0]) != fmt.Sprint(wantExec) {
		t.Errorf("exec requests %+v, want %+v", rt.execs, wantExec)
	}
	// A terminal has no separate stderr.
	wantAttach := runtime.AttachRequest{ContainerID: ts.node.current, Stdout: true, TTY: true}
	if len(rt.attaches) != 1 || rt.attaches[0] != wantAttach {
		t.Errorf("attach requests %+v, want %+v", rt.attaches, wantAttach)
	}
	if len(rt.forwards) != 1 || fmt.Sprint(rt.forwards[0]) != "[80 8080]" {
		t.Errorf("port-forward requests %v", rt.forwards)
	}
}

func TestStreamingErrors(t *testing.T) {
	ts := startServer(t)
	tests := []struct {
		name, method, path string
		upgrade            bool
		code               int
		body               string
	}{
		{"not an upgrade", "POST", "/exec/default/web/app?command=ls&output=1", false, 400, "Upgrade request required"},
		{"no streams", "POST", "/exec/default/web/app?command=ls", true, 400, "you must specify at least 1 of stdin, stdout, stderr"},
		{"no command", "POST", "/exec/default/web/app?output=1", true, 400, "you must specify at least one command for the container"},
		{"waiting container", "POST", "/exec/default/web/sidecar?command=ls&output=1", true, 400, `container "sidecar" in pod "web" is waiting to start: ContainerCreating`},
		{"no pod", "POST", "/attach/default/gone/app?output=1", true, 404, `pod "gone" does not exist`},
		{"bad port", "POST", "/portForward/default/web?port=0", true, 400, `unable to parse "0" as a port: must be 1-65535`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp *http.Response
			if tt.upgrade {
				resp, _, _ = ts.upgrade(t, tt.method, tt.path)
			} else {
				var err error
				resp, err = ts.certs.client(ts.certs.apiserver).Post("https://"+ts.addr+tt.path, "", nil)
				if err != nil {
					t.Fatal(err)
				}
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.code || string(b) != tt.body {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, b, tt.code, tt.body)
			}
		})
	}
}

func TestLookupMessage(t *testing.T) {
	if got := lookupMessage(fmt.Errorf("pod %q does not exist: %w", "x", ErrPodNotFound)); got != `pod "x" does not exist` {
		t.Errorf("got %q", got)
	}
	if got := lookupMessage(fmt.Errorf("boom: %w", context.Canceled)); !strings.HasSuffix(got, "context canceled") {
		t.Errorf("got %q", got)
	}
	_ = time.Second
}
