// Package containerd starts and supervises the node's own containerd when
// the agent is not given a --container-runtime-endpoint: it finds the
// binary in PATH, generates its config and the CNI bridge network under
// the data directory, runs it, restarts it when it dies, imports Skiff's
// pause image into it, and stops it when the agent stops.
//
// Lifecycle of a Process:
//
//  1. Start writes the config, starts containerd, waits until its CRI
//     answers and the pause image is visible to the CRI, and returns.
//  2. A supervisor goroutine waits on containerd; when it exits before
//     the context ends, it logs why and starts it again after a back-off
//     (100ms doubling to 10s, reset after a minute of good health).
//  3. When the context ends, containerd gets SIGTERM (SIGKILL after
//     10 s), and Done is closed once it has exited.
//
// Containers survive a restart of containerd or of the agent: their shims
// are separate processes, and the next containerd reconnects to them.
// docs/containerd.md describes the generated files.
package containerd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"skiff.dev/skiff/internal/agent/pause"
	"skiff.dev/skiff/internal/agent/runtime"
)

// Options configure a supervised containerd.
type Options struct {
	// DataDir is Skiff's data directory. containerd's config, root, state,
	// socket and log go under DataDir/agent/containerd, the CNI network
	// config and addresses under DataDir/agent/cni.
	DataDir string
	// PodCIDR is the node's pod network, e.g. "10.42.0.0/24". Pods get
	// addresses from it on a bridge whose gateway is its first address.
	PodCIDR string
	// BridgeName is the pods' Linux bridge; default "skiff0". Two agents
	// on one machine (tests) need different bridges and CIDRs.
	BridgeName string
	// Binary is containerd's executable; default: "containerd" in PATH.
	Binary string
	// CNIBinDir holds the CNI plug-ins; default: the first of
	// /usr/lib/cni, /opt/cni/bin, ... that has the bridge plug-in.
	CNIBinDir string
	// RestrictOOMScoreAdj overrides the detection of whether containerd
	// must clamp oom_score_adj (see docs/containerd.md).
	RestrictOOMScoreAdj *bool
	// StartTimeout bounds how long Start waits for containerd to serve;
	// default 60 s.
	StartTimeout time.Duration
	// Logger for the supervisor's events; default slog.Default().
	Logger *slog.Logger
}

// Process is a supervised containerd.
type Process struct {
	paths  paths
	binary string
	log    *slog.Logger

	cancel   context.CancelFunc
	mu       sync.Mutex
	pid      int
	restarts int

	done chan struct{}
}

// installHint is what to do when containerd is missing.
const installHint = "apt-get install containerd runc containernetworking-plugins"

// ErrNotInstalled is returned (wrapped) by Start when containerd or the
// CNI plug-ins are not installed.
var ErrNotInstalled = errors.New("not installed")

