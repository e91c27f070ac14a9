package core

import (
	corev1 "k8s.io/api/core/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidatePodSpec checks a pod spec (of a pod or of any template) with
// upstream's field paths and messages. fldPath is the path of the spec
// itself, e.g. field.NewPath("spec") or spec.template.spec.
func ValidatePodSpec(spec *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	if spec == nil {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	var errs field.ErrorList
	if len(spec.Containers) == 0 {
		errs = append(errs, field.Required(fldPath.Child("containers"), ""))
	}
	return errs
}

// ValidatePodTemplateSpec checks a pod template: its labels and
// annotations, its spec, and that it has no ephemeral containers. fldPath
// is the path of the template, e.g. spec.template.
func ValidatePodTemplateSpec(t *corev1.PodTemplateSpec, fldPath *field.Path) field.ErrorList {
	if t == nil {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	var errs field.ErrorList
	errs = append(errs, metav1validation.ValidateLabels(t.Labels, fldPath.Child("labels"))...)
	errs = append(errs, ValidatePodSpec(&t.Spec, fldPath.Child("spec"))...)
	if len(t.Spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(fldPath.Child("spec", "ephemeralContainers"), "ephemeral containers not allowed in pod template"))
	}
	return errs
}
