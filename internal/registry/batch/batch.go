// Package batch holds the registry strategies of the batch/v1 API group:
// jobs and cronjobs, with upstream Kubernetes' defaults, validation (field
// paths and messages of pkg/apis/batch/validation), selector generation
// and `kubectl get` columns. It also exports ParseSchedule, the cron
// parser validation uses, so the CronJob controller schedules exactly what
// the API accepted.
package batch

import (
	"fmt"
	"time"
	// CronJob time zones must validate (and schedule) the same on every
	// host, with or without a zoneinfo directory; upstream's binaries
	// embed the database too.
	_ "time/tzdata"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry"
)

// Resources returns the batch/v1 resources with the wall clock for AGE
// and DURATION.
func Resources() []registry.Resource {
	return resources(time.Now)
}

func resources(now func() time.Time) []registry.Resource {
	gv := batchv1.SchemeGroupVersion
	return []registry.Resource{
		{
			GroupVersion: gv, Resource: "jobs", Kind: "Job", SingularName: "job",
			Namespaced: true, Categories: []string{"all"},
			New:      func() runtime.Object { return &batchv1.Job{} },
			NewList:  func() runtime.Object { return &batchv1.JobList{} },
			Strategy: jobStrategy{now: now}, HasStatus: true, HasGeneration: true,
			// batch/v1 keeps a deleted Job's pods unless told otherwise,
			// for backward compatibility, and says so.
			GCPolicy: registry.GCOrphan,
			DefaultPropagationWarning: "child pods are preserved by default when jobs are deleted; " +
				"set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning",
		},
		{
			GroupVersion: gv, Resource: "cronjobs", Kind: "CronJob", SingularName: "cronjob",
			Namespaced: true, ShortNames: []string{"cj"}, Categories: []string{"all"},
			New:      func() runtime.Object { return &batchv1.CronJob{} },
			NewList:  func() runtime.Object { return &batchv1.CronJobList{} },
			Strategy: cronJobStrategy{now: now}, HasStatus: true, HasGeneration: true,
		},
	}
}

// wrongType reports a wiring bug: the generic handler always hands a
// strategy objects of its own resource's Go type.
func wrongType(obj runtime.Object, want string) field.ErrorList {
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("expected %s, got %T", want, obj))}
}

func ptrTo[T any](v T) *T { return &v }

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

var (
	nameColumn       = metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]}
	ageColumn        = metav1.TableColumnDefinition{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]}
	containersColumn = metav1.TableColumnDefinition{Name: "Containers", Type: "string", Priority: 1, Description: "Names of each container in the template."}
	imagesColumn     = metav1.TableColumnDefinition{Name: "Images", Type: "string", Priority: 1, Description: "Images referenced by each container in the template."}
	selectorColumn   = metav1.TableColumnDefinition{Name: "Selector", Type: "string", Priority: 1, Description: batchv1.JobSpec{}.SwaggerDoc()["selector"]}
)

// age renders the time since t as kubectl does ("<unknown>" when unset).
func age(now time.Time, t metav1.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}