// Start generates containerd's config, starts containerd and supervises it
// until ctx ends. It returns once containerd's CRI serves and holds the
// pause image. Start's errors name what is missing and how to install it.
func Start(ctx context.Context, opts Options) (*Process, error) {
	p, err := newPaths(opts.DataDir)
	if err != nil {
		return nil, err
	}
	binary := opts.Binary
	if binary == "" {
		binary = "containerd"
	}
	if binary, err = exec.LookPath(binary); err != nil {
		return nil, fmt.Errorf("containerd %w: %v; install it with `%s`, or give the agent --container-runtime-endpoint", ErrNotInstalled, err, installHint)
	}
	if _, err := exec.LookPath("runc"); err != nil {
		return nil, fmt.Errorf("runc %w: %v; install it with `%s`", ErrNotInstalled, err, installHint)
	}
	cniBin := opts.CNIBinDir
	if cniBin == "" {
		if cniBin, err = findCNIBinDir(cniBinDirs); err != nil {
			return nil, fmt.Errorf("containerd: CNI plug-ins %w: %v", ErrNotInstalled, err)
		}
	}
	cidr, err := netip.ParsePrefix(opts.PodCIDR)
	if err != nil {
		return nil, fmt.Errorf("containerd: pod CIDR: %w", err)
	}
	bridge := opts.BridgeName
	if bridge == "" {
		bridge = "skiff0"
	}
	if len(bridge) > 15 {
		return nil, fmt.Errorf("containerd: bridge name %q is longer than 15 bytes", bridge)
	}
	restrict := !canLowerOOMScoreAdj()
	if opts.RestrictOOMScoreAdj != nil {
		restrict = *opts.RestrictOOMScoreAdj
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "containerd")

	for _, d := range []string{p.dir, p.root, p.state, p.cniConfDir, p.cniIPAMDir, filepath.Dir(p.socket)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("containerd: %w", err)
		}
	}
	cfg := renderConfig(configParams{paths: p, sandboxImage: pause.Image, cniBinDir: cniBin, restrictOOMScoreAdj: restrict})
	if err := os.WriteFile(p.config, []byte(cfg), 0o600); err != nil {
		return nil, fmt.Errorf("containerd: config: %w", err)
	}
	if err := WriteRegistryHosts(opts.DataDir, log); err != nil {
		return nil, fmt.Errorf("containerd: %w", err)
	}
	cni, err := renderCNIConfig(bridge, cidr, p.cniIPAMDir)
	if err != nil {
		return nil, fmt.Errorf("containerd: CNI config: %w", err)
	}
	if err := os.WriteFile(filepath.Join(p.cniConfDir, cniConfName), cni, 0o644); err != nil {
		return nil, fmt.Errorf("containerd: CNI config: %w", err)
	}
	if err := resetStaleBridge(bridge, cidr, log); err != nil {
		return nil, fmt.Errorf("containerd: %w", err)
	}
	stopStale(p, log)

	ctx, cancel := context.WithCancel(ctx)
	proc := &Process{paths: p, binary: binary, log: log, cancel: cancel, done: make(chan struct{})}
	started := make(chan error, 1)
	go proc.supervise(ctx, started)
	if err := <-started; err != nil {
		proc.Stop()
		return nil, err
	}
	log.Info("containerd started", "pid", proc.PID(), "socket", p.socket, "config", p.config,
		"cniBinDir", cniBin, "podCIDR", cidr.String(), "restrictOOMScoreAdj", restrict)

	timeout := opts.StartTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	if err := proc.waitReady(ctx, timeout); err != nil {
		proc.Stop()
		return nil, err
	}
	return proc, nil
}

// Stop stops containerd (SIGTERM, SIGKILL after 10 s) and waits until it
// has exited. Ending Start's context does the same without waiting.
func (p *Process) Stop() {
	p.cancel()
	<-p.done
}

// Endpoint is the CRI endpoint of this containerd ("unix:///...sock").
func (p *Process) Endpoint() string { return "unix://" + p.paths.socket }

// Socket is the path of containerd's gRPC socket.
func (p *Process) Socket() string { return p.paths.socket }

// LogFile is where containerd's output goes.
func (p *Process) LogFile() string { return p.paths.log }

// PID is the process id of the current containerd, 0 between restarts.
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid
}

// Restarts counts how often the supervisor restarted containerd.
func (p *Process) Restarts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restarts
}

// Done is closed when containerd has exited for good, after the context
// given to Start ended.
func (p *Process) Done() <-chan struct{} { return p.done }

// waitReady waits until the CRI answers on the socket, then imports the
// pause image and waits until the CRI sees it.
func (p *Process) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	fail := func(err error) error {
		return fmt.Errorf("containerd did not start: %w; its log %s ends with:\n%s", err, p.paths.log, tail(p.paths.log, 20))
	}
	// Until containerd listens, a gRPC dial would spin; wait for the
	// socket first so a broken config fails with containerd's own words.
	for {
		c, err := net.Dial("unix", p.paths.socket)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-ctx.Done():
			return fail(fmt.Errorf("socket %s: %w", p.paths.socket, err))
		case <-time.After(50 * time.Millisecond):
		}
	}
	cri, err := runtime.NewCRI(ctx, p.Endpoint())
	if err != nil {
		return fail(err)
	}
	defer cri.Close()
	archive, err := pause.Archive()
	if err != nil {
		return err
	}
	if _, err := cri.ImportImages(ctx, bytes.NewReader(archive)); err != nil {
		return fail(fmt.Errorf("import the pause image: %w", err))
	}
	return nil
}

