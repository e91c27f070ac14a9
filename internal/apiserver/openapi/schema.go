package openapi

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Extension names, as upstream publishes them.
const (
	extGVK          = "x-kubernetes-group-version-kind"
	extAction       = "x-kubernetes-action"
	extPatchKey     = "x-kubernetes-patch-merge-key"
	extPatchStrat   = "x-kubernetes-patch-strategy"
	extListType     = "x-kubernetes-list-type"
	extListMapKeys  = "x-kubernetes-list-map-keys"
	extMapType      = "x-kubernetes-map-type"
	extUnions       = "x-kubernetes-unions"
	refPrefixV2     = "#/definitions/"
	refPrefixV3     = "#/components/schemas/"
	openAPIV2String = "2.0"
	openAPIV3String = "3.0.0"
)

// flavor selects the differences between the v2 and v3 schemas upstream
// publishes: v3 refers to #/components/schemas, wraps a $ref that has
// siblings (description, default) in allOf, carries the defaults openapi-gen
// enforces, and describes Quantity and IntOrString with oneOf.
type flavor int

const (
	flavorV2 flavor = iota
	flavorV3
)

func (f flavor) refPrefix() string {
	if f == flavorV3 {
		return refPrefixV3
	}
	return refPrefixV2
}

// openAPITyper is implemented by apimachinery types that serialize as a
// scalar (Time, MicroTime, Duration, Quantity, IntOrString).
type openAPITyper interface {
	OpenAPISchemaType() []string
	OpenAPISchemaFormat() string
}

// openAPIV3OneOfTyper is implemented by the scalar types that accept more
// than one JSON type (Quantity, IntOrString).
type openAPIV3OneOfTyper interface {
	OpenAPIV3OneOfTypes() []string
}

var (
	openAPITyperType    = reflect.TypeFor[openAPITyper]()
	openAPIV3OneOfType  = reflect.TypeFor[openAPIV3OneOfTyper]()
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	byteSliceElemKind   = reflect.Uint8
	emptyObject         = map[string]any{}
)

// definitions is the set of named schemas reachable from some root types,
// built by reflection in one flavor. It is not safe for concurrent use.
type definitions struct {
	flavor  flavor
	schemas map[string]*spec.Schema
	// deps lists the definitions each definition refers to, so a v3
	// document can take the closure of its roots.
	deps  map[string]map[string]bool
	names map[reflect.Type]string
}

func newDefinitions(f flavor) *definitions {
	return &definitions{
		flavor:  f,
		schemas: map[string]*spec.Schema{},
		deps:    map[string]map[string]bool{},
		names:   map[reflect.Type]string{},
	}
}

// add makes sure t (a struct or scalar named type) has a definition and
// returns its name.
func (d *definitions) add(t reflect.Type) (string, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if name, ok := d.names[t]; ok {
		return name, nil
	}
	if !isDefinitionType(t) {
		return "", fmt.Errorf("type %v cannot have a definition: only named structs and scalar API types do", t)
	}
	name := definitionName(t)
	// Refs are built with spec.MustCreateRef from here on; check once that
	// the name makes a valid one (instantiated generic types do not).
	if strings.ContainsAny(name, "[]") {
		return "", fmt.Errorf("type %v: generic types have no definition name", t)
	}
	if _, err := spec.NewRef(d.flavor.refPrefix() + name); err != nil {
		return "", fmt.Errorf("type %v: definition name %q: %w", t, name, err)
	}
	d.names[t] = name
	s := &spec.Schema{}
	// Reserve the slot first: types may refer to themselves.
	d.schemas[name] = s
	d.deps[name] = map[string]bool{}
	var err error
	if t.Implements(openAPITyperType) {
		*s = d.scalarDefinition(t)
	} else {
		err = d.buildStruct(t, name, s)
	}
	if err != nil {
		delete(d.schemas, name)
		delete(d.deps, name)
		delete(d.names, t)
		return "", err
	}
	return name, nil
}

