package apps

import (
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry/core"
)

// Validation shared by the workload kinds. Messages and paths follow
// upstream's pkg/apis/apps/validation, including its quirks (a ReplicaSet
// with an empty selector is reported as "invalid for deployment").

var nonnegative = apimachineryvalidation.ValidateNonnegativeField

func nonnegativePtr(v *int32, p *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	return nonnegative(int64(*v), p)
}

// validateSelector checks a required, non-empty, strictly valid selector and
// returns it parsed (nil when it cannot be parsed).
func validateSelector(sel *metav1.LabelSelector, kind string, p *field.Path) (labels.Selector, field.ErrorList) {
	var errs field.ErrorList
	if sel == nil {
		errs = append(errs, field.Required(p, ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, p)...)
		if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
			errs = append(errs, field.Invalid(p, sel, "empty selector is invalid for "+kind))
		}
	}
	parsed, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, errs
	}
	return parsed, errs
}

// validateTemplateMatches reports a template whose labels the selector
// does not select: the controller could never find its own pods.
func validateTemplateMatches(sel labels.Selector, tmpl *corev1.PodTemplateSpec, p *field.Path) field.ErrorList {
	if sel == nil || sel.Empty() || sel.Matches(labels.Set(tmpl.Labels)) {
		return nil
	}
	return field.ErrorList{field.Invalid(p.Child("metadata", "labels"), tmpl.Labels, "`selector` does not match template `labels`")}
}

// validateAlwaysRestartTemplate holds the rules of templates whose pods a
// controller keeps running: restartPolicy Always and no active deadline.
// owner names the kind in upstream's message.
func validateAlwaysRestartTemplate(tmpl *corev1.PodTemplateSpec, owner string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if tmpl.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(p.Child("spec", "restartPolicy"), tmpl.Spec.RestartPolicy, []string{string(corev1.RestartPolicyAlways)}))
	}
	if tmpl.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Forbidden(p.Child("spec", "activeDeadlineSeconds"), "activeDeadlineSeconds in "+owner+" is not Supported"))
	}
	return errs
}

// validateReplicaSetTemplate is upstream's ValidatePodTemplateSpecForReplicaSet,
// shared by deployments and replicasets.
func validateReplicaSetTemplate(tmpl *corev1.PodTemplateSpec, sel labels.Selector, p *field.Path) field.ErrorList {
	errs := validateTemplateMatches(sel, tmpl, p)
	errs = append(errs, core.ValidatePodTemplateSpec(tmpl, p)...)
	errs = append(errs, validateAlwaysRestartTemplate(tmpl, "ReplicaSet", p)...)
	return errs
}

// validatePositiveIntOrPercent accepts a non-negative integer or a
// percentage string such as "25%".
func validatePositiveIntOrPercent(v intstr.IntOrString, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch v.Type {
	case intstr.String:
		for _, msg := range validation.IsValidPercent(v.StrVal) {
			errs = append(errs, field.Invalid(p, v, msg))
		}
	case intstr.Int:
		errs = append(errs, nonnegative(int64(v.IntValue()), p)...)
	default:
		errs = append(errs, field.Invalid(p, v, "must be an integer or percentage (e.g '5%%')"))
	}
	return errs
}

// percentValue returns the number of a valid percentage string.
func percentValue(v intstr.IntOrString) (int, bool) {
	if v.Type != intstr.String || len(validation.IsValidPercent(v.StrVal)) != 0 {
		return 0, false
	}
	n, err := strconv.Atoi(v.StrVal[:len(v.StrVal)-1])
	if err != nil {
		return 0, false
	}
	return n, true
}

// intOrPercentValue is the number in v whether it is a count or a
// percentage; only its zeroness matters to the callers.
func intOrPercentValue(v intstr.IntOrString) int {
	if n, ok := percentValue(v); ok {
		return n
	}
	if v.Type == intstr.String {
		n, err := strconv.Atoi(v.StrVal)
		if err != nil {
			return 0
		}
		return n
	}
	return int(v.IntVal)
}

func notMoreThan100Percent(v intstr.IntOrString, p *field.Path) field.ErrorList {
	n, ok := percentValue(v)
	if !ok || n <= 100 {
		return nil
	}
	return field.ErrorList{field.Invalid(p, v, "must not be greater than 100%")}
}

// collisionCountDecremented reports the status rule shared by the kinds
// that use a collision count to name their revisions.
func collisionCountDecremented(newCount, oldCount *int32, p *field.Path) field.ErrorList {
	if oldCount == nil {
		return nil
	}
	if newCount != nil && *newCount >= *oldCount {
		return nil
	}
	var v int32
	if newCount != nil {
		v = *newCount
	}
	return field.ErrorList{field.Invalid(p, v, "cannot be decremented")}
}

// dnsLabelNameWarning is upstream's warning for workloads whose names end
// up in pod names and hostnames.
func dnsLabelNameWarning(name string) []string {
	msgs := validation.IsDNS1123Label(name)
	if len(msgs) == 0 {
		return nil
	}
	return []string{"metadata.name: this is used in Pod names and hostnames, which can result in surprising behavior; a DNS label is recommended: " + fmt.Sprint(msgs)}
}
