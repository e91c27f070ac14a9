package core

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry"
)

// podTemplateStrategy: a PodTemplate is validated as any template, under
// the path "template".
type podTemplateStrategy struct{ clock }

var (
	_ registry.Strategy       = podTemplateStrategy{}
	_ registry.TableConvertor = podTemplateStrategy{}
	_ registry.WarningsFunc   = podTemplateStrategy{}
)

// Warnings: the template's PodWarnings on create and when the template
// changes (upstream: when the generation moves).
func (podTemplateStrategy) Warnings(_ context.Context, obj, old runtime.Object) []string {
	pt, ok := obj.(*corev1.PodTemplate)
	if !ok {
		return nil
	}
	if o, ok := old.(*corev1.PodTemplate); ok && apiequality.Semantic.DeepEqual(pt.Template, o.Template) {
		return nil
	}
	return PodTemplateWarnings(field.NewPath("template"), &pt.Template)
}

func (podTemplateStrategy) Default(obj runtime.Object) {
	if pt, ok := obj.(*corev1.PodTemplate); ok {
		DefaultPodTemplateSpec(&pt.Template)
	}
}

func (podTemplateStrategy) PrepareForCreate(context.Context, runtime.Object)                 {}
func (podTemplateStrategy) PrepareForUpdate(context.Context, runtime.Object, runtime.Object) {}

func (podTemplateStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	pt, ok := obj.(*corev1.PodTemplate)
	if !ok {
		return wrongType(obj, "*v1.PodTemplate")
	}
	return ValidatePodTemplateSpec(&pt.Template, field.NewPath("template"))
}

func (s podTemplateStrategy) ValidateUpdate(ctx context.Context, obj, _ runtime.Object) field.ErrorList {
	return s.Validate(ctx, obj)
}

var podTemplateColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Containers", "string", "Names of each container in the template."),
	column("Images", "string", "Images referenced by each container in the template."),
	column("Pod Labels", "string", "The labels for the pod template."),
}

func (podTemplateStrategy) ColumnDefinitions() []metav1.TableColumnDefinition {
	return podTemplateColumns
}

func (podTemplateStrategy) Row(obj runtime.Object) []interface{} {
	pt, ok := obj.(*corev1.PodTemplate)
	if !ok {
		return nil
	}
	names, images := containerCells(pt.Template.Spec.Containers)
	return []interface{}{pt.Name, names, images, labelsCell(pt.Template.Labels)}
}

// replicationControllerStrategy: the legacy ReplicaSet. Its selector is a
// plain map defaulted from the template labels.
type replicationControllerStrategy struct{ clock }

var (
	_ registry.Strategy       = replicationControllerStrategy{}
	_ registry.StatusStrategy = replicationControllerStrategy{}
	_ registry.TableConvertor = replicationControllerStrategy{}
	_ registry.FieldsFunc     = replicationControllerStrategy{}
	_ registry.WarningsFunc   = replicationControllerStrategy{}
)

// Warnings: a name that is not a DNS label and the template's
// PodWarnings on create; on a spec change upstream (v1.37) warns about the
// previous template, not the new one, and so do we.
func (replicationControllerStrategy) Warnings(_ context.Context, obj, old runtime.Object) []string {
	rc, ok := obj.(*corev1.ReplicationController)
	if !ok {
		return nil
	}
	tp := field.NewPath("spec", "template")
	if old == nil {
		var w []string
		if msgs := validation.IsDNS1123Label(rc.Name); len(msgs) > 0 {
			w = append(w, fmt.Sprintf("metadata.name: this is used in Pod names and hostnames, which can result in surprising behavior; a DNS label is recommended: %v", msgs))
		}
		return append(w, PodTemplateWarnings(tp, rc.Spec.Template)...)
	}
	o, ok := old.(*corev1.ReplicationController)
	if !ok || apiequality.Semantic.DeepEqual(rc.Spec, o.Spec) {
		return nil
	}
	return PodTemplateWarnings(tp, o.Spec.Template)
}

func (replicationControllerStrategy) Default(obj runtime.Object) {
	rc, ok := obj.(*corev1.ReplicationController)
	if !ok {
		return
	}
	if rc.Spec.Template != nil && rc.Spec.Template.Labels != nil {
		if len(rc.Spec.Selector) == 0 {
			rc.Spec.Selector = rc.Spec.Template.Labels
		}
		if len(rc.Labels) == 0 {
			rc.Labels = rc.Spec.Template.Labels
		}
	}
	if rc.Spec.Replicas == nil {
		one := int32(1)
		rc.Spec.Replicas = &one
	}
	if rc.Spec.Template != nil {
		DefaultPodTemplateSpec(rc.Spec.Template)
	}
}

func (replicationControllerStrategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	if rc, ok := obj.(*corev1.ReplicationController); ok {
		rc.Status = corev1.ReplicationControllerStatus{}
	}
}

func (replicationControllerStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	rc, ok1 := obj.(*corev1.ReplicationController)
	oldRC, ok2 := old.(*corev1.ReplicationController)
	if ok1 && ok2 {
		rc.Status = oldRC.Status
	}
}

func (replicationControllerStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	rc, ok := obj.(*corev1.ReplicationController)
	if !ok {
		return wrongType(obj, "*v1.ReplicationController")
	}
	return validateReplicationControllerSpec(&rc.Spec, field.NewPath("spec"))
}

func (s replicationControllerStrategy) ValidateUpdate(ctx context.Context, obj, _ runtime.Object) field.ErrorList {
	return s.Validate(ctx, obj)
}

