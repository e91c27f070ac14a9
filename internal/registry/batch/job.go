package batch

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry"
	"skiff.dev/skiff/internal/registry/core"
)

// The unprefixed labels predate the batch.kubernetes.io ones; upstream
// still sets and checks both so that old selectors keep matching.
const (
	legacyJobNameLabel       = "job-name"
	legacyControllerUIDLabel = "controller-uid"
)

type jobStrategy struct{ now func() time.Time }

var (
	_ registry.Strategy       = jobStrategy{}
	_ registry.StatusStrategy = jobStrategy{}
	_ registry.TableConvertor = jobStrategy{}
	_ registry.FieldsFunc     = jobStrategy{}
	_ registry.WarningsFunc   = jobStrategy{}
)

// Default applies SetDefaults_Job. A job without labels takes its
// template's label map itself, not a copy, as upstream: the selector
// labels PrepareForCreate adds to the template then show on the job too
// (kubectl users see job-name and controller-uid on their jobs).
func (jobStrategy) Default(obj runtime.Object) {
	if j, ok := obj.(*batchv1.Job); ok {
		defaultJobSpec(&j.Spec)
		if j.Spec.Template.Labels != nil && len(j.Labels) == 0 {
			j.Labels = j.Spec.Template.Labels
		}
	}
}

// defaultJobSpec holds the spec defaults shared with cronjob templates.
func defaultJobSpec(spec *batchv1.JobSpec) {
	// A non-parallel job may leave both unset: both become 1.
	if spec.Completions == nil && spec.Parallelism == nil {
		spec.Completions = ptrTo[int32](1)
	}
	if spec.Parallelism == nil {
		spec.Parallelism = ptrTo[int32](1)
	}
	if spec.BackoffLimit == nil {
		if spec.BackoffLimitPerIndex != nil {
			spec.BackoffLimit = ptrTo[int32](math.MaxInt32)
		} else {
			spec.BackoffLimit = ptrTo[int32](6)
		}
	}
	if spec.CompletionMode == nil {
		spec.CompletionMode = ptrTo(batchv1.NonIndexedCompletion)
	}
	if spec.Suspend == nil {
		spec.Suspend = ptrTo(false)
	}
	if spec.PodReplacementPolicy == nil {
		if spec.PodFailurePolicy != nil {
			spec.PodReplacementPolicy = ptrTo(batchv1.Failed)
		} else {
			spec.PodReplacementPolicy = ptrTo(batchv1.TerminatingOrFailed)
		}
	}
	if spec.ManualSelector == nil {
		spec.ManualSelector = ptrTo(false)
	}
	if spec.PodFailurePolicy != nil {
		for i := range spec.PodFailurePolicy.Rules {
			for j := range spec.PodFailurePolicy.Rules[i].OnPodConditions {
				if p := &spec.PodFailurePolicy.Rules[i].OnPodConditions[j]; p.Status == "" {
					p.Status = corev1.ConditionTrue
				}
			}
		}
	}
	defaultPodTemplate(&spec.Template)
}

// PrepareForCreate generates the selector and pod labels that tie a job to
// its pods (unless spec.manualSelector), from the uid the handler has
// already assigned, and drops alpha fields.
func (jobStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	j, ok := obj.(*batchv1.Job)
	if !ok {
		return
	}
	if !deref(j.Spec.ManualSelector, false) {
		generateSelector(j)
	}
	dropDisabledJobFields(&j.Spec, nil)
}

func (jobStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	j, ok1 := obj.(*batchv1.Job)
	o, ok2 := old.(*batchv1.Job)
	if ok1 && ok2 {
		dropDisabledJobFields(&j.Spec, &o.Spec)
	}
}

// dropDisabledJobFields clears spec.scheduling: it is alpha (WorkloadWithJob,
// off by default) and kept only on objects that already use it.
func dropDisabledJobFields(spec, old *batchv1.JobSpec) {
	if old == nil || old.Scheduling == nil {
		spec.Scheduling = nil
	}
}

