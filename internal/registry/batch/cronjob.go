package batch

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry"
)

type cronJobStrategy struct{ now func() time.Time }

var (
	_ registry.Strategy       = cronJobStrategy{}
	_ registry.StatusStrategy = cronJobStrategy{}
	_ registry.TableConvertor = cronJobStrategy{}
	_ registry.WarningsFunc   = cronJobStrategy{}
)

// ParseSchedule parses a CronJob schedule as the API validates it: five
// fields or a descriptor such as @hourly or @every 1h. A non-nil timeZone
// (an IANA name, already validated) makes the schedule run in that zone.
// The cron library panics on some malformed input; that is returned as an
// error.
func ParseSchedule(schedule string, timeZone *string) (sched cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			sched, err = nil, fmt.Errorf("failed to parse cron schedule: %v", r)
		}
	}()
	if timeZone != nil && !strings.Contains(schedule, "TZ") {
		schedule = "CRON_TZ=" + *timeZone + " " + schedule
	}
	return cron.ParseStandard(schedule)
}

// Default applies SetDefaults_CronJob. The job template gets only the pod
// defaults, not the Job ones: those apply when the controller creates a
// Job from it, as upstream.
func (cronJobStrategy) Default(obj runtime.Object) {
	cj, ok := obj.(*batchv1.CronJob)
	if !ok {
		return
	}
	if cj.Spec.ConcurrencyPolicy == "" {
		cj.Spec.ConcurrencyPolicy = batchv1.AllowConcurrent
	}
	if cj.Spec.Suspend == nil {
		cj.Spec.Suspend = ptrTo(false)
	}
	if cj.Spec.SuccessfulJobsHistoryLimit == nil {
		cj.Spec.SuccessfulJobsHistoryLimit = ptrTo[int32](3)
	}
	if cj.Spec.FailedJobsHistoryLimit == nil {
		cj.Spec.FailedJobsHistoryLimit = ptrTo[int32](1)
	}
	spec := &cj.Spec.JobTemplate.Spec
	if spec.PodFailurePolicy != nil {
		for i := range spec.PodFailurePolicy.Rules {
			for k := range spec.PodFailurePolicy.Rules[i].OnPodConditions {
				if p := &spec.PodFailurePolicy.Rules[i].OnPodConditions[k]; p.Status == "" {
					p.Status = corev1.ConditionTrue
				}
			}
		}
	}
	defaultPodTemplate(&spec.Template)
}

func (cronJobStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	if cj, ok := obj.(*batchv1.CronJob); ok {
		dropDisabledJobFields(&cj.Spec.JobTemplate.Spec, nil)
	}
}

func (cronJobStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	cj, ok1 := obj.(*batchv1.CronJob)
	o, ok2 := old.(*batchv1.CronJob)
	if ok1 && ok2 {
		dropDisabledJobFields(&cj.Spec.JobTemplate.Spec, &o.Spec.JobTemplate.Spec)
	}
}

// maxCronJobNameLength leaves room for the 11-character suffix the
// controller appends to name each Job, within the 63 of a label value.
const maxCronJobNameLength = validation.DNS1035LabelMaxLength - 11

func (cronJobStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	cj, ok := obj.(*batchv1.CronJob)
	if !ok {
		return wrongType(obj, "*v1.CronJob")
	}
	errs := validateCronJobSpec(&cj.Spec, nil, field.NewPath("spec"))
	if len(cj.Name) > maxCronJobNameLength {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), cj.Name, "must be no more than 52 characters"))
	}
	return errs
}

// ValidateUpdate skips the name length rule, so that cronjobs created
// before it existed can still be updated and deleted.
func (cronJobStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	cj, ok1 := obj.(*batchv1.CronJob)
	o, ok2 := old.(*batchv1.CronJob)
	if !ok1 || !ok2 {
		return wrongType(obj, "*v1.CronJob")
	}
	return validateCronJobSpec(&cj.Spec, &o.Spec, field.NewPath("spec"))
}

// ValidateStatusUpdate accepts any status, as upstream.
func (cronJobStrategy) ValidateStatusUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return nil
}

func validateCronJobSpec(spec, old *batchv1.CronJobSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.Schedule == "" {
		errs = append(errs, field.Required(p.Child("schedule"), ""))
	} else {
		// TZ= in the schedule is only tolerated on objects that had it.
		allowTZ := old != nil && strings.Contains(old.Schedule, "TZ")
		errs = append(errs, validateSchedule(spec.Schedule, allowTZ, spec.TimeZone, p.Child("schedule"))...)
	}
	errs = append(errs, nonnegativePtr(spec.StartingDeadlineSeconds, p.Child("startingDeadlineSeconds"))...)
	if old == nil || !equalPtr(old.TimeZone, spec.TimeZone) {
		errs = append(errs, validateTimeZone(spec.TimeZone, p.Child("timeZone"))...)
	}
	switch cp := p.Child("concurrencyPolicy"); spec.ConcurrencyPolicy {
	case batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent:
	case "":
		errs = append(errs, field.Required(cp, ""))
	default:
		errs = append(errs, field.NotSupported(cp, spec.ConcurrencyPolicy, []string{
			string(batchv1.AllowConcurrent), string(batchv1.ForbidConcurrent), string(batchv1.ReplaceConcurrent),
		}))
	}
	tp := p.Child("jobTemplate", "spec")
	errs = append(errs, validateJobSpec(&spec.JobTemplate.Spec, tp)...)
	if spec.JobTemplate.Spec.Selector != nil {
		errs = append(errs, field.Invalid(tp.Child("selector"), spec.JobTemplate.Spec.Selector, "`selector` will be auto-generated"))
	}
	if deref(spec.JobTemplate.Spec.ManualSelector, false) {
		errs = append(errs, field.NotSupported(tp.Child("manualSelector"), spec.JobTemplate.Spec.ManualSelector, []string{"nil", "false"}))
	}
	errs = append(errs, nonnegativePtr(spec.SuccessfulJobsHistoryLimit, p.Child("successfulJobsHistoryLimit"))...)
	errs = append(errs, nonnegativePtr(spec.FailedJobsHistoryLimit, p.Child("failedJobsHistoryLimit"))...)
	return errs
}

