package openapi

import (
	"fmt"
	"reflect"
	"sort"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// metaRoots are definitions every document carries: the bodies of the
// generic operations and the kinds shared by all groups.
var metaRoots = []reflect.Type{typeStatus, typeDeleteOptions, typeWatchEvent, typePatch, typeAPIResourceList}

// Definitions returns the v2 definitions (refs of the form
// "#/definitions/<name>") of the kinds' types, their lists and subresources,
// and every type they reach, with x-kubernetes-group-version-kind set. This
// is the input managedfields.NewTypeConverter takes for server-side apply.
func Definitions(kinds []Kind) (map[string]*spec.Schema, error) {
	if err := validateKinds(kinds); err != nil {
		return nil, err
	}
	defs, err := buildDefinitions(flavorV2, kinds, nil)
	if err != nil {
		return nil, err
	}
	return withGVKs(defs, kinds, groupVersions(kinds)), nil
}

// BuildV2 returns the Swagger 2.0 document served at /openapi/v2 as JSON.
func BuildV2(kinds []Kind) ([]byte, error) {
	sw, err := buildSwagger(kinds)
	if err != nil {
		return nil, err
	}
	b, err := sw.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("marshal openapi v2: %w", err)
	}
	return b, nil
}

func buildSwagger(kinds []Kind) (*spec.Swagger, error) {
	if err := validateKinds(kinds); err != nil {
		return nil, err
	}
	gvs := groupVersions(kinds)
	var routes []route
	for _, gv := range gvs {
		routes = append(routes, routesFor(gv, kinds)...)
	}
	defs, err := buildDefinitions(flavorV2, kinds, routeTypes(routes))
	if err != nil {
		return nil, err
	}
	paths := &spec.Paths{Paths: map[string]spec.PathItem{}}
	for _, r := range routes {
		paths.Paths[r.path] = v2PathItem(r)
	}
	sw := &spec.Swagger{SwaggerProps: spec.SwaggerProps{
		Swagger:     openAPIV2String,
		Info:        &spec.Info{InfoProps: spec.InfoProps{Title: "Kubernetes", Version: "unversioned"}},
		Paths:       paths,
		Definitions: spec.Definitions{},
		SecurityDefinitions: spec.SecurityDefinitions{
			"BearerToken": &spec.SecurityScheme{SecuritySchemeProps: spec.SecuritySchemeProps{
				Type: "apiKey", Name: "authorization", In: "header", Description: "Bearer Token authentication",
			}},
		},
		Security: []map[string][]string{{"BearerToken": {}}},
	}}
	for name, s := range withGVKs(defs, kinds, gvs) {
		sw.Definitions[name] = *s
	}
	return sw, nil
}

// buildDefinitions builds the definitions reachable from the kinds, the
// meta roots and the extra types, in one flavor.
func buildDefinitions(f flavor, kinds []Kind, extra []reflect.Type) (*definitions, error) {
	d := newDefinitions(f)
	roots := append(append([]reflect.Type{}, metaRoots...), extra...)
	for _, k := range kinds {
		roots = append(roots, k.Type)
		if k.ListType != nil {
			roots = append(roots, k.ListType)
		}
		for _, s := range k.Subresources {
			if s.Type != nil {
				roots = append(roots, s.Type)
			}
		}
	}
	for _, t := range roots {
		if _, err := d.add(t); err != nil {
			return nil, fmt.Errorf("openapi definition of %v: %w", t, err)
		}
	}
	return d, nil
}

