// Package lint checks Kubernetes manifests offline for unsafe values, for
// GitOps pipelines (`skiff lint`): the Pod Security Standards checks of
// internal/podsecurity — the same code the PodSecurity admission plug-in
// runs — on every pod and pod template, plus missing resource limits and
// requests, :latest or untagged images and secrets written as literal
// environment values. Findings name the object, the field path and, when
// known, the line; Text, JSON and SARIF 2.1.0 renderings are in output.go.
package lint

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"skiff.dev/skiff/internal/podsecurity"
)

// Severity of a finding, ordered.
type Severity int

// The severities (SARIF's note, warning and error).
const (
	Info Severity = iota
	Warning
	Error
)

func (s Severity) String() string {
	return [...]string{"info", "warning", "error"}[s]
}

// MarshalText writes the severity's name (for JSON).
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a severity's name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	*s = v
	return err
}

// ParseSeverity parses "info", "warning" or "error".
func ParseSeverity(s string) (Severity, error) {
	switch s {
	case "info":
		return Info, nil
	case "warning":
		return Warning, nil
	case "error":
		return Error, nil
	}
	return 0, fmt.Errorf("severity %q: must be info, warning or error", s)
}

// Finding is one problem in one object.
type Finding struct {
	Rule      string   `json:"rule"`
	Severity  Severity `json:"severity"`
	File      string   `json:"file"`
	Line      int      `json:"line,omitempty"`
	Kind      string   `json:"kind"`
	Namespace string   `json:"namespace,omitempty"`
	Name      string   `json:"name"`
	// Field is the offending field's path in the object (for a field that
	// must be set, where it goes).
	Field       string `json:"field"`
	Message     string `json:"message"`
	Remediation string `json:"remediation"`
}

// Options choose what is checked.
type Options struct {
	// Level is the Pod Security level checked: baseline violations are
	// errors and, at restricted, restricted-only violations are warnings;
	// privileged checks none.
	Level podsecurity.Level
}

// Check lints objects, in order, and returns their findings.
func Check(objs []*Object, opts Options) []Finding {
	var out []Finding
	for _, o := range objs {
		out = append(out, checkObject(o, opts)...)
	}
	return out
}

func checkObject(o *Object, opts Options) []Finding {
	if o.Obj == nil {
		return nil
	}
	t, ok := podsecurity.PodTemplateOf(o.Obj)
	if !ok {
		return nil
	}
	var out []Finding
	add := func(rule string, sev Severity, field, msg string) {
		r := rules[rule]
		out = append(out, Finding{
			Rule: rule, Severity: sev, File: o.File, Line: o.Line(field),
			Kind: o.Kind, Namespace: o.Namespace, Name: o.Name,
			Field: field, Message: msg, Remediation: r.remediation,
		})
	}

	// Pod Security: baseline first (errors), then what restricted adds
	// (warnings), each offending field once.
	reported := map[string]bool{}
	levels := []podsecurity.Level{podsecurity.Baseline, podsecurity.Restricted}
	for _, lvl := range levels {
		if podsecurity.CompareLevels(lvl, opts.Level) > 0 {
			break
		}
		sev := Error
		if lvl == podsecurity.Restricted {
			sev = Warning
		}
		for _, r := range podsecurity.Evaluate(podsecurity.LevelVersion{Level: lvl, Version: podsecurity.LatestVersion}, t.Meta, t.Spec) {
			if lvl == podsecurity.Restricted && r.Level != podsecurity.Restricted {
				continue
			}
			msg := r.Reason
			if r.Detail != "" {
				msg += " (" + r.Detail + ")"
			}
			for _, f := range r.Fields {
				if reported[f] {
					continue
				}
				reported[f] = true
				add(podSecurityRule(r.ID), sev, t.Prefix+f, msg)
			}
		}
	}

	for _, c := range containerPaths(t.Spec) {
		base := t.Prefix + c.path
		res := c.c.Resources
		if missing := missingResources(res.Limits); len(missing) > 0 {
			add("resources-limits", Warning, base+".resources.limits",
				fmt.Sprintf("container %q has no %s limit", c.c.Name, strings.Join(missing, " or ")))
		}
		if missing := missingResources(res.Requests); len(missing) > 0 && len(res.Limits) == 0 {
			// Requests default to limits, so only a container without
			// limits lacks them.
			add("resources-requests", Warning, base+".resources.requests",
				fmt.Sprintf("container %q has no %s request", c.c.Name, strings.Join(missing, " or ")))
		}
		if why := floatingImage(c.c.Image); why != "" {
			add("image-tag", Warning, base+".image", fmt.Sprintf("container %q image %q %s", c.c.Name, c.c.Image, why))
		}
		for i, e := range c.c.Env {
			if e.Value != "" && e.ValueFrom == nil && secretName(e.Name) {
				add("env-secret-literal", Error, fmt.Sprintf("%s.env[%d].value", base, i),
					fmt.Sprintf("container %q sets %s to a literal value", c.c.Name, e.Name))
			}
		}
	}
	if a := t.Spec.AutomountServiceAccountToken; a == nil || *a {
		add("automount-token", Info, t.Prefix+"spec.automountServiceAccountToken",
			"the pod mounts its service account's API token")
	}
	return out
}

type containerRef struct {
	c    *corev1.Container
	path string
}

func containerPaths(spec *corev1.PodSpec) []containerRef {
	var out []containerRef
	for i := range spec.InitContainers {
		out = append(out, containerRef{&spec.InitContainers[i], fmt.Sprintf("spec.initContainers[%d]", i)})
	}
	for i := range spec.Containers {
		out = append(out, containerRef{&spec.Containers[i], fmt.Sprintf("spec.containers[%d]", i)})
	}
	return out
}

func missingResources(l corev1.ResourceList) []string {
	var missing []string
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := l[r]; !ok {
			missing = append(missing, string(r))
		}
	}
	return missing
}

// floatingImage says why an image reference is not pinned, or "".
func floatingImage(image string) string {
	if image == "" || strings.Contains(image, "@") {
		return ""
	}
	name := image[strings.LastIndex(image, "/")+1:]
	i := strings.LastIndex(name, ":")
	switch {
	case i < 0:
		return "has no tag (it means :latest)"
	case name[i+1:] == "latest":
		return "uses the :latest tag"
	}
	return ""
}

// secretWords in an environment variable's name suggest a credential.
var secretWords = []string{"PASSWORD", "PASSWD", "TOKEN", "SECRET", "API_KEY", "APIKEY", "PRIVATE_KEY", "ACCESS_KEY", "CREDENTIAL"}

func secretName(name string) bool {
	up := strings.ToUpper(name)
	if slices.ContainsFunc(secretWords, func(w string) bool { return strings.Contains(up, w) }) {
		return true
	}
	// KEY as a word of the name (DB_KEY, KEY), not MONKEY or KEYBOARD_LAYOUT.
	return slices.Contains(strings.FieldsFunc(up, func(r rune) bool { return r == '_' || r == '-' || r == '.' }), "KEY")
}
