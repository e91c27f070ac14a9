package celexpr

import (
	"net/url"
	"regexp"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// URLType is a parsed URL in CEL.
var URLType = cel.OpaqueType("kubernetes.URL")

// k8sURLs is upstream's URL library: url(s) (an absolute URI or an
// absolute path, as url.ParseRequestURI), isURL(s), and getScheme,
// getHost, getHostname, getPort, getEscapedPath, getQuery.
type k8sURLs struct{}

func (k8sURLs) LibraryName() string { return "kubernetes.urls" }

func (k8sURLs) CompileOptions() []cel.EnvOption {
	u := URLType
	getter := func(id string, f func(*url.URL) ref.Val, result *cel.Type) cel.FunctionOpt {
		return cel.MemberOverload(id, []*cel.Type{u}, result, cel.UnaryBinding(func(v ref.Val) ref.Val {
			x, ok := unwrap[*url.URL](v)
			if !ok {
				return types.MaybeNoSuchOverloadErr(v)
			}
			return f(x)
		}))
	}
	str := func(s string) ref.Val { return types.String(s) }
	return []cel.EnvOption{
		cel.Function("url", cel.Overload("string_to_url", []*cel.Type{cel.StringType}, u,
			cel.UnaryBinding(func(v ref.Val) ref.Val {
				s, ok := v.(types.String)
				if !ok {
					return types.MaybeNoSuchOverloadErr(v)
				}
				parsed, err := url.ParseRequestURI(string(s))
				if err != nil {
					return errVal("URL parse error during conversion from string: %v", err)
				}
				return opaque[*url.URL]{v: parsed, typ: URLType,
					equal: func(a, b *url.URL) bool { return a.String() == b.String() },
					str:   func(x *url.URL) string { return x.String() }}
			}))),
		cel.Function("isURL", cel.Overload("is_url_string", []*cel.Type{cel.StringType}, cel.BoolType,
			cel.UnaryBinding(func(v ref.Val) ref.Val {
				s, ok := v.(types.String)
				if !ok {
					return types.MaybeNoSuchOverloadErr(v)
				}
				_, err := url.ParseRequestURI(string(s))
				return types.Bool(err == nil)
			}))),
		cel.Function("getScheme", getter("url_get_scheme", func(x *url.URL) ref.Val { return str(x.Scheme) }, cel.StringType)),
		cel.Function("getHost", getter("url_get_host", func(x *url.URL) ref.Val { return str(x.Host) }, cel.StringType)),
		cel.Function("getHostname", getter("url_get_hostname", func(x *url.URL) ref.Val { return str(x.Hostname()) }, cel.StringType)),
		cel.Function("getPort", getter("url_get_port", func(x *url.URL) ref.Val { return str(x.Port()) }, cel.StringType)),
		cel.Function("getEscapedPath", getter("url_get_escaped_path", func(x *url.URL) ref.Val { return str(x.EscapedPath()) }, cel.StringType)),
		cel.Function("getQuery", getter("url_get_query", func(x *url.URL) ref.Val {
			q := map[string][]string(x.Query())
			return types.DefaultTypeAdapter.NativeToValue(q)
		}, cel.MapType(cel.StringType, cel.ListType(cel.StringType)))),
	}
}

func (k8sURLs) ProgramOptions() []cel.ProgramOption { return nil }

// k8sRegex is upstream's regex library: s.find(re) is the first match or
// "", s.findAll(re) and s.findAll(re, limit) every match (up to limit).
type k8sRegex struct{}

func (k8sRegex) LibraryName() string { return "kubernetes.regex" }

func (k8sRegex) CompileOptions() []cel.EnvOption {
	compile := func(v ref.Val) (*regexp.Regexp, ref.Val) {
		s, ok := v.(types.String)
		if !ok {
			return nil, types.MaybeNoSuchOverloadErr(v)
		}
		re, err := regexp.Compile(string(s))
		if err != nil {
			return nil, errVal("%s", err.Error())
		}
		return re, nil
	}
	findAll := func(s, pattern ref.Val, limit int) ref.Val {
		str, ok := s.(types.String)
		if !ok {
			return types.MaybeNoSuchOverloadErr(s)
		}
		re, e := compile(pattern)
		if e != nil {
			return e
		}
		return types.DefaultTypeAdapter.NativeToValue(nonNil(re.FindAllString(string(str), limit)))
	}
	return []cel.EnvOption{
		cel.Function("find", cel.MemberOverload("string_find_string", []*cel.Type{cel.StringType, cel.StringType}, cel.StringType,
			cel.BinaryBinding(func(s, pattern ref.Val) ref.Val {
				str, ok := s.(types.String)
				if !ok {
					return types.MaybeNoSuchOverloadErr(s)
				}
				re, e := compile(pattern)
				if e != nil {
					return e
				}
				return types.String(re.FindString(string(str)))
			}))),
		cel.Function("findAll",
			cel.MemberOverload("string_find_all_string", []*cel.Type{cel.StringType, cel.StringType}, cel.ListType(cel.StringType),
				cel.BinaryBinding(func(s, pattern ref.Val) ref.Val { return findAll(s, pattern, -1) })),
			cel.MemberOverload("string_find_all_string_int", []*cel.Type{cel.StringType, cel.StringType, cel.IntType}, cel.ListType(cel.StringType),
				cel.FunctionBinding(func(args ...ref.Val) ref.Val {
					n, ok := args[2].(types.Int)
					if !ok {
						return types.MaybeNoSuchOverloadErr(args[2])
					}
					return findAll(args[0], args[1], int(n))
				}))),
	}
}

func (k8sRegex) ProgramOptions() []cel.ProgramOption { return nil }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
