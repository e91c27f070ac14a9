package cgroups

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestParseMountinfo(t *testing.T) {
	hybrid := `30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
33 30 0:30 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory
38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
	tests := []struct {
		name    string
		in      string
		want    Layout
		wantErr error
	}{
		{name: "cgroup v1 with a hybrid cgroup2 mount", in: hybrid, want: Layout{
			V1: map[string]string{"cpu": "/sys/fs/cgroup/cpu,cpuacct", "memory": "/sys/fs/cgroup/memory", "pids": "/sys/fs/cgroup/pids"},
			All: []string{"/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpuset", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids",
				"/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"},
		}},
		{name: "cgroup v2", in: "25 20 0:24 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
			want: Layout{Unified: "/sys/fs/cgroup", All: []string{"/sys/fs/cgroup"}}},
		{name: "a sub-tree bind mount does not count", in: "25 20 0:24 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
			wantErr: ErrUnsupported},
		{name: "cgroup v1 without pids", in: "31 30 0:28 / /c/cpu rw - cgroup cgroup rw,cpu\n34 30 0:31 / /c/memory rw - cgroup cgroup rw,memory\n",
			wantErr: ErrUnsupported},
		{name: "no cgroups", in: "22 1 0:21 / /proc rw - proc proc rw\n", wantErr: ErrUnsupported},
		{name: "escaped mount point", in: `25 20 0:24 / /mnt/c\040g rw - cgroup2 cgroup2 rw` + "\n",
			want: Layout{Unified: "/mnt/c g", All: []string{"/mnt/c g"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMountinfo(strings.NewReader(tc.in))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if len(got.V1) == 0 {
				got.V1 = nil
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("layout = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestWritesV1 checks the files a v1 pod cgroup gets, on ordinary
// directories standing in for the hierarchies.
func TestWritesV1(t *testing.T) {
	dir := t.TempDir()
	l := Layout{V1: map[string]string{}}
	for _, c := range controllers {
		l.V1[c] = filepath.Join(dir, c)
		l.All = append(l.All, l.V1[c])
	}
	m, err := New(l, "/skiff")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Init(2000); err != nil {
		t.Fatal(err)
	}
	if err := m.SetBurstableShares(300); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		qos    corev1.PodQOSClass
		limits Limits
		path   string
		files  map[string]string
	}{
		{qos: corev1.PodQOSGuaranteed, limits: Limits{CPUShares: 1024, CPUQuota: 100000, CPUPeriod: 100000, MemoryBytes: 64 << 20, PidsMax: 4096},
			path: "/skiff/kubepods/podg1",
			files: map[string]string{"cpu/cpu.shares": "1024", "cpu/cpu.cfs_period_us": "100000", "cpu/cpu.cfs_quota_us": "100000",
				"memory/memory.limit_in_bytes": "67108864", "pids/pids.max": "4096"}},
		{qos: corev1.PodQOSBurstable, limits: Limits{CPUShares: 102}, path: "/skiff/kubepods/burstable/podb1",
			files: map[string]string{"cpu/cpu.shares": "102", "cpu/cpu.cfs_quota_us": "-1", "memory/memory.limit_in_bytes": "-1", "pids/pids.max": "max"}},
		{qos: corev1.PodQOSBestEffort, limits: Limits{CPUShares: 2, PidsMax: 10}, path: "/skiff/kubepods/besteffort/pode1",
			files: map[string]string{"cpu/cpu.shares": "2", "pids/pids.max": "10"}},
	}
	for _, tc := range tests {
		uid := types.UID(strings.TrimPrefix(filepath.Base(tc.path), "pod"))
		got, err := m.EnsurePod(tc.qos, uid, tc.limits)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.path || m.PodPath(tc.qos, uid) != tc.path {
			t.Errorf("EnsurePod(%s) = %s, want %s", tc.qos, got, tc.path)
		}
		for f, want := range tc.files {
			ctrl, file, _ := strings.Cut(f, "/")
			if v := readFile(t, filepath.Join(dir, ctrl, tc.path, file)); v != want {
				t.Errorf("%s %s = %q, want %q", tc.path, f, v, want)
			}
		}
	}
	for f, want := range map[string]string{
		"cpu/skiff/kubepods/cpu.shares":            "2048",
		"cpu/skiff/kubepods/burstable/cpu.shares":  "307",
		"cpu/skiff/kubepods/besteffort/cpu.shares": "2",
	} {
		if v := readFile(t, filepath.Join(dir, f)); v != want {
			t.Errorf("%s = %q, want %q", f, v, want)
		}
	}
	pods, err := m.Pods()
	if err != nil {
		t.Fatal(err)
	}
	var uids []string
	for _, p := range pods {
		uids = append(uids, string(p.UID)+"="+p.Path)
	}
	want := []string{"g1=/skiff/kubepods/podg1", "b1=/skiff/kubepods/burstable/podb1", "e1=/skiff/kubepods/besteffort/pode1"}
	if !reflect.DeepEqual(uids, want) {
		t.Errorf("Pods = %v, want %v", uids, want)
	}
}

func TestWritesV2(t *testing.T) {
	dir := t.TempDir()
	m, err := New(Layout{Unified: dir, All: []string{dir}}, "/")
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.EnsurePod(corev1.PodQOSBurstable, "u1", Limits{CPUShares: 512, CPUQuota: 50000, CPUPeriod: 100000, MemoryBytes: 1 << 30, PidsMax: 4096})
	if err != nil {
		t.Fatal(err)
	}
	if p != "/kubepods/burstable/podu1" {
		t.Errorf("path = %s", p)
	}
	for f, want := range map[string]string{
		"cgroup.subtree_control":                    "+cpu +memory +pids",
		"kubepods/cgroup.subtree_control":           "+cpu +memory +pids",
		"kubepods/burstable/cgroup.subtree_control": "+cpu +memory +pids",
		"kubepods/burstable/podu1/cpu.weight":       "20",
		"kubepods/burstable/podu1/cpu.max":          "50000 100000",
		"kubepods/burstable/podu1/memory.max":       "1073741824",
		"kubepods/burstable/podu1/pids.max":         "4096",
	} {
		if v := readFile(t, filepath.Join(dir, f)); v != want {
			t.Errorf("%s = %q, want %q", f, v, want)
		}
	}
	if _, err := m.EnsurePod(corev1.PodQOSBestEffort, "u2", Limits{CPUShares: 2}); err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]string{
		"kubepods/besteffort/podu2/cpu.weight": "1",
		"kubepods/besteffort/podu2/cpu.max":    "max",
		"kubepods/besteffort/podu2/memory.max": "max",
		"kubepods/besteffort/podu2/pids.max":   "max",
	} {
		if v := readFile(t, filepath.Join(dir, f)); v != want {
			t.Errorf("%s = %q, want %q", f, v, want)
		}
	}
}

// TestMachine runs against the machine's own cgroups, under a root of
// its own: the kernel's view of the limits, and removal that waits for
// the last process to leave.
func TestMachine(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	l, err := Detect()
	if err != nil {
		t.Skipf("no cgroups: %v", err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	root := "/skiff-test-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		for _, mnt := range l.All {
			_ = removeTree(filepath.Join(mnt, root))
		}
	})
	m, err := New(l, root)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Init(2000); err != nil {
		t.Fatal(err)
	}
	p, err := m.EnsurePod(corev1.PodQOSBurstable, "u1", Limits{CPUShares: 256, CPUQuota: 50000, CPUPeriod: 100000, MemoryBytes: 64 << 20, PidsMax: 5})
	if err != nil {
		t.Fatal(err)
	}
	pidsDir, procs := filepath.Join(l.Unified, p), filepath.Join(l.Unified, p, "cgroup.procs")
	memFile := filepath.Join(l.Unified, p, "memory.max")
	if l.Unified == "" {
		pidsDir, procs = filepath.Join(l.V1["pids"], p), filepath.Join(l.V1["pids"], p, "cgroup.procs")
		memFile = filepath.Join(l.V1["memory"], p, "memory.limit_in_bytes")
	}
	if v := strings.TrimSpace(readFile(t, filepath.Join(pidsDir, "pids.max"))); v != "5" {
		t.Errorf("pids.max = %q, want 5", v)
	}
	if v := strings.TrimSpace(readFile(t, memFile)); v != strconv.Itoa(64<<20) {
		t.Errorf("memory limit = %q, want %d", v, 64<<20)
	}

	// A process inside keeps the cgroup; once it has gone, it is removed.
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if err := os.WriteFile(procs, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.RemovePod("u1"); !errors.Is(err, ErrBusy) {
		t.Fatalf("RemovePod with a process inside = %v, want ErrBusy", err)
	}
	if pods, err := m.Pods(); err != nil || len(pods) != 1 || pods[0].UID != "u1" {
		t.Fatalf("Pods = %v, %v; want u1", pods, err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if err := m.RemovePod("u1"); err != nil {
		t.Fatalf("RemovePod: %v", err)
	}
	if _, err := os.Stat(pidsDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still exists (%v)", pidsDir, err)
	}
	if pods, err := m.Pods(); err != nil || len(pods) != 0 {
		t.Errorf("Pods after removal = %v, %v", pods, err)
	}
	if err := m.RemovePod("u1"); err != nil {
		t.Errorf("RemovePod of a removed pod: %v", err)
	}
}
