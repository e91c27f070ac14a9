// Package encryption encrypts chosen resources' values before they reach
// the store and decrypts them on the way back, configured by upstream's
// EncryptionConfiguration file (apiserver.config.k8s.io/v1), with values
// stored exactly as upstream stores them ("k8s:enc:<provider>:v1:<key>:"
// followed by the provider's payload, or "k8s:enc:kms:v2:<name>:" and an
// EncryptedObject for a KMS v2 plugin, kms.go), so an etcd written by
// Skiff holds what a kube-apiserver with the same file would write.
//
// Use: Load a file, wrap a storage.Store with NewStore, and let a Reloader
// follow the file (upstream's --encryption-provider-config-automatic-reload).
// EnsureDefault generates the file Skiff uses when none is given: a
// secretbox key first, identity second. Rotate re-encrypts every Secret of
// a running server with a new key.
package encryption

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Upstream's type identity of the file.
const (
	APIVersion = "apiserver.config.k8s.io/v1"
	Kind       = "EncryptionConfiguration"
)

// Configuration mirrors upstream's EncryptionConfiguration; field names
// and JSON tags are upstream's so the same file works for both.
type Configuration struct {
	Kind       string                  `json:"kind"`
	APIVersion string                  `json:"apiVersion"`
	Resources  []ResourceConfiguration `json:"resources"`
}

// ResourceConfiguration is one rule: resources and their providers in
// order. The first provider encrypts writes; every provider is tried to
// read.
type ResourceConfiguration struct {
	Resources []string                `json:"resources"`
	Providers []ProviderConfiguration `json:"providers"`
}

// ProviderConfiguration holds exactly one provider.
type ProviderConfiguration struct {
	AESGCM    *AESConfiguration       `json:"aesgcm,omitempty"`
	AESCBC    *AESConfiguration       `json:"aescbc,omitempty"`
	Secretbox *SecretboxConfiguration `json:"secretbox,omitempty"`
	Identity  *IdentityConfiguration  `json:"identity,omitempty"`
	KMS       *KMSConfiguration       `json:"kms,omitempty"`
}

// AESConfiguration is the aesgcm and aescbc providers' keys.
type AESConfiguration struct {
	Keys []Key `json:"keys"`
}

// SecretboxConfiguration is the secretbox provider's keys.
type SecretboxConfiguration struct {
	Keys []Key `json:"keys"`
}

// Key is a named key; Secret is its base64 (standard encoding) bytes.
type Key struct {
	Name   string `json:"name"`
	Secret string `json:"secret"`
}

// IdentityConfiguration is the identity provider (no encryption).
type IdentityConfiguration struct{}

// KMSConfiguration is a KMS v2 plugin (kms.go); apiVersion v1 is refused.
type KMSConfiguration struct {
	APIVersion string          `json:"apiVersion,omitempty"`
	Name       string          `json:"name"`
	CacheSize  *int32          `json:"cachesize,omitempty"`
	Endpoint   string          `json:"endpoint"`
	Timeout    *metav1Duration `json:"timeout,omitempty"`
}

// metav1Duration parses "3s"-style durations as metav1.Duration does,
// without importing apimachinery's meta types into the file format.
type metav1Duration struct{ time.Duration }

func (d *metav1Duration) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("timeout: %w", err)
	}
	d.Duration = v
	return nil
}

func (d metav1Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + d.Duration.String() + `"`), nil
}

// LoadFile reads and validates a configuration file (YAML or JSON).
func LoadFile(path string) (*Configuration, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read encryption provider config: %w", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, nil, fmt.Errorf("encryption provider config %s: %w", path, err)
	}
	return cfg, data, nil
}

