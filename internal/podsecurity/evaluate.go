package podsecurity

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Result is one failed check.
type Result struct {
	// ID is upstream's check id, e.g. "privileged", "runAsNonRoot".
	ID string
	// Level is the lowest level the check belongs to.
	Level Level
	// Reason is upstream's ForbiddenReason, e.g. "privileged".
	Reason string
	// Detail is upstream's ForbiddenDetail, e.g.
	// `container "nginx" must not set securityContext.privileged=true`.
	Detail string
	// Fields are the offending (or missing) fields, relative to the pod:
	// "spec.containers[0].securityContext.privileged",
	// "metadata.annotations[...]". For linters; not in upstream's messages.
	Fields []string
}

// checkFn evaluates one check on a pod; ok=false is a failure.
type checkFn func(meta *metav1.ObjectMeta, spec *corev1.PodSpec) (r Result, ok bool)

// versioned is a check's behaviour from policy version v1.min on.
type versioned struct {
	min int
	fn  checkFn
	// overrides are baseline check ids this restricted check replaces at
	// the restricted level from this version on.
	overrides []string
}

type check struct {
	id       string
	level    Level // Baseline or Restricted
	reason   string
	versions []versioned // ascending min
}

// at is the check's behaviour at version v, or nil if it does not apply.
func (c *check) at(v Version) *versioned {
	for i := len(c.versions) - 1; i >= 0; i-- {
		if v.Latest || c.versions[i].min <= v.Minor {
			return &c.versions[i]
		}
	}
	return nil
}

// maxMinor is the newest policy version any check defines; later and
// latest versions evaluate as it.
var maxMinor = func() int {
	m := 0
	for _, c := range allChecks {
		m = max(m, c.versions[len(c.versions)-1].min)
	}
	return m
}()

// Evaluate runs every check of lv's level and version on a pod and
// returns the failures in upstream's order (baseline ids sorted, then
// restricted ids sorted). Privileged returns nothing.
func Evaluate(lv LevelVersion, meta *metav1.ObjectMeta, spec *corev1.PodSpec) []Result {
	if lv.Level == Privileged || spec == nil {
		return nil
	}
	if meta == nil {
		meta = &metav1.ObjectMeta{}
	}
	v := lv.Version
	if v.Latest || v.Minor > maxMinor {
		v = Version{Minor: maxMinor}
	}
	overridden := map[string]bool{}
	if lv.Level == Restricted {
		for _, c := range allChecks {
			if c.level != Restricted {
				continue
			}
			if vc := c.at(v); vc != nil {
				for _, id := range vc.overrides {
					overridden[id] = true
				}
			}
		}
	}
	var out []Result
	for _, c := range orderedChecks {
		if c.level == Restricted && lv.Level != Restricted || overridden[c.id] {
			continue
		}
		vc := c.at(v)
		if vc == nil {
			continue
		}
		if r, ok := vc.fn(meta, spec); !ok {
			r.ID, r.Level = c.id, c.level
			if r.Reason == "" {
				r.Reason = c.reason
			}
			out = append(out, r)
		}
	}
	return out
}

// orderedChecks are allChecks in evaluation order: baseline ids sorted,
// then restricted ids sorted, which is the order upstream reports them in.
var orderedChecks = func() []*check {
	out := slices.Clone(allChecks)
	slices.SortStableFunc(out, func(a, b *check) int {
		if a.level != b.level {
			return CompareLevels(a.level, b.level)
		}
		return strings.Compare(a.id, b.id)
	})
	return out
}()

// Detail formats failures as upstream's AggregateCheckResult.ForbiddenDetail:
// `reason (detail), reason (detail)`.
func Detail(results []Result) string {
	var b strings.Builder
	for i, r := range results {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(r.Reason)
		if r.Detail != "" {
			b.WriteString(" (" + r.Detail + ")")
		}
	}
	return b.String()
}

// Reasons joins the failures' reasons, as upstream's ForbiddenReason (used
// for the existing-pods warnings of a namespace update).
func Reasons(results []Result) string {
	rs := make([]string, len(results))
	for i, r := range results {
		rs[i] = r.Reason
	}
	return strings.Join(rs, ", ")
}

// CheckIDs lists every check id with its level, in evaluation order (for
// `skiff lint`'s rule table).
func CheckIDs() []struct {
	ID    string
	Level Level
} {
	out := make([]struct {
		ID    string
		Level Level
	}, len(orderedChecks))
	for i, c := range orderedChecks {
		out[i].ID, out[i].Level = c.id, c.level
	}
	return out
}

// containerRef is one container with its field path ("spec.containers[0]").
type containerRef struct {
	c    *corev1.Container
	path string
}

// containers lists init, regular and ephemeral containers, in upstream's
// visiting order.
func containers(spec *corev1.PodSpec) []containerRef {
	var out []containerRef
	for i := range spec.InitContainers {
		out = append(out, containerRef{&spec.InitContainers[i], "spec.initContainers[" + itoa(i) + "]"})
	}
	for i := range spec.Containers {
		out = append(out, containerRef{&spec.Containers[i], "spec.containers[" + itoa(i) + "]"})
	}
	for i := range spec.EphemeralContainers {
		out = append(out, containerRef{(*corev1.Container)(&spec.EphemeralContainers[i].EphemeralContainerCommon), "spec.ephemeralContainers[" + itoa(i) + "]"})
	}
	return out
}

func joinQuote(items []string) string {
	if len(items) == 0 {
		return ""
	}
	return `"` + strings.Join(items, `", "`) + `"`
}

func pluralize(singular, plural string, n int) string {
	if n == 1 {
		return singular
	}
	return plural
}

// sortedSet returns the distinct values, sorted.
func sortedSet(items []string) []string {
	out := slices.Clone(items)
	slices.Sort(out)
	return slices.Compact(out)
}

func isWindows(spec *corev1.PodSpec) bool {
	return spec.OS != nil && spec.OS.Name == corev1.Windows
}

// userNamespaced: hostUsers=false, for which upstream relaxes some checks
// from v1.35 on.
func userNamespaced(spec *corev1.PodSpec) bool {
	return spec.HostUsers != nil && !*spec.HostUsers
}
