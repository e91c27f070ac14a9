package openapi

import (
	"fmt"
	"reflect"
	"sort"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// BuildV3 returns the OpenAPI 3.0 documents served under /openapi/v3/ as
// JSON, keyed by their path relative to it: "api/v1", "apis/apps/v1", ...
func BuildV3(kinds []Kind) (map[string][]byte, error) {
	docs, err := buildV3Docs(kinds)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(docs))
	for key, doc := range docs {
		b, err := doc.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("marshal openapi v3 %s: %w", key, err)
		}
		out[key] = b
	}
	return out, nil
}

func buildV3Docs(kinds []Kind) (map[string]*spec3.OpenAPI, error) {
	if err := validateKinds(kinds); err != nil {
		return nil, err
	}
	gvs := groupVersions(kinds)
	routesByGV := map[schema.GroupVersion][]route{}
	var extra []reflect.Type
	for _, gv := range gvs {
		routesByGV[gv] = routesFor(gv, kinds)
		extra = append(extra, routeTypes(routesByGV[gv])...)
	}
	// One set of definitions serves every document; each takes the closure
	// of its own roots.
	d, err := buildDefinitions(flavorV3, kinds, extra)
	if err != nil {
		return nil, err
	}
	docs := map[string]*spec3.OpenAPI{}
	for _, gv := range gvs {
		var gvKinds []Kind
		for _, k := range kinds {
			if k.GVK.GroupVersion() == gv {
				gvKinds = append(gvKinds, k)
			}
		}
		routes := routesByGV[gv]
		roots := append(append([]reflect.Type{}, metaRoots...), routeTypes(routes)...)
		for _, k := range gvKinds {
			roots = append(roots, k.Type)
			if k.ListType != nil {
				roots = append(roots, k.ListType)
			}
		}
		shared := []schema.GroupVersion{{Version: "v1"}}
		if gv != shared[0] {
			shared = append(shared, gv)
		}
		all := withGVKs(d, kinds, shared)
		schemas := map[string]*spec.Schema{}
		for _, name := range closure(d, roots) {
			schemas[name] = all[name]
		}
		paths := &spec3.Paths{Paths: map[string]*spec3.Path{}}
		for _, r := range routes {
			paths.Paths[r.path] = v3Path(r)
		}
		docs[gvPath(gv)] = &spec3.OpenAPI{
			Version: openAPIV3String,
			Info:    &spec.Info{InfoProps: spec.InfoProps{Title: "Kubernetes", Version: "unversioned"}},
			Paths:   paths,
			Components: &spec3.Components{
				Schemas: schemas,
				SecuritySchemes: spec3.SecuritySchemes{"BearerToken": &spec3.SecurityScheme{
					SecuritySchemeProps: spec3.SecuritySchemeProps{
						Type: "apiKey", Name: "authorization", In: "header", Description: "Bearer Token authentication",
					},
				}},
			},
		}
	}
	return docs, nil
}

// closure returns the names of the definitions of roots and of everything
// they refer to, sorted.
func closure(d *definitions, roots []reflect.Type) []string {
	seen := map[string]bool{}
	var stack []string
	for _, t := range roots {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if name, ok := d.names[t]; ok && !seen[name] {
			seen[name] = true
			stack = append(stack, name)
		}
	}
	for len(stack) > 0 {
		name := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for dep := range d.deps[name] {
			if !seen[dep] {
				seen[dep] = true
				stack = append(stack, dep)
			}
		}
	}
	out := make([]string, 0, len(seen))
	for name := range seen {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func v3Path(r route) *spec3.Path {
	p := &spec3.Path{}
	for _, prm := range r.params {
		p.Parameters = append(p.Parameters, v3Param(prm))
	}
	for _, o := range r.ops {
		op := v3Operation(o)
		switch o.method {
		case "get":
			p.Get = op
		case "put":
			p.Put = op
		case "post":
			p.Post = op
		case "patch":
			p.Patch = op
		case "delete":
			p.Delete = op
		}
	}
	return p
}

func v3Param(p param) *spec3.Parameter {
	sp := &spec3.Parameter{}
	sp.Name, sp.In, sp.Description, sp.Required = p.name, p.in, p.description, p.required
	sp.Schema = &spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{p.typ}, UniqueItems: true}}
	return sp
}

func v3Content(t reflect.Type, mediaTypes []string) map[string]*spec3.MediaType {
	ref := &spec.Schema{SchemaProps: spec.SchemaProps{Ref: spec.MustCreateRef(refPrefixV3 + definitionName(t))}}
	out := make(map[string]*spec3.MediaType, len(mediaTypes))
	for _, mt := range mediaTypes {
		out[mt] = &spec3.MediaType{MediaTypeProps: spec3.MediaTypeProps{Schema: ref}}
	}
	return out
}

func v3Operation(o operation) *spec3.Operation {
	op := &spec3.Operation{}
	op.OperationId, op.Description, op.Tags = o.id, o.description, []string{o.tag}
	for _, p := range o.params {
		op.Parameters = append(op.Parameters, v3Param(p))
	}
	if o.body != nil {
		consumes := consumesAny
		if o.patch {
			consumes = consumesPatch
		}
		op.RequestBody = &spec3.RequestBody{RequestBodyProps: spec3.RequestBodyProps{
			Content: v3Content(o.body, consumes), Required: o.bodyReq,
		}}
	}
	produces := producesObject
	if o.list {
		produces = producesList
	}
	op.Responses = &spec3.Responses{ResponsesProps: spec3.ResponsesProps{StatusCodeResponses: map[int]*spec3.Response{}}}
	for _, res := range o.responses {
		r := &spec3.Response{ResponseProps: spec3.ResponseProps{Description: res.description}}
		if res.body != nil {
			r.Content = v3Content(res.body, produces)
		}
		op.Responses.StatusCodeResponses[res.code] = r
	}
	op.Responses.StatusCodeResponses[401] = &spec3.Response{ResponseProps: spec3.ResponseProps{Description: "Unauthorized"}}
	if o.action != "" {
		op.AddExtension(extAction, o.action)
	}
	if o.gvk != nil {
		op.AddExtension(extGVK, map[string]any{"group": o.gvk.Group, "version": o.gvk.Version, "kind": o.gvk.Kind})
	}
	return op
}
