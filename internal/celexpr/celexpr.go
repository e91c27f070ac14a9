// Package celexpr compiles and evaluates CEL expressions as the Kubernetes
// API server does for admission (ValidatingAdmissionPolicy validations,
// messageExpressions, audit annotations, variables and matchConditions):
// the same variables (object, oldObject, request, params, namespaceObject,
// authorizer, variables.<name>), cel-go's standard extension libraries
// plus the Kubernetes ones (quantity, url, regex find/findAll, ip, cidr,
// lists, authz, format), and a cost limit per evaluation so a bad expression
// cannot hang the server.
//
// Use: env, err := NewEnv(Decls{Params: true}); then env.AddVariable for
// each of a policy's variables in order (a variable may use the earlier
// ones), and env.Compile for each expression. At admission, build one
// Activation per request (and param object) and Eval every program on it:
// variables are evaluated lazily, at most once per Activation.
//
// Objects are given as their unstructured form (maps, as
// runtime.DefaultUnstructuredConverter makes them). An Env is safe for
// concurrent use once built; an Activation is not.
package celexpr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"
)

// PerCallLimit is the most cost one evaluation may spend, upstream's
// celconfig.PerCallLimit: an expression that exceeds it fails with
// "operation cancelled: actual cost limit exceeded".
const PerCallLimit = 1_000_000

// checkFrequency is how many comprehension iterations run between checks
// of the evaluation's context (upstream's celconfig.CheckFrequency).
const checkFrequency = 100

// Names of the variables an expression sees.
const (
	VarObject          = "object"
	VarOldObject       = "oldObject"
	VarRequest         = "request"
	VarParams          = "params"
	VarNamespaceObject = "namespaceObject"
	variablesPrefix    = "variables."
)

// Decls says which optional variables expressions may use.
type Decls struct {
	// Params declares `params` (a policy with a paramKind).
	Params bool
}

// CompileError is an expression that does not compile or has the wrong
// result type. Detail is upstream's text, e.g. "compilation failed:
// ERROR: <input>:1:5: ..." or "must evaluate to bool".
type CompileError struct{ Detail string }

func (e *CompileError) Error() string { return e.Detail }

var baseEnv = sync.OnceValues(func() (*cel.Env, error) {
	opts := []cel.EnvOption{
		cel.HomogeneousAggregateLiterals(),
		cel.DefaultUTCTimeZone(true),
		cel.CrossTypeNumericComparisons(true),
		cel.OptionalTypes(),
		ext.Strings(ext.StringsVersion(2)),
		ext.Sets(),
		ext.TwoVarComprehensions(),
		ext.Bindings(),
		cel.Lib(k8sLists{}),
		cel.Lib(k8sRegex{}),
		cel.Lib(k8sURLs{}),
		cel.Lib(k8sQuantity{}),
		cel.Lib(k8sIP{}),
		cel.Lib(k8sAuthz{}),
		cel.Lib(k8sFormat{}),
		cel.Variable(VarRequest, cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable(VarNamespaceObject, cel.DynType),
	}
	return cel.NewEnv(opts...)
})

// Env is the environment of one policy's expressions: the base variables,
// params if declared, and the variables added so far.
type Env struct {
	env       *cel.Env
	variables []*Variable
}

// NewEnv returns an environment with d's optional variables, where
// objects and params are dynamically typed, as upstream compiles
// expressions to evaluate them.
func NewEnv(d Decls) (*Env, error) {
	return newEnv(d, cel.DynType, cel.DynType)
}

func newEnv(d Decls, object, params *cel.Type, opts ...cel.EnvOption) (*Env, error) {
	base, err := baseEnv()
	if err != nil {
		return nil, fmt.Errorf("cel environment: %w", err)
	}
	opts = append(opts, cel.Variable(VarObject, object), cel.Variable(VarOldObject, object))
	if d.Params {
		opts = append(opts, cel.Variable(VarParams, params))
	}
	env, err := base.Extend(opts...)
	if err != nil {
		return nil, fmt.Errorf("cel environment: %w", err)
	}
	return &Env{env: env}, nil
}

// Program is a compiled expression.
type Program struct {
	// Expression is the source text.
	Expression string
	// Output is the expression's static result type.
	Output *cel.Type
	prg    cel.Program
}

// Variable is a compiled policy variable, visible to later expressions as
// variables.<Name>.
type Variable struct {
	Name string
	*Program
}

// Compile compiles expr, which must evaluate to one of want (any type if
// want is empty). A *CompileError says what is wrong with it.
func (e *Env) Compile(expr string, want ...*cel.Type) (*Program, error) {
	ast, iss := e.env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return nil, &CompileError{Detail: "compilation failed: " + iss.String()}
	}
	if len(want) > 0 {
		ok := false
		for _, t := range want {
			if ast.OutputType().IsExactType(t) {
				ok = true
				break
			}
		}
		if !ok {
			if len(want) == 1 {
				return nil, &CompileError{Detail: fmt.Sprintf("must evaluate to %v", want[0])}
			}
			return nil, &CompileError{Detail: fmt.Sprintf("must evaluate to one of %v", want)}
		}
	}
	prg, err := e.env.Program(ast,
		cel.CostLimit(PerCallLimit),
		cel.InterruptCheckFrequency(checkFrequency),
	)
	if err != nil {
		return nil, &CompileError{Detail: "program instantiation failed: " + err.Error()}
	}
	return &Program{Expression: expr, Output: ast.OutputType(), prg: prg}, nil
}

