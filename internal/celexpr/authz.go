package celexpr

import (
	"context"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// AuthzCheck is one question the authorizer library asks: may the
// requesting user (or ServiceAccount, "namespace/name", when set) do Verb
// on a resource, or on Path when Path is set.
type AuthzCheck struct {
	ServiceAccountNamespace, ServiceAccountName string

	Verb string
	Path string

	Group, Resource, Subresource, Namespace, Name string
}

// AuthorizeFunc answers an AuthzCheck. err is the authorizer's error, not
// a denial.
type AuthorizeFunc func(ctx context.Context, c AuthzCheck) (allowed bool, reason string, err error)

// The authorizer library's types, upstream's names.
var (
	AuthorizerType    = cel.OpaqueType("kubernetes.authorization.Authorizer")
	PathCheckType     = cel.OpaqueType("kubernetes.authorization.PathCheck")
	GroupCheckType    = cel.OpaqueType("kubernetes.authorization.GroupCheck")
	ResourceCheckType = cel.OpaqueType("kubernetes.authorization.ResourceCheck")
	DecisionType      = cel.OpaqueType("kubernetes.authorization.Decision")
)

// authzState is what every authorizer value carries: how to ask, and
// which identity asks.
type authzState struct {
	ctx       context.Context
	authorize AuthorizeFunc
	check     AuthzCheck // identity, and the check built so far
}

type authzDecision struct {
	allowed bool
	reason  string
	err     error
}

func authzVal(typ *types.Type, s authzState) ref.Val {
	return opaque[authzState]{v: s, typ: typ, equal: func(a, b authzState) bool { return a.check == b.check }}
}

// k8sAuthz is upstream's authorizer library: authorizer.group(g).
// resource(r).subresource(s).namespace(ns).name(n).check(verb),
// authorizer.path(p).check(verb), authorizer.serviceAccount(ns, name),
// authorizer.requestResource, and allowed(), reason(), errored(), error()
// of the decision.
type k8sAuthz struct{}

func (k8sAuthz) LibraryName() string { return "kubernetes.authz" }

func (k8sAuthz) CompileOptions() []cel.EnvOption {
	str := func(v ref.Val) (string, bool) { s, ok := v.(types.String); return string(s), ok }
	builder := func(id string, from, to *types.Type, set func(c *AuthzCheck, s string)) cel.FunctionOpt {
		return cel.MemberOverload(id, []*cel.Type{from, cel.StringType}, to, cel.BinaryBinding(func(l, r ref.Val) ref.Val {
			st, ok1 := unwrap[authzState](l)
			s, ok2 := str(r)
			if !ok1 || !ok2 {
				return types.MaybeNoSuchOverloadErr(r)
			}
			set(&st.check, s)
			return authzVal(to, st)
		}))
	}
	check := func(id string, from *types.Type, isPath bool) cel.FunctionOpt {
		return cel.MemberOverload(id, []*cel.Type{from, cel.StringType}, DecisionType, cel.BinaryBinding(func(l, r ref.Val) ref.Val {
			st, ok1 := unwrap[authzState](l)
			verb, ok2 := str(r)
			if !ok1 || !ok2 {
				return types.MaybeNoSuchOverloadErr(r)
			}
			c := st.check
			c.Verb = verb
			if !isPath {
				c.Path = ""
			}
			var d authzDecision
			d.allowed, d.reason, d.err = st.authorize(st.ctx, c)
			return opaque[authzDecision]{v: d, typ: DecisionType, equal: func(a, b authzDecision) bool { return a == b }}
		}))
	}
	decision := func(id string, result *cel.Type, f func(authzDecision) ref.Val) cel.FunctionOpt {
		return cel.MemberOverload(id, []*cel.Type{DecisionType}, result, cel.UnaryBinding(func(v ref.Val) ref.Val {
			d, ok := unwrap[authzDecision](v)
			if !ok {
				return types.MaybeNoSuchOverloadErr(v)
			}
			return f(d)
		}))
	}
	return []cel.EnvOption{
		cel.Variable("authorizer", AuthorizerType),
		cel.Variable("authorizer.requestResource", ResourceCheckType),
		cel.Function("path", builder("authorizer_path", AuthorizerType, PathCheckType, func(c *AuthzCheck, s string) { c.Path = s })),
		cel.Function("group", builder("authorizer_group", AuthorizerType, GroupCheckType, func(c *AuthzCheck, s string) { c.Group = s })),
		cel.Function("resource", builder("groupcheck_resource", GroupCheckType, ResourceCheckType, func(c *AuthzCheck, s string) { c.Resource = s })),
		cel.Function("subresource", builder("resourcecheck_subresource", ResourceCheckType, ResourceCheckType, func(c *AuthzCheck, s string) { c.Subresource = s })),
		cel.Function("namespace", builder("resourcecheck_namespace", ResourceCheckType, ResourceCheckType, func(c *AuthzCheck, s string) { c.Namespace = s })),
		cel.Function("name", builder("resourcecheck_name", ResourceCheckType, ResourceCheckType, func(c *AuthzCheck, s string) { c.Name = s })),
		cel.Function("serviceAccount", cel.MemberOverload("authorizer_serviceaccount", []*cel.Type{AuthorizerType, cel.StringType, cel.StringType}, AuthorizerType,
			cel.FunctionBinding(func(args ...ref.Val) ref.Val {
				st, ok1 := unwrap[authzState](args[0])
				ns, ok2 := str(args[1])
				name, ok3 := str(args[2])
				if !ok1 || !ok2 || !ok3 {
					return types.MaybeNoSuchOverloadErr(args[0])
				}
				st.check = AuthzCheck{ServiceAccountNamespace: ns, ServiceAccountName: name}
				return authzVal(AuthorizerType, st)
			}))),
		cel.Function("check",
			check("pathcheck_check", PathCheckType, true),
			check("resourcecheck_check", ResourceCheckType, false)),
		cel.Function("allowed", decision("decision_allowed", cel.BoolType, func(d authzDecision) ref.Val { return types.Bool(d.allowed) })),
		cel.Function("reason", decision("decision_reason", cel.StringType, func(d authzDecision) ref.Val { return types.String(d.reason) })),
		cel.Function("errored", decision("decision_errored", cel.BoolType, func(d authzDecision) ref.Val { return types.Bool(d.err != nil) })),
		cel.Function("error", decision("decision_error", cel.StringType, func(d authzDecision) ref.Val {
			if d.err == nil {
				return types.String("")
			}
			return types.String(d.err.Error())
		})),
	}
}

func (k8sAuthz) ProgramOptions() []cel.ProgramOption { return nil }

// authorizerBindings are the values of `authorizer` and
// `authorizer.requestResource` for one request.
func authorizerBindings(ctx context.Context, f AuthorizeFunc, request AuthzCheck) (authorizer, requestResource any) {
	if f == nil {
		return types.NullValue, types.NullValue
	}
	return authzVal(AuthorizerType, authzState{ctx: ctx, authorize: f}),
		authzVal(ResourceCheckType, authzState{ctx: ctx, authorize: f, check: request})
}
