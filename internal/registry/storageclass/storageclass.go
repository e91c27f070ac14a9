// Package storageclass holds the registry strategy of storage.k8s.io/v1
// storageclasses, with upstream's defaults (reclaim policy Delete, binding
// mode Immediate), validation and immutable fields, and `kubectl get`
// columns. (Named for the resource: package storage is the object store.)
package storageclass

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry"
)

// Resources returns the storage.k8s.io/v1 resources served here.
func Resources() []registry.Resource {
	return resources(time.Now)
}

func resources(now func() time.Time) []registry.Resource {
	return []registry.Resource{{
		GroupVersion: storagev1.SchemeGroupVersion, Resource: "storageclasses", Kind: "StorageClass",
		SingularName: "storageclass", ShortNames: []string{"sc"},
		New:      func() runtime.Object { return &storagev1.StorageClass{} },
		NewList:  func() runtime.Object { return &storagev1.StorageClassList{} },
		Strategy: storageClassStrategy{now: now},
	}}
}

// Limits on provisioner parameters.
const (
	maxParameters     = 512
	maxParametersSize = 256 << 10
)

// isDefaultAnnotations mark the default class (the beta one is still
// honoured upstream).
var isDefaultAnnotations = []string{"storageclass.kubernetes.io/is-default-class", "storageclass.beta.kubernetes.io/is-default-class"}

// deprecatedNodeLabels are topology keys upstream warns about.
var deprecatedNodeLabels = map[string]string{
	"beta.kubernetes.io/arch":                       `deprecated since v1.14; use "kubernetes.io/arch" instead`,
	"beta.kubernetes.io/os":                         `deprecated since v1.14; use "kubernetes.io/os" instead`,
	"failure-domain.beta.kubernetes.io/region":      `deprecated since v1.17; use "topology.kubernetes.io/region" instead`,
	"failure-domain.beta.kubernetes.io/zone":        `deprecated since v1.17; use "topology.kubernetes.io/zone" instead`,
	"beta.kubernetes.io/instance-type":              `deprecated since v1.17; use "node.kubernetes.io/instance-type" instead`,
	"app.kubernetes.io/created-by":                  `deprecated since v1.9`,
	"scheduler.alpha.kubernetes.io/preferAvoidPods": `deprecated since v1.22; use Taints and Tolerations instead`,
	"node-role.kubernetes.io/master":                `use "node-role.kubernetes.io/control-plane" instead`,
}

type storageClassStrategy struct{ now func() time.Time }

var (
	_ registry.Strategy       = storageClassStrategy{}
	_ registry.TableConvertor = storageClassStrategy{}
	_ registry.WarningsFunc   = storageClassStrategy{}
)

func (storageClassStrategy) Default(obj runtime.Object) {
	sc, ok := obj.(*storagev1.StorageClass)
	if !ok {
		return
	}
	if sc.ReclaimPolicy == nil {
		p := corev1.PersistentVolumeReclaimDelete
		sc.ReclaimPolicy = &p
	}
	if sc.VolumeBindingMode == nil {
		m := storagev1.VolumeBindingImmediate
		sc.VolumeBindingMode = &m
	}
}

func (storageClassStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object)      {}
func (storageClassStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {}

func (storageClassStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	sc, ok := obj.(*storagev1.StorageClass)
	if !ok {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("expected *v1.StorageClass, got %T", obj))}
	}
	return validateStorageClass(sc)
}

// ValidateUpdate: everything that decides how volumes are provisioned is
// immutable, since existing volumes were made under the old values.
func (storageClassStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	sc, ok1 := obj.(*storagev1.StorageClass)
	o, ok2 := old.(*storagev1.StorageClass)
	if !ok1 || !ok2 {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("expected *v1.StorageClass, got %T", obj))}
	}
	errs := validateStorageClass(sc)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(sc.Parameters, o.Parameters, field.NewPath("parameters"))...)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(sc.Provisioner, o.Provisioner, field.NewPath("provisioner"))...)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(sc.ReclaimPolicy, o.ReclaimPolicy, field.NewPath("reclaimPolicy"))...)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(sc.VolumeBindingMode, o.VolumeBindingMode, field.NewPath("volumeBindingMode"))...)
	return errs
}

func validateStorageClass(sc *storagev1.StorageClass) field.ErrorList {
	var errs field.ErrorList
	pp := field.NewPath("provisioner")
	if sc.Provisioner == "" {
		errs = append(errs, field.Required(pp, ""))
	} else {
		for _, msg := range content.IsLabelKey(strings.ToLower(sc.Provisioner)) {
			errs = append(errs, field.Invalid(pp, strings.ToLower(sc.Provisioner), msg))
		}
	}
	errs = append(errs, validateParameters(sc.Parameters, field.NewPath("parameters"))...)
	if rp := sc.ReclaimPolicy; rp != nil && *rp != "" && *rp != corev1.PersistentVolumeReclaimDelete && *rp != corev1.PersistentVolumeReclaimRetain {
		errs = append(errs, field.NotSupported(field.NewPath("reclaimPolicy"), rp, []string{string(corev1.PersistentVolumeReclaimDelete), string(corev1.PersistentVolumeReclaimRetain)}))
	}
	mp := field.NewPath("volumeBindingMode")
	switch m := sc.VolumeBindingMode; {
	case m == nil:
		errs = append(errs, field.Required(mp, ""))
	case *m != storagev1.VolumeBindingImmediate && *m != storagev1.VolumeBindingWaitForFirstConsumer:
		errs = append(errs, field.NotSupported(mp, m, []string{string(storagev1.VolumeBindingImmediate), string(storagev1.VolumeBindingWaitForFirstConsumer)}))
	}
	return append(errs, validateAllowedTopologies(sc.AllowedTopologies, field.NewPath("allowedTopologies"))...)
}