func validateReplicationControllerSpec(spec *corev1.ReplicationControllerSpec, p *field.Path) field.ErrorList {
	errs := validateNonnegative(int64(spec.MinReadySeconds), p.Child("minReadySeconds"))
	if len(spec.Selector) == 0 {
		errs = append(errs, field.Required(p.Child("selector"), ""))
	}
	if spec.Replicas == nil {
		errs = append(errs, field.Required(p.Child("replicas"), ""))
	} else {
		errs = append(errs, validateNonnegative(int64(*spec.Replicas), p.Child("replicas"))...)
	}
	tp := p.Child("template")
	t := spec.Template
	if t == nil {
		return append(errs, field.Required(tp, ""))
	}
	if sel := labels.Set(spec.Selector).AsSelector(); !sel.Empty() && !sel.Matches(labels.Set(t.Labels)) {
		errs = append(errs, field.Invalid(tp.Child("metadata", "labels"), t.Labels, "`selector` does not match template `labels`"))
	}
	errs = append(errs, ValidatePodTemplateSpec(t, tp)...)
	if t.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(tp.Child("spec", "restartPolicy"), t.Spec.RestartPolicy, []corev1.RestartPolicy{corev1.RestartPolicyAlways}))
	}
	if t.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Forbidden(tp.Child("spec", "activeDeadlineSeconds"), "activeDeadlineSeconds in ReplicationController is not Supported"))
	}
	errs = append(errs, metav1validation.ValidateLabels(spec.Selector, p.Child("selector"))...)
	return errs
}

func (replicationControllerStrategy) ValidateStatusUpdate(_ context.Context, obj, _ runtime.Object) field.ErrorList {
	rc, ok := obj.(*corev1.ReplicationController)
	if !ok {
		return wrongType(obj, "*v1.ReplicationController")
	}
	st, p := rc.Status, field.NewPath("status")
	var errs field.ErrorList
	for _, f := range []struct {
		name string
		v    int64
	}{{"replicas", int64(st.Replicas)}, {"fullyLabeledReplicas", int64(st.FullyLabeledReplicas)}, {"readyReplicas", int64(st.ReadyReplicas)},
		{"availableReplicas", int64(st.AvailableReplicas)}, {"observedGeneration", st.ObservedGeneration}} {
		errs = append(errs, apivalidation.ValidateNonnegativeField(f.v, p.Child(f.name))...)
	}
	const msg = "cannot be greater than status.replicas"
	if st.FullyLabeledReplicas > st.Replicas {
		errs = append(errs, field.Invalid(p.Child("fullyLabeledReplicas"), st.FullyLabeledReplicas, msg))
	}
	if st.ReadyReplicas > st.Replicas {
		errs = append(errs, field.Invalid(p.Child("readyReplicas"), st.ReadyReplicas, msg))
	}
	if st.AvailableReplicas > st.Replicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), st.AvailableReplicas, msg))
	}
	if st.AvailableReplicas > st.ReadyReplicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), st.AvailableReplicas, "cannot be greater than readyReplicas"))
	}
	return errs
}

func (replicationControllerStrategy) SelectableFields(obj runtime.Object) fields.Set {
	rc, ok := obj.(*corev1.ReplicationController)
	if !ok {
		return nil
	}
	return fields.Set{"status.replicas": itoa(int64(rc.Status.Replicas))}
}

var replicationControllerColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Desired", "integer", corev1.ReplicationControllerSpec{}.SwaggerDoc()["replicas"]),
	column("Current", "integer", corev1.ReplicationControllerStatus{}.SwaggerDoc()["replicas"]),
	column("Ready", "integer", corev1.ReplicationControllerStatus{}.SwaggerDoc()["readyReplicas"]),
	ageColumn,
	wideColumn("Containers", "string", "Names of each container in the template."),
	wideColumn("Images", "string", "Images referenced by each container in the template."),
	wideColumn("Selector", "string", corev1.ReplicationControllerSpec{}.SwaggerDoc()["selector"]),
}

func (replicationControllerStrategy) ColumnDefinitions() []metav1.TableColumnDefinition {
	return replicationControllerColumns
}

func (s replicationControllerStrategy) Row(obj runtime.Object) []interface{} {
	rc, ok := obj.(*corev1.ReplicationController)
	if !ok {
		return nil
	}
	desired := int64(0)
	if rc.Spec.Replicas != nil {
		desired = int64(*rc.Spec.Replicas)
	}
	var containers []corev1.Container
	if rc.Spec.Template != nil {
		containers = rc.Spec.Template.Spec.Containers
	}
	names, images := containerCells(containers)
	return []interface{}{rc.Name, desired, int64(rc.Status.Replicas), int64(rc.Status.ReadyReplicas),
		s.since(rc.CreationTimestamp), names, images, labelsCell(rc.Spec.Selector)}
}

// replicationControllerScale maps an RC to autoscaling/v1 Scale.
var replicationControllerScale = &registry.ScaleAccessor{
	Get: func(obj runtime.Object) (int32, int32, string) {
		rc, ok := obj.(*corev1.ReplicationController)
		if !ok {
			return 0, 0, ""
		}
		spec := int32(0)
		if rc.Spec.Replicas != nil {
			spec = *rc.Spec.Replicas
		}
		return spec, rc.Status.Replicas, labels.SelectorFromSet(rc.Spec.Selector).String()
	},
	Set: func(obj runtime.Object, replicas int32) {
		if rc, ok := obj.(*corev1.ReplicationController); ok {
			rc.Spec.Replicas = &replicas
		}
	},
}
