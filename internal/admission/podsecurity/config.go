package podsecurity

import (
	"fmt"
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

// ParseConfig reads a PodSecurityConfiguration
// (pod-security.admission.config.k8s.io/v1, also v1beta1 and v1alpha1),
// YAML or JSON, as found in an AdmissionConfiguration (see package
// admission/config); source names it in errors. Fields the document
// leaves out keep DefaultConfig's values, so a document that only lists
// exemptions keeps enforce=baseline, warn=restricted.
func ParseConfig(source string, data []byte) (Config, error) {
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
