// Package eventsv1 holds the registry strategy of events.k8s.io/v1 events:
// upstream's strict validation for events written through this API, the
// field-selector vocabulary of events.k8s.io (regarding.*,
// reportingController, ...) and the same `kubectl get` columns as core
// events.
//
// Upstream stores events.k8s.io/v1 and core/v1 events as one resource.
// ToCore and FromCore convert between the two shapes so the API server
// can do the same: store core/v1 events and serve this group by
// conversion. Served as a separate resource instead, events written by
// client-go's events.k8s.io recorder would not show in `kubectl get
// events`.
package eventsv1

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry"
)

// Length limits of upstream's event validation.
const (
	reportingInstanceLengthLimit = 128
	actionLengthLimit            = 128
	reasonLengthLimit            = 128
	noteLengthLimit              = 1024
)

// Resources returns the events.k8s.io/v1 resources.
func Resources() []registry.Resource {
	return resources(time.Now)
}

func resources(now func() time.Time) []registry.Resource {
	return []registry.Resource{{
		GroupVersion: eventsv1.SchemeGroupVersion, Resource: "events", Kind: "Event", SingularName: "event",
		Namespaced: true, ShortNames: []string{"ev"},
		New:      func() runtime.Object { return &eventsv1.Event{} },
		NewList:  func() runtime.Object { return &eventsv1.EventList{} },
		Strategy: eventStrategy{now: now}, AllowCreateOnUpdate: true, GCPolicy: registry.GCUnsupported,
		// Stored as core/v1 events, as upstream: both APIs show the same events.
		StoredAs: &registry.StorageView{
			Resource: corev1.SchemeGroupVersion.WithResource("events"),
			ToStored: func(obj runtime.Object) (runtime.Object, error) {
				in, ok := obj.(*eventsv1.Event)
				if !ok {
					return nil, fmt.Errorf("expected events.k8s.io/v1 Event, got %T", obj)
				}
				return ToCore(in), nil
			},
			FromStored: func(obj runtime.Object) (runtime.Object, error) {
				in, ok := obj.(*corev1.Event)
				if !ok {
					return nil, fmt.Errorf("expected v1 Event, got %T", obj)
				}
				return FromCore(in), nil
			},
		},
	}}
}

// ToCore converts an events.k8s.io/v1 event to its core/v1 form, the form
// upstream stores.
func ToCore(in *eventsv1.Event) *corev1.Event {
	out := &corev1.Event{
		TypeMeta:            metav1.TypeMeta{Kind: "Event", APIVersion: "v1"},
		ObjectMeta:          *in.ObjectMeta.DeepCopy(),
		InvolvedObject:      in.Regarding,
		Reason:              in.Reason,
		Message:             in.Note,
		Source:              in.DeprecatedSource,
		FirstTimestamp:      in.DeprecatedFirstTimestamp,
		LastTimestamp:       in.DeprecatedLastTimestamp,
		Count:               in.DeprecatedCount,
		Type:                in.Type,
		EventTime:           in.EventTime,
		Action:              in.Action,
		ReportingController: in.ReportingController,
		ReportingInstance:   in.ReportingInstance,
	}
	if in.Series != nil {
		out.Series = &corev1.EventSeries{Count: in.Series.Count, LastObservedTime: in.Series.LastObservedTime}
	}
	if in.Related != nil {
		r := *in.Related
		out.Related = &r
	}
	return out
}

// FromCore converts a core/v1 event to its events.k8s.io/v1 form.
func FromCore(in *corev1.Event) *eventsv1.Event {
	out := &eventsv1.Event{
		TypeMeta:                 metav1.TypeMeta{Kind: "Event", APIVersion: eventsv1.SchemeGroupVersion.String()},
		ObjectMeta:               *in.ObjectMeta.DeepCopy(),
		EventTime:                in.EventTime,
		ReportingController:      in.ReportingController,
		ReportingInstance:        in.ReportingInstance,
		Action:                   in.Action,
		Reason:                   in.Reason,
		Regarding:                in.InvolvedObject,
		Note:                     in.Message,
		Type:                     in.Type,
		DeprecatedSource:         in.Source,
		DeprecatedFirstTimestamp: in.FirstTimestamp,
		DeprecatedLastTimestamp:  in.LastTimestamp,
		DeprecatedCount:          in.Count,
	}
	if in.Series != nil {
		out.Series = &eventsv1.EventSeries{Count: in.Series.Count, LastObservedTime: in.Series.LastObservedTime}
	}
	if in.Related != nil {
		r := *in.Related
		out.Related = &r
	}
	return out
}

type eventStrategy struct{ now func() time.Time }

var (
	_ registry.Strategy       = eventStrategy{}
	_ registry.TableConvertor = eventStrategy{}
	_ registry.FieldsFunc     = eventStrategy{}
)

