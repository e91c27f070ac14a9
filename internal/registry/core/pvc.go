package core

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/diff"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry"
)

// defaultPVCSpec defaults a claim spec, standalone or inside a pod's
// ephemeral volume or a StatefulSet's claim template.
func defaultPVCSpec(spec *corev1.PersistentVolumeClaimSpec) {
	if spec.VolumeMode == nil {
		mode := corev1.PersistentVolumeFilesystem
		spec.VolumeMode = &mode
	}
	roundResourceList(spec.Resources.Limits)
	roundResourceList(spec.Resources.Requests)
}

var (
	supportedAccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOnce, corev1.ReadWriteOncePod}
	supportedVolumeModes = []corev1.PersistentVolumeMode{corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem}
)

func validateAccessModes(modes []corev1.PersistentVolumeAccessMode, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	rwop, other := false, false
	for _, m := range modes {
		if !containsValue(supportedAccessModes, m) {
			errs = append(errs, field.NotSupported(p, m, supportedAccessModes))
			continue
		}
		if m == corev1.ReadWriteOncePod {
			rwop = true
		} else {
			other = true
		}
	}
	if rwop && other {
		errs = append(errs, field.Forbidden(p, "may not use ReadWriteOncePod with other access modes"))
	}
	return errs
}

// DefaultPersistentVolumeClaimSpec applies upstream's claim spec defaults
// (volume mode, rounded quantities); StatefulSets run it on their claim
// templates.
func DefaultPersistentVolumeClaimSpec(spec *corev1.PersistentVolumeClaimSpec) { defaultPVCSpec(spec) }

// ValidatePersistentVolumeClaimSpec checks a claim spec with upstream's
// create-time rules; StatefulSets run it on their claim templates.
func ValidatePersistentVolumeClaimSpec(spec *corev1.PersistentVolumeClaimSpec, fldPath *field.Path) field.ErrorList {
	return validatePVCSpec(spec, fldPath)
}

// validatePVCSpec checks a claim spec: access modes, a positive storage
// request, class names, data sources.
func validatePVCSpec(spec *corev1.PersistentVolumeClaimSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(spec.AccessModes) == 0 {
		errs = append(errs, field.Required(fldPath.Child("accessModes"), "at least 1 access mode is required"))
	}
	if spec.Selector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(spec.Selector, metav1validation.LabelSelectorValidationOptions{}, fldPath.Child("selector"))...)
	}
	errs = append(errs, validateAccessModes(spec.AccessModes, fldPath.Child("accessModes"))...)
	storagePath := fldPath.Child("resources").Key(string(corev1.ResourceStorage))
	if q, ok := spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		errs = append(errs, field.Required(storagePath, ""))
	} else if q.Sign() <= 0 {
		errs = append(errs, field.Invalid(storagePath, q.String(), "must be greater than zero"))
	}
	if c := spec.StorageClassName; c != nil && *c != "" {
		errs = append(errs, validateObjectName(*c, apivalidation.NameIsDNSSubdomain, fldPath.Child("storageClassName"))...)
	}
	if spec.VolumeMode != nil && !containsValue(supportedVolumeModes, *spec.VolumeMode) {
		errs = append(errs, field.NotSupported(fldPath.Child("volumeMode"), *spec.VolumeMode, supportedVolumeModes))
	}
	if ds := spec.DataSource; ds != nil {
		errs = append(errs, validateDataSource(ds.Name, ds.Kind, ds.APIGroup, fldPath.Child("dataSource"))...)
	}
	if ds := spec.DataSourceRef; ds != nil {
		errs = append(errs, validateDataSource(ds.Name, ds.Kind, ds.APIGroup, fldPath.Child("dataSourceRef"))...)
	}
	if c := spec.VolumeAttributesClassName; c != nil && *c != "" {
		errs = append(errs, validateObjectName(*c, apivalidation.NameIsDNSSubdomain, fldPath.Child("volumeAttributesClassName"))...)
	}
	return errs
}