func validateParameters(params map[string]string, p *field.Path) field.ErrorList {
	if len(params) > maxParameters {
		return field.ErrorList{field.TooLong(p, "", maxParameters)}
	}
	var errs field.ErrorList
	size := 0
	for k, v := range params {
		if k == "" {
			errs = append(errs, field.Invalid(p, k, "field can not be empty."))
		}
		size += len(k) + len(v)
	}
	if size > maxParametersSize {
		errs = append(errs, field.TooLong(p, "", maxParametersSize))
	}
	return errs
}

// validateAllowedTopologies checks each term's label requirements and
// that no two terms are the same.
func validateAllowedTopologies(terms []corev1.TopologySelectorTerm, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	var seen []map[string]map[string]bool
	for i, term := range terms {
		tp := p.Index(i)
		ep := tp.Child("matchLabelExpressions")
		exprs := map[string]map[string]bool{}
		for k, req := range term.MatchLabelExpressions {
			rp := ep.Index(k)
			values := map[string]bool{}
			if len(req.Values) == 0 {
				errs = append(errs, field.Required(rp.Child("values"), ""))
			}
			for v, value := range req.Values {
				if values[value] {
					errs = append(errs, field.Duplicate(rp.Child("values").Index(v), value))
				}
				values[value] = true
			}
			errs = append(errs, metav1validation.ValidateLabelName(req.Key, rp.Child("key"))...)
			if _, dup := exprs[req.Key]; dup {
				errs = append(errs, field.Duplicate(rp.Child("key"), req.Key))
			}
			exprs[req.Key] = values
		}
		for _, prev := range seen {
			if apiequality.Semantic.DeepEqual(prev, exprs) {
				errs = append(errs, field.Duplicate(ep, ""))
			}
		}
		seen = append(seen, exprs)
	}
	return errs
}

func (storageClassStrategy) Warnings(ctx context.Context, obj, old runtime.Object) []string {
	sc, ok := obj.(*storagev1.StorageClass)
	if !ok {
		return nil
	}
	var warnings []string
	for i, term := range sc.AllowedTopologies {
		for k, req := range term.MatchLabelExpressions {
			if msg, deprecated := deprecatedNodeLabels[req.Key]; deprecated {
				p := field.NewPath("allowedTopologies").Index(i).Child("matchLabelExpressions").Index(k).Child("key")
				warnings = append(warnings, fmt.Sprintf("%s: %s", p, msg))
			}
		}
	}
	return warnings
}

func (storageClassStrategy) ColumnDefinitions() []metav1.TableColumnDefinition {
	doc := storagev1.StorageClass{}.SwaggerDoc()
	return []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
		{Name: "Provisioner", Type: "string", Description: doc["provisioner"]},
		{Name: "ReclaimPolicy", Type: "string", Description: doc["reclaimPolicy"]},
		{Name: "VolumeBindingMode", Type: "string", Description: doc["volumeBindingMode"]},
		{Name: "AllowVolumeExpansion", Type: "string", Description: doc["allowVolumeExpansion"]},
		{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
	}
}

// Row marks a class carrying the default annotation "(default)". Upstream
// marks only the effective default of a list (the newest such class); a
// per-object row cannot see the others.
func (s storageClassStrategy) Row(obj runtime.Object) []interface{} {
	sc, ok := obj.(*storagev1.StorageClass)
	if !ok {
		return nil
	}
	name := sc.Name
	for _, a := range isDefaultAnnotations {
		if sc.Annotations[a] == "true" {
			name += " (default)"
			break
		}
	}
	reclaim := string(corev1.PersistentVolumeReclaimDelete)
	if sc.ReclaimPolicy != nil {
		reclaim = string(*sc.ReclaimPolicy)
	}
	binding := string(storagev1.VolumeBindingImmediate)
	if sc.VolumeBindingMode != nil {
		binding = string(*sc.VolumeBindingMode)
	}
	expansion := sc.AllowVolumeExpansion != nil && *sc.AllowVolumeExpansion
	age := "<unknown>"
	if !sc.CreationTimestamp.IsZero() {
		age = duration.HumanDuration(s.now().Sub(sc.CreationTimestamp.Time))
	}
	return []interface{}{name, sc.Provisioner, reclaim, binding, expansion, age}
}