func isDefinitionType(t reflect.Type) bool {
	if t.Name() == "" {
		return false
	}
	return t.Kind() == reflect.Struct || t.Implements(openAPITyperType)
}

func (d *definitions) scalarDefinition(t reflect.Type) spec.Schema {
	v := reflect.Zero(t).Interface().(openAPITyper)
	s := spec.Schema{}
	s.Description = docsOf(t)[""]
	s.Type = v.OpenAPISchemaType()
	s.Format = v.OpenAPISchemaFormat()
	if d.flavor == flavorV3 && t.Implements(openAPIV3OneOfType) {
		s.Type = nil
		for _, typ := range reflect.Zero(t).Interface().(openAPIV3OneOfTyper).OpenAPIV3OneOfTypes() {
			s.OneOf = append(s.OneOf, spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{typ}}})
		}
	}
	return s
}

func (d *definitions) buildStruct(t reflect.Type, name string, s *spec.Schema) error {
	s.Description = docsOf(t)[""]
	s.Type = spec.StringOrArray{"object"}
	props := map[string]spec.Schema{}
	var required []string
	if err := d.addFields(t, name, props, &required); err != nil {
		return err
	}
	if len(props) > 0 {
		s.Properties = props
	}
	s.Required = required
	if st := structTypeOf(t); st != "" {
		s.AddExtension(extMapType, st)
	}
	if unions := unionsOf(t); len(unions) > 0 {
		ext := make([]any, len(unions))
		for i, u := range unions {
			ext[i] = u.extension()
		}
		s.AddExtension(extUnions, ext)
	}
	return nil
}

