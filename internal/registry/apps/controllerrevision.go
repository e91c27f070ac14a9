package apps

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry"
)

// controllerRevisionStrategy: revisions are immutable snapshots of a
// StatefulSet's or DaemonSet's template, written by their controllers.
type controllerRevisionStrategy struct{ now func() time.Time }

var (
	_ registry.Strategy       = controllerRevisionStrategy{}
	_ registry.TableConvertor = controllerRevisionStrategy{}
)

func (controllerRevisionStrategy) Default(obj runtime.Object) {}

func (controllerRevisionStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {}

func (controllerRevisionStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {}

func (controllerRevisionStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	cr, ok := obj.(*appsv1.ControllerRevision)
	if !ok {
		return wrongType(obj, "*v1.ControllerRevision")
	}
	errs := nonnegative(cr.Revision, field.NewPath("revision"))
	dataPath := field.NewPath("data")
	raw := cr.Data.Raw
	if raw == nil && cr.Data.Object != nil {
		// A decoded object (never the case for requests off the wire)
		// is valid JSON by construction.
		return errs
	}
	var v interface{}
	switch err := json.Unmarshal(raw, &v); {
	case raw == nil:
		errs = append(errs, field.Required(dataPath, "data is mandatory"))
	case err != nil:
		errs = append(errs, field.Invalid(dataPath, "<value omitted>", "error parsing data: "+err.Error()))
	case v == nil:
		errs = append(errs, field.Required(dataPath, "data is mandatory"))
	default:
		if _, isObject := v.(map[string]interface{}); !isObject {
			errs = append(errs, field.Required(dataPath, "data must be a valid JSON object"))
		}
	}
	return errs
}

func (controllerRevisionStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	cr, ok1 := obj.(*appsv1.ControllerRevision)
	o, ok2 := old.(*appsv1.ControllerRevision)
	if !ok1 || !ok2 {
		return wrongType(obj, "*v1.ControllerRevision")
	}
	errs := nonnegative(cr.Revision, field.NewPath("revision"))
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(cr.Data, o.Data, field.NewPath("data"))...)
	return errs
}

func (controllerRevisionStrategy) ColumnDefinitions() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Controller", Type: "string", Description: "Controller of the object"},
		{Name: "Revision", Type: "string", Description: appsv1.ControllerRevision{}.SwaggerDoc()["revision"]},
		ageColumn,
	}
}

func (s controllerRevisionStrategy) Row(obj runtime.Object) []interface{} {
	cr, ok := obj.(*appsv1.ControllerRevision)
	if !ok {
		return nil
	}
	controller := "<none>"
	if ref := metav1.GetControllerOf(cr); ref != nil {
		// An unparsable apiVersion only loses the group in the cell;
		// upstream fails the whole table instead.
		gv, _ := schema.ParseGroupVersion(ref.APIVersion)
		gk := schema.GroupKind{Group: gv.Group, Kind: ref.Kind}
		controller = ref.Name
		if !gk.Empty() {
			controller = strings.ToLower(gk.String()) + "/" + ref.Name
		}
	}
	return []interface{}{cr.Name, controller, cr.Revision, age(s.now(), cr.CreationTimestamp)}
}