func validateDataSource(name, kind string, group *string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	}
	if kind == "" {
		errs = append(errs, field.Required(p.Child("kind"), ""))
	}
	g := ""
	if group != nil {
		g = *group
	}
	if g == "" && kind != "PersistentVolumeClaim" {
		errs = append(errs, field.Invalid(p, kind, "must be 'PersistentVolumeClaim' when referencing the default apiGroup"))
	}
	if g != "" {
		errs = append(errs, validateDNS1123Subdomain(g, p.Child("apiGroup"))...)
	}
	return errs
}

// pvcStrategy: a claim's spec is immutable after creation except that a
// bound claim's storage request may grow.
type pvcStrategy struct{ clock }

var (
	_ registry.Strategy       = pvcStrategy{}
	_ registry.TableConvertor = pvcStrategy{}
	_ registry.FieldsFunc     = pvcStrategy{}
)

func (pvcStrategy) Default(obj runtime.Object) {
	if pvc, ok := obj.(*corev1.PersistentVolumeClaim); ok {
		defaultPVCSpec(&pvc.Spec)
		if pvc.Status.Phase == "" {
			pvc.Status.Phase = corev1.ClaimPending
		}
		roundResourceList(pvc.Status.Capacity)
		roundResourceList(pvc.Status.AllocatedResources)
	}
}

func (pvcStrategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	if pvc, ok := obj.(*corev1.PersistentVolumeClaim); ok {
		// Upstream stores an empty status and defaults the phase on every
		// read; this store does not default on read, so store it.
		pvc.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}
		// dataSource and dataSourceRef mirror each other when only one is
		// given (and dataSourceRef names no other namespace).
		s := &pvc.Spec
		if s.DataSource != nil && s.DataSourceRef == nil {
			s.DataSourceRef = &corev1.TypedObjectReference{APIGroup: s.DataSource.APIGroup, Kind: s.DataSource.Kind, Name: s.DataSource.Name}
		} else if s.DataSourceRef != nil && s.DataSource == nil && (s.DataSourceRef.Namespace == nil || *s.DataSourceRef.Namespace == "") {
			s.DataSource = &corev1.TypedLocalObjectReference{APIGroup: s.DataSourceRef.APIGroup, Kind: s.DataSourceRef.Kind, Name: s.DataSourceRef.Name}
		}
	}
}

func (pvcStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	pvc, ok1 := obj.(*corev1.PersistentVolumeClaim)
	oldPVC, ok2 := old.(*corev1.PersistentVolumeClaim)
	if ok1 && ok2 {
		pvc.Status = oldPVC.Status
	}
}

func (pvcStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	pvc, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return wrongType(obj, "*v1.PersistentVolumeClaim")
	}
	return validatePVCSpec(&pvc.Spec, field.NewPath("spec"))
}

