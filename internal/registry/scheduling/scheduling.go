// Package scheduling holds the registry strategy of scheduling.k8s.io/v1
// priorityclasses, with upstream's defaults, validation (reserved system-
// names and values, immutable value and preemption policy) and columns.
// "At most one globalDefault" is enforced upstream by the Priority
// admission plug-in, not here.
package scheduling

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry"
)

const (
	// HighestUserDefinablePriority is the largest value a user's class may
	// have; larger ones are reserved for the system classes.
	HighestUserDefinablePriority = int32(1_000_000_000)
	// SystemCriticalPriority is system-cluster-critical's value.
	SystemCriticalPriority = 2 * HighestUserDefinablePriority

	systemPrefix = "system-"
)

// SystemPriorityClasses returns the classes the API server creates at start
// (upstream's bootstrap priority classes); names starting with "system-"
// are reserved for them.
func SystemPriorityClasses() []*schedulingv1.PriorityClass {
	return []*schedulingv1.PriorityClass{
		{
			ObjectMeta:  metav1.ObjectMeta{Name: "system-node-critical"},
			Value:       SystemCriticalPriority + 1000,
			Description: "Used for system critical pods that must not be moved from their current node.",
		},
		{
			ObjectMeta:  metav1.ObjectMeta{Name: "system-cluster-critical"},
			Value:       SystemCriticalPriority,
			Description: "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
		},
	}
}

// Resources returns the scheduling.k8s.io/v1 resources.
func Resources() []registry.Resource {
	return resources(time.Now)
}

func resources(now func() time.Time) []registry.Resource {
	return []registry.Resource{{
		GroupVersion: schedulingv1.SchemeGroupVersion, Resource: "priorityclasses", Kind: "PriorityClass",
		SingularName: "priorityclass", ShortNames: []string{"pc"},
		New:      func() runtime.Object { return &schedulingv1.PriorityClass{} },
		NewList:  func() runtime.Object { return &schedulingv1.PriorityClassList{} },
		Strategy: priorityClassStrategy{now: now}, HasGeneration: true,
	}}
}

type priorityClassStrategy struct{ now func() time.Time }

var (
	_ registry.Strategy       = priorityClassStrategy{}
	_ registry.TableConvertor = priorityClassStrategy{}
)

func (priorityClassStrategy) Default(obj runtime.Object) {
	if pc, ok := obj.(*schedulingv1.PriorityClass); ok && pc.PreemptionPolicy == nil {
		p := corev1.PreemptLowerPriority
		pc.PreemptionPolicy = &p
	}
}

func (priorityClassStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object)      {}
func (priorityClassStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {}

func wrongType(obj runtime.Object) field.ErrorList {
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("expected *v1.PriorityClass, got %T", obj))}
}

func (priorityClassStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	pc, ok := obj.(*schedulingv1.PriorityClass)
	if !ok {
		return wrongType(obj)
	}
	var errs field.ErrorList
	if strings.HasPrefix(pc.Name, systemPrefix) {
		if err := checkSystemClass(pc); err != nil {
			errs = append(errs, field.Forbidden(field.NewPath("metadata", "name"),
				"priority class names with '"+systemPrefix+"' prefix are reserved for system use only. error: "+err.Error()))
		}
	} else if pc.Value > HighestUserDefinablePriority {
		errs = append(errs, field.Forbidden(field.NewPath("value"), fmt.Sprintf("maximum allowed value of a user defined priority is %v", HighestUserDefinablePriority)))
	}
	if pc.PreemptionPolicy != nil {
		p := field.NewPath("preemptionPolicy")
		switch *pc.PreemptionPolicy {
		case corev1.PreemptLowerPriority, corev1.PreemptNever:
		case "":
			errs = append(errs, field.Required(p, ""))
		default:
			errs = append(errs, field.NotSupported(p, pc.PreemptionPolicy, []string{string(corev1.PreemptLowerPriority), string(corev1.PreemptNever)}))
		}
	}
	return errs
}

// checkSystemClass accepts a system- class only as the server defines it.
func checkSystemClass(pc *schedulingv1.PriorityClass) error {
	for _, sys := range SystemPriorityClasses() {
		if sys.Name != pc.Name {
			continue
		}
		if sys.Value != pc.Value {
			return fmt.Errorf("value of %v PriorityClass must be %v", sys.Name, sys.Value)
		}
		if sys.GlobalDefault != pc.GlobalDefault {
			return fmt.Errorf("globalDefault of %v PriorityClass must be %v", sys.Name, sys.GlobalDefault)
		}
		return nil
	}
	return fmt.Errorf("%v is not a known system priority class", pc.Name)
}

// ValidateUpdate: value and preemption policy are immutable, because pods
// copy them at admission. Unlike create, the system-name rule is not
// re-checked, as upstream.
func (priorityClassStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	pc, ok1 := obj.(*schedulingv1.PriorityClass)
	o, ok2 := old.(*schedulingv1.PriorityClass)
	if !ok1 || !ok2 {
		return wrongType(obj)
	}
	var errs field.ErrorList
	if pc.Value != o.Value {
		errs = append(errs, field.Forbidden(field.NewPath("value"), "may not be changed in an update."))
	}
	return append(errs, apimachineryvalidation.ValidateImmutableField(pc.PreemptionPolicy, o.PreemptionPolicy, field.NewPath("preemptionPolicy"))...)
}

func (priorityClassStrategy) ColumnDefinitions() []metav1.TableColumnDefinition {
	doc := schedulingv1.PriorityClass{}.SwaggerDoc()
	return []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
		{Name: "Value", Type: "integer", Description: doc["value"]},
		{Name: "Global-Default", Type: "boolean", Description: doc["globalDefault"]},
		{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
		{Name: "PreemptionPolicy", Type: "string", Description: doc["preemptionPolicy"]},
	}
}

func (s priorityClassStrategy) Row(obj runtime.Object) []interface{} {
	pc, ok := obj.(*schedulingv1.PriorityClass)
	if !ok {
		return nil
	}
	age := "<unknown>"
	if !pc.CreationTimestamp.IsZero() {
		age = duration.HumanDuration(s.now().Sub(pc.CreationTimestamp.Time))
	}
	var policy string
	if pc.PreemptionPolicy != nil {
		policy = string(*pc.PreemptionPolicy)
	}
	return []interface{}{pc.Name, int64(pc.Value), pc.GlobalDefault, age, policy}
}