func generateSelector(j *batchv1.Job) {
	if j.Spec.Template.Labels == nil {
		j.Spec.Template.Labels = map[string]string{}
	}
	for _, k := range []string{legacyJobNameLabel, batchv1.JobNameLabel} {
		if _, found := j.Spec.Template.Labels[k]; !found {
			j.Spec.Template.Labels[k] = j.Name
		}
	}
	for _, k := range []string{legacyControllerUIDLabel, batchv1.ControllerUidLabel} {
		if _, found := j.Spec.Template.Labels[k]; !found {
			j.Spec.Template.Labels[k] = string(j.UID)
		}
	}
	if j.Spec.Selector == nil {
		j.Spec.Selector = &metav1.LabelSelector{}
	}
	if j.Spec.Selector.MatchLabels == nil {
		j.Spec.Selector.MatchLabels = map[string]string{}
	}
	if _, found := j.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel]; !found {
		j.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel] = string(j.UID)
	}
}

func (jobStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	j, ok := obj.(*batchv1.Job)
	if !ok {
		return wrongType(obj, "*v1.Job")
	}
	errs := validateGeneratedSelector(j, true)
	errs = append(errs, validateJobSpecWithSelector(&j.Spec, field.NewPath("spec"), metav1validation.LabelSelectorValidationOptions{})...)
	errs = append(errs, validateNameAllowsCompletions(j)...)
	return errs
}

// validateGeneratedSelector checks, for generated selectors, that the
// template carries the labels the selector and the controller rely on.
func validateGeneratedSelector(j *batchv1.Job, prefixedLabels bool) field.ErrorList {
	if deref(j.Spec.ManualSelector, false) || j.Spec.Selector == nil {
		return nil
	}
	var errs field.ErrorList
	// An unset uid would give every job the selector "controller-uid=".
	if j.UID == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "uid"), ""))
	}
	meta := field.NewPath("spec", "template", "metadata")
	expected := map[string]string{
		legacyControllerUIDLabel: string(j.UID),
		legacyJobNameLabel:       j.Name,
	}
	errs = append(errs, validateHasLabel(j.Spec.Template.Labels, meta, legacyControllerUIDLabel, string(j.UID))...)
	errs = append(errs, validateHasLabel(j.Spec.Template.Labels, meta, legacyJobNameLabel, j.Name)...)
	if prefixedLabels {
		errs = append(errs, validateHasLabel(j.Spec.Template.Labels, meta, batchv1.ControllerUidLabel, string(j.UID))...)
		errs = append(errs, validateHasLabel(j.Spec.Template.Labels, meta, batchv1.JobNameLabel, j.Name)...)
		expected[batchv1.ControllerUidLabel] = string(j.UID)
		expected[batchv1.JobNameLabel] = j.Name
	}
	if sel, err := metav1.LabelSelectorAsSelector(j.Spec.Selector); err == nil && !sel.Matches(labels.Set(expected)) {
		errs = append(errs, field.Invalid(field.NewPath("spec", "selector"), j.Spec.Selector, "`selector` not auto-generated"))
	}
	return errs
}

func validateHasLabel(have map[string]string, meta *field.Path, key, value string) field.ErrorList {
	p := meta.Child("labels").Key(key)
	actual, ok := have[key]
	if !ok {
		return field.ErrorList{field.Required(p, value)}
	}
	if actual != value {
		return field.ErrorList{field.Invalid(p, have, fmt.Sprintf("must be '%s'", value))}
	}
	return nil
}

