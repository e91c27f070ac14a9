package agent

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// MaxPods is upstream's default pod capacity of a node.
const MaxPods = 110

// Machine is what a node reports about its machine.
type Machine struct {
	CPUs             int64
	MemoryBytes      int64
	EphemeralStorage int64 // bytes of the filesystem holding the data directory
	Hostname         string
	MachineID        string
	SystemUUID       string
	BootID           string
	KernelVersion    string
	OSImage          string
}

// ReadMachine reads the local machine; dataDir's filesystem sizes
// ephemeral storage.
func ReadMachine(dataDir string) (*Machine, error) {
	m := &Machine{CPUs: int64(goruntime.NumCPU())}
	var err error
	if m.Hostname, err = os.Hostname(); err != nil {
		return nil, fmt.Errorf("hostname: %w", err)
	}
	m.Hostname = strings.ToLower(m.Hostname)
	if m.MemoryBytes, err = memTotal(); err != nil {
		return nil, err
	}
	dir := dataDir
	if dir == "" {
		dir = "/"
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return nil, fmt.Errorf("statfs %s: %w", dir, err)
	}
	m.EphemeralStorage = int64(st.Blocks) * st.Bsize
	m.MachineID = readTrimmed("/etc/machine-id")
	m.SystemUUID = strings.ToLower(readTrimmed("/sys/class/dmi/id/product_uuid"))
	m.BootID = readTrimmed("/proc/sys/kernel/random/boot_id")
	m.KernelVersion = readTrimmed("/proc/sys/kernel/osrelease")
	m.OSImage = osImage()
	return m, nil
}

func readTrimmed(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func memTotal() (int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, fmt.Errorf("read memory size: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse MemTotal: %w", err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no MemTotal in /proc/meminfo")
}

// osImage is /etc/os-release's PRETTY_NAME, as upstream reports it.
func osImage() string {
	for _, path := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
				return strings.Trim(v, `"'`)
			}
		}
	}
	return "Unknown"
}

// capacity and allocatable as upstream computes them with its default
// reservations: 100Mi of memory and 10% of the node filesystem held back
// for eviction thresholds, nothing else reserved.
func (m *Machine) capacity() (capacity, allocatable corev1.ResourceList) {
	capacity = corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewQuantity(m.CPUs, resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(m.MemoryBytes, resource.BinarySI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(m.EphemeralStorage, resource.BinarySI),
		corev1.ResourcePods:             *resource.NewQuantity(MaxPods, resource.DecimalSI),
		"hugepages-1Gi":                 *resource.NewQuantity(0, resource.DecimalSI),
		"hugepages-2Mi":                 *resource.NewQuantity(0, resource.DecimalSI),
	}
	allocatable = capacity.DeepCopy()
	allocatable[corev1.ResourceMemory] = *resource.NewQuantity(max(m.MemoryBytes-100<<20, 0), resource.BinarySI)
	allocatable[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(m.EphemeralStorage-m.EphemeralStorage/10, resource.DecimalSI)
	return capacity, allocatable
}