// addFields adds t's JSON fields to props, flattening inlined embedded
// structs the way encoding/json and openapi-gen do.
func (d *definitions) addFields(t reflect.Type, owner string, props map[string]spec.Schema, required *[]string) error {
	docs := docsOf(t)
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, hasTag := f.Tag.Lookup("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" && opts == "" {
			continue
		}
		if f.Anonymous && hasTag && name == "" {
			et := f.Type
			for et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() != reflect.Struct {
				return fmt.Errorf("%v.%s: inlined field is not a struct", t, f.Name)
			}
			if err := d.addFields(et, owner, props, required); err != nil {
				return err
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		omitempty := hasOption(opts, "omitempty")
		m := markerFor(t, f.Name)
		if m.forceRequired || (!omitempty && !m.forceOptional) {
			*required = append(*required, name)
		}
		ps, err := d.useSchema(f.Type, owner)
		if err != nil {
			return fmt.Errorf("%v.%s: %w", t, f.Name, err)
		}
		desc := docs[name]
		if desc == "" {
			desc = generatedFieldDoc(t, name)
		}
		ps.Description = desc
		if v := f.Tag.Get("patchStrategy"); v != "" {
			ps.AddExtension(extPatchStrat, v)
		}
		if v := f.Tag.Get("patchMergeKey"); v != "" {
			ps.AddExtension(extPatchKey, v)
		}
		if m.listType != "" {
			ps.AddExtension(extListType, m.listType)
		}
		if len(m.listMapKeys) > 0 {
			keys := make([]any, len(m.listMapKeys))
			for i, k := range m.listMapKeys {
				keys[i] = k
			}
			ps.AddExtension(extListMapKeys, keys)
		}
		if m.mapType != "" {
			ps.AddExtension(extMapType, m.mapType)
		}
		if d.flavor == flavorV3 {
			if def := parseDefault(m.defaultJSON); def != nil {
				ps.Default = def
			} else if def := enforcedDefault(f.Type, omitempty); def != nil {
				ps.Default = def
			}
			ps = wrapRef(ps)
		}
		props[name] = ps
	}
	return nil
}

// useSchema is the schema of a field, item or map value of type t: a $ref
// for named structs and scalar API types, inline otherwise. Definitions it
// refers to are added and recorded as dependencies of owner.
func (d *definitions) useSchema(t reflect.Type, owner string) (spec.Schema, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if isDefinitionType(t) {
		name, err := d.add(t)
		if err != nil {
			return spec.Schema{}, err
		}
		d.deps[owner][name] = true
		return spec.Schema{SchemaProps: spec.SchemaProps{Ref: spec.MustCreateRef(d.flavor.refPrefix() + name)}}, nil
	}
	s := spec.Schema{}
	switch t.Kind() {
	case reflect.String:
		s.Type = spec.StringOrArray{"string"}
	case reflect.Bool:
		s.Type = spec.StringOrArray{"boolean"}
	case reflect.Int, reflect.Int16, reflect.Int32, reflect.Uint, reflect.Uint16:
		s.Type, s.Format = spec.StringOrArray{"integer"}, "int32"
	case reflect.Int64, reflect.Uint32, reflect.Uint64:
		s.Type, s.Format = spec.StringOrArray{"integer"}, "int64"
	case reflect.Int8, reflect.Uint8:
		s.Type, s.Format = spec.StringOrArray{"integer"}, "byte"
	case reflect.Float32:
		s.Type, s.Format = spec.StringOrArray{"number"}, "float"
	case reflect.Float64:
		s.Type, s.Format = spec.StringOrArray{"number"}, "double"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			s.Type, s.Format = spec.StringOrArray{"string"}, "byte"
			break
		}
		items, err := d.useSchema(t.Elem(), owner)
		if err != nil {
			return spec.Schema{}, err
		}
		s.Type = spec.StringOrArray{"array"}
		s.Items = &spec.SchemaOrArray{Schema: &items}
	case reflect.Map:
		val, err := d.useSchema(t.Elem(), owner)
		if err != nil {
			return spec.Schema{}, err
		}
		s.Type = spec.StringOrArray{"object"}
		s.AdditionalProperties = &spec.SchemaOrBool{Allows: true, Schema: &val}
	case reflect.Interface:
		// Any JSON value; no k8s.io/api field serializes an interface today.
		s.Type = spec.StringOrArray{"object"}
	case reflect.Struct:
		// An anonymous struct: describe it inline.
		s.Type = spec.StringOrArray{"object"}
		props := map[string]spec.Schema{}
		var required []string
		if err := d.addFields(t, owner, props, &required); err != nil {
			return spec.Schema{}, err
		}
		s.Properties, s.Required = props, required
	default:
		return spec.Schema{}, fmt.Errorf("no OpenAPI type for %v", t)
	}
	return s, nil
}

// wrapRef turns {$ref, description, ...} into {allOf: [{$ref}], description,
// ...}: OpenAPI 3.0 ignores the siblings of a $ref, so upstream's v3 wraps.
func wrapRef(s spec.Schema) spec.Schema {
	if s.Ref.String() == "" {
		return s
	}
	bare := spec.Schema{SchemaProps: spec.SchemaProps{Ref: s.Ref}}
	s.Ref = spec.Ref{}
	if s.Description == "" && s.Default == nil && len(s.Extensions) == 0 {
		return bare
	}
	s.AllOf = []spec.Schema{bare}
	return s
}

// enforcedDefault is the default openapi-gen publishes in v3 for a field of
// type t with no +default marker: {} for value structs (their zero value
// always serializes), the zero value for scalars without omitempty.
func enforcedDefault(t reflect.Type, omitempty bool) any {
	switch t.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Array, reflect.Interface:
		return nil
	case reflect.Struct:
		if reflect.PointerTo(t).Implements(jsonUnmarshalerType) {
			return nil
		}
		if t.NumField() == 1 && t.Field(0).Anonymous {
			return enforcedDefault(t.Field(0).Type, omitempty)
		}
		return emptyObject
	}
	if omitempty {
		return nil
	}
	switch t.Kind() {
	case reflect.String:
		return ""
	case reflect.Bool:
		return false
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return 0
	}
	return nil
}

func hasOption(opts, want string) bool {
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == want {
			return true
		}
	}
	return false
}
