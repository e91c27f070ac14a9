package encryption

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// waitStatus polls the status file until ok accepts it.
func waitStatus(t *testing.T, dir string, what string, ok func(Status) bool) Status {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := ReadStatus(dir)
		if err == nil && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: last status %+v, err %v", what, st, err)
		}
		time.Sleep(10 * time.Millisecond) // polling a file, not waiting for time
	}
}

// A changed file that loads replaces the configuration; one that does not
// leaves the old one in use and says why; going back clears the error.
func TestReloader(t *testing.T) {
	dir := t.TempDir()
	path, err := EnsureDefault(dir)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	tr, err := LoadTransformers(path)
	if err != nil {
		t.Fatal(err)
	}
	s := NewStore(openBolt(t), tr)
	r := &Reloader{Store: s, ConfigFile: path, DataDir: dir, Interval: 10 * time.Millisecond}
	if err := r.WriteStatus(nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)

	first := tr.WriteKeys()["secrets"]
	bad := "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - kms: {apiVersion: v1, name: vault, endpoint: unix:///run/kms.sock}\n"
	if err := writeFileAtomic(path, []byte(bad)); err != nil {
		t.Fatal(err)
	}
	st := waitStatus(t, dir, "bad file reported", func(st Status) bool { return st.LoadError != "" })
	if !strings.Contains(st.LoadError, "KMSv1 is deprecated") || st.WriteKeys["secrets"] != first || s.Transformers() != tr {
		t.Fatalf("after a bad file: %+v", st)
	}
	if err := writeFileAtomic(path, good); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, dir, "error cleared", func(st Status) bool { return st.LoadError == "" })

	cfg, _, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := NewSecretboxKey(nil)
	k.Name = "next"
	cfg.Resources[0].Providers = append([]ProviderConfiguration{{Secretbox: &SecretboxConfiguration{Keys: []Key{k}}}}, cfg.Resources[0].Providers...)
	if err := WriteConfig(path, cfg); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, dir, "new key loaded", func(st Status) bool { return st.WriteKeys["secrets"] == "secretbox:next" })
	if got := s.Transformers().WriteKeys()["secrets"]; got != "secretbox:next" {
		t.Fatalf("store writes with %s", got)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("rewritten file mode %v %v", fi.Mode(), err)
	}
}
