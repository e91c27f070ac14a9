package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	clientspdy "k8s.io/client-go/transport/spdy"
	"k8s.io/client-go/util/exec"

	"skiff.dev/skiff/internal/agent/containerd/containerdtest"
	"skiff.dev/skiff/internal/agent/runtime"
	"skiff.dev/skiff/internal/apiserver"
	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/auth/authz"
	"skiff.dev/skiff/internal/auth/pki"
	"skiff.dev/skiff/internal/registry/builtin"
	"skiff.dev/skiff/internal/storage/bolt"
	"skiff.dev/skiff/internal/testimages"
)

// TestStreamingStack runs the whole path with real parts: client-go (as
// kubectl uses it) → the API server → this server over mutual TLS →
// containerd's streaming server → runc. Exec, attach and port-forward go
// through once with WebSockets (translated by the API server) and once
// with SPDY.
func TestStreamingStack(t *testing.T) {
	busybox := testimages.Busybox(t)
	n := containerdtest.Start(t)
	n.Import(t, busybox)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rt := n.Runtime

	// The pod's sandbox and containers, as the agent would run them.
	sbCfg := &runtime.SandboxConfig{Name: "web", Namespace: "default", UID: "uid-web-" + filepath.Base(t.TempDir()), Hostname: "web", LogDir: n.LogDir(t)}
	sbID, err := rt.RunSandbox(ctx, sbCfg)
	if err != nil {
		t.Fatal(err)
	}
	start := func(cfg *runtime.ContainerConfig) string {
		t.Helper()
		id, err := rt.CreateContainer(ctx, sbID, cfg, sbCfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := rt.StartContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	appID := start(&runtime.ContainerConfig{Name: "app", Image: testimages.BusyboxImage, LogPath: "app/0.log",
		Command: []string{"sh", "-c", "echo hello; echo oops >&2; mkdir -p /tmp/www; echo served > /tmp/www/index.html; exec httpd -f -p 8080 -h /tmp/www"}})
	catID := start(&runtime.ContainerConfig{Name: "cat", Image: testimages.BusyboxImage, LogPath: "cat/0.log",
		Command: []string{"cat"}, Stdin: true})

	// The API server, with a client certificate for agents.
	api := startAPIServer(t)
	certs := api.agentCerts(t)
	cs := kubernetes.NewForConfigOrDie(api.admin)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", UID: "x"},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{
			{Name: "app", Image: testimages.BusyboxImage}, {Name: "cat", Image: testimages.BusyboxImage, Stdin: true},
		}},
	}
	pod, err = cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{
		{Name: "app", ContainerID: "containerd://" + appID, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
		{Name: "cat", ContainerID: "containerd://" + catID, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
	}
	if _, err := cs.CoreV1().Pods("default").UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	// This server, serving the node.
	uid := types.UID(sbCfg.UID)
	lookup := StatusLookup{Runtime: rt, Pods: func(ns, name string) (*corev1.Pod, bool) {
		p, err := cs.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return nil, false
		}
		// The sandbox was made before the API object: give it the
		// runtime's UID.
		p.UID = uid
		return p, true
	}}
	srv, err := New(Config{Lookup: lookup, Runtime: rt})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, ln, TLSConfig(certs.serving, certs.pool)) }()
	t.Cleanup(func() { scancel(); <-served })
	port, _ := strconv.Atoi(strings.Split(ln.Addr().String(), ":")[1])
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
	node, err = cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(port)
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("logs", func(t *testing.T) {
		// kubectl reads logs as a stream, which decodes errors as Status.
		read := func(o *corev1.PodLogOptions) (string, error) {
			rc, err := cs.CoreV1().Pods("default").GetLogs("web", o).Stream(ctx)
			if err != nil {
				return "", err
			}
			defer rc.Close()
			b, err := io.ReadAll(rc)
			return string(b), err
		}
		var got string
		waitFor(t, func() bool {
			got, err = read(&corev1.PodLogOptions{Container: "app"})
			// stdout and stderr are separate pipes: either order.
			return err == nil && len(got) == len("hello\noops\n") && strings.Contains(got, "hello\n") && strings.Contains(got, "oops\n")
		}, func() string { return fmt.Sprint(got, err) })
		if got, err := read(&corev1.PodLogOptions{Container: "app", TailLines: ptrTo[int64](1), LimitBytes: ptrTo[int64](2)}); err != nil || len(got) != 2 {
			t.Errorf("tail: %q, %v", got, err)
		}
		if _, err := read(&corev1.PodLogOptions{}); err == nil || err.Error() != "a container name must be specified for pod web, choose one of: [app cat]" {
			t.Errorf("no container: %v", err)
		}
		if _, err := read(&corev1.PodLogOptions{Container: "app", Previous: true}); err == nil || err.Error() != `previous terminated container "app" in pod "web" not found` {
			t.Errorf("previous: %v", err)
		}
	})

	for _, proto := range []string{"websocket", "spdy"} {
		t.Run("exec/"+proto, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := api.exec(ctx, t, proto, "exec", url.Values{"container": {"app"}, "command": {"sh", "-c", "cat; echo to-stderr >&2"}, "stdin": {"true"}, "stdout": {"true"}, "stderr": {"true"}},
				strings.NewReader("from stdin\n"), &out, &errOut)
			if err != nil || out.String() != "from stdin\n" || errOut.String() != "to-stderr\n" {
				t.Errorf("got %q %q, %v", out.String(), errOut.String(), err)
			}
			err = api.exec(ctx, t, proto, "exec", url.Values{"container": {"app"}, "command": {"sh", "-c", "exit 3"}, "stdout": {"true"}}, nil, io.Discard, nil)
			if ee, ok := err.(exec.CodeExitError); !ok || ee.Code != 3 {
				t.Errorf("exit 3: %v (%T)", err, err)
			}
		})
		t.Run("attach/"+proto, func(t *testing.T) {
			actx, acancel := context.WithCancel(ctx)
			defer acancel()
			// Stdin stays open until the echo is back: closing it ends
			// the session.
			stdin, w := io.Pipe()
			defer w.Close()
			out := &signalBuffer{want: "ping-" + proto, done: acancel}
			go func() { _, _ = io.WriteString(w, "ping-"+proto+"\n") }()
			_ = api.exec(actx, t, proto, "attach", url.Values{"container": {"cat"}, "stdin": {"true"}, "stdout": {"true"}}, stdin, out, nil)
			if !strings.Contains(out.String(), "ping-"+proto) {
				t.Errorf("attach output %q", out.String())
			}
		})
		t.Run("portforward/"+proto, func(t *testing.T) {
			local := api.portForward(t, proto, 8080)
			var body string
			waitFor(t, func() bool {
				resp, err := http.Get("http://" + local + "/")
				if err != nil {
					body = err.Error()
					return false
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				body = string(b)
				return body == "served\n"
			}, func() string { return body })
		})
	}
}

