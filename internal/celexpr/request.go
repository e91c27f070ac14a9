package celexpr

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff.dev/skiff/internal/admission"
)

// ToUnstructured converts a typed object to the map CEL sees, with its
// apiVersion and kind (typed objects in the server often have none).
func ToUnstructured(o runtime.Object, gvk schema.GroupVersionKind) (map[string]any, error) {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return nil, fmt.Errorf("convert %s for CEL: %w", gvk.Kind, err)
	}
	if gvk.Kind != "" {
		u["apiVersion"], u["kind"] = gvk.GroupVersion().String(), gvk.Kind
	}
	return u, nil
}

// RequestMap is CEL's `request` variable for an admitted write: the
// fields of upstream's AdmissionRequest.
func RequestMap(a *admission.Attributes) map[string]any {
	kind := map[string]any{"group": a.Kind.Group, "version": a.Kind.Version, "kind": a.Kind.Kind}
	res := map[string]any{"group": a.Resource.Group, "version": a.Resource.Version, "resource": a.Resource.Resource}
	user := map[string]any{"username": "", "uid": "", "groups": []any{}, "extra": map[string]any{}}
	if u := a.User; u != nil {
		groups := make([]any, len(u.Groups))
		for i, g := range u.Groups {
			groups[i] = g
		}
		extra := map[string]any{}
		for k, vs := range u.Extra {
			l := make([]any, len(vs))
			for i, v := range vs {
				l[i] = v
			}
			extra[k] = l
		}
		user = map[string]any{"username": u.Name, "uid": u.UID, "groups": groups, "extra": extra}
	}
	m := map[string]any{
		"kind": kind, "resource": res, "subResource": a.Subresource,
		"requestKind": kind, "requestResource": res, "requestSubResource": a.Subresource,
		"name": a.Name, "namespace": a.Namespace, "operation": string(a.Operation),
		"userInfo": user, "dryRun": a.DryRun,
	}
	if a.Options != nil {
		if o, err := runtime.DefaultUnstructuredConverter.ToUnstructured(a.Options); err == nil {
			m["options"] = o
		}
	}
	return m
}