// Parse decodes and validates a configuration (YAML or JSON).
func Parse(data []byte) (*Configuration, error) {
	var cfg Configuration
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// Marshal encodes cfg as YAML.
func (c *Configuration) Marshal() ([]byte, error) {
	return yaml.Marshal(c)
}

// Validate checks what upstream's validation checks, with its field paths:
// the type, at least one resource and provider per rule, one provider per
// item, key names and sizes, resources written as upstream accepts them.
func (c *Configuration) Validate() error {
	var errs []error
	if c.Kind != Kind || c.APIVersion != APIVersion {
		errs = append(errs, fmt.Errorf("kind/apiVersion: want %s %s, got %q %q", APIVersion, Kind, c.APIVersion, c.Kind))
	}
	if len(c.Resources) == 0 {
		errs = append(errs, errors.New("resources: Required value: EncryptionConfiguration.Resources must contain at least one resource"))
	}
	seen := map[string]string{}
	kmsNames := map[string]bool{}
	for i, rc := range c.Resources {
		path := fmt.Sprintf("resources[%d]", i)
		if len(rc.Resources) == 0 {
			errs = append(errs, fmt.Errorf("%s.resources: Required value: resources must contain at least one resource", path))
		}
		for j, r := range rc.Resources {
			rpath := fmt.Sprintf("%s.resources[%d]", path, j)
			if err := validateResource(r); err != nil {
				errs = append(errs, fmt.Errorf("%s: Invalid value: %q: %w", rpath, r, err))
				continue
			}
			if prev, ok := seen[r]; ok {
				errs = append(errs, fmt.Errorf("%s: Duplicate value: %q (already in %s)", rpath, r, prev))
			}
			seen[r] = rpath
		}
		if len(rc.Providers) == 0 {
			errs = append(errs, fmt.Errorf("%s.providers: Required value: providers must contain at least one provider", path))
		}
		for j, p := range rc.Providers {
			if err := validateProvider(p); err != nil {
				errs = append(errs, fmt.Errorf("%s.providers[%d]%w", path, j, err))
			}
			// Upstream: a KMS v2 name identifies its values' prefix.
			if p.KMS != nil && p.KMS.Name != "" {
				if kmsNames[p.KMS.Name] {
					errs = append(errs, fmt.Errorf("%s.providers[%d].kms.name: Invalid value: %q: duplicate kms provider name, names must be unique", path, j, p.KMS.Name))
				}
				kmsNames[p.KMS.Name] = true
			}
		}
	}
	return errors.Join(errs...)
}

// validateResource accepts "secrets", "deployments.apps", and the
// wildcards "*." (the core group), "*.apps" and "*.*", lower case.
func validateResource(r string) error {
	if r == "" || strings.ToLower(r) != r {
		return errors.New("resource name must be non-empty and lower case")
	}
	if r == "*" {
		return errors.New(`use "*.*" for all resources or "*." for the core group`)
	}
	if strings.Contains(r, "*") && !strings.HasPrefix(r, "*.") {
		return errors.New(`a wildcard must be "*.<group>"`)
	}
	if strings.Count(r, "*") > 2 || (strings.Count(r, "*") == 2 && r != "*.*") {
		return errors.New(`only "*.*" may wildcard the group`)
	}
	return nil
}

func validateProvider(p ProviderConfiguration) error {
	n := 0
	var keys []Key
	var name string
	var sizes []int
	if p.AESGCM != nil {
		n, keys, name, sizes = n+1, p.AESGCM.Keys, "aesgcm", []int{16, 24, 32}
	}
	if p.AESCBC != nil {
		n, keys, name, sizes = n+1, p.AESCBC.Keys, "aescbc", []int{16, 24, 32}
	}
	if p.Secretbox != nil {
		n, keys, name, sizes = n+1, p.Secretbox.Keys, "secretbox", []int{32}
	}
	if p.Identity != nil {
		n++
	}
	if p.KMS != nil {
		n++
		if err := validateKMS(p.KMS); err != nil {
			return err
		}
	}
	if n != 1 {
		return errors.New(": Invalid value: provider does not contain any of the expected providers: KMS, secretbox, aesgcm, aescbc or identity (exactly one per item)")
	}
	if name == "" {
		return nil
	}
	if len(keys) == 0 {
		return fmt.Errorf(".%s.keys: Required value: keys must contain at least one key", name)
	}
	names := map[string]bool{}
	for i, k := range keys {
		kpath := fmt.Sprintf(".%s.keys[%d]", name, i)
		if k.Name == "" {
			return fmt.Errorf("%s.name: Required value: key name is required", kpath)
		}
		if strings.Contains(k.Name, ":") {
			return fmt.Errorf("%s.name: Invalid value: %q: should not contain ':'", kpath, k.Name)
		}
		if names[k.Name] {
			return fmt.Errorf("%s.name: Duplicate value: %q", kpath, k.Name)
		}
		names[k.Name] = true
		b, err := base64.StdEncoding.DecodeString(k.Secret)
		if err != nil {
			return fmt.Errorf("%s.secret: Invalid value: REDACTED: secrets must be base64 encoded", kpath)
		}
		ok := false
		for _, s := range sizes {
			ok = ok || len(b) == s
		}
		if !ok {
			return fmt.Errorf("%s.secret: Invalid value: REDACTED: %s key must be %v bytes long, got %d", kpath, name, sizes, len(b))
		}
	}
	return nil
}

// keyPrefix maps a configured resource to the store keys it covers. Skiff
// keeps objects under /registry/<group>/<resource>/ with "core" for the
// legacy group (internal/apiserver's keyRoot and resource.key).
func keyPrefix(resource string) string {
	const root = "/registry/"
	name, group, _ := strings.Cut(resource, ".")
	if group == "" {
		group = "core"
	}
	if group == "*" {
		return root
	}
	if name == "*" {
		return root + group + "/"
	}
	return root + group + "/" + name + "/"
}
