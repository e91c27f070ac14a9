package audit

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

// Attributes are what a policy rule looks at: upstream's authorizer
// attributes, as the API server's request parsing sees them.
type Attributes struct {
	User   string
	Groups []string
	// Verb is the Kubernetes verb of a resource request, the lowercased
	// HTTP method of any other.
	Verb              string
	IsResourceRequest bool
	// Path is the URL path (non-resource rules match it).
	Path        string
	APIGroup    string
	Namespace   string
	Resource    string
	Subresource string
	Name        string
}

// Decision is what the policy says about one request.
type Decision struct {
	Level Level
	// omit is the set of stages not to record, as bits (stageBit).
	omit              uint8
	OmitManagedFields bool
}

// Omits reports whether events at stage s are left out.
func (d Decision) Omits(s Stage) bool { return d.omit&stageBit(s) != 0 }

func stageBit(s Stage) uint8 {
	switch s {
	case StageRequestReceived:
		return 1
	case StageResponseStarted:
		return 2
	case StageResponseComplete:
		return 4
	case StagePanic:
		return 8
	}
	return 0
}

func stageBits(stages ...[]Stage) uint8 {
	var b uint8
	for _, l := range stages {
		for _, s := range l {
			b |= stageBit(s)
		}
	}
	return b
}

// Evaluator applies a Policy. It is immutable and safe for concurrent use.
type Evaluator struct {
	policy Policy
	// omit per rule: the rule's stages and the policy's.
	omit []uint8
}

// NewEvaluator prepares p for evaluation; p must be valid (see
// ValidatePolicy) and is not modified or kept.
func NewEvaluator(p *Policy) *Evaluator {
	e := &Evaluator{policy: *p.DeepCopy()}
	for _, r := range e.policy.Rules {
		e.omit = append(e.omit, stageBits(p.OmitStages, r.OmitStages))
	}
	return e
}

// Decide returns the decision of the first rule that matches a, as
// upstream's policy checker: no match is level None with the policy's
// omitted stages.
func (e *Evaluator) Decide(a Attributes) Decision {
	for i := range e.policy.Rules {
		r := &e.policy.Rules[i]
		if ruleMatches(r, a) {
			omitMF := e.policy.OmitManagedFields
			if r.OmitManagedFields != nil {
				omitMF = *r.OmitManagedFields
			}
			return Decision{Level: r.Level, omit: e.omit[i], OmitManagedFields: omitMF}
		}
	}
	return Decision{Level: LevelNone, omit: stageBits(e.policy.OmitStages), OmitManagedFields: e.policy.OmitManagedFields}
}

func ruleMatches(r *PolicyRule, a Attributes) bool {
	if len(r.Users) > 0 && !slices.Contains(r.Users, a.User) {
		return false
	}
	if len(r.UserGroups) > 0 && !slices.ContainsFunc(a.Groups, func(g string) bool { return slices.Contains(r.UserGroups, g) }) {
		return false
	}
	if len(r.Verbs) > 0 && !slices.Contains(r.Verbs, a.Verb) {
		return false
	}
	if len(r.Namespaces) > 0 || len(r.Resources) > 0 {
		return ruleMatchesResource(r, a)
	}
	if len(r.NonResourceURLs) > 0 {
		if a.IsResourceRequest {
			return false
		}
		return slices.ContainsFunc(r.NonResourceURLs, func(spec string) bool { return pathMatches(a.Path, spec) })
	}
	return true
}

// pathMatches: "*" is everything, "/x*" a prefix, anything else exact.
func pathMatches(path, spec string) bool {
	if spec == "*" || spec == path {
		return true
	}
	prefix, wild := strings.CutSuffix(spec, "*")
	return wild && strings.HasPrefix(path, strings.TrimRight(prefix, "*"))
}

func ruleMatchesResource(r *PolicyRule, a Attributes) bool {
	if !a.IsResourceRequest {
		return false
	}
	// Cluster-scoped objects have namespace "".
	if len(r.Namespaces) > 0 && !slices.Contains(r.Namespaces, a.Namespace) {
		return false
	}
	if len(r.Resources) == 0 {
		return true
	}
	combined := a.Resource
	if a.Subresource != "" {
		combined = a.Resource + "/" + a.Subresource
	}
	for _, gr := range r.Resources {
		if gr.Group != a.APIGroup {
			continue
		}
		if len(gr.Resources) == 0 {
			return true
		}
		if len(gr.ResourceNames) > 0 && !slices.Contains(gr.ResourceNames, a.Name) {
			continue
		}
		for _, res := range gr.Resources {
			switch {
			case res == "*" || res == combined:
				return true
			case a.Subresource != "" && strings.HasPrefix(res, "*/") && res[2:] == a.Subresource:
				return true
			case strings.HasSuffix(res, "/*") && res[:len(res)-2] == a.Resource:
				return true
			}
		}
	}
	return false
}

