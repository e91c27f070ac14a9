package policy

import (
	"fmt"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/internal/celexpr"
)

// compiled is a policy's expressions, compiled once per resourceVersion.
type compiled struct {
	resourceVersion string
	// err is a configuration error (an expression that does not compile,
	// which validation should have refused): the policy then fails as its
	// failurePolicy says.
	err error

	variables        []*celexpr.Variable
	matchConditions  []namedProgram
	validations      []validation
	auditAnnotations []namedProgram
}

type namedProgram struct {
	name string
	*celexpr.Program
}

type validation struct {
	expression        *celexpr.Program
	messageExpression *celexpr.Program // nil when unset
	message           string
	reason            metav1.StatusReason
}

// compiledPolicies caches compiled policies by UID.
type compiledPolicies struct {
	mu sync.Mutex
	m  map[types.UID]*compiled
}

// get returns p compiled, compiling it if it is new or changed.
func (c *compiledPolicies) get(p *admissionregistrationv1.ValidatingAdmissionPolicy) *compiled {
	c.mu.Lock()
	cp := c.m[p.UID]
	c.mu.Unlock()
	if cp != nil && cp.resourceVersion == p.ResourceVersion {
		return cp
	}
	cp = compile(p)
	c.mu.Lock()
	if c.m == nil {
		c.m = map[types.UID]*compiled{}
	}
	c.m[p.UID] = cp
	c.mu.Unlock()
	return cp
}

// prune forgets policies that no longer exist.
func (c *compiledPolicies) prune(live map[types.UID]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for uid := range c.m {
		if !live[uid] {
			delete(c.m, uid)
		}
	}
}

func compile(p *admissionregistrationv1.ValidatingAdmissionPolicy) *compiled {
	out := &compiled{resourceVersion: p.ResourceVersion}
	env, err := celexpr.NewEnv(celexpr.Decls{Params: p.Spec.ParamKind != nil})
	if err != nil {
		out.err = err
		return out
	}
	fail := func(field, expr string, err error) *compiled {
		out.err = fmt.Errorf("%s %q: %w", field, expr, err)
		return out
	}
	for _, mc := range p.Spec.MatchConditions {
		prg, err := env.Compile(mc.Expression, cel.BoolType)
		if err != nil {
			return fail("matchCondition", mc.Expression, err)
		}
		out.matchConditions = append(out.matchConditions, namedProgram{name: mc.Name, Program: prg})
	}
	for _, v := range p.Spec.Variables {
		cv, err := env.AddVariable(v.Name, v.Expression)
		if err != nil {
			return fail("variable", v.Expression, err)
		}
		out.variables = append(out.variables, cv)
	}
	for _, v := range p.Spec.Validations {
		prg, err := env.Compile(v.Expression, cel.BoolType)
		if err != nil {
			return fail("validation", v.Expression, err)
		}
		cv := validation{expression: prg, message: strings.TrimSpace(v.Message), reason: metav1.StatusReasonInvalid}
		if v.Reason != nil && *v.Reason != "" {
			cv.reason = *v.Reason
		}
		if strings.TrimSpace(v.MessageExpression) != "" {
			if cv.messageExpression, err = env.Compile(v.MessageExpression, cel.StringType); err != nil {
				return fail("messageExpression", v.MessageExpression, err)
			}
		}
		out.validations = append(out.validations, cv)
	}
	for _, a := range p.Spec.AuditAnnotations {
		prg, err := env.Compile(a.ValueExpression, cel.StringType, cel.NullType)
		if err != nil {
			return fail("auditAnnotation", a.ValueExpression, err)
		}
		out.auditAnnotations = append(out.auditAnnotations, namedProgram{name: a.Key, Program: prg})
	}
	return out
}
