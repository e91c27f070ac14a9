package celexpr

import (
	"encoding/base64"
	"net/url"
	"regexp"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation"
)

// FormatType is upstream's format library type.
var FormatType = cel.OpaqueType("kubernetes.NamedFormat")

// namedFormat checks a string; nil or empty means valid.
type namedFormat struct {
	name  string
	check func(string) []string
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// formats are upstream's named formats.
var formats = []namedFormat{
	{"dns1123Label", validation.IsDNS1123Label},
	{"dns1123Subdomain", validation.IsDNS1123Subdomain},
	{"dns1035Label", validation.IsDNS1035Label},
	{"qualifiedName", validation.IsQualifiedName},
	{"dns1123LabelPrefix", func(s string) []string { return apivalidation.NameIsDNSLabel(s, true) }},
	{"dns1123SubdomainPrefix", func(s string) []string { return apivalidation.NameIsDNSSubdomain(s, true) }},
	{"dns1035LabelPrefix", func(s string) []string { return apivalidation.NameIsDNS1035Label(s, true) }},
	{"labelKey", validation.IsQualifiedName},
	{"labelValue", validation.IsValidLabelValue},
	{"uri", func(s string) []string {
		if _, err := url.ParseRequestURI(s); err != nil {
			return []string{"invalid URI: " + err.Error()}
		}
		return nil
	}},
	{"uuid", func(s string) []string {
		if !uuidPattern.MatchString(s) {
			return []string{"does not match the UUID format"}
		}
		return nil
	}},
	{"byte", func(s string) []string {
		if _, err := base64.StdEncoding.DecodeString(s); err != nil {
			return []string{"invalid base64"}
		}
		return nil
	}},
	{"date", func(s string) []string {
		if _, err := time.Parse(time.DateOnly, s); err != nil {
			return []string{"invalid date"}
		}
		return nil
	}},
	{"datetime", func(s string) []string {
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			return []string{"invalid datetime"}
		}
		return nil
	}},
}

func formatVal(f namedFormat) ref.Val {
	return opaque[namedFormat]{v: f, typ: FormatType, equal: func(a, b namedFormat) bool { return a.name == b.name }}
}

// k8sFormat is upstream's format library: format.<name>() and
// format.named(name) (optional) give a format whose validate(s) is
// optional.none() for a valid s, else the list of what is wrong.
type k8sFormat struct{}

func (k8sFormat) LibraryName() string { return "kubernetes.format" }

func (k8sFormat) CompileOptions() []cel.EnvOption {
	opts := []cel.EnvOption{
		cel.Function("format.named", cel.Overload("format_named", []*cel.Type{cel.StringType}, cel.OptionalType(FormatType),
			cel.UnaryBinding(func(v ref.Val) ref.Val {
				s, ok := v.(types.String)
				if !ok {
					return types.MaybeNoSuchOverloadErr(v)
				}
				for _, f := range formats {
					if f.name == string(s) {
						return types.OptionalOf(formatVal(f))
					}
				}
				return types.OptionalNone
			}))),
		cel.Function("validate", cel.MemberOverload("format_validate", []*cel.Type{FormatType, cel.StringType}, cel.OptionalType(cel.ListType(cel.StringType)),
			cel.BinaryBinding(func(l, r ref.Val) ref.Val {
				f, ok1 := unwrap[namedFormat](l)
				s, ok2 := r.(types.String)
				if !ok1 || !ok2 {
					return types.MaybeNoSuchOverloadErr(r)
				}
				if errs := f.check(string(s)); len(errs) > 0 {
					return types.OptionalOf(types.DefaultTypeAdapter.NativeToValue(errs))
				}
				return types.OptionalNone
			}))),
	}
	for _, f := range formats {
		opts = append(opts, cel.Function("format."+f.name, cel.Overload("format_"+f.name, nil, FormatType,
			cel.FunctionBinding(func(...ref.Val) ref.Val { return formatVal(f) }))))
	}
	return opts
}

func (k8sFormat) ProgramOptions() []cel.ProgramOption { return nil }
