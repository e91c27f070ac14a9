package probes

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func hostPort(t *testing.T, rawURL string) (string, int) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(u.Host)
	p, _ := strconv.Atoi(port)
	return host, p
}

func runProbe(t *testing.T, p *Prober, spec *corev1.Probe, c *corev1.Container, podIP string) (outcome, string, error) {
	t.Helper()
	pod := &corev1.Pod{}
	pod.Name, pod.Namespace, pod.UID = "p", "ns", "u"
	if c == nil {
		c = &corev1.Container{Name: "c"}
	}
	if spec.TimeoutSeconds == 0 {
		spec.TimeoutSeconds = 5
	}
	return p.run(context.Background(), spec, target{Pod: pod, Container: c, ContainerID: "cid", PodIP: podIP})
}

func TestHTTPProbe(t *testing.T) {
	var gotHeaders http.Header
	var gotHost string
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		gotHeaders, gotHost = r.Header.Clone(), r.Host
		w.Write([]byte("fine"))
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		w.Write([]byte("secret internals"))
	})
	mux.HandleFunc("/local-redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/local-redirect-fail", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/fail", http.StatusFound) })
	mux.HandleFunc("/remote-redirect", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "http://elsewhere.invalid/")
		w.WriteHeader(http.StatusMovedPermanently)
		w.Write([]byte("moved"))
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(strings.Repeat("x", 1<<20))) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	mux.HandleFunc("/404", http.NotFound)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tlsSrv := httptest.NewTLSServer(mux)
	defer tlsSrv.Close()
	host, port := hostPort(t, srv.URL)
	tlsHost, tlsPort := hostPort(t, tlsSrv.URL)

	named := &corev1.Container{Name: "c", Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: int32(port)}}}
	get := func(path string, port intstr.IntOrString) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: port}}}
	}
	tests := []struct {
		name      string
		spec      *corev1.Probe
		container *corev1.Container
		podIP     string
		want      outcome
		output    string
		errText   string
	}{
		{name: "200 on the pod IP", spec: get("/ok", intstr.FromInt32(int32(port))), podIP: host, want: outcomeSuccess, output: "fine"},
		{name: "named port", spec: get("/ok", intstr.FromString("web")), container: named, podIP: host, want: outcomeSuccess},
		{name: "port number as string", spec: get("/ok", intstr.FromString(strconv.Itoa(port))), podIP: host, want: outcomeSuccess},
		{name: "unknown port name", spec: get("/ok", intstr.FromString("nope")), podIP: host, errText: "port nope not found"},
		{name: "500", spec: get("/fail", intstr.FromInt32(int32(port))), podIP: host, want: outcomeFailure, output: "HTTP probe failed with statuscode: 500"},
		{name: "404", spec: get("/404", intstr.FromInt32(int32(port))), podIP: host, want: outcomeFailure, output: "HTTP probe failed with statuscode: 404"},
		{name: "same-host redirect is followed", spec: get("/local-redirect", intstr.FromInt32(int32(port))), podIP: host, want: outcomeSuccess, output: "fine"},
		{name: "same-host redirect to a failure", spec: get("/local-redirect-fail", intstr.FromInt32(int32(port))), podIP: host, want: outcomeFailure, output: "HTTP probe failed with statuscode: 500"},
		{name: "other-host redirect is a warning", spec: get("/remote-redirect", intstr.FromInt32(int32(port))), podIP: host, want: outcomeWarning, output: "Probe terminated redirects, Response body: moved"},
		{name: "redirect loop", spec: get("/loop", intstr.FromInt32(int32(port))), podIP: host, want: outcomeFailure, output: "stopped after 10 redirects"},
		{name: "big body is cut, not an error", spec: get("/big", intstr.FromInt32(int32(port))), podIP: host, want: outcomeSuccess},
		{name: "https without verification", spec: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Scheme: corev1.URISchemeHTTPS, Host: tlsHost, Path: "/ok", Port: intstr.FromInt32(int32(tlsPort))}}}, podIP: "192.0.2.1", want: outcomeSuccess},
		{name: "timeout", spec: &corev1.Probe{TimeoutSeconds: 1, ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/slow", Port: intstr.FromInt32(int32(port))}}},
			podIP: host, want: outcomeFailure, output: "Client.Timeout exceeded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, out, err := runProbe(t, &Prober{}, tc.spec, tc.container, tc.podIP)
			if tc.errText != "" {
				if err == nil || err.Error() != tc.errText {
					t.Fatalf("err = %v, want %q", err, tc.errText)
				}
				return
			}
			if err != nil || o != tc.want || !strings.Contains(out, tc.output) {
				t.Fatalf("got %s %q %v; want %s %q", o, out, err, tc.want, tc.output)
			}
			if len(out) > maxOutput {
				t.Fatalf("output of %d bytes", len(out))
			}
		})
	}

	t.Run("headers", func(t *testing.T) {
		spec := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromInt32(int32(port)),
			HTTPHeaders: []corev1.HTTPHeader{{Name: "X-Custom", Value: "1"}, {Name: "host", Value: "virtual.example"}}}}}
		if o, _, err := runProbe(t, &Prober{}, spec, nil, host); o != outcomeSuccess || err != nil {
			t.Fatal(o, err)
		}
		if gotHeaders.Get("User-Agent") != "kube-probe/1.37" || gotHeaders.Get("Accept") != "*/*" || gotHeaders.Get("X-Custom") != "1" || gotHost != "virtual.example" {
			t.Fatalf("headers %v host %q", gotHeaders, gotHost)
		}
		spec.HTTPGet.HTTPHeaders = []corev1.HTTPHeader{{Name: "User-Agent", Value: "mine"}, {Name: "Accept", Value: ""}}
		runProbe(t, &Prober{}, spec, nil, host)
		if gotHeaders.Get("User-Agent") != "mine" || len(gotHeaders.Values("Accept")) != 0 {
			t.Fatalf("overridden headers %v", gotHeaders)
		}
	})
}

func TestTCPProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	spec := func(host string, port int) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Host: host, Port: intstr.FromInt(port)}}}
	}
	if o, _, err := runProbe(t, &Prober{}, spec("", port), nil, "127.0.0.1"); o != outcomeSuccess || err != nil {
		t.Fatalf("open port: %s %v", o, err)
	}
	if o, _, err := runProbe(t, &Prober{}, spec("127.0.0.1", port), nil, "192.0.2.1"); o != outcomeSuccess || err != nil {
		t.Fatalf("explicit host: %s %v", o, err)
	}
	ln.Close()
	o, out, err := runProbe(t, &Prober{}, spec("", port), nil, "127.0.0.1")
	if o != outcomeFailure || err != nil || !strings.Contains(out, "connection refused") {
		t.Fatalf("closed port: %s %q %v", o, out, err)
	}
	if _, _, err := runProbe(t, &Prober{}, spec("", 70000), nil, "127.0.0.1"); err == nil || err.Error() != "invalid port number: 70000" {
		t.Fatalf("bad port: %v", err)
	}
}

func TestGRPCProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	hs.SetServingStatus("db", healthpb.HealthCheckResponse_NOT_SERVING)
	go srv.Serve(ln)
	defer srv.Stop()
	port := ln.Addr().(*net.TCPAddr).Port

	// A gRPC server without the health service.
	ln2, _ := net.Listen("tcp", "127.0.0.1:0")
	bare := grpc.NewServer()
	go bare.Serve(ln2)
	defer bare.Stop()
	barePort := ln2.Addr().(*net.TCPAddr).Port

	// A port nobody listens on.
	ln3, _ := net.Listen("tcp", "127.0.0.1:0")
	deadPort := ln3.Addr().(*net.TCPAddr).Port
	ln3.Close()

	spec := func(port int, service *string) *corev1.Probe {
		return &corev1.Probe{TimeoutSeconds: 1, ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: int32(port), Service: service}}}
	}
	tests := []struct {
		name   string
		spec   *corev1.Probe
		want   outcome
		output string
	}{
		{name: "serving", spec: spec(port, nil), want: outcomeSuccess, output: "service healthy"},
		{name: "not serving", spec: spec(port, ptr.To("db")), want: outcomeFailure, output: `service unhealthy (responded with "NOT_SERVING")`},
		{name: "unknown service", spec: spec(port, ptr.To("nope")), want: outcomeFailure, output: "error: health rpc probe failed: rpc error: code = NotFound"},
		{name: "no health service", spec: spec(barePort, nil), want: outcomeFailure,
			output: "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): unknown service grpc.health.v1.Health"},
		{name: "nothing listening", spec: spec(deadPort, nil), want: outcomeFailure,
			output: `timeout: failed to connect service "127.0.0.1:` + strconv.Itoa(deadPort) + `" within 1s: context deadline exceeded`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, out, err := runProbe(t, &Prober{}, tc.spec, nil, "127.0.0.1")
			if err != nil || o != tc.want || !strings.HasPrefix(out, tc.output) {
				t.Fatalf("got %s %q %v\nwant %s %q", o, out, err, tc.want, tc.output)
			}
		})
	}
}

// scriptedExec is an Execer whose answers the test sets.
type scriptedExec struct {
	stdout, stderr string
	code           int
	err            error
	gotCmd         []string
	gotID          string
}

func (s *scriptedExec) ExecSync(_ context.Context, id string, cmd []string, _ time.Duration) ([]byte, []byte, int, error) {
	s.gotID, s.gotCmd = id, cmd
	return []byte(s.stdout), []byte(s.stderr), s.code, s.err
}

func TestExecProbe(t *testing.T) {
	c := &corev1.Container{Name: "c", Env: []corev1.EnvVar{
		{Name: "FILE", Value: "/tmp/healthy"},
		{Name: "SECRET", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "k"}}},
	}}
	spec := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"cat", "$(FILE)", "$(SECRET)"}}}}
	tests := []struct {
		name   string
		exec   scriptedExec
		want   outcome
		output string
		err    bool
	}{
		{name: "exit 0", exec: scriptedExec{stdout: "ok\n"}, want: outcomeSuccess, output: "ok\n"},
		{name: "exit 1", exec: scriptedExec{stdout: "out ", stderr: "cat: can't open '/tmp/healthy'", code: 1}, want: outcomeFailure, output: "out cat: can't open '/tmp/healthy'"},
		{name: "timeout", exec: scriptedExec{err: context.DeadlineExceeded}, want: outcomeFailure, output: `command "cat /tmp/healthy " timed out`},
		{name: "runtime error", exec: scriptedExec{err: net.ErrClosed}, want: outcomeUnknown, err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.exec
			o, out, err := runProbe(t, &Prober{Exec: &e}, spec, c, "")
			if (err != nil) != tc.err || o != tc.want || out != tc.output {
				t.Fatalf("got %s %q %v", o, out, err)
			}
			if e.gotID != "cid" || strings.Join(e.gotCmd, "|") != "cat|/tmp/healthy|" {
				t.Fatalf("ran %q in %q", e.gotCmd, e.gotID)
			}
		})
	}
	if _, _, err := runProbe(t, &Prober{}, spec, c, ""); err == nil {
		t.Fatal("exec without an Execer must error")
	}
}
