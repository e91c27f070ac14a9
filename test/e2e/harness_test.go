// Package e2e tests the built skiff binary from the outside, as a user
// runs it: real processes, real kubectl, real files.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"skiff.dev/skiff/internal/agent/containerd"
	"skiff.dev/skiff/internal/agent/containerd/containerdtest"
	"skiff.dev/skiff/internal/agent/runtime"
	"skiff.dev/skiff/internal/testimages"
)

var (
	skiffBin   string
	kubectlBin string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "skiff-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if skiffBin = os.Getenv("SKIFF_BIN"); skiffBin == "" {
		skiffBin = filepath.Join(tmp, "skiff")
		if err := goBuild("../..", skiffBin, "./cmd/skiff"); err != nil {
			fmt.Fprintln(os.Stderr, "build skiff:", err)
			return 1
		}
	}
	if kubectlBin = os.Getenv("KUBECTL_BIN"); kubectlBin == "" {
		kubectlBin = filepath.Join(tmp, "kubectl")
		if err := goBuild("../../tools", kubectlBin, "./kubectl"); err != nil {
			fmt.Fprintln(os.Stderr, "build kubectl:", err)
			return 1
		}
	}
	return m.Run()
}

func goBuild(dir, out, pkg string) error {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// server is one running `skiff server` process.
type server struct {
	t          *testing.T
	dataDir    string
	port       int
	kubeconfig string
	cmd        *exec.Cmd
	logs       *bytes.Buffer
	extraArgs  []string
	// node is set when the server runs its own node agent
	// (startServerWithAgent).
	node *agentNode
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startServer starts skiff on a fresh data directory and waits until it
// is ready. It is stopped when the test ends.
func startServer(t *testing.T, extraArgs ...string) *server {
	t.Helper()
	s := &server{t: t, dataDir: t.TempDir(), port: freePort(t), extraArgs: extraArgs}
	s.kubeconfig = filepath.Join(s.dataDir, "kubeconfig")
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *server) start() {
	s.t.Helper()
	args := []string{"server", "--data-dir", s.dataDir, "--secure-port", fmt.Sprint(s.port), "--bind-address", "127.0.0.1"}
	if s.node == nil {
		args = append(args, "--disable-agent")
	}
	args = append(args, s.extraArgs...)
	s.cmd = exec.Command(skiffBin, args...)
	s.logs = &bytes.Buffer{}
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start skiff: %v", err)
	}
	s.waitReady()
}

func (s *server) waitReady() {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(s.kubeconfig); err == nil {
			cfg, err := clientcmd.BuildConfigFromFlags("", s.kubeconfig)
			if err == nil {
				client, err := rest.HTTPClientFor(cfg)
				if err == nil {
					resp, err := client.Get(cfg.Host + "/readyz")
					if err == nil {
						resp.Body.Close()
						if resp.StatusCode == http.StatusOK {
							return
						}
					}
				}
			}
		}
		if s.cmd.ProcessState != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("skiff did not become ready; logs:\n%s", s.logs.String())
}

// stop ends the server with SIGTERM.
func (s *server) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	// A node agent stops its containerd, which may take 10 s.
	grace := 10 * time.Second
	if s.node != nil {
		grace = 30 * time.Second
	}
	select {
	case <-done:
	case <-time.After(grace):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
	if s.t.Failed() {
		s.t.Logf("skiff logs:\n%s", s.logs.String())
	}
}

// kill9 kills the server without any chance to clean up.
func (s *server) kill9() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

func (s *server) restConfig() *rest.Config {
	s.t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", s.kubeconfig)
	if err != nil {
		s.t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 1000, 1000
	return cfg
}

func (s *server) clientset() *kubernetes.Clientset {
	s.t.Helper()
	cs, err := kubernetes.NewForConfig(s.restConfig())
	if err != nil {
		s.t.Fatal(err)
	}
	return cs
}

// kubectl runs the real kubectl against the server; stdin may be empty.
func (s *server) kubectl(stdin string, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kubectlBin, append([]string{"--kubeconfig", s.kubeconfig}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	cmd.Env = append(os.Environ(), "KUBECTL_KUBERC=false", "HOME="+s.dataDir)
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// mustKubectl runs kubectl and fails the test on error.
func (s *server) mustKubectl(stdin string, args ...string) string {
	s.t.Helper()
	out, errOut, err := s.kubectl(stdin, args...)
	if err != nil {
		s.t.Fatalf("kubectl %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// agentNode is a real node: a server's own (startServerWithAgent) or a
// skiff agent's (startAgent).
type agentNode struct {
	name    string
	ip      string
	socket  string // the supervised containerd's CRI socket
	bridge  string
	podCIDR string
}

// startServerWithAgent starts skiff with its node agent, on a containerd
// the agent supervises, as a user runs `skiff server`: the test images
// (busybox, the Go HTTP server) are imported from <data-dir>/agent/images
// at start. It skips unless root with containerd, runc and ctr.
//
// The node gets its own name, a loopback InternalIP (so the agent's port
// 10250 is free beside other tests' nodes), pod CIDR and bridge. The data
// directory is short (/tmp/skfNNN): containerd's sockets and the shims'
// paths must fit sun_path.
//
// When the test ends, every workload is deleted through the API and the
// test waits until containerd holds no sandbox, so the agent's own
// clean-up (stop, remove, unmount, release the address) is what runs;
// then the server stops, and anything left (shims, containers, mounts,
// the bridge) is swept and reported as an error.
func startServerWithAgent(t *testing.T, extraArgs ...string) *server {
	t.Helper()
	dir, n := newAgentNode(t)
	s := &server{t: t, dataDir: dir, port: freePort(t), node: n}
	s.kubeconfig = filepath.Join(dir, "kubeconfig")
	s.extraArgs = append(n.flags(), extraArgs...)
	t.Cleanup(func() {
		s.removeWorkloads(n.socket)
		s.stop()
		if left := containerdtest.Sweep(t, dir, n.socket, n.bridge); left > 0 {
			t.Errorf("%d containers, shims or mounts were left after the pods were deleted and the server stopped", left)
		}
	})
	s.start()
	s.waitNodeReady(n.name)
	return s
}

// newAgentNode prepares a real node: a short data directory holding the
// test images in agent/images, removed when the test ends, and the
// node's own name, loopback InternalIP, pod CIDR and bridge. It skips
// unless root with containerd, runc and ctr.
func newAgentNode(t *testing.T) (dataDir string, n *agentNode) {
	t.Helper()
	containerdtest.Skip(t)
	dir, err := os.MkdirTemp("", "skf")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	images := filepath.Join(dir, "agent", "images")
	if err := os.MkdirAll(images, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]string{"busybox.tar": testimages.Busybox(t), "http.tar": testimages.GoHTTP(t)} {
		copyFile(t, src, filepath.Join(images, name))
	}
	endpoint, err := containerd.Endpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	suffix := randomHex(t, 3)
	return dir, &agentNode{
		name:    "e2e-" + suffix,
		ip:      freeLoopbackIP(t),
		socket:  strings.TrimPrefix(endpoint, "unix://"),
		bridge:  "ske" + suffix,
		podCIDR: containerdtest.FreeCIDR(t).String(),
	}
}

// flags are the node's flags for skiff server or skiff agent.
func (n *agentNode) flags() []string {
	return []string{"--node-name", n.name, "--node-ip", n.ip, "--pod-cidr", n.podCIDR, "--cni-bridge", n.bridge}
}

// startAgent runs `skiff agent` as another node of s, as a user joins a
// machine: the admin kubeconfig, and the server's data directory for the
// cluster CA that signs the agent's serving certificate. Its clean-up
// deletes every workload, waits until the agent removed its sandboxes,
// stops it and sweeps what is left, as startServerWithAgent's.
func startAgent(t *testing.T, s *server) *agentNode {
	t.Helper()
	dir, n := newAgentNode(t)
	args := append([]string{"agent", "--kubeconfig", s.kubeconfig, "--server-data-dir", s.dataDir, "--data-dir", dir}, n.flags()...)
	cmd := exec.Command(skiffBin, args...)
	logs := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start skiff agent: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		s.removeWorkloads(n.socket)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("skiff agent logs:\n%s", logs.String())
		}
		if left := containerdtest.Sweep(t, dir, n.socket, n.bridge); left > 0 {
			t.Errorf("%d containers, shims or mounts were left after the pods were deleted and the agent stopped", left)
		}
	})
	s.waitNodeReady(n.name)
	return n
}

// waitNodeReady waits until the Node is Ready.
func (s *server) waitNodeReady(name string) {
	s.t.Helper()
	cs := s.clientset()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		node, err := cs.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
		if err == nil {
			for _, c := range node.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					return
				}
			}
		}
		if s.cmd.ProcessState != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("node %s did not become Ready; logs:\n%s", name, s.logs.String())
}

// runtime connects to the node's containerd; closed when the test ends.
func (s *server) runtime() *runtime.CRI {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rt, err := runtime.NewCRI(ctx, "unix://"+s.node.socket)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { _ = rt.Close() })
	return rt
}

// sandboxes lists the node's pod sandboxes.
func (s *server) sandboxes(rt *runtime.CRI) []*runtime.Sandbox {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sbs, err := rt.ListSandboxes(ctx)
	if err != nil {
		s.t.Fatalf("list sandboxes: %v", err)
	}
	return sbs
}

// removeWorkloads deletes every workload and pod through the API and
// waits until the containerd at socket has no sandbox left.
func (s *server) removeWorkloads(socket string) {
	if s.cmd == nil {
		return
	}
	if _, errOut, err := s.kubectl("", "delete", "deployments,replicasets,pods", "--all", "--all-namespaces", "--grace-period=1", "--wait=false"); err != nil {
		s.t.Errorf("clean-up: kubectl delete: %v: %s", err, errOut)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	rt, err := runtime.NewCRI(ctx, "unix://"+socket)
	cancel()
	if err != nil {
		s.t.Errorf("clean-up: %v", err)
		return
	}
	defer rt.Close()
	deadline := time.Now().Add(90 * time.Second)
	var sbs []*runtime.Sandbox
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		sbs, err = rt.ListSandboxes(ctx)
		cancel()
		if err == nil && len(sbs) == 0 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	var names []string
	for _, sb := range sbs {
		names = append(names, fmt.Sprintf("%s/%s (state %d)", sb.Namespace, sb.Name, sb.State))
	}
	s.t.Errorf("clean-up: the agent did not remove the sandboxes of deleted pods: %v (err %v)", names, err)
}

// freeLoopbackIP is a random 127.x.y.z whose port 10250 is free.
func freeLoopbackIP(t *testing.T) string {
	t.Helper()
	for range 20 {
		b := make([]byte, 3)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		ip := fmt.Sprintf("127.%d.%d.%d", 1+int(b[0])%250, b[1], 1+int(b[2])%250)
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "10250"))
		if err == nil {
			l.Close()
			return ip
		}
	}
	t.Fatal("no free loopback address for the node")
	return ""
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
