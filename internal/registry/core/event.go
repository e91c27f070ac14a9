package core

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry"
)

// eventStrategy validates core/v1 events as upstream does for requests to
// that version (its legacy rules: events.k8s.io/v1 is stricter).
type eventStrategy struct{ clock }

var (
	_ registry.Strategy       = eventStrategy{}
	_ registry.TableConvertor = eventStrategy{}
	_ registry.FieldsFunc     = eventStrategy{}
)

func (eventStrategy) Default(runtime.Object)                                           {}
func (eventStrategy) PrepareForCreate(context.Context, runtime.Object)                 {}
func (eventStrategy) PrepareForUpdate(context.Context, runtime.Object, runtime.Object) {}

func (eventStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	ev, ok := obj.(*corev1.Event)
	if !ok {
		return wrongType(obj, "*v1.Event")
	}
	return validateEvent(ev)
}

func (eventStrategy) ValidateUpdate(_ context.Context, obj, _ runtime.Object) field.ErrorList {
	ev, ok := obj.(*corev1.Event)
	if !ok {
		return wrongType(obj, "*v1.Event")
	}
	return validateEvent(ev)
}

func validateEvent(ev *corev1.Event) field.ErrorList {
	var errs field.ErrorList
	nsPath := field.NewPath("involvedObject", "namespace")
	const mismatch = "does not match event.namespace"
	if ev.EventTime.IsZero() {
		if ev.InvolvedObject.Namespace == "" {
			if ev.Namespace != metav1.NamespaceNone && ev.Namespace != metav1.NamespaceDefault {
				errs = append(errs, field.Invalid(nsPath, ev.InvolvedObject.Namespace, mismatch))
			}
		} else if ev.Namespace != ev.InvolvedObject.Namespace {
			errs = append(errs, field.Invalid(nsPath, ev.InvolvedObject.Namespace, mismatch))
		}
		return errs
	}
	if ev.InvolvedObject.Namespace == "" && ev.Namespace != metav1.NamespaceDefault && ev.Namespace != metav1.NamespaceSystem {
		errs = append(errs, field.Invalid(nsPath, ev.InvolvedObject.Namespace, mismatch))
	}
	rc := field.NewPath("reportingComponent")
	if ev.ReportingController == "" {
		errs = append(errs, field.Required(rc, ""))
	}
	errs = append(errs, validateQualifiedName(ev.ReportingController, rc)...)
	limit := func(value string, name string, max int, required bool) {
		p := field.NewPath(name)
		if required && value == "" {
			errs = append(errs, field.Required(p, ""))
		}
		if len(value) > max {
			errs = append(errs, field.Invalid(p, "", fmt.Sprintf("can have at most %v characters", max)))
		}
	}
	limit(ev.ReportingInstance, "reportingInstance", 128, true)
	limit(ev.Action, "action", 128, true)
	limit(ev.Reason, "reason", 128, true)
	limit(ev.Message, "message", 1024, false)
	return errs
}

func (eventStrategy) SelectableFields(obj runtime.Object) fields.Set {
	ev, ok := obj.(*corev1.Event)
	if !ok {
		return nil
	}
	source := ev.Source.Component
	if source == "" {
		source = ev.ReportingController
	}
	io := ev.InvolvedObject
	return fields.Set{
		"involvedObject.kind":            io.Kind,
		"involvedObject.namespace":       io.Namespace,
		"involvedObject.name":            io.Name,
		"involvedObject.uid":             string(io.UID),
		"involvedObject.apiVersion":      io.APIVersion,
		"involvedObject.resourceVersion": io.ResourceVersion,
		"involvedObject.fieldPath":       io.FieldPath,
		"reason":                         ev.Reason,
		"reportingComponent":             ev.ReportingController,
		"source":                         source,
		"type":                           ev.Type,
	}
}

var eventColumns = []metav1.TableColumnDefinition{
	column("Last Seen", "string", corev1.Event{}.SwaggerDoc()["lastTimestamp"]),
	column("Type", "string", corev1.Event{}.SwaggerDoc()["type"]),
	column("Reason", "string", corev1.Event{}.SwaggerDoc()["reason"]),
	column("Object", "string", corev1.Event{}.SwaggerDoc()["involvedObject"]),
	wideColumn("Subobject", "string", corev1.ObjectReference{}.SwaggerDoc()["fieldPath"]),
	wideColumn("Source", "string", corev1.Event{}.SwaggerDoc()["source"]),
	column("Message", "string", corev1.Event{}.SwaggerDoc()["message"]),
	wideColumn("First Seen", "string", corev1.Event{}.SwaggerDoc()["firstTimestamp"]),
	wideColumn("Count", "string", corev1.Event{}.SwaggerDoc()["count"]),
	{Name: "Name", Type: "string", Format: "name", Priority: 1, Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
}

func (eventStrategy) ColumnDefinitions() []metav1.TableColumnDefinition { return eventColumns }

func (s eventStrategy) Row(obj runtime.Object) []interface{} {
	ev, ok := obj.(*corev1.Event)
	if !ok {
		return nil
	}
	first := s.since(ev.FirstTimestamp)
	if ev.FirstTimestamp.IsZero() {
		first = s.sinceMicro(ev.EventTime)
	}
	last := s.since(ev.LastTimestamp)
	if ev.LastTimestamp.IsZero() {
		last = first
	}
	count := ev.Count
	if ev.Series != nil {
		last = s.sinceMicro(ev.Series.LastObservedTime)
		count = ev.Series.Count
	} else if count == 0 {
		count = 1
	}
	target := strings.ToLower(ev.InvolvedObject.Kind)
	if ev.InvolvedObject.Name != "" {
		target += "/" + ev.InvolvedObject.Name
	}
	component, instance := ev.Source.Component, ev.Source.Host
	if component == "" {
		component = ev.ReportingController
	}
	if instance == "" {
		instance = ev.ReportingInstance
	}
	source := component
	if instance != "" {
		source += ", " + instance
	}
	return []interface{}{last, ev.Type, ev.Reason, target, ev.InvolvedObject.FieldPath, source,
		strings.TrimSpace(ev.Message), first, int64(count), ev.Name}
}

func (c clock) sinceMicro(t metav1.MicroTime) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return c.since(metav1.NewTime(t.Time))
}
