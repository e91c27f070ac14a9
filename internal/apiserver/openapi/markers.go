package openapi

import (
	"encoding/json"
	"reflect"
)

// fieldMarker is what upstream's openapi-gen reads from a field's comment
// markers and reflection cannot see. Only fields with at least one such fact
// are in generatedFieldMarkers.
type fieldMarker struct {
	// forceOptional: +optional on a field whose json tag lacks omitempty.
	forceOptional bool
	// forceRequired: +required on a field whose json tag has omitempty.
	forceRequired bool
	listType      string   // +listType: atomic, set, map
	listMapKeys   []string // +listMapKey, in order
	mapType       string   // +mapType or field-level +structType: atomic, granular
	defaultJSON   string   // +default, as JSON
}

func typeKey(t reflect.Type) string {
	return t.PkgPath() + "." + t.Name()
}

func markerFor(owner reflect.Type, goField string) fieldMarker {
	return generatedFieldMarkers[typeKey(owner)+"."+goField]
}

// structTypeOf returns the +structType of a struct type ("atomic" for
// LocalObjectReference and similar), "" when unset.
func structTypeOf(t reflect.Type) string {
	return generatedStructTypes[typeKey(t)]
}

// swaggerDocer is implemented by the k8s.io/api and meta/v1 types: "" maps
// to the type's description, each json field name to the field's.
type swaggerDocer interface {
	SwaggerDoc() map[string]string
}

var swaggerDocerType = reflect.TypeFor[swaggerDocer]()

// docsOf returns the descriptions of t and its fields, keyed like
// SwaggerDoc. For a type without SwaggerDoc only the type's own description
// is in the map; see generatedFieldDoc for its fields.
func docsOf(t reflect.Type) map[string]string {
	if t.Implements(swaggerDocerType) {
		return reflect.Zero(t).Interface().(swaggerDocer).SwaggerDoc()
	}
	out := map[string]string{}
	if d, ok := generatedDocs[typeKey(t)]; ok {
		out[""] = d
	}
	return out
}

// generatedFieldDoc is the description of field jsonName of t when t has
// no SwaggerDoc method.
func generatedFieldDoc(t reflect.Type, jsonName string) string {
	return generatedDocs[typeKey(t)+"."+jsonName]
}

func parseDefault(s string) any {
	if s == "" {
		return nil
	}
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil
	}
	return v
}

// unionMarker is one x-kubernetes-unions entry: the discriminator field's
// json name ("" when none) and the members' json names → Go names.
type unionMarker struct {
	discriminator string
	members       map[string]string
}

// unionsOf lists t's unions the way openapi-gen orders them: the +union of
// the struct itself, those of inlined embedded structs, then the union of
// +unionDeprecated members.
func unionsOf(t reflect.Type) []*unionMarker {
	own := generatedUnions[typeKey(t)]
	var out []*unionMarker
	if own[0] != nil {
		out = append(out, own[0])
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, hasTag := f.Tag.Lookup("json")
		if !f.Anonymous || !hasTag || (tag != "" && tag[0] != ',') {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			out = append(out, unionsOf(ft)...)
		}
	}
	if own[1] != nil {
		out = append(out, own[1])
	}
	return out
}

func (u *unionMarker) extension() map[string]any {
	fields := make(map[string]any, len(u.members))
	for k, v := range u.members {
		fields[k] = v
	}
	out := map[string]any{"fields-to-discriminateBy": fields}
	if u.discriminator != "" {
		out["discriminator"] = u.discriminator
	}
	return out
}