// validateNameAllowsCompletions: an Indexed job's pods get the hostname
// "<job>-<index>", which must be a DNS label for the largest index.
func validateNameAllowsCompletions(j *batchv1.Job) field.ErrorList {
	if deref(j.Spec.CompletionMode, "") != batchv1.IndexedCompletion || deref(j.Spec.Completions, 0) <= 0 {
		return nil
	}
	host := fmt.Sprintf("%s-%d", j.Name, *j.Spec.Completions-1)
	if len(validation.IsDNS1123Label(host)) == 0 {
		return nil
	}
	return field.ErrorList{field.Invalid(field.NewPath("metadata", "name"), j.Name, "will not able to create pod with invalid DNS label: "+host)}
}

// validateJobSpecWithSelector is upstream's ValidateJobSpec: the spec rules
// plus a required selector that selects the template.
func validateJobSpecWithSelector(spec *batchv1.JobSpec, p *field.Path, selOpts metav1validation.LabelSelectorValidationOptions) field.ErrorList {
	errs := validateJobSpec(spec, p)
	if spec.Selector == nil {
		errs = append(errs, field.Required(p.Child("selector"), ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(spec.Selector, selOpts, p.Child("selector"))...)
	}
	if sel, err := metav1.LabelSelectorAsSelector(spec.Selector); err == nil && !sel.Matches(labels.Set(spec.Template.Labels)) {
		errs = append(errs, field.Invalid(p.Child("template", "metadata", "labels"), spec.Template.Labels, "`selector` does not match template `labels`"))
	}
	return errs
}

func (jobStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	j, ok1 := obj.(*batchv1.Job)
	o, ok2 := old.(*batchv1.Job)
	if !ok1 || !ok2 {
		return wrongType(obj, "*v1.Job")
	}
	p := field.NewPath("spec")
	selOpts := metav1validation.LabelSelectorValidationOptions{
		AllowInvalidLabelValueInSelector: metav1validation.LabelSelectorHasInvalidLabelValue(o.Spec.Selector),
	}
	errs := validateJobSpecWithSelector(&j.Spec, p, selOpts)
	errs = append(errs, validateCompletionsUpdate(&j.Spec, &o.Spec, p.Child("completions"))...)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(j.Spec.Selector, o.Spec.Selector, p.Child("selector"))...)
	errs = append(errs, validatePodTemplateUpdate(&j.Spec, o, p)...)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(j.Spec.CompletionMode, o.Spec.CompletionMode, p.Child("completionMode"))...)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(j.Spec.PodFailurePolicy, o.Spec.PodFailurePolicy, p.Child("podFailurePolicy"))...)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(j.Spec.BackoffLimitPerIndex, o.Spec.BackoffLimitPerIndex, p.Child("backoffLimitPerIndex"))...)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(j.Spec.ManagedBy, o.Spec.ManagedBy, p.Child("managedBy"))...)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(j.Spec.SuccessPolicy, o.Spec.SuccessPolicy, p.Child("successPolicy"))...)
	errs = append(errs, validateNameAllowsCompletions(j)...)
	return errs
}

// validateCompletionsUpdate: completions are fixed for NonIndexed jobs; an
// Indexed job may be scaled by changing completions and parallelism to the
// same value together.
func validateCompletionsUpdate(spec, old *batchv1.JobSpec, p *field.Path) field.ErrorList {
	if deref(spec.CompletionMode, "") != batchv1.IndexedCompletion {
		return apimachineryvalidation.ValidateImmutableField(spec.Completions, old.Completions, p)
	}
	if apiequality.Semantic.DeepEqual(spec.Completions, old.Completions) || spec.Completions == nil {
		return nil
	}
	if *spec.Completions != deref(spec.Parallelism, 0) {
		return field.ErrorList{field.Invalid(p, spec.Completions, "can only be modified in tandem with spec.parallelism")}
	}
	return nil
}

