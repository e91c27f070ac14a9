package webhook

import (
	"context"
	"fmt"
	"sync"

	"github.com/google/cel-go/cel"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

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
	in := celexpr.Input{Request: requestMap(a)}
	var err error
	if a.Object != nil && a.Operation != admission.Connect {
		if in.Object, err = toUnstructured(a.Object, a.Kind); err != nil {
			return false, err
		}
	}
	if a.OldObject != nil {
		if in.OldObject, err = toUnstructured(a.OldObject, a.Kind); err != nil {
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

// toUnstructured is the map CEL sees, with apiVersion and kind set.
func toUnstructured(o runtime.Object, gvk schema.GroupVersionKind) (map[string]any, error) {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return nil, fmt.Errorf("convert %s for CEL: %w", gvk.Kind, err)
	}
	if gvk.Kind != "" {
		u["apiVersion"], u["kind"] = gvk.GroupVersion().String(), gvk.Kind
	}
	return u, nil
}

// requestMap is CEL's `request`: the AdmissionRequest's fields.
func requestMap(a *admission.Attributes) map[string]any {
	kind := map[string]any{"group": a.Kind.Group, "version": a.Kind.Version, "kind": a.Kind.Kind}
	res := map[string]any{"group": a.Resource.Group, "version": a.Resource.Version, "resource": a.Resource.Resource}
	user := map[string]any{"username": "", "uid": "", "groups": []any{}, "extra": map[string]any{}}
	if u := a.User; u != nil {
		groups := make([]any, len(u.Groups))
		for i, g := range u.Groups {
			groups[i] = g
		}
		extra := map[string]any{}
		for k, vs := range u.Extra {
			l := make([]any, len(vs))
			for i, v := range vs {
				l[i] = v
			}
			extra[k] = l
		}
		user = map[string]any{"username": u.Name, "uid": u.UID, "groups": groups, "extra": extra}
	}
	return map[string]any{
		"kind": kind, "resource": res, "subResource": a.Subresource,
		"requestKind": kind, "requestResource": res, "requestSubResource": a.Subresource,
		"name": a.Name, "namespace": a.Namespace, "operation": string(a.Operation),
		"userInfo": user, "dryRun": a.DryRun,
	}
}