// LoadPolicyFile reads and validates a policy file (YAML or JSON,
// apiVersion audit.k8s.io/v1, kind Policy), as --audit-policy-file.
func LoadPolicyFile(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read file path %q: %w", path, err)
	}
	p, err := ParsePolicy(b)
	if err != nil {
		return nil, fmt.Errorf("audit policy %s: %w", path, err)
	}
	return p, nil
}

// ParsePolicy decodes and validates a policy. Unknown fields are errors, so
// that a misspelt selector does not silently widen a rule.
func ParsePolicy(b []byte) (*Policy, error) {
	var p Policy
	if err := yaml.UnmarshalStrict(bytes.TrimSpace(b), &p); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if p.APIVersion != APIVersion || p.Kind != "Policy" {
		return nil, fmt.Errorf("expected apiVersion %s and kind Policy, got apiVersion %q kind %q", APIVersion, p.APIVersion, p.Kind)
	}
	if len(p.Rules) == 0 {
		return nil, fmt.Errorf("loaded illegal policy with 0 rules")
	}
	if errs := ValidatePolicy(&p); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	return &p, nil
}

var (
	validLevels = []string{string(LevelNone), string(LevelMetadata), string(LevelRequest), string(LevelRequestResponse)}
	validStages = []string{string(StageRequestReceived), string(StageResponseStarted), string(StageResponseComplete), string(StagePanic)}
)

// ValidatePolicy checks p as upstream's validation does, with its messages.
func ValidatePolicy(p *Policy) field.ErrorList {
	errs := validateOmitStages(p.OmitStages, field.NewPath("omitStages"))
	for i, r := range p.Rules {
		path := field.NewPath("rules").Index(i)
		switch {
		case r.Level == "":
			errs = append(errs, field.Required(path.Child("level"), ""))
		case !slices.Contains(validLevels, string(r.Level)):
			errs = append(errs, field.NotSupported(path.Child("level"), r.Level, validLevels))
		}
		for j, u := range r.NonResourceURLs {
			if u == "*" {
				continue
			}
			p := path.Child("nonResourceURLs").Index(j)
			if !strings.HasPrefix(u, "/") {
				errs = append(errs, field.Invalid(p, u, "non-resource URL rules must begin with a '/' character"))
			}
			if u != "" && strings.ContainsRune(u[:len(u)-1], '*') {
				errs = append(errs, field.Invalid(p, u, "non-resource URL wildcards '*' must be the final character of the rule"))
			}
		}
		for _, gr := range r.Resources {
			p := path.Child("resources")
			if gr.Group != "" {
				if msgs := validation.IsDNS1123Subdomain(gr.Group); len(msgs) > 0 {
					errs = append(errs, field.Invalid(p.Child("group"), gr.Group, strings.Join(msgs, ",")))
				}
			}
			if len(gr.ResourceNames) > 0 && len(gr.Resources) == 0 {
				errs = append(errs, field.Invalid(p.Child("resourceNames"), gr.ResourceNames, "using resourceNames requires at least one resource"))
			}
		}
		errs = append(errs, validateOmitStages(r.OmitStages, path.Child("omitStages"))...)
		if len(r.NonResourceURLs) > 0 && (len(r.Resources) > 0 || len(r.Namespaces) > 0) {
			errs = append(errs, field.Invalid(path.Child("nonResourceURLs"), r.NonResourceURLs, "rules cannot apply to both regular resources and non-resource URLs"))
		}
	}
	return errs
}

func validateOmitStages(stages []Stage, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, s := range stages {
		if !slices.Contains(validStages, string(s)) {
			errs = append(errs, field.Invalid(path.Index(i), string(s), "allowed stages are "+strings.Join(validStages, ",")))
		}
	}
	return errs
}

// DeepCopy returns a copy of p sharing nothing with it.
func (p *Policy) DeepCopy() *Policy {
	c := *p
	p.ObjectMeta.DeepCopyInto(&c.ObjectMeta)
	c.OmitStages = slices.Clone(p.OmitStages)
	c.Rules = make([]PolicyRule, len(p.Rules))
	for i, r := range p.Rules {
		r.Users = slices.Clone(r.Users)
		r.UserGroups = slices.Clone(r.UserGroups)
		r.Verbs = slices.Clone(r.Verbs)
		r.Namespaces = slices.Clone(r.Namespaces)
		r.NonResourceURLs = slices.Clone(r.NonResourceURLs)
		r.OmitStages = slices.Clone(r.OmitStages)
		if r.OmitManagedFields != nil {
			v := *r.OmitManagedFields
			r.OmitManagedFields = &v
		}
		grs := make([]GroupResources, len(r.Resources))
		for j, gr := range r.Resources {
			grs[j] = GroupResources{Group: gr.Group, Resources: slices.Clone(gr.Resources), ResourceNames: slices.Clone(gr.ResourceNames)}
		}
		r.Resources = grs
		c.Rules[i] = r
	}
	return &c
}