// validatePodTemplateUpdate: a running job's template is immutable. A
// suspended job that has not started (or was suspended with no active
// pods) may change its scheduling directives, labels, annotations and
// container resources, so queueing controllers such as Kueue can place it.
func validatePodTemplateUpdate(spec *batchv1.JobSpec, oldJob *batchv1.Job, p *field.Path) field.ErrorList {
	tmpl := &spec.Template
	oldTmpl := &oldJob.Spec.Template
	if !mutableTemplate(oldJob) {
		return apimachineryvalidation.ValidateImmutableField(tmpl, oldTmpl, p.Child("template"))
	}
	oldTmpl = oldTmpl.DeepCopy()
	switch {
	case tmpl.Spec.Affinity == nil && oldTmpl.Spec.Affinity != nil:
		// Clearing affinity is allowed if node affinity was all it held.
		oldTmpl.Spec.Affinity.NodeAffinity = nil
		if *oldTmpl.Spec.Affinity == (corev1.Affinity{}) {
			oldTmpl.Spec.Affinity = nil
		}
	case tmpl.Spec.Affinity != nil && oldTmpl.Spec.Affinity == nil:
		oldTmpl.Spec.Affinity = &corev1.Affinity{NodeAffinity: tmpl.Spec.Affinity.NodeAffinity}
	case tmpl.Spec.Affinity != nil && oldTmpl.Spec.Affinity != nil:
		oldTmpl.Spec.Affinity.NodeAffinity = tmpl.Spec.Affinity.NodeAffinity
	}
	oldTmpl.Spec.NodeSelector = tmpl.Spec.NodeSelector
	oldTmpl.Spec.Tolerations = tmpl.Spec.Tolerations
	oldTmpl.Annotations = tmpl.Annotations
	oldTmpl.Labels = tmpl.Labels
	oldTmpl.Spec.SchedulingGates = tmpl.Spec.SchedulingGates
	// Container resources: copy the new ones over same-named containers
	// and require the rest of the pod spec unchanged.
	copyResources(tmpl.Spec.Containers, oldTmpl.Spec.Containers)
	copyResources(tmpl.Spec.InitContainers, oldTmpl.Spec.InitContainers)
	return apimachineryvalidation.ValidateImmutableField(tmpl.Spec, oldTmpl.Spec, p.Child("template.spec"))
}

func copyResources(from, to []corev1.Container) {
	if len(from) != len(to) {
		return
	}
	for i := range from {
		if from[i].Name == to[i].Name {
			to[i].Resources = from[i].Resources
		}
	}
}

// mutableTemplate is upstream's shouldAllowMutablePodTemplate with the
// MutablePodResourcesForSuspendedJobs and
// MutableSchedulingDirectivesForSuspendedJobs gates on (their 1.37 default).
func mutableTemplate(j *batchv1.Job) bool {
	suspended := deref(j.Spec.Suspend, false)
	notStarted := j.Status.StartTime == nil
	return suspended && (notStarted || conditionTrue(j.Status.Conditions, batchv1.JobSuspended)) && j.Status.Active == 0
}

func (jobStrategy) Warnings(ctx context.Context, obj, old runtime.Object) []string {
	j, ok := obj.(*batchv1.Job)
	if !ok {
		return nil
	}
	var warnings []string
	if old == nil {
		if msgs := validation.IsDNS1123Label(j.Name); len(msgs) != 0 {
			warnings = append(warnings, fmt.Sprintf("metadata.name: this is used in Pod names and hostnames, which can result in surprising behavior; a DNS label is recommended: %v", msgs))
		}
	} else if o, ok := old.(*batchv1.Job); ok && apiequality.Semantic.DeepEqual(j.Spec, o.Spec) {
		// Upstream warns on update only when the generation moves.
		return nil
	}
	return append(warnings, jobSpecWarnings(&j.Spec, field.NewPath("spec"))...)
}