func (eventStrategy) Default(obj runtime.Object)                                    {}
func (eventStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object)      {}
func (eventStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {}

func wrongType(obj runtime.Object) field.ErrorList {
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("expected *v1.Event, got %T", obj))}
}

// Validate applies the strict rules for events created through
// events.k8s.io: eventTime, a known type, no deprecated core fields. As
// upstream validates the stored core form, paths use core/v1 field names
// (message, count, involvedObject.namespace ...), except
// reportingController.
func (eventStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	ev, ok := obj.(*eventsv1.Event)
	if !ok {
		return wrongType(obj)
	}
	errs := validateReporting(ev)
	errs = append(errs, validateSeries(ev)...)
	if ev.EventTime.IsZero() {
		errs = append(errs, field.Required(field.NewPath("eventTime"), ""))
	}
	if ev.Type != corev1.EventTypeNormal && ev.Type != corev1.EventTypeWarning {
		errs = append(errs, field.Invalid(field.NewPath("type"), "", fmt.Sprintf("has invalid value: %v", ev.Type)))
	}
	if !ev.DeprecatedFirstTimestamp.IsZero() {
		errs = append(errs, field.Invalid(field.NewPath("firstTimestamp"), "", "needs to be unset"))
	}
	if !ev.DeprecatedLastTimestamp.IsZero() {
		errs = append(errs, field.Invalid(field.NewPath("lastTimestamp"), "", "needs to be unset"))
	}
	if ev.DeprecatedCount != 0 {
		errs = append(errs, field.Invalid(field.NewPath("count"), "", "needs to be unset"))
	}
	if ev.DeprecatedSource.Component != "" || ev.DeprecatedSource.Host != "" {
		errs = append(errs, field.Invalid(field.NewPath("source"), "", "needs to be unset"))
	}
	return errs
}

// ValidateUpdate: an event is a record; only its series (the repeat count)
// and metadata may change.
func (eventStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	ev, ok1 := obj.(*eventsv1.Event)
	o, ok2 := old.(*eventsv1.Event)
	if !ok1 || !ok2 {
		return wrongType(obj)
	}
	errs := validateReporting(ev)
	if !reflect.DeepEqual(ev.Series, o.Series) {
		errs = append(errs, validateSeries(ev)...)
	}
	immutable := func(a, b interface{}, name string) {
		errs = append(errs, apimachineryvalidation.ValidateImmutableField(a, b, field.NewPath(name))...)
	}
	immutable(ev.Regarding, o.Regarding, "involvedObject")
	immutable(ev.Reason, o.Reason, "reason")
	immutable(ev.Note, o.Note, "message")
	immutable(ev.DeprecatedSource, o.DeprecatedSource, "source")
	immutable(ev.DeprecatedFirstTimestamp, o.DeprecatedFirstTimestamp, "firstTimestamp")
	immutable(ev.DeprecatedLastTimestamp, o.DeprecatedLastTimestamp, "lastTimestamp")
	immutable(ev.DeprecatedCount, o.DeprecatedCount, "count")
	immutable(ev.Reason, o.Reason, "reason") // reported twice, as upstream
	immutable(ev.Type, o.Type, "type")
	// Sub-microsecond differences are tolerated: clients truncate the
	// time differently when serialising.
	if !ev.EventTime.Truncate(time.Microsecond).UTC().Equal(o.EventTime.Truncate(time.Microsecond).UTC()) {
		immutable(ev.EventTime, o.EventTime, "eventTime")
	}
	immutable(ev.Action, o.Action, "action")
	immutable(ev.Related, o.Related, "related")
	immutable(ev.ReportingController, o.ReportingController, "reportingController")
	immutable(ev.ReportingInstance, o.ReportingInstance, "reportingInstance")
	return errs
}

// validateReporting is upstream's legacy validation as it applies to
// events with an eventTime (all events.k8s.io events).
func validateReporting(ev *eventsv1.Event) field.ErrorList {
	var errs field.ErrorList
	if ev.EventTime.IsZero() {
		// Old-style event: the namespace must agree with the object's.
		ns := ev.Regarding.Namespace
		if (ns == "" && ev.Namespace != metav1.NamespaceNone && ev.Namespace != metav1.NamespaceDefault) || (ns != "" && ev.Namespace != ns) {
			errs = append(errs, field.Invalid(field.NewPath("involvedObject", "namespace"), ns, "does not match event.namespace"))
		}
		return errs
	}
	if ev.Regarding.Namespace == "" && ev.Namespace != metav1.NamespaceDefault && ev.Namespace != metav1.NamespaceSystem {
		errs = append(errs, field.Invalid(field.NewPath("involvedObject", "namespace"), ev.Regarding.Namespace, "does not match event.namespace"))
	}
	rc := field.NewPath("reportingController")
	if ev.ReportingController == "" {
		errs = append(errs, field.Required(rc, ""))
	}
	for _, msg := range content.IsLabelKey(ev.ReportingController) {
		errs = append(errs, field.Invalid(rc, ev.ReportingController, msg))
	}
	errs = append(errs, requiredWithLimit(ev.ReportingInstance, reportingInstanceLengthLimit, "reportingInstance", true)...)
	errs = append(errs, requiredWithLimit(ev.Action, actionLengthLimit, "action", true)...)
	errs = append(errs, requiredWithLimit(ev.Reason, reasonLengthLimit, "reason", true)...)
	errs = append(errs, requiredWithLimit(ev.Note, noteLengthLimit, "message", false)...)
	return errs
}

