package containerd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRenderHosts(t *testing.T) {
	regs := Registries{
		Mirrors: map[string]Mirror{
			"docker.io": {Endpoints: []string{"mirror.example.com:5000", "http://10.0.0.1:5000/v2/"}},
			"*":         {Endpoints: []string{"https://cache.example.com"}},
		},
		Configs: map[string]RegistryConfig{
			"mirror.example.com:5000": {TLS: &RegistryTLS{CAFile: "/etc/ca.pem", CertFile: "/etc/c.pem", KeyFile: "/etc/k.pem"}},
			"registry.example.com":    {TLS: &RegistryTLS{InsecureSkipVerify: true}},
		},
	}
	got, err := renderHosts(regs)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"docker.io": hostsHeader + `
server = "https://registry-1.docker.io"

[host."https://mirror.example.com:5000"]
  capabilities = ["pull", "resolve"]
  ca = "/etc/ca.pem"
  client = [["/etc/c.pem", "/etc/k.pem"]]

[host."http://10.0.0.1:5000"]
  capabilities = ["pull", "resolve"]
`,
		"_default": hostsHeader + `

[host."https://cache.example.com"]
  capabilities = ["pull", "resolve"]
`,
		"registry.example.com": hostsHeader + `
server = "https://registry.example.com"
skip_verify = true
`,
		// A host with only a config (a mirror's) gets its own file too:
		// pulls that name it directly trust the same CA.
		"mirror.example.com:5000": hostsHeader + `
server = "https://mirror.example.com:5000"
ca = "/etc/ca.pem"
client = [["/etc/c.pem", "/etc/k.pem"]]
`,
	}
	if len(got) != len(want) {
		t.Errorf("got %d files, want %d: %q", len(got), len(want), got)
	}
	for dir, w := range want {
		if got[dir] != w {
			t.Errorf("%s/hosts.toml:\n%s\nwant:\n%s", dir, got[dir], w)
		}
	}
	for _, bad := range []Registries{
		{Mirrors: map[string]Mirror{"docker.io/library": {}}},
		{Mirrors: map[string]Mirror{"docker.io": {Endpoints: []string{"ftp://x"}}}},
	} {
		if _, err := renderHosts(bad); err == nil {
			t.Errorf("renderHosts(%+v) accepted", bad)
		}
	}
}

func TestWriteRegistryHostsReplacesOnlyItsOwn(t *testing.T) {
	dataDir := t.TempDir()
	agentDir := filepath.Join(dataDir, "agent")
	certs := filepath.Join(agentDir, "containerd", "certs.d")
	write := func(path, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	exists := func(path string) bool {
		_, err := os.Stat(path)
		return err == nil
	}
	// A user's own host config stays whatever happens.
	write(filepath.Join(certs, "mine.example.com", "hosts.toml"), `server = "https://mine.example.com"`+"\n")

	write(filepath.Join(agentDir, RegistriesFile), "mirrors:\n  a.example.com:\n    endpoint: [\"http://127.0.0.1:5000\"]\n")
	if err := WriteRegistryHosts(dataDir, nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(certs, "a.example.com", "hosts.toml"))
	if err != nil || !strings.Contains(string(b), `[host."http://127.0.0.1:5000"]`) {
		t.Fatalf("a.example.com/hosts.toml = %q, %v", b, err)
	}

	write(filepath.Join(agentDir, RegistriesFile), "configs:\n  b.example.com:\n    tls:\n      insecure_skip_verify: true\n")
	if err := WriteRegistryHosts(dataDir, nil); err != nil {
		t.Fatal(err)
	}
	if exists(filepath.Join(certs, "a.example.com")) {
		t.Error("a.example.com's config outlived its registries.yaml entry")
	}
	if !exists(filepath.Join(certs, "b.example.com", "hosts.toml")) || !exists(filepath.Join(certs, "mine.example.com", "hosts.toml")) {
		t.Error("b.example.com's or the user's own hosts.toml is missing")
	}

	write(filepath.Join(agentDir, RegistriesFile), "mirrors:\n  docker.io:\n    endpoints: [x]\n")
	if err := WriteRegistryHosts(dataDir, nil); err == nil {
		t.Error("a misspelt field was accepted")
	}
}