// jobSpecWarnings: a huge indexed job, and the template's PodWarnings.
func jobSpecWarnings(spec *batchv1.JobSpec, p *field.Path) []string {
	var w []string
	if deref(spec.CompletionMode, "") == batchv1.IndexedCompletion &&
		deref(spec.Completions, 0) > completionsSoftLimit && deref(spec.Parallelism, 0) > 10_000 {
		w = append(w, p.String()+": In Indexed Jobs with a number of completions higher than 10^5 and a parallelism higher than 10^4, Kubernetes might not be able to track completedIndexes when a big number of indexes fail")
	}
	return append(w, core.PodTemplateWarnings(p.Child("template"), &spec.Template)...)
}

// SelectableFields adds status.successful, as upstream.
func (jobStrategy) SelectableFields(obj runtime.Object) fields.Set {
	j, ok := obj.(*batchv1.Job)
	if !ok {
		return nil
	}
	return fields.Set{"status.successful": strconv.Itoa(int(j.Status.Succeeded))}
}

func conditionTrue(conds []batchv1.JobCondition, t batchv1.JobConditionType) bool {
	for _, c := range conds {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func conditionFalse(conds []batchv1.JobCondition, t batchv1.JobConditionType) bool {
	for _, c := range conds {
		if c.Type == t && c.Status == corev1.ConditionFalse {
			return true
		}
	}
	return false
}

func (jobStrategy) ColumnDefinitions() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Status", Type: "string", Description: "Status of the job."},
		{Name: "Completions", Type: "string", Description: batchv1.JobStatus{}.SwaggerDoc()["succeeded"]},
		{Name: "Duration", Type: "string", Description: "Time required to complete the job."},
		ageColumn,
		containersColumn,
		imagesColumn,
		selectorColumn,
	}
}

func (s jobStrategy) Row(obj runtime.Object) []interface{} {
	j, ok := obj.(*batchv1.Job)
	if !ok {
		return nil
	}
	now := s.now()
	var completions string
	switch parallelism := deref(j.Spec.Parallelism, 0); {
	case j.Spec.Completions != nil:
		completions = fmt.Sprintf("%d/%d", j.Status.Succeeded, *j.Spec.Completions)
	case parallelism > 1:
		completions = fmt.Sprintf("%d/1 of %d", j.Status.Succeeded, parallelism)
	default:
		completions = fmt.Sprintf("%d/1", j.Status.Succeeded)
	}
	var jobDuration string
	switch {
	case j.Status.StartTime == nil:
	case j.Status.CompletionTime == nil:
		jobDuration = duration.HumanDuration(now.Sub(j.Status.StartTime.Time))
	default:
		jobDuration = duration.HumanDuration(j.Status.CompletionTime.Sub(j.Status.StartTime.Time))
	}
	names, images := containerCells(j.Spec.Template.Spec.Containers)
	return []interface{}{
		j.Name, jobStatusCell(j), completions, jobDuration, age(now, j.CreationTimestamp),
		names, images, metav1.FormatLabelSelector(j.Spec.Selector),
	}
}

// jobStatusCell follows upstream's precedence of conditions. Like
// upstream, only the first condition of each type counts.
func jobStatusCell(j *batchv1.Job) string {
	has := func(t batchv1.JobConditionType) bool {
		for _, c := range j.Status.Conditions {
			if c.Type == t {
				return c.Status == corev1.ConditionTrue
			}
		}
		return false
	}
	switch {
	case has(batchv1.JobComplete):
		return "Complete"
	case has(batchv1.JobFailed):
		return "Failed"
	case j.DeletionTimestamp != nil:
		return "Terminating"
	case has(batchv1.JobSuspended):
		return "Suspended"
	case has(batchv1.JobFailureTarget):
		return "FailureTarget"
	case has(batchv1.JobSuccessCriteriaMet):
		return "SuccessCriteriaMet"
	}
	return "Running"
}

// containerCells joins container names and images with commas.
func containerCells(containers []corev1.Container) (names, images string) {
	n := make([]string, len(containers))
	im := make([]string, len(containers))
	for i, c := range containers {
		n[i], im[i] = c.Name, c.Image
	}
	return strings.Join(n, ","), strings.Join(im, ",")
}
