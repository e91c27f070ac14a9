package openapi

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Kind is one served resource as the documents describe it.
type Kind struct {
	GVK schema.GroupVersionKind
	// Type is the object's struct type (not a pointer), e.g.
	// reflect.TypeFor[corev1.Pod]().
	Type reflect.Type
	// ListType is the struct type of the list kind, whose kind is taken to
	// be GVK.Kind+"List"; nil when the resource cannot be listed.
	ListType reflect.Type
	// Resource is the plural lower-case resource name ("pods"). When empty
	// the kind gets a definition but no paths.
	Resource   string
	Namespaced bool
	// Verbs are the discovery verbs (get, list, watch, create, update,
	// patch, delete, deletecollection); nil means all of them.
	Verbs []string
	// Subresources served under the resource, such as status and scale.
	Subresources []Subresource
}

// Subresource is a subresource of a Kind.
type Subresource struct {
	Name string // "status", "scale"
	// Type is the body's struct type; nil means the parent's type.
	Type reflect.Type
	// GVK of Type when it differs from the parent's (autoscaling/v1 Scale).
	GVK schema.GroupVersionKind
	// Verbs among get, update, patch and create (eviction, binding, token);
	// nil means get, update and patch.
	Verbs []string
}

var allVerbs = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
var subresourceVerbs = []string{"get", "patch", "update"}

func (k Kind) verbs() []string {
	if k.Verbs == nil {
		return allVerbs
	}
	return k.Verbs
}

func (s Subresource) verbs() []string {
	if s.Verbs == nil {
		return subresourceVerbs
	}
	return s.Verbs
}

func hasVerb(verbs []string, v string) bool {
	for _, x := range verbs {
		if x == v {
			return true
		}
	}
	return false
}

// validateKinds rejects the inputs the builders cannot describe, so a
// wiring mistake is an error at start-up rather than a broken document.
func validateKinds(kinds []Kind) error {
	for _, k := range kinds {
		if k.GVK.Kind == "" || k.GVK.Version == "" {
			return fmt.Errorf("kind %q: group-version-kind is incomplete", k.GVK)
		}
		if k.Type == nil || k.Type.Kind() != reflect.Struct {
			return fmt.Errorf("kind %s: Type must be a struct type, got %v", k.GVK, k.Type)
		}
		if k.ListType != nil && k.ListType.Kind() != reflect.Struct {
			return fmt.Errorf("kind %s: ListType must be a struct type, got %v", k.GVK, k.ListType)
		}
		for _, s := range k.Subresources {
			if s.Name == "" {
				return fmt.Errorf("kind %s: subresource without a name", k.GVK)
			}
			if s.Type != nil && s.Type.Kind() != reflect.Struct {
				return fmt.Errorf("kind %s: subresource %s Type must be a struct type, got %v", k.GVK, s.Name, s.Type)
			}
		}
	}
	return nil
}

// gvPath is the key of a group-version in the v3 discovery index and the
// URL prefix of its resources: "api/v1" or "apis/apps/v1".
func gvPath(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "api/" + gv.Version
	}
	return "apis/" + gv.Group + "/" + gv.Version
}

func groupVersions(kinds []Kind) []schema.GroupVersion {
	seen := map[schema.GroupVersion]bool{}
	var out []schema.GroupVersion
	for _, k := range kinds {
		gv := k.GVK.GroupVersion()
		if !seen[gv] {
			seen[gv] = true
			out = append(out, gv)
		}
	}
	sortGroupVersions(out)
	return out
}

// sortGroupVersions orders the legacy group first, then by group and
// version name, the order upstream lists DeleteOptions' kinds in.
func sortGroupVersions(gvs []schema.GroupVersion) {
	sort.Slice(gvs, func(i, j int) bool {
		if gvs[i].Group != gvs[j].Group {
			return gvs[i].Group < gvs[j].Group
		}
		return gvs[i].Version < gvs[j].Version
	})
}

// modelNamer is implemented by the k8s.io/api and apimachinery types: their
// generated OpenAPIModelName is the upstream definition name.
type modelNamer interface {
	OpenAPIModelName() string
}

var modelNamerType = reflect.TypeFor[modelNamer]()

// definitionName is the name of t's definition: its OpenAPIModelName when
// generated, otherwise upstream's rule of reversing the import path's
// domain ("example.com/x/v1".T → "com.example.x.v1.T").
func definitionName(t reflect.Type) string {
	if t.Implements(modelNamerType) {
		if n := reflect.Zero(t).Interface().(modelNamer).OpenAPIModelName(); n != "" {
			return n
		}
	}
	path := t.PkgPath()
	first, rest, _ := strings.Cut(path, "/")
	parts := strings.Split(first, ".")
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	name := strings.Join(parts, ".")
	if rest != "" {
		name += "." + strings.ReplaceAll(rest, "/", ".")
	}
	return name + "." + t.Name()
}