func requiredWithLimit(v string, limit int, name string, required bool) field.ErrorList {
	p := field.NewPath(name)
	var errs field.ErrorList
	if required && v == "" {
		errs = append(errs, field.Required(p, ""))
	}
	if len(v) > limit {
		errs = append(errs, field.Invalid(p, "", fmt.Sprintf("can have at most %v characters", limit)))
	}
	return errs
}

func validateSeries(ev *eventsv1.Event) field.ErrorList {
	if ev.Series == nil {
		return nil
	}
	var errs field.ErrorList
	if ev.Series.Count < 2 {
		errs = append(errs, field.Invalid(field.NewPath("series.count"), "", "should be at least 2"))
	}
	if ev.Series.LastObservedTime.IsZero() {
		errs = append(errs, field.Required(field.NewPath("series.lastObservedTime"), ""))
	}
	return errs
}

// SelectableFields are upstream's event fields under their events.k8s.io
// names; the core names (involvedObject.*, source) are not accepted here.
func (eventStrategy) SelectableFields(obj runtime.Object) fields.Set {
	ev, ok := obj.(*eventsv1.Event)
	if !ok {
		return nil
	}
	r := ev.Regarding
	return fields.Set{
		"regarding.kind":            r.Kind,
		"regarding.namespace":       r.Namespace,
		"regarding.name":            r.Name,
		"regarding.uid":             string(r.UID),
		"regarding.apiVersion":      r.APIVersion,
		"regarding.resourceVersion": r.ResourceVersion,
		"regarding.fieldPath":       r.FieldPath,
		"reason":                    ev.Reason,
		"reportingController":       ev.ReportingController,
		"type":                      ev.Type,
	}
}

func (eventStrategy) ColumnDefinitions() []metav1.TableColumnDefinition {
	doc := corev1.Event{}.SwaggerDoc()
	return []metav1.TableColumnDefinition{
		{Name: "Last Seen", Type: "string", Description: doc["lastTimestamp"]},
		{Name: "Type", Type: "string", Description: doc["type"]},
		{Name: "Reason", Type: "string", Description: doc["reason"]},
		{Name: "Object", Type: "string", Description: doc["involvedObject"]},
		{Name: "Subobject", Type: "string", Priority: 1, Description: corev1.ObjectReference{}.SwaggerDoc()["fieldPath"]},
		{Name: "Source", Type: "string", Priority: 1, Description: doc["source"]},
		{Name: "Message", Type: "string", Description: doc["message"]},
		{Name: "First Seen", Type: "string", Priority: 1, Description: doc["firstTimestamp"]},
		{Name: "Count", Type: "string", Priority: 1, Description: doc["count"]},
		{Name: "Name", Type: "string", Priority: 1, Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
	}
}

// Row is upstream's event row: times fall back from the deprecated
// timestamps to eventTime and the series, and a singleton counts 1.
func (s eventStrategy) Row(obj runtime.Object) []interface{} {
	ev, ok := obj.(*eventsv1.Event)
	if !ok {
		return nil
	}
	now := s.now()
	since := func(t time.Time) string {
		if t.IsZero() {
			return "<unknown>"
		}
		return duration.HumanDuration(now.Sub(t))
	}
	first := since(ev.DeprecatedFirstTimestamp.Time)
	if ev.DeprecatedFirstTimestamp.IsZero() {
		first = since(ev.EventTime.Time)
	}
	last := since(ev.DeprecatedLastTimestamp.Time)
	if ev.DeprecatedLastTimestamp.IsZero() {
		last = first
	}
	count := ev.DeprecatedCount
	switch {
	case ev.Series != nil:
		last = since(ev.Series.LastObservedTime.Time)
		count = ev.Series.Count
	case count == 0:
		count = 1
	}
	target := strings.ToLower(ev.Regarding.Kind)
	if ev.Regarding.Name != "" {
		target += "/" + ev.Regarding.Name
	}
	component, host := ev.DeprecatedSource.Component, ev.DeprecatedSource.Host
	if component == "" {
		component = ev.ReportingController
	}
	if host == "" {
		host = ev.ReportingInstance
	}
	source := component
	if host != "" {
		source += ", " + host
	}
	return []interface{}{
		last, ev.Type, ev.Reason, target, ev.Regarding.FieldPath, source,
		strings.TrimSpace(ev.Note), first, int64(count), ev.Name,
	}
}
