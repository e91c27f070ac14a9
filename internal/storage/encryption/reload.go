package encryption

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// File names under the data directory.
const (
	// DefaultConfigFile is the configuration generated when
	// --encryption-provider-config is not given.
	DefaultConfigFile = "encryption-config.yaml"
	// StatusFile is where the server says which configuration it uses
	// (no key material), for `skiff secrets-encrypt`.
	StatusFile = "encryption-status.json"
)

// Status is what a server last loaded.
type Status struct {
	// ConfigFile is the configuration's path.
	ConfigFile string `json:"configFile"`
	// Hash is the hex SHA-256 of the file's bytes that are in use.
	Hash string `json:"hash"`
	// WriteKeys maps each configured resource to "<provider>:<key name>"
	// or "identity".
	WriteKeys map[string]string `json:"writeKeys"`
	// LoadError is the last reload's error, when the file on disk is not
	// the one in use ("" otherwise).
	LoadError string `json:"loadError,omitempty"`
	// Loaded is when the configuration in use was loaded.
	Loaded time.Time `json:"loaded"`
}

// ReadStatus reads a data directory's status file.
func ReadStatus(dataDir string) (Status, error) {
	var st Status
	b, err := os.ReadFile(filepath.Join(dataDir, StatusFile))
	if err != nil {
		return st, fmt.Errorf("read encryption status (is the server running on this data directory?): %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("decode %s: %w", StatusFile, err)
	}
	return st, nil
}

// EnsureDefault returns the configuration file of dataDir, generating it on
// first use: a secretbox provider with a random 32-byte key first (new
// values are encrypted) and identity second (values written before
// encryption was on stay readable), for Secrets.
func EnsureDefault(dataDir string) (string, error) {
	path := filepath.Join(dataDir, DefaultConfigFile)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	} else if !os.IsNotExist(err) {
		return "", fmt.Errorf("encryption provider config: %w", err)
	}
	k, err := NewSecretboxKey(nil)
	if err != nil {
		return "", err
	}
	cfg := &Configuration{Kind: Kind, APIVersion: APIVersion, Resources: []ResourceConfiguration{{
		Resources: []string{"secrets"},
		Providers: []ProviderConfiguration{
			{Secretbox: &SecretboxConfiguration{Keys: []Key{k}}},
			{Identity: &IdentityConfiguration{}},
		},
	}}}
	if err := WriteConfig(path, cfg); err != nil {
		return "", err
	}
	return path, nil
}

// NewSecretboxKey makes a random 32-byte key named "key-<unix time>",
// with a suffix if taken holds that name.
func NewSecretboxKey(taken map[string]bool) (Key, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return Key{}, fmt.Errorf("generate key: %w", err)
	}
	name := fmt.Sprintf("key-%d", time.Now().Unix())
	for i := 2; taken[name]; i++ {
		name = fmt.Sprintf("key-%d-%d", time.Now().Unix(), i)
	}
	return Key{Name: name, Secret: base64.StdEncoding.EncodeToString(b)}, nil
}

// WriteConfig validates cfg and replaces path atomically (mode 0600), so a
// reloading server never reads half a file.
func WriteConfig(path string, cfg *Configuration) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	b, err := cfg.Marshal()
	if err != nil {
		return err
	}
	return writeFileAtomic(path, b)
}

func writeFileAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Reloader follows a configuration file for a Store, as upstream's
// --encryption-provider-config-automatic-reload: a changed file that
// loads replaces the configuration; one that does not is logged and the
// old configuration stays. Each load is recorded in the status file.
type Reloader struct {
	Store      *Store
	ConfigFile string
	// DataDir holds the status file.
	DataDir string
	// Interval between checks of the file (upstream checks about once a
	// minute; the file is small, so Skiff checks more often).
	Interval time.Duration
}

// DefaultReloadInterval is how often a server checks its file.
const DefaultReloadInterval = 2 * time.Second

// WriteStatus records the configuration in use.
func (r *Reloader) WriteStatus(loadErr error) error {
	t := r.Store.Transformers()
	st := Status{ConfigFile: r.ConfigFile, Hash: t.Hash, WriteKeys: t.WriteKeys(), Loaded: t.loaded}
	if loadErr != nil {
		st.LoadError = loadErr.Error()
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(r.DataDir, StatusFile), append(b, '\n'))
}

// Run checks the file every Interval until ctx ends.
func (r *Reloader) Run(ctx context.Context) {
	interval := r.Interval
	if interval <= 0 {
		interval = DefaultReloadInterval
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var lastBad []byte
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		raw, err := os.ReadFile(r.ConfigFile)
		if err != nil {
			slog.Error("encryption provider config: keeping the loaded configuration", "err", err)
			continue
		}
		if bytes.Equal(raw, lastBad) {
			continue
		}
		if HashOf(raw) == r.Store.Transformers().Hash {
			if lastBad != nil { // the file is back to what is in use
				lastBad = nil
				if err := r.WriteStatus(nil); err != nil {
					slog.Error("encryption status", "err", err)
				}
			}
			continue
		}
		t, err := r.load(ctx, raw)
		if err != nil {
			lastBad = raw
			slog.Error("encryption provider config: keeping the loaded configuration", "file", r.ConfigFile, "err", err)
			if werr := r.WriteStatus(err); werr != nil {
				slog.Error("encryption status", "err", werr)
			}
			continue
		}
		lastBad = nil
		old := r.Store.Transformers()
		r.Store.Set(t)
		// Requests that loaded the old configuration may still be calling
		// its kms plugins: close it after they are done (upstream waits
		// twice the plugin timeouts).
		time.AfterFunc(kmsCloseGrace(old), old.Close)
		slog.Info("encryption provider config reloaded", "file", r.ConfigFile, "writeKeys", t.WriteKeys())
		if err := r.WriteStatus(nil); err != nil {
			slog.Error("encryption status", "err", err)
		}
	}
}

func kmsCloseGrace(t *Transformers) time.Duration {
	var d time.Duration
	for _, p := range t.kms {
		d += 2 * p.timeout
	}
	return d
}

func (r *Reloader) load(ctx context.Context, raw []byte) (*Transformers, error) {
	cfg, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	t, err := NewTransformers(cfg, raw)
	if err != nil {
		return nil, err
	}
	// As upstream, a new configuration replaces the old one only once its
	// kms plugins are healthy: swapping to a plugin that is not up would
	// fail every write.
	if err := waitKMSHealthy(ctx, t); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// waitKMSHealthy polls t's kms health check for up to twice the plugins'
// timeouts (at least 10 s).
func waitKMSHealthy(ctx context.Context, t *Transformers) error {
	if len(t.kms) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, max(kmsCloseGrace(t), 10*time.Second))
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		err := t.CheckKMS(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("health check for new transformers failed: %w", err)
		case <-tick.C:
		}
	}
}
