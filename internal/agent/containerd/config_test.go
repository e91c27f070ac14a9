package containerd

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRenderConfig(t *testing.T) {
	p, err := newPaths("/var/lib/skiff")
	if err != nil {
		t.Fatal(err)
	}
	for _, restrict := range []bool{true, false} {
		cfg := renderConfig(configParams{paths: p, sandboxImage: "skiff.dev/pause:1", cniBinDir: "/usr/lib/cni", restrictOOMScoreAdj: restrict})
		for _, want := range []string{
			`root = "/var/lib/skiff/agent/containerd/root"`,
			`state = "/var/lib/skiff/agent/containerd/state"`,
			`address = "/var/lib/skiff/agent/containerd/containerd.sock"`,
			`sandbox_image = "skiff.dev/pause:1"`,
			"SystemdCgroup = false",
			`bin_dir = "/usr/lib/cni"`,
			`conf_dir = "/var/lib/skiff/agent/cni/net.d"`,
			"restrict_oom_score_adj = " + map[bool]string{true: "true", false: "false"}[restrict],
		} {
			if !strings.Contains(cfg, want) {
				t.Errorf("config lacks %s:\n%s", want, cfg)
			}
		}
	}
}

func TestSocketPathFitsSunPath(t *testing.T) {
	short, err := newPaths("/var/lib/skiff")
	if err != nil {
		t.Fatal(err)
	}
	if short.socket != "/var/lib/skiff/agent/containerd/containerd.sock" {
		t.Errorf("socket %s", short.socket)
	}
	deep := "/" + strings.Repeat("d", 90)
	long, err := newPaths(deep)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(long.socket, "/run/skiff/") || len(long.socket)+len(".ttrpc") > maxSocketPath {
		t.Errorf("deep data dir: socket %s", long.socket)
	}
	other, _ := newPaths(deep + "x")
	if other.socket == long.socket {
		t.Error("two data directories share a socket")
	}
	if ep, err := Endpoint("/var/lib/skiff"); err != nil || ep != "unix:///var/lib/skiff/agent/containerd/containerd.sock" {
		t.Errorf("Endpoint = %q, %v", ep, err)
	}
}

func TestRenderCNIConfig(t *testing.T) {
	b, err := renderCNIConfig("skiff0", netip.MustParsePrefix("10.42.3.7/24"), "/data/ipam")
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		CNIVersion string `json:"cniVersion"`
		Plugins    []struct {
			Type   string
			Bridge string
			IPAM   struct {
				Type    string
				Ranges  [][]struct{ Subnet string }
				DataDir string
			}
			Capabilities map[string]bool
		}
	}
	if err := json.Unmarshal(b, &conf); err != nil {
		t.Fatal(err)
	}
	if len(conf.Plugins) != 2 || conf.Plugins[0].Type != "bridge" || conf.Plugins[1].Type != "portmap" {
		t.Fatalf("plugins %+v", conf.Plugins)
	}
	br := conf.Plugins[0]
	if br.Bridge != "skiff0" || br.IPAM.Type != "host-local" || br.IPAM.Ranges[0][0].Subnet != "10.42.3.0/24" || br.IPAM.DataDir != "/data/ipam" {
		t.Errorf("bridge %+v", br)
	}
	if !conf.Plugins[1].Capabilities["portMappings"] {
		t.Error("portmap does not take port mappings")
	}
}

func TestFindCNIBinDir(t *testing.T) {
	empty, full := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "bridge"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	if d, err := findCNIBinDir([]string{empty, full}); err != nil || d != full {
		t.Errorf("findCNIBinDir = %q, %v", d, err)
	}
	if _, err := findCNIBinDir([]string{empty}); err == nil || !strings.Contains(err.Error(), "apt-get install containernetworking-plugins") {
		t.Errorf("no plug-ins: %v", err)
	}
}

func TestStartWithoutContainerd(t *testing.T) {
	_, err := Start(context.Background(), Options{DataDir: t.TempDir(), PodCIDR: "10.42.0.0/24", Binary: "/nonexistent/containerd"})
	if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "apt-get install containerd runc containernetworking-plugins") {
		t.Errorf("Start without containerd: %v", err)
	}
}
