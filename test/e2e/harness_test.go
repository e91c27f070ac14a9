// Package e2e tests the built skiff binary from the outside, as a user
// runs it: real processes, real kubectl, real files.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
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
	args := append([]string{"server", "--data-dir", s.dataDir, "--secure-port", fmt.Sprint(s.port),
		"--bind-address", "127.0.0.1", "--disable-agent"}, s.extraArgs...)
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
	select {
	case <-done:
	case <-time.After(10 * time.Second):
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
