// Package podsecurity evaluates pods against the Pod Security Standards
// (privileged, baseline, restricted), as upstream's pod-security-admission
// library does: the same check ids, the same policy versions, the same
// forbidden reasons and details, aggregated in the same order, so the
// messages users see from the PodSecurity admission plug-in and from
// `skiff lint` are the ones the Kubernetes documentation shows.
//
// It is pure: metadata and spec in, results out. The admission plug-in
// (internal/admission/podsecurity) and the linter (internal/lint) drive it.
package podsecurity

import (
	"fmt"
	"regexp"
	"strconv"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Level is a Pod Security Standards level.
type Level string

// The levels, from least to most restrictive.
const (
	Privileged Level = "privileged"
	Baseline   Level = "baseline"
	Restricted Level = "restricted"
)

// ParseLevel parses a level label value. On error it returns Restricted
// (callers decide whether to fail closed or open) and upstream's message.
func ParseLevel(s string) (Level, error) {
	switch l := Level(s); l {
	case Privileged, Baseline, Restricted:
		return l, nil
	}
	return Restricted, fmt.Errorf("must be one of privileged, baseline, restricted")
}

// CompareLevels is -1, 0 or 1 as a is less, as, or more strict than b.
func CompareLevels(a, b Level) int {
	rank := map[Level]int{Privileged: 0, Baseline: 1, Restricted: 2}
	switch ra, rb := rank[a], rank[b]; {
	case ra < rb:
		return -1
	case ra > rb:
		return 1
	}
	return 0
}

// Version is a policy version: "latest" or v1.N.
type Version struct {
	// Minor is N of v1.N; meaningless when Latest.
	Minor  int
	Latest bool
}

// LatestVersion is the "latest" policy version.
var LatestVersion = Version{Latest: true}

func (v Version) String() string {
	if v.Latest {
		return "latest"
	}
	return "v1." + strconv.Itoa(v.Minor)
}

// older reports whether v is an older policy than o (latest is newest).
func (v Version) older(o Version) bool {
	if v.Latest {
		return false
	}
	return o.Latest || v.Minor < o.Minor
}

var versionRE = regexp.MustCompile(`^v1\.([0-9]|[1-9][0-9]*)$`)

// ParseVersion parses a version label value: "latest" or "v1.N". On error
// it returns LatestVersion and upstream's message.
func ParseVersion(s string) (Version, error) {
	if s == "latest" {
		return LatestVersion, nil
	}
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return LatestVersion, fmt.Errorf(`must be "latest" or "v1.x"`)
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return LatestVersion, fmt.Errorf(`must be "latest" or "v1.x"`)
	}
	return Version{Minor: n}, nil
}

// LevelVersion is a level at a policy version, written "baseline:latest".
type LevelVersion struct {
	Level   Level
	Version Version
}

func (lv LevelVersion) String() string { return string(lv.Level) + ":" + lv.Version.String() }

// equivalent: both privileged (any version), or the same level and version.
func (lv LevelVersion) equivalent(o LevelVersion) bool {
	return (lv.Level == Privileged && o.Level == Privileged) || lv == o
}

// Policy is what a namespace asks for in each mode.
type Policy struct {
	Enforce, Audit, Warn LevelVersion
}

// FullyPrivileged reports whether no mode checks anything.
func (p Policy) FullyPrivileged() bool {
	return p.Enforce.Level == Privileged && p.Audit.Level == Privileged && p.Warn.Level == Privileged
}

// Equivalent reports whether every mode of p is equivalent to o's.
func (p Policy) Equivalent(o Policy) bool {
	return p.Enforce.equivalent(o.Enforce) && p.Audit.equivalent(o.Audit) && p.Warn.equivalent(o.Warn)
}

// The namespace labels that choose a policy.
const (
	LabelPrefix         = "pod-security.kubernetes.io/"
	EnforceLevelLabel   = LabelPrefix + "enforce"
	EnforceVersionLabel = LabelPrefix + "enforce-version"
	AuditLevelLabel     = LabelPrefix + "audit"
	AuditVersionLabel   = LabelPrefix + "audit-version"
	WarnLevelLabel      = LabelPrefix + "warn"
	WarnVersionLabel    = LabelPrefix + "warn-version"
)

var labelsPath = field.NewPath("metadata", "labels")

// PolicyFromLabels resolves a namespace's labels to its policy, taking
// defaults for modes the labels do not set, as upstream's
// PolicyToEvaluate: a valid policy is always returned, with one error per
// bad label. A bad enforce level enforces restricted (fail closed); bad
// audit and warn levels fall back to privileged (fail open); a bad
// version is latest. When enforce is set to a level stricter than warn
// and warn is not labelled, warn follows enforce.
func PolicyFromLabels(labels map[string]string, defaults Policy) (Policy, field.ErrorList) {
	p := defaults
	if len(labels) == 0 {
		return p, nil
	}
	var errs field.ErrorList
	bad := func(label, value string, err error) {
		if err != nil {
			errs = append(errs, field.Invalid(labelsPath.Key(label), value, err.Error()))
		}
	}
	var hasEnforceLevel, hasWarnLevel, hasWarnVersion bool
	var err error
	if v, ok := labels[EnforceLevelLabel]; ok {
		p.Enforce.Level, err = ParseLevel(v)
		hasEnforceLevel = err == nil
		bad(EnforceLevelLabel, v, err)
	}
	if v, ok := labels[EnforceVersionLabel]; ok {
		p.Enforce.Version, err = ParseVersion(v)
		bad(EnforceVersionLabel, v, err)
	}
	if v, ok := labels[AuditLevelLabel]; ok {
		p.Audit.Level, err = ParseLevel(v)
		bad(AuditLevelLabel, v, err)
		if err != nil {
			p.Audit.Level = Privileged
		}
	}
	if v, ok := labels[AuditVersionLabel]; ok {
		p.Audit.Version, err = ParseVersion(v)
		bad(AuditVersionLabel, v, err)
	}
	if v, ok := labels[WarnLevelLabel]; ok {
		hasWarnLevel = true
		p.Warn.Level, err = ParseLevel(v)
		bad(WarnLevelLabel, v, err)
		if err != nil {
			p.Warn.Level = Privileged
		}
	}
	if v, ok := labels[WarnVersionLabel]; ok {
		hasWarnVersion = true
		p.Warn.Version, err = ParseVersion(v)
		bad(WarnVersionLabel, v, err)
	}
	if !hasWarnLevel && hasEnforceLevel && CompareLevels(p.Enforce.Level, p.Warn.Level) > 0 {
		p.Warn.Level = p.Enforce.Level
		if !hasWarnVersion {
			p.Warn.Version = p.Enforce.Version
		}
	}
	return p, errs
}

// RelaxesEnforce reports whether moving from old to new enforcement can
// only admit more pods (so existing pods need no re-check), as upstream's
// namespace update: unchanged, privileged, or a same-version lower level.
func RelaxesEnforce(old, new LevelVersion) bool {
	return new == old || new.Level == Privileged ||
		(new.Version == old.Version && CompareLevels(new.Level, old.Level) < 1)
}
