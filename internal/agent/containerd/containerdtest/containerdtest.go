// Package containerdtest runs a real containerd, supervised exactly as
// the agent runs it, for the tests of the agent's packages: a fresh data
// directory, its own bridge and pod CIDR (so tests in parallel processes
// do not share addresses), and a clean-up that leaves no pod, shim, mount
// or bridge behind even when the test fails.
//
//	n := containerdtest.Start(t)          // skips unless root with containerd installed
//	n.Import(t, testimages.Busybox(t))
//	id, err := n.Runtime.RunSandbox(ctx, &runtime.SandboxConfig{...})
package containerdtest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"skiff.dev/skiff/internal/agent/containerd"
	"skiff.dev/skiff/internal/agent/runtime"
)

// Node is a running containerd and a CRI client connected to it.
type Node struct {
	Process *containerd.Process
	Runtime *runtime.CRI
	DataDir string
	PodCIDR netip.Prefix
	Bridge  string
}

// Skip skips the test unless it runs as root on a machine with
// containerd, runc, ctr and the CNI plug-ins.
func Skip(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run containerd")
	}
	for _, bin := range []string{"containerd", "runc", "ctr"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed (apt-get install containerd runc containernetworking-plugins)", bin)
		}
	}
}

// Start starts a supervised containerd in a temporary data directory and
// connects a CRI client to it. Everything is stopped and removed when the
// test ends.
func Start(t testing.TB) *Node {
	t.Helper()
	Skip(t)
	n := &Node{DataDir: t.TempDir(), PodCIDR: freeCIDR(t), Bridge: "skt" + randomHex(t, 3)}
	ctx, cancel := context.WithCancel(context.Background())
	// Registered after TempDir's, so it runs first: the directory holds
	// mounts until the clean-up has unmounted them.
	t.Cleanup(func() {
		n.cleanup(t)
		cancel()
	})
	startCtx, startCancel := context.WithTimeout(ctx, 90*time.Second)
	defer startCancel()
	proc, err := containerd.Start(ctx, containerd.Options{
		DataDir:      n.DataDir,
		PodCIDR:      n.PodCIDR.String(),
		BridgeName:   n.Bridge,
		StartTimeout: 60 * time.Second,
	})
	if err != nil {
		t.Fatalf("start containerd: %v", err)
	}
	n.Process = proc
	rt, err := runtime.NewCRI(startCtx, proc.Endpoint())
	if err != nil {
		t.Fatalf("connect to containerd: %v", err)
	}
	n.Runtime = rt
	return n
}

// Import imports the image archive at path and returns the names it held.
func (n *Node) Import(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	names, err := n.Runtime.ImportImages(ctx, f)
	if err != nil {
		t.Fatalf("import %s: %v", path, err)
	}
	return names
}

// LogDir returns a fresh directory for a sandbox's container logs.
func (n *Node) LogDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp(n.DataDir, "pod-logs-")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func (n *Node) cleanup(t testing.TB) {
	if t.Failed() && n.Process != nil {
		t.Logf("containerd log (%s), last lines:\n%s", n.Process.LogFile(), lastLines(n.Process.LogFile(), 150))
	}
	// Pods first, through the CRI, so containerd unmounts their root
	// file systems, deletes their network namespaces and releases their
	// addresses.
	if n.Runtime != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		if sbs, err := n.Runtime.ListSandboxes(ctx); err == nil {
			for _, sb := range sbs {
				if err := n.Runtime.StopSandbox(ctx, sb.ID); err != nil {
					t.Logf("clean-up: %v", err)
				}
				if err := n.Runtime.RemoveSandbox(ctx, sb.ID); err != nil {
					t.Logf("clean-up: %v", err)
				}
			}
		} else {
			t.Logf("clean-up: %v", err)
		}
		cancel()
		n.Runtime.Close()
	}
	if n.Process != nil {
		n.Process.Stop()
		Sweep(t, n.DataDir, n.Process.Socket(), n.Bridge)
	} else {
		Sweep(t, n.DataDir, "", n.Bridge)
	}
}

// Sweep removes what a stopped node's containerd can leave behind when
// its pods were not removed through the CRI (a broken test, or a server
// stopped with pods running, which keeps them as k3s does): runc
// containers under dataDir's state, the shims serving socket (empty:
// none), every mount at or below dataDir (root file systems, network
// namespaces), the socket's directory under /run/skiff and the bridge
// (empty: none). It returns how many containers, shims and mounts it
// found, so a caller that expected none can say so.
func Sweep(t testing.TB, dataDir, socket, bridge string) (leftovers int) {
	t.Helper()
	runcRoot := filepath.Join(dataDir, "agent", "containerd", "state", "runc", "k8s.io")
	if ents, err := os.ReadDir(runcRoot); err == nil {
		for _, e := range ents {
			leftovers++
			if out, err := exec.Command("runc", "--root", runcRoot, "delete", "--force", e.Name()).CombinedOutput(); err != nil {
				t.Logf("clean-up: runc delete %s: %v: %s", e.Name(), err, out)
			}
		}
	}
	if socket != "" {
		leftovers += killShims(t, socket)
		// A deep data directory puts the sockets under /run/skiff.
		if strings.HasPrefix(socket, "/run/skiff/") {
			_ = os.RemoveAll(filepath.Dir(socket))
		}
	}
	leftovers += unmountUnder(t, dataDir)
	if bridge != "" {
		if _, err := net.InterfaceByName(bridge); err == nil {
			if out, err := exec.Command("ip", "link", "delete", bridge).CombinedOutput(); err != nil {
				t.Logf("clean-up: delete bridge %s: %v: %s", bridge, err, out)
			}
		}
	}
	return leftovers
}

// killShims kills the containerd shims that serve the containerd at
// socket (their command line names it), which only a broken test leaves.
func killShims(t testing.TB, socket string) (killed int) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) == 0 || !strings.Contains(filepath.Base(args[0]), "containerd-shim") {
			continue
		}
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-address" && args[i+1] == socket {
				pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
				t.Logf("clean-up: killing leftover shim %d", pid)
				_ = syscall.Kill(pid, syscall.SIGKILL)
				killed++
				break
			}
		}
	}
	return killed
}

// unmountUnder detaches every mount at or below dir, deepest first.
func unmountUnder(t testing.TB, dir string) (found int) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	var mounts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			mounts = append(mounts, mp)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(mounts)))
	for _, mp := range mounts {
		t.Logf("clean-up: unmounting leftover %s", mp)
		if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil {
			t.Logf("clean-up: unmount %s: %v", mp, err)
		}
	}
	return len(mounts)
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// freeCIDR picks a random /24 in 10.128.0.0/9 that no interface of the
// machine overlaps.
func freeCIDR(t testing.TB) netip.Prefix {
	t.Helper()
	var used []netip.Prefix
	ifaces, _ := net.Interfaces()
	for _, ifc := range ifaces {
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				used = append(used, p.Masked())
			}
		}
	}
	for range 100 {
		b := make([]byte, 2)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 128 | b[0]&0x7f, b[1], 0}), 24)
		free := true
		for _, u := range used {
			if u.Overlaps(p) {
				free = false
				break
			}
		}
		if free {
			return p
		}
	}
	t.Fatal("no free /24 for the pod network")
	return netip.Prefix{}
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func lastLines(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprint(err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// FreeCIDR picks a random /24 in 10.128.0.0/9 that no interface of the
// machine overlaps, for a node's pod network that must not meet another
// test's.
func FreeCIDR(t testing.TB) netip.Prefix {
	t.Helper()
	return freeCIDR(t)
}
