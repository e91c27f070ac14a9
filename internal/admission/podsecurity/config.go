package podsecurity

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"

	"skiff.dev/skiff/internal/podsecurity"
)

// fileConfig is upstream's PodSecurityConfiguration
// (pod-security.admission.config.k8s.io/v1, also v1beta1 and v1alpha1).
type fileConfig struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Defaults   struct {
		Enforce        string `json:"enforce"`
		EnforceVersion string `json:"enforce-version"`
		Audit          string `json:"audit"`
		AuditVersion   string `json:"audit-version"`
		Warn           string `json:"warn"`
		WarnVersion    string `json:"warn-version"`
	} `json:"defaults"`
	Exemptions struct {
		Usernames      []string `json:"usernames"`
		RuntimeClasses []string `json:"runtimeClasses"`
		Namespaces     []string `json:"namespaces"`
	} `json:"exemptions"`
}

// admissionConfig is upstream's AdmissionConfiguration
// (apiserver.config.k8s.io/v1): per plug-in, an embedded configuration
// or the path of a file holding it (relative to the file).
type admissionConfig struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Plugins    []struct {
		Name          string         `json:"name"`
		Path          string         `json:"path"`
		Configuration map[string]any `json:"configuration"`
	} `json:"plugins"`
}

// LoadConfigFile reads the PodSecurity configuration from a file that is
// either an AdmissionConfiguration (as upstream's
// --admission-control-config-file; its PodSecurity entry is used) or a
// PodSecurityConfiguration itself. Fields the file leaves out keep
// DefaultConfig's values, so a file that only lists exemptions keeps
// enforce=baseline, warn=restricted. A file without a PodSecurity entry
// yields DefaultConfig.
func LoadConfigFile(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("pod security configuration: %w", err)
	}
	var head struct{ Kind string }
	if err := yaml.Unmarshal(data, &head); err != nil {
		return Config{}, fmt.Errorf("pod security configuration %s: %w", path, err)
	}
	if head.Kind != "AdmissionConfiguration" {
		return parseConfig(path, data)
	}
	var ac admissionConfig
	if err := yaml.UnmarshalStrict(data, &ac); err != nil {
		return Config{}, fmt.Errorf("admission configuration %s: %w", path, err)
	}
	for _, p := range ac.Plugins {
		if p.Name != PluginName {
			continue
		}
		switch {
		case p.Configuration != nil:
			embedded, err := yaml.Marshal(p.Configuration)
			if err != nil {
				return Config{}, err
			}
			return parseConfig(path, embedded)
		case p.Path != "":
			file := p.Path
			if !filepath.IsAbs(file) {
				file = filepath.Join(filepath.Dir(path), file)
			}
			return LoadConfigFile(file)
		}
	}
	return DefaultConfig(), nil
}

// parseConfig reads a PodSecurityConfiguration over DefaultConfig.
func parseConfig(source string, data []byte) (Config, error) {
	var fc fileConfig
	if err := yaml.UnmarshalStrict(data, &fc); err != nil {
		return Config{}, fmt.Errorf("pod security configuration %s: %w", source, err)
	}
	if fc.Kind != "PodSecurityConfiguration" || !strings.HasPrefix(fc.APIVersion, "pod-security.admission.config.k8s.io/") {
		return Config{}, fmt.Errorf("pod security configuration %s: kind %q, apiVersion %q: want a pod-security.admission.config.k8s.io PodSecurityConfiguration", source, fc.Kind, fc.APIVersion)
	}
	cfg := DefaultConfig()
	var errs []string
	level := func(dst *podsecurity.Level, field, v string) {
		if v == "" {
			return
		}
		l, err := podsecurity.ParseLevel(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("defaults.%s: %q: %v", field, v, err))
		}
		*dst = l
	}
	version := func(dst *podsecurity.Version, field, v string) {
		if v == "" {
			return
		}
		ver, err := podsecurity.ParseVersion(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("defaults.%s: %q: %v", field, v, err))
		}
		*dst = ver
	}
	d := &cfg.Defaults
	level(&d.Enforce.Level, "enforce", fc.Defaults.Enforce)
	version(&d.Enforce.Version, "enforce-version", fc.Defaults.EnforceVersion)
	level(&d.Audit.Level, "audit", fc.Defaults.Audit)
	version(&d.Audit.Version, "audit-version", fc.Defaults.AuditVersion)
	level(&d.Warn.Level, "warn", fc.Defaults.Warn)
	version(&d.Warn.Version, "warn-version", fc.Defaults.WarnVersion)
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("pod security configuration %s: %s", source, strings.Join(errs, "; "))
	}
	cfg.Exemptions = Exemptions{
		Usernames:      fc.Exemptions.Usernames,
		RuntimeClasses: fc.Exemptions.RuntimeClasses,
		Namespaces:     fc.Exemptions.Namespaces,
	}
	return cfg, nil
}