func validateSchedule(schedule string, allowTZ bool, timeZone *string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if _, err := ParseSchedule(schedule, nil); err != nil {
		errs = append(errs, field.Invalid(p, schedule, err.Error()))
	}
	hasTZ := strings.Contains(schedule, "TZ")
	switch {
	case allowTZ && hasTZ && timeZone != nil:
		errs = append(errs, field.Invalid(p, schedule, "cannot use both timeZone field and TZ or CRON_TZ in schedule"))
	case !allowTZ && hasTZ:
		errs = append(errs, field.Invalid(p, schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
	}
	return errs
}

// timeZonePart is one component of an IANA zone name; digits and '+' are
// tolerated for legacy names such as Etc/GMT+5.
var timeZonePart = regexp.MustCompile(`^[A-Za-z\.\-_0-9+]{1,14}$`)

// validateTimeZone accepts an explicit IANA zone known to the zone
// database (the binary embeds one, so this does not depend on the host).
func validateTimeZone(tz *string, p *field.Path) field.ErrorList {
	if tz == nil {
		return nil
	}
	if *tz == "" {
		return field.ErrorList{field.Invalid(p, tz, "timeZone must be nil or non-empty string")}
	}
	for _, part := range strings.Split(*tz, "/") {
		if part == "." || part == ".." || strings.HasPrefix(part, "-") || !timeZonePart.MatchString(part) {
			return field.ErrorList{field.Invalid(p, tz, "unknown time zone "+*tz)}
		}
	}
	var errs field.ErrorList
	if strings.EqualFold(*tz, "Local") {
		errs = append(errs, field.Invalid(p, tz, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"))
	}
	if _, err := time.LoadLocation(*tz); err != nil {
		errs = append(errs, field.Invalid(p, tz, err.Error()))
	}
	return errs
}

func (cronJobStrategy) Warnings(ctx context.Context, obj, old runtime.Object) []string {
	cj, ok := obj.(*batchv1.CronJob)
	if !ok {
		return nil
	}
	var warnings []string
	if old == nil {
		if msgs := validation.IsDNS1123Label(cj.Name); len(msgs) != 0 {
			warnings = append(warnings, fmt.Sprintf("metadata.name: this is used in Pod names and hostnames, which can result in surprising behavior; a DNS label is recommended: %v", msgs))
		}
	}
	// On update upstream warns about the job template only when the
	// generation moves.
	if o, ok := old.(*batchv1.CronJob); !ok || !apiequality.Semantic.DeepEqual(cj.Spec, o.Spec) {
		warnings = append(warnings, jobSpecWarnings(&cj.Spec.JobTemplate.Spec, field.NewPath("spec", "jobTemplate", "spec"))...)
	}
	if old != nil && strings.Contains(cj.Spec.Schedule, "TZ") {
		// Upstream's message names the path spec.spec.schedule.
		warnings = append(warnings, "cannot use TZ or CRON_TZ in spec.spec.schedule, use timeZone instead, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details")
	}
	return warnings
}

func (cronJobStrategy) ColumnDefinitions() []metav1.TableColumnDefinition {
	spec, status := batchv1.CronJobSpec{}.SwaggerDoc(), batchv1.CronJobStatus{}.SwaggerDoc()
	return []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Schedule", Type: "string", Description: spec["schedule"]},
		{Name: "Timezone", Type: "string", Description: spec["timeZone"]},
		{Name: "Suspend", Type: "boolean", Description: spec["suspend"]},
		{Name: "Active", Type: "integer", Description: status["active"]},
		{Name: "Last Schedule", Type: "string", Description: status["lastScheduleTime"]},
		ageColumn,
		containersColumn,
		imagesColumn,
		selectorColumn,
	}
}

func (s cronJobStrategy) Row(obj runtime.Object) []interface{} {
	cj, ok := obj.(*batchv1.CronJob)
	if !ok {
		return nil
	}
	now := s.now()
	last := "<none>"
	if cj.Status.LastScheduleTime != nil {
		last = age(now, *cj.Status.LastScheduleTime)
	}
	tz := "<none>"
	if cj.Spec.TimeZone != nil {
		tz = *cj.Spec.TimeZone
	}
	suspend := "<unset>"
	if cj.Spec.Suspend != nil {
		suspend = "False"
		if *cj.Spec.Suspend {
			suspend = "True"
		}
	}
	names, images := containerCells(cj.Spec.JobTemplate.Spec.Template.Spec.Containers)
	return []interface{}{
		cj.Name, cj.Spec.Schedule, tz, suspend, int64(len(cj.Status.Active)), last, age(now, cj.CreationTimestamp),
		names, images, metav1.FormatLabelSelector(cj.Spec.JobTemplate.Spec.Selector),
	}
}
