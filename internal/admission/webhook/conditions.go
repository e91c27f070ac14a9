package webhook

import (
	"context"
	"fmt"
	"sync"

	"github.com/google/cel-go/cel"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"skiff.dev/skiff/internal/admission"
	"skiff.dev/skiff/internal/celexpr"
)

// maxCachedPrograms bounds the compiled matchConditions kept; past it the
// cache starts over (expressions come from a handful of configurations).
const maxCachedPrograms = 1024

// conditions compiles matchConditions once per expression.
type conditions struct {
	mu       sync.Mutex
	programs map[string]compiledCondition
}

type compiledCondition struct {
	prg *celexpr.Program
	err error
}

func (c *conditions) compile(expr string) (*celexpr.Program, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cc, ok := c.programs[expr]; ok {
		return cc.prg, cc.err
	}
	if c.programs == nil || len(c.programs) >= maxCachedPrograms {
		c.programs = map[string]compiledCondition{}
	}
	env, err := celexpr.NewEnv(celexpr.Decls{})
	var prg *celexpr.Program
	if err == nil {
		prg, err = env.Compile(expr, cel.BoolType)
	}
	c.programs[expr] = compiledCondition{prg, err}
	return prg, err
}

// match evaluates a webhook's matchConditions as upstream: any false
// skips the webhook; otherwise an error fails the call (failurePolicy
// decides); all true calls it. Expressions see object, oldObject and
// request (authorizer is null: no authorizer is wired here).
func (c *conditions) match(ctx context.Context, conds []admissionregistrationv1.MatchCondition, a *admission.Attributes) (bool, error) {
	if len(conds) == 0 {
		return true, nil
	}
	in := celexpr.Input{Request: celexpr.RequestMap(a)}
	var err error
	if a.Object != nil && a.Operation != admission.Connect {
		if in.Object, err = celexpr.ToUnstructured(a.Object, a.Kind); err != nil {
			return false, err
		}
	}
	if a.OldObject != nil {
		if in.OldObject, err = celexpr.ToUnstructured(a.OldObject, a.Kind); err != nil {
			return false, err
		}
	}
	act := celexpr.NewActivation(ctx, in, nil)
	var firstErr error
	for _, mc := range conds {
		prg, err := c.compile(mc.Expression)
		if err == nil {
			var ok bool
			if ok, err = prg.EvalBool(act); err == nil && !ok {
				return false, nil
			}
		}
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("failed to evaluate matchCondition %q: %v", mc.Name, err)
		}
	}
	if firstErr != nil {
		return false, firstErr
	}
	return true, nil
}
