package apiserver

import (
	"slices"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	smdschema "sigs.k8s.io/structured-merge-diff/v6/schema"
	"sigs.k8s.io/structured-merge-diff/v6/typed"
	"sigs.k8s.io/structured-merge-diff/v6/value"
)

// typedObjects is the field manager's type converter with one shortcut:
// a Go-typed object (not unstructured) converted with AllowDuplicates is
// not validated against the schema. Validation walks the whole object,
// and for a built-in type it checks what the type already guarantees —
// every Go field is in the schema of the same release, every scalar has
// its schema type — plus the keys of associative lists, which the
// compare and merge that follow check again and fail on in the same way.
// Duplicates are allowed by the option. It was ~40% of managedFields
// tracking on a pod create or status patch. Everything else (apply
// patches, unstructured objects, conversions without AllowDuplicates,
// which upstream's last-applied check uses to refuse duplicates) goes to
// the validating converter.
type typedObjects struct {
	managedfields.TypeConverter
	scheme *runtime.Scheme
	types  sync.Map // schema.GroupVersionKind → typeOf
}

// typeOf is where one kind's values sit in the schema.
type typeOf struct {
	schema *smdschema.Schema
	ref    smdschema.TypeRef
	ok     bool
}

var _ managedfields.TypeConverter = (*typedObjects)(nil)

func newTypedObjects(tc managedfields.TypeConverter, scheme *runtime.Scheme) *typedObjects {
	return &typedObjects{TypeConverter: tc, scheme: scheme}
}

// ObjectToTyped implements managedfields.TypeConverter.
func (c *typedObjects) ObjectToTyped(obj runtime.Object, opts ...typed.ValidationOptions) (*typed.TypedValue, error) {
	if _, unstructured := obj.(runtime.Unstructured); unstructured || !slices.Contains(opts, typed.AllowDuplicates) {
		return c.TypeConverter.ObjectToTyped(obj, opts...)
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	t := c.typeOf(gvk)
	if !t.ok {
		return c.TypeConverter.ObjectToTyped(obj, opts...)
	}
	v, err := value.NewValueReflect(obj)
	if err != nil {
		return c.TypeConverter.ObjectToTyped(obj, opts...)
	}
	return typed.AsTypedUnvalidated(v, t.schema, t.ref), nil
}

// typeOf finds gvk's schema type once, through the validating converter
// on an empty object of the kind.
func (c *typedObjects) typeOf(gvk schema.GroupVersionKind) typeOf {
	if t, ok := c.types.Load(gvk); ok {
		return t.(typeOf)
	}
	var t typeOf
	if empty, err := c.scheme.New(gvk); err == nil && !gvk.Empty() {
		empty.GetObjectKind().SetGroupVersionKind(gvk)
		if tv, err := c.TypeConverter.ObjectToTyped(empty, typed.AllowDuplicates); err == nil {
			t = typeOf{schema: tv.Schema(), ref: tv.TypeRef(), ok: true}
		}
	}
	c.types.Store(gvk, t)
	return t
}