func (s pvcStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	pvc, ok1 := obj.(*corev1.PersistentVolumeClaim)
	oldPVC, ok2 := old.(*corev1.PersistentVolumeClaim)
	if !ok1 || !ok2 {
		return wrongType(obj, "*v1.PersistentVolumeClaim")
	}
	errs := s.Validate(ctx, obj)
	newSpec, oldSpec := pvc.Spec.DeepCopy(), oldPVC.Spec.DeepCopy()
	// Binding fills in volumeName once.
	if oldSpec.VolumeName == "" {
		oldSpec.VolumeName = newSpec.VolumeName
	}
	// An unset class may be set once (the default class admission does
	// this for claims created before a default class existed).
	if oldSpec.StorageClassName == nil && newSpec.StorageClassName != nil {
		if _, annotated := oldPVC.Annotations[corev1.BetaStorageClassAnnotation]; !annotated {
			newSpec.StorageClassName = nil
		}
	}
	if pvc.Status.Phase == corev1.ClaimBound {
		if newSpec.Resources.Requests != nil {
			newSpec.Resources.Requests[corev1.ResourceStorage] = oldSpec.Resources.Requests[corev1.ResourceStorage]
		}
		newSpec.VolumeAttributesClassName = oldSpec.VolumeAttributesClassName
	}
	if !apiequality.Semantic.DeepEqual(*newSpec, *oldSpec) {
		errs = append(errs, field.Forbidden(field.NewPath("spec"), fmt.Sprintf(
			"spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n%v", diff.Diff(*oldSpec, *newSpec))))
	}
	oldSize := oldPVC.Spec.Resources.Requests[corev1.ResourceStorage]
	newSize := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	statusSize := oldPVC.Status.Capacity[corev1.ResourceStorage]
	// Shrinking is allowed only back down towards, not to, the size
	// actually provisioned (recovery from a failed expansion).
	if newSize.Cmp(oldSize) < 0 && newSize.Cmp(statusSize) <= 0 {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "resources", "requests", "storage"), "field can not be less than status.capacity"))
	}
	return append(errs, apivalidation.ValidateImmutableField(pvc.Spec.VolumeMode, oldPVC.Spec.VolumeMode, field.NewPath("volumeMode"))...)
}

func (pvcStrategy) SelectableFields(obj runtime.Object) fields.Set {
	pvc, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return nil
	}
	// "name" is an upstream bug kept for compatibility.
	return fields.Set{"name": pvc.Name}
}

var pvcColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Status", "string", corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()["phase"]),
	column("Volume", "string", corev1.PersistentVolumeClaimSpec{}.SwaggerDoc()["volumeName"]),
	column("Capacity", "string", corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()["capacity"]),
	column("Access Modes", "string", corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()["accessModes"]),
	column("StorageClass", "string", "StorageClass of the pvc"),
	column("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"),
	ageColumn,
	wideColumn("VolumeMode", "string", corev1.PersistentVolumeClaimSpec{}.SwaggerDoc()["volumeMode"]),
}

func (pvcStrategy) ColumnDefinitions() []metav1.TableColumnDefinition { return pvcColumns }

func (s pvcStrategy) Row(obj runtime.Object) []interface{} {
	pvc, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return nil
	}
	phase := string(pvc.Status.Phase)
	if pvc.DeletionTimestamp != nil {
		phase = "Terminating"
	}
	capacity, modes := "", ""
	if pvc.Spec.VolumeName != "" {
		modes = accessModesString(pvc.Status.AccessModes)
		q := pvc.Status.Capacity[corev1.ResourceStorage]
		capacity = q.String()
	}
	class := pvc.Annotations[corev1.BetaStorageClassAnnotation]
	if class == "" && pvc.Spec.StorageClassName != nil {
		class = *pvc.Spec.StorageClassName
	}
	return []interface{}{pvc.Name, phase, pvc.Spec.VolumeName, capacity, modes, class,
		optionalString(pvc.Spec.VolumeAttributesClassName), s.since(pvc.CreationTimestamp), volumeModeString(pvc.Spec.VolumeMode)}
}

// accessModesString abbreviates access modes in kubectl's fixed order.
func accessModesString(modes []corev1.PersistentVolumeAccessMode) string {
	var out []string
	for _, m := range []struct {
		mode corev1.PersistentVolumeAccessMode
		abbr string
	}{{corev1.ReadWriteOnce, "RWO"}, {corev1.ReadOnlyMany, "ROX"}, {corev1.ReadWriteMany, "RWX"}, {corev1.ReadWriteOncePod, "RWOP"}} {
		if containsValue(modes, m.mode) {
			out = append(out, m.abbr)
		}
	}
	return strings.Join(out, ",")
}

func optionalString(s *string) string {
	if s == nil {
		return "<unset>"
	}
	return *s
}

func volumeModeString(m *corev1.PersistentVolumeMode) string {
	if m == nil {
		return "<unset>"
	}
	return string(*m)
}