// gvkIndex maps definition names to the kinds they are the schema of.
func gvkIndex(d *definitions, kinds []Kind, shared []schema.GroupVersion) map[string][]schema.GroupVersionKind {
	idx := map[string][]schema.GroupVersionKind{}
	seen := map[string]map[schema.GroupVersionKind]bool{}
	add := func(t reflect.Type, gvk schema.GroupVersionKind) {
		name, ok := d.names[t]
		if !ok {
			return
		}
		if seen[name] == nil {
			seen[name] = map[schema.GroupVersionKind]bool{}
		}
		if seen[name][gvk] {
			return
		}
		seen[name][gvk] = true
		idx[name] = append(idx[name], gvk)
	}
	for _, k := range kinds {
		add(k.Type, k.GVK)
		if k.ListType != nil {
			add(k.ListType, k.GVK.GroupVersion().WithKind(k.GVK.Kind+"List"))
		}
		for _, s := range k.Subresources {
			if s.Type != nil && s.GVK.Kind != "" {
				add(s.Type, s.GVK)
			}
		}
	}
	core := schema.GroupVersion{Version: "v1"}
	add(typeStatus, core.WithKind("Status"))
	add(typeAPIResourceList, core.WithKind("APIResourceList"))
	for _, gv := range shared {
		add(typeDeleteOptions, gv.WithKind("DeleteOptions"))
		add(typeWatchEvent, gv.WithKind("WatchEvent"))
	}
	for _, gvks := range idx {
		sort.Slice(gvks, func(i, j int) bool {
			a, b := gvks[i], gvks[j]
			if a.Group != b.Group {
				return a.Group < b.Group
			}
			if a.Version != b.Version {
				return a.Version < b.Version
			}
			return a.Kind < b.Kind
		})
	}
	return idx
}

// withGVKs returns the definitions with x-kubernetes-group-version-kind set
// on the schemas of kinds. Schemas that gain the extension are shallow
// copies, so d stays reusable for other documents.
func withGVKs(d *definitions, kinds []Kind, shared []schema.GroupVersion) map[string]*spec.Schema {
	idx := gvkIndex(d, kinds, shared)
	out := make(map[string]*spec.Schema, len(d.schemas))
	for name, s := range d.schemas {
		gvks, ok := idx[name]
		if !ok {
			out[name] = s
			continue
		}
		c := *s
		c.Extensions = spec.Extensions{}
		for k, v := range s.Extensions {
			c.Extensions[k] = v
		}
		list := make([]any, len(gvks))
		for i, g := range gvks {
			list[i] = map[string]any{"group": g.Group, "version": g.Version, "kind": g.Kind}
		}
		c.Extensions[extGVK] = list
		out[name] = &c
	}
	return out
}

func v2PathItem(r route) spec.PathItem {
	var item spec.PathItem
	for _, p := range r.params {
		item.Parameters = append(item.Parameters, v2Param(p))
	}
	for _, o := range r.ops {
		op := v2Operation(o)
		switch o.method {
		case "get":
			item.Get = op
		case "put":
			item.Put = op
		case "post":
			item.Post = op
		case "patch":
			item.Patch = op
		case "delete":
			item.Delete = op
		}
	}
	return item
}

func v2Param(p param) spec.Parameter {
	sp := spec.Parameter{}
	sp.Name, sp.In, sp.Description, sp.Required = p.name, p.in, p.description, p.required
	sp.Type = p.typ
	sp.UniqueItems = true
	return sp
}

func v2Ref(t reflect.Type) *spec.Schema {
	return &spec.Schema{SchemaProps: spec.SchemaProps{Ref: spec.MustCreateRef(refPrefixV2 + definitionName(t))}}
}

func v2Operation(o operation) *spec.Operation {
	op := &spec.Operation{}
	op.ID, op.Description, op.Tags = o.id, o.description, []string{o.tag}
	op.Schemes = []string{"https"}
	op.Consumes = consumesAny
	if o.patch {
		op.Consumes = consumesPatch
	}
	op.Produces = producesObject
	if o.list {
		op.Produces = producesList
	}
	if o.body != nil {
		body := spec.Parameter{}
		body.Name, body.In, body.Required, body.Schema = "body", "body", o.bodyReq, v2Ref(o.body)
		op.Parameters = append(op.Parameters, body)
	}
	for _, p := range o.params {
		op.Parameters = append(op.Parameters, v2Param(p))
	}
	op.Responses = &spec.Responses{ResponsesProps: spec.ResponsesProps{StatusCodeResponses: map[int]spec.Response{}}}
	for _, res := range o.responses {
		r := spec.Response{}
		r.Description = res.description
		if res.body != nil {
			r.Schema = v2Ref(res.body)
		}
		op.Responses.StatusCodeResponses[res.code] = r
	}
	op.Responses.StatusCodeResponses[401] = spec.Response{ResponseProps: spec.ResponseProps{Description: "Unauthorized"}}
	if o.action != "" {
		op.AddExtension(extAction, o.action)
	}
	if o.gvk != nil {
		op.AddExtension(extGVK, map[string]any{"group": o.gvk.Group, "version": o.gvk.Version, "kind": o.gvk.Kind})
	}
	return op
}
