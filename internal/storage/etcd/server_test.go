package etcd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// The tests run against a real etcd server that the test binary starts
// once, on free loopback ports with a temporary data directory, and stops
// in TestMain. Each store gets its own key prefix on it.

const installHint = "the etcd backend tests need a real etcd server: install it with `apt-get install -y etcd-server` (binary /usr/bin/etcd), or point SKIFF_ETCD_BINARY at one"

var testServer struct {
	once     sync.Once
	endpoint string
	err      error
	cmd      *exec.Cmd
	exited   chan struct{}
	dataDir  string
	logs     *syncBuffer
}

func TestMain(m *testing.M) {
	code := m.Run()
	stopServer()
	os.Exit(code)
}

// etcdEndpoint starts the shared server if needed and returns its client
// URL. A missing binary fails the test: a skip would hide a broken backend.
func etcdEndpoint(t testing.TB) string {
	t.Helper()
	testServer.once.Do(func() { testServer.endpoint, testServer.err = startServer() })
	if testServer.err != nil {
		t.Fatalf("start etcd: %v", testServer.err)
	}
	return testServer.endpoint
}

// syncBuffer collects the server's output for error messages.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 1<<20 {
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startServer() (string, error) {
	bin := os.Getenv("SKIFF_ETCD_BINARY")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("etcd"); err != nil {
			bin = "/usr/bin/etcd"
		}
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("%s not found: %s", bin, installHint)
	}
	clientPort, err := freePort()
	if err != nil {
		return "", err
	}
	peerPort, err := freePort()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "skiff-etcd-test-")
	if err != nil {
		return "", err
	}
	testServer.dataDir = dir
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	cmd := exec.Command(bin,
		"--name", "skiff-test",
		"--data-dir", dir,
		"--listen-client-urls", clientURL,
		"--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL,
		"--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "skiff-test="+peerURL,
		"--initial-cluster-state", "new",
		"--logger", "zap",
		"--log-level", "warn",
	)
	testServer.logs = &syncBuffer{}
	cmd.Stdout, cmd.Stderr = testServer.logs, testServer.logs
	// The server must not outlive a test binary that is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start %s: %w (%s)", bin, err, installHint)
	}
	testServer.cmd = cmd
	testServer.exited = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(testServer.exited)
	}()
	if err := waitReady(clientURL); err != nil {
		return "", fmt.Errorf("%w; etcd output:\n%s", err, testServer.logs.String())
	}
	return clientURL, nil
}

// waitReady polls the server until it answers a request.
func waitReady(url string) error {
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{url}, DialTimeout: time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer client.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := client.Get(ctx, "health")
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-testServer.exited:
			return errors.New("etcd exited during startup")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcd at %s not ready after 30s: %w", url, err)
		}
		select {
		case <-testServer.exited:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func stopServer() {
	if testServer.cmd != nil && testServer.cmd.Process != nil {
		_ = testServer.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-testServer.exited:
		case <-time.After(10 * time.Second):
			_ = testServer.cmd.Process.Kill()
			<-testServer.exited
		}
	}
	if testServer.dataDir != "" {
		_ = os.RemoveAll(testServer.dataDir)
	}
}