// supervise runs containerd until ctx ends, restarting it when it dies.
// The first start's result goes to started.
func (p *Process) supervise(ctx context.Context, started chan<- error) {
	defer close(p.done)
	// containerd gets SIGKILL if this thread dies (Pdeathsig is per
	// thread): keep the goroutine on one thread for its whole life, so an
	// agent that crashes does not leave an orphan holding the socket.
	goruntime.LockOSThread()

	const minBackoff, maxBackoff = 100 * time.Millisecond, 10 * time.Second
	backoff := minBackoff
	first := true
	for {
		cmd, logFile, err := p.start(ctx)
		if first {
			started <- err
			first = false
			if err != nil {
				return
			}
		}
		if err != nil {
			p.log.Error("containerd failed to start", "err", err, "retryIn", backoff)
		} else {
			began := time.Now()
			err = cmd.Wait()
			logFile.Close()
			p.mu.Lock()
			p.pid = 0
			p.mu.Unlock()
			_ = os.Remove(p.paths.pidFile)
			if ctx.Err() != nil {
				p.log.Info("containerd stopped", "status", exitStatus(cmd, err))
				return
			}
			if time.Since(began) > time.Minute {
				backoff = minBackoff
			}
			p.log.Error("containerd exited; restarting it", "status", exitStatus(cmd, err), "retryIn", backoff, "log", p.paths.log)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
		p.mu.Lock()
		p.restarts++
		p.mu.Unlock()
	}
}

// start starts one containerd process, its output appended to the log.
func (p *Process) start(ctx context.Context) (*exec.Cmd, *os.File, error) {
	rotate(p.paths.log, 16<<20)
	logFile, err := os.OpenFile(p.paths.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("containerd log: %w", err)
	}
	cmd := exec.CommandContext(ctx, p.binary, "--config", p.paths.config)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Dir = p.paths.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group: a Ctrl-C at the agent's terminal must
		// not reach containerd before the agent has told it to stop.
		Setpgid:   true,
		Pdeathsig: syscall.SIGKILL,
	}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, nil, fmt.Errorf("start %s: %w", p.binary, err)
	}
	p.mu.Lock()
	p.pid = cmd.Process.Pid
	p.mu.Unlock()
	if err := os.WriteFile(p.paths.pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o600); err != nil {
		p.log.Warn("cannot write containerd's pid file", "err", err)
	}
	return cmd, logFile, nil
}

// stopStale kills a containerd a previous agent started with this config
// and left running (the agent was killed), found by the pid file: two
// containerds on one root would block on the metadata database's lock.
func stopStale(p paths, log *slog.Logger) {
	b, err := os.ReadFile(p.pidFile)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || !bytes.Contains(cmdline, []byte(p.config)) {
		return // gone, or the pid now belongs to someone else
	}
	log.Warn("stopping a containerd left running by a previous agent", "pid", pid)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// exitStatus says how containerd ended ("signal: killed").
func exitStatus(cmd *exec.Cmd, err error) string {
	if cmd.ProcessState != nil {
		return cmd.ProcessState.String()
	}
	return fmt.Sprint(err)
}

// rotate renames the log to .1 once it is bigger than limit.
func rotate(path string, limit int64) {
	if fi, err := os.Stat(path); err == nil && fi.Size() > limit {
		_ = os.Rename(path, path+".1")
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	const maxRead = 64 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > maxRead {
		_, _ = f.Seek(-maxRead, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
