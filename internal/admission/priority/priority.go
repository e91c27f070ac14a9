// Package priority is upstream's Priority admission plug-in: a new pod's
// spec.priorityClassName is resolved to spec.priority and
// spec.preemptionPolicy (a pod without a class gets the globalDefault
// class, or priority 0); an unknown class, or a priority or policy the
// client set that disagrees with its class, is refused. It also keeps
// PriorityClasses to one globalDefault.
package priority

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/skiff/internal/admission"
)

// Name is the plug-in's upstream name.
const Name = "Priority"

// The built-in classes' values, as upstream (scheduling.SystemCriticalPriority
// and the node-critical class 1000 above it).
const (
	SystemClusterCritical = "system-cluster-critical"
	SystemNodeCritical    = "system-node-critical"
	systemCritical        = int32(2000000000)
)

// builtin resolves the system classes even before the API server's cache
// has them (they are created at start).
var builtin = map[string]int32{SystemClusterCritical: systemCritical, SystemNodeCritical: systemCritical + 1000}

// Classes reads PriorityClasses (the API server's cache). Safe for
// concurrent use.
type Classes interface {
	Get(namespace, name string) (runtime.Object, bool)
	List(namespace string) []runtime.Object
}

// Plugin is the Priority plug-in.
type Plugin struct {
	Classes Classes
}

var (
	_ admission.Mutator   = Plugin{}
	_ admission.Validator = Plugin{}
)

// Name implements admission.Plugin.
func (Plugin) Name() string { return Name }

// Admit resolves a new pod's priority; on update it carries the stored
// priority over to a pod whose client left it out.
func (p Plugin) Admit(_ context.Context, a *admission.Attributes) error {
	pod, ok := a.Object.(*corev1.Pod)
	if !ok || a.Subresource != "" {
		return nil
	}
	switch a.Operation {
	case admission.Update:
		if old, ok := a.OldObject.(*corev1.Pod); ok {
			if pod.Spec.Priority == nil {
				pod.Spec.Priority = old.Spec.Priority
			}
			if pod.Spec.PreemptionPolicy == nil {
				pod.Spec.PreemptionPolicy = old.Spec.PreemptionPolicy
			}
		}
		return nil
	case admission.Create:
	default:
		return nil
	}
	var value int32
	policy := corev1.PreemptLowerPriority
	if pod.Spec.PriorityClassName == "" {
		if def := p.globalDefault(); def != nil {
			pod.Spec.PriorityClassName = def.Name
			value = def.Value
			if def.PreemptionPolicy != nil {
				policy = *def.PreemptionPolicy
			}
		}
	} else {
		pc := p.class(pod.Spec.PriorityClassName)
		if pc == nil {
			return admission.Forbidden(a, fmt.Errorf("no PriorityClass with name %v was found", pod.Spec.PriorityClassName))
		}
		value = pc.Value
		if pc.PreemptionPolicy != nil {
			policy = *pc.PreemptionPolicy
		}
	}
	if pod.Spec.Priority != nil && *pod.Spec.Priority != value {
		return admission.Forbidden(a, fmt.Errorf("the integer value of priority (%d) must not be provided in pod spec; priority admission controller computed %d from the given PriorityClass name", *pod.Spec.Priority, value))
	}
	if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy != policy {
		return admission.Forbidden(a, fmt.Errorf("the string value of PreemptionPolicy (%s) must not be provided in pod spec; priority admission controller computed %s from the given PriorityClass name", *pod.Spec.PreemptionPolicy, policy))
	}
	pod.Spec.Priority = &value
	pod.Spec.PreemptionPolicy = &policy
	return nil
}

// Validate refuses a second globalDefault PriorityClass.
func (p Plugin) Validate(_ context.Context, a *admission.Attributes) error {
	if a.Operation != admission.Create && a.Operation != admission.Update {
		return nil
	}
	pc, ok := a.Object.(*schedulingv1.PriorityClass)
	if !ok || !pc.GlobalDefault || a.Subresource != "" {
		return nil
	}
	if def := p.globalDefault(); def != nil && def.Name != pc.Name {
		return admission.Forbidden(a, fmt.Errorf("PriorityClass %v is already marked as default. Only one default can exist", def.Name))
	}
	return nil
}

func (p Plugin) class(name string) *schedulingv1.PriorityClass {
	if o, ok := p.Classes.Get("", name); ok {
		if pc, ok := o.(*schedulingv1.PriorityClass); ok {
			return pc
		}
	}
	if v, ok := builtin[name]; ok {
		return &schedulingv1.PriorityClass{Value: v}
	}
	return nil
}

// globalDefault is the globalDefault class; of several (a race between
// creates), the lowest value, as upstream.
func (p Plugin) globalDefault() *schedulingv1.PriorityClass {
	var def *schedulingv1.PriorityClass
	for _, o := range p.Classes.List("") {
		if pc, ok := o.(*schedulingv1.PriorityClass); ok && pc.GlobalDefault && (def == nil || pc.Value < def.Value) {
			def = pc
		}
	}
	return def
}