// AddVariable compiles a variable's expression and declares
// variables.<name> with its type for the expressions compiled after it.
// A variable that does not compile is still declared, as dyn, so that
// only its own error is reported, not one per expression using it.
func (e *Env) AddVariable(name, expr string) (*Variable, error) {
	p, err := e.Compile(expr)
	if err != nil {
		if env, xerr := e.env.Extend(cel.Variable(variablesPrefix+name, cel.DynType)); xerr == nil {
			e.env = env
		}
		return nil, err
	}
	env, err := e.env.Extend(cel.Variable(variablesPrefix+name, p.Output))
	if err != nil {
		return nil, &CompileError{Detail: "compilation failed: " + err.Error()}
	}
	e.env = env
	v := &Variable{Name: name, Program: p}
	e.variables = append(e.variables, v)
	return v, nil
}

// Variables are the variables added so far, in order.
func (e *Env) Variables() []*Variable { return e.variables }

// Input is what an evaluation sees. Objects are unstructured (maps) or nil
// (null in CEL: object on a delete, oldObject on a create, params without
// a paramKind, namespaceObject of a cluster-scoped request).
type Input struct {
	Object, OldObject, Params, NamespaceObject map[string]any
	Request                                    map[string]any
	// Authorize answers the `authorizer` library's checks for the
	// requesting user; nil makes authorizer null.
	Authorize AuthorizeFunc
	// RequestResource is authorizer.requestResource: the request's group,
	// resource, subresource, namespace and name.
	RequestResource AuthzCheck
}

// Activation holds one request's variables for several evaluations. Not
// safe for concurrent use.
type Activation struct {
	act interpreter.Activation
	ctx context.Context
}

// NewActivation binds in and vars; each variable is evaluated when first
// used, once.
func NewActivation(ctx context.Context, in Input, vars []*Variable) *Activation {
	bindings := map[string]any{
		VarObject:          nullable(in.Object),
		VarOldObject:       nullable(in.OldObject),
		VarParams:          nullable(in.Params),
		VarNamespaceObject: nullable(in.NamespaceObject),
		VarRequest:         in.Request,
	}
	bindings["authorizer"], bindings["authorizer.requestResource"] = authorizerBindings(ctx, in.Authorize, in.RequestResource)
	a := &Activation{ctx: ctx}
	for _, v := range vars {
		bindings[variablesPrefix+v.Name] = func() ref.Val {
			out, err := v.Program.eval(a)
			if err != nil {
				return types.NewErr("%s", err.Error())
			}
			return out
		}
	}
	act, err := interpreter.NewActivation(bindings)
	if err != nil {
		panic(fmt.Sprintf("celexpr: activation of a map: %v", err)) // a map is always accepted
	}
	a.act = act
	return a
}

func nullable(m map[string]any) any {
	if m == nil {
		return types.NullValue
	}
	return m
}

// Eval evaluates p. The error is upstream's evaluation error text (e.g.
// "no such key: replicas", "operation cancelled: actual cost limit
// exceeded").
func (p *Program) Eval(a *Activation) (ref.Val, error) {
	return p.eval(a)
}

func (p *Program) eval(a *Activation) (ref.Val, error) {
	out, _, err := p.prg.ContextEval(a.ctx, a.act)
	if err != nil {
		return nil, err
	}
	if types.IsError(out) {
		if e, ok := out.Value().(error); ok {
			return nil, e
		}
		return nil, errors.New(fmt.Sprint(out.Value()))
	}
	return out, nil
}

// EvalBool evaluates a condition.
func (p *Program) EvalBool(a *Activation) (bool, error) {
	out, err := p.Eval(a)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("expected bool, got %s", out.Type().TypeName())
	}
	return bool(b), nil
}

// EvalString evaluates a string expression; null gives ok false.
func (p *Program) EvalString(a *Activation) (s string, ok bool, err error) {
	out, err := p.Eval(a)
	if err != nil {
		return "", false, err
	}
	switch v := out.(type) {
	case types.String:
		return string(v), true, nil
	case types.Null:
		return "", false, nil
	}
	return "", false, fmt.Errorf("expected string, got %s", out.Type().TypeName())
}

// IsIdentifier reports whether name is a CEL identifier (a variable name
// must be one): [a-zA-Z_][a-zA-Z0-9_]*, not a reserved word.
func IsIdentifier(name string) bool {
	if name == "" || reserved[name] {
		return false
	}
	for i, r := range name {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && r >= '0' && r <= '9':
		default:
			return false
		}
	}
	return !strings.HasPrefix(name, "__")
}

// reserved are CEL's reserved words and literals.
var reserved = map[string]bool{
	"true": true, "false": true, "null": true, "in": true,
	"as": true, "break": true, "const": true, "continue": true, "else": true,
	"for": true, "function": true, "if": true, "import": true, "let": true,
	"loop": true, "package": true, "namespace": true, "return": true,
	"var": true, "void": true, "while": true,
}