func ptrTo[T any](v T) *T { return &v }

func waitFor(t *testing.T, cond func() bool, last func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out; last: %s", last())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// signalBuffer cancels the session once it has seen want.
type signalBuffer struct {
	mu   sync.Mutex
	b    bytes.Buffer
	want string
	done func()
}

func (s *signalBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Write(p)
	if strings.Contains(s.b.String(), s.want) {
		s.done()
	}
	return len(p), nil
}

func (s *signalBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testAPIServer struct {
	url   string
	ca    *pki.CA
	admin *rest.Config
}

// startAPIServer runs the real API server with an agent client
// certificate, as `skiff server` wires it.
func startAPIServer(t *testing.T) *testAPIServer {
	t.Helper()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ca, err := pki.LoadOrCreateCA(filepath.Join(dir, "tls"))
	if err != nil {
		t.Fatal(err)
	}
	clientPEM, clientKey, err := ca.SignClient(APIServerUser, nil)
	if err != nil {
		t.Fatal(err)
	}
	clientCert, err := tls.X509KeyPair(clientPEM, clientKey)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := apiserver.New(apiserver.Config{
		Store: st, Resources: builtin.Resources(), SecurePort: 6443,
		Authenticator:    authn.NewX509Authenticator(ca.Pool()),
		Authorizer:       authz.Union{authz.Superusers{Group: "system:masters"}},
		KubeletClientTLS: &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{clientCert}, MinVersion: tls.VersionTLS12},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.SignServing([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv)
	hs.TLS = authn.TLSConfig(cert, ca.Pool())
	hs.EnableHTTP2 = true
	hs.StartTLS()
	t.Cleanup(hs.Close)
	adminPEM, adminKey, err := ca.SignClient("admin", []string{"system:masters"})
	if err != nil {
		t.Fatal(err)
	}
	return &testAPIServer{url: hs.URL, ca: ca, admin: &rest.Config{
		Host: hs.URL, QPS: -1,
		TLSClientConfig: rest.TLSClientConfig{CAData: ca.CertPEM, CertData: adminPEM, KeyData: adminKey},
	}}
}

// agentCerts are the agent's serving certificate from the cluster CA.
func (a *testAPIServer) agentCerts(t *testing.T) *certs {
	t.Helper()
	certPEM, keyPEM, err := a.ca.SignServing([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &certs{pool: a.ca.Pool(), serving: c}
}

// exec runs pods/exec or pods/attach as kubectl does with proto.
func (a *testAPIServer) exec(ctx context.Context, t *testing.T, proto, sub string, q url.Values, stdin io.Reader, stdout, stderr io.Writer) error {
	t.Helper()
	u, _ := url.Parse(a.url + "/api/v1/namespaces/default/pods/web/" + sub + "?" + q.Encode())
	var ex remotecommand.Executor
	var err error
	if proto == "websocket" {
		ex, err = remotecommand.NewWebSocketExecutorForProtocols(a.admin, "GET", u.String(), "v5.channel.k8s.io")
	} else {
		ex, err = remotecommand.NewSPDYExecutor(a.admin, "POST", u)
	}
	if err != nil {
		t.Fatal(err)
	}
	return ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stdout: stdout, Stderr: stderr})
}

// portForward forwards a local port to port of the pod as kubectl does
// with proto and returns the local address.
func (a *testAPIServer) portForward(t *testing.T, proto string, port int) string {
	t.Helper()
	u, _ := url.Parse(a.url + "/api/v1/namespaces/default/pods/web/portforward")
	rt, upgrader, err := clientspdy.RoundTripperFor(a.admin)
	if err != nil {
		t.Fatal(err)
	}
	dialer := clientspdy.NewDialer(upgrader, &http.Client{Transport: rt}, "POST", u)
	if proto == "websocket" {
		dialer, err = portforward.NewSPDYOverWebsocketDialer(u, a.admin)
		if err != nil {
			t.Fatal(err)
		}
	}
	stop, ready := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(stop) })
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{fmt.Sprintf("0:%d", port)}, stop, ready, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- fw.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-errc:
		t.Fatalf("port-forward: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("port-forward not ready")
	}
	ports, err := fw.GetPorts()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", ports[0].Local)
}
