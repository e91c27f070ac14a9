package celexpr

import (
	"reflect"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TypedEnv is an environment where object, oldObject and params have the
// types of Kubernetes Go structs, with their JSON field names, for type
// checking only (upstream's ValidatingAdmissionPolicy type checker, which
// reports what would fail on every object of a kind as status
// warnings). Values of special types are typed as in their OpenAPI
// schema: Time as timestamp, Duration as duration, Quantity and
// IntOrString as dyn (int-or-string), RawExtension as dyn.
func TypedEnv(d Decls, object, params reflect.Type) (*Env, error) {
	base, err := baseEnv()
	if err != nil {
		return nil, err
	}
	p := &schemaProvider{Provider: base.CELTypeProvider(), structs: map[string]map[string]*types.Type{}}
	objType, paramsType := p.typeOf(object), cel.DynType
	if params != nil {
		paramsType = p.typeOf(params)
	}
	return newEnv(d, objType, paramsType, cel.CustomTypeProvider(p))
}

// Check compiles expr for its issues only: "" if it type-checks, else the
// compiler's text (upstream's warning text after the kind).
func (e *Env) Check(expr string) string {
	_, iss := e.env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return iss.String()
	}
	return ""
}

// schemaProvider declares Go struct types to the checker, named after
// their package path and name, with JSON field names.
type schemaProvider struct {
	types.Provider
	structs map[string]map[string]*types.Type
}

var (
	timeType         = reflect.TypeOf(metav1.Time{})
	microTimeType    = reflect.TypeOf(metav1.MicroTime{})
	durationType     = reflect.TypeOf(metav1.Duration{})
	quantityType     = reflect.TypeOf(resource.Quantity{})
	intOrStringType  = reflect.TypeOf(intstr.IntOrString{})
	rawExtensionType = reflect.TypeOf(runtime.RawExtension{})
)

func (p *schemaProvider) typeOf(t reflect.Type) *types.Type {
	if t == nil {
		return cel.DynType
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case timeType, microTimeType:
		return cel.TimestampType
	case durationType:
		return cel.DurationType
	case quantityType, intOrStringType, rawExtensionType:
		return cel.DynType
	}
	switch t.Kind() {
	case reflect.Bool:
		return cel.BoolType
	case reflect.String:
		return cel.StringType
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return cel.IntType
	case reflect.Float32, reflect.Float64:
		return cel.DoubleType
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return cel.BytesType
		}
		return cel.ListType(p.typeOf(t.Elem()))
	case reflect.Map:
		return cel.MapType(cel.StringType, p.typeOf(t.Elem()))
	case reflect.Struct:
		return p.structType(t)
	}
	return cel.DynType
}

func (p *schemaProvider) structType(t reflect.Type) *types.Type {
	name := strings.NewReplacer("/", ".", "-", "_").Replace(t.PkgPath()) + "." + t.Name()
	if _, ok := p.structs[name]; !ok {
		fields := map[string]*types.Type{}
		p.structs[name] = fields // before the fields: types may recurse
		p.addFields(fields, t)
	}
	return types.NewObjectType(name)
}

// addFields adds t's fields by JSON name, inlining embedded structs.
func (p *schemaProvider) addFields(fields map[string]*types.Type, t reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		if tag == "" && f.Anonymous {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				p.addFields(fields, ft)
			}
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		fields[tag] = p.typeOf(f.Type)
	}
}

func (p *schemaProvider) FindStructType(name string) (*types.Type, bool) {
	if _, ok := p.structs[name]; ok {
		return types.NewTypeTypeWithParam(types.NewObjectType(name)), true
	}
	return p.Provider.FindStructType(name)
}

func (p *schemaProvider) FindStructFieldNames(name string) ([]string, bool) {
	fields, ok := p.structs[name]
	if !ok {
		return p.Provider.FindStructFieldNames(name)
	}
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	return names, true
}

func (p *schemaProvider) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	fields, ok := p.structs[name]
	if !ok {
		return p.Provider.FindStructFieldType(name, field)
	}
	t, ok := fields[field]
	if !ok {
		return nil, false
	}
	return &types.FieldType{Type: t}, true
}

func (p *schemaProvider) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if _, ok := p.structs[name]; ok {
		return types.NewErr("type %s is for type checking only", name)
	}
	return p.Provider.NewValue(name, fields)
}
