package core

import (
	"context"
	"fmt"
	"path"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/diff"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry"
)

// pvStrategy: persistent volumes start Pending with reclaim policy Retain;
// their volume source never changes.
type pvStrategy struct{ clock }

var (
	_ registry.Strategy       = pvStrategy{}
	_ registry.StatusStrategy = pvStrategy{}
	_ registry.TableConvertor = pvStrategy{}
	_ registry.FieldsFunc     = pvStrategy{}
)

func (pvStrategy) Default(obj runtime.Object) {
	pv, ok := obj.(*corev1.PersistentVolume)
	if !ok {
		return
	}
	if pv.Status.Phase == "" {
		pv.Status.Phase = corev1.VolumePending
	}
	if pv.Spec.PersistentVolumeReclaimPolicy == "" {
		pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
	}
	if pv.Spec.VolumeMode == nil {
		mode := corev1.PersistentVolumeFilesystem
		pv.Spec.VolumeMode = &mode
	}
	roundResourceList(pv.Spec.Capacity)
	src := &pv.Spec.PersistentVolumeSource
	if src.HostPath != nil {
		defaultHostPath(src.HostPath)
	}
	if src.RBD != nil {
		defaultRBD(&src.RBD.RBDPool, &src.RBD.RadosUser, &src.RBD.Keyring)
	}
	if src.ISCSI != nil && src.ISCSI.ISCSIInterface == "" {
		src.ISCSI.ISCSIInterface = "default"
	}
	if src.AzureDisk != nil {
		defaultAzureDisk(src.AzureDisk)
	}
	if src.ScaleIO != nil {
		defaultScaleIO(&src.ScaleIO.StorageMode, &src.ScaleIO.FSType)
	}
}

func (s pvStrategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	if pv, ok := obj.(*corev1.PersistentVolume); ok {
		now := metav1.NewTime(s.current())
		pv.Status = corev1.PersistentVolumeStatus{Phase: corev1.VolumePending, LastPhaseTransitionTime: &now}
	}
}

func (pvStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	pv, ok1 := obj.(*corev1.PersistentVolume)
	oldPV, ok2 := old.(*corev1.PersistentVolume)
	if ok1 && ok2 {
		pv.Status = oldPV.Status
	}
}

func (pvStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	pv, ok := obj.(*corev1.PersistentVolume)
	if !ok {
		return wrongType(obj, "*v1.PersistentVolume")
	}
	return validatePVSpec(&pv.Spec, field.NewPath("spec"))
}

func validatePVSpec(spec *corev1.PersistentVolumeSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(spec.AccessModes) == 0 {
		errs = append(errs, field.Required(p.Child("accessModes"), ""))
	}
	errs = append(errs, validateAccessModes(spec.AccessModes, p.Child("accessModes"))...)
	if len(spec.Capacity) == 0 {
		errs = append(errs, field.Required(p.Child("capacity"), ""))
	}
	if _, ok := spec.Capacity[corev1.ResourceStorage]; !ok || len(spec.Capacity) > 1 {
		errs = append(errs, field.NotSupported(p.Child("capacity"), spec.Capacity, []corev1.ResourceName{corev1.ResourceStorage}))
	}
	for _, name := range sortedResourceNames(spec.Capacity) {
		q := spec.Capacity[name]
		if q.Sign() <= 0 {
			errs = append(errs, field.Invalid(p.Child("capacity").Key(string(name)), q.String(), "must be greater than zero"))
		}
	}
	policies := []corev1.PersistentVolumeReclaimPolicy{corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRecycle, corev1.PersistentVolumeReclaimRetain}
	if rp := spec.PersistentVolumeReclaimPolicy; rp != "" && !containsValue(policies, rp) {
		errs = append(errs, field.NotSupported(p.Child("persistentVolumeReclaimPolicy"), rp, policies))
	}
	hasAffinity := false
	if na := spec.NodeAffinity; na != nil && na.Required != nil {
		hasAffinity = true
		errs = append(errs, validateNodeSelector(na.Required, p.Child("nodeAffinity", "required"))...)
	}
	src := &spec.PersistentVolumeSource
	checks := []volumeSourceCheck{
		{"hostPath", src.HostPath != nil, func(sp *field.Path) field.ErrorList { return validateHostPath(src.HostPath, sp) }},
		{"gcePersistentDisk", src.GCEPersistentDisk != nil, nil},
		{"awsElasticBlockStore", src.AWSElasticBlockStore != nil, nil},
		{"glusterfs", src.Glusterfs != nil, nil},
		{"flocker", src.Flocker != nil, nil},
		{"nfs", src.NFS != nil, func(sp *field.Path) field.ErrorList { return validateNFS(src.NFS.Server, src.NFS.Path, sp) }},
		{"rbd", src.RBD != nil, nil},
		{"quobyte", src.Quobyte != nil, nil},
		{"cephFS", src.CephFS != nil, nil},
		{"iscsi", src.ISCSI != nil, nil},
		{"cinder", src.Cinder != nil, nil},
		{"fc", src.FC != nil, nil},
		{"azureFile", src.AzureFile != nil, nil},
		{"vsphereVolume", src.VsphereVolume != nil, nil},
		{"photonPersistentDisk", src.PhotonPersistentDisk != nil, nil},
		{"portworxVolume", src.PortworxVolume != nil, nil},
		{"azureDisk", src.AzureDisk != nil, nil},
		{"scaleIO", src.ScaleIO != nil, nil},
		{"local", src.Local != nil, func(sp *field.Path) field.ErrorList {
			var errs field.ErrorList
			if !hasAffinity {
				errs = append(errs, field.Required(p.Child("nodeAffinity"), "Local volume requires node affinity"))
			}
			if src.Local.Path == "" {
				return append(errs, field.Required(sp.Child("path"), ""))
			}
			return append(errs, validatePathNoBacksteps(src.Local.Path, sp.Child("path"))...)
		}},
		{"storageos", src.StorageOS != nil, nil},
		{"csi", src.CSI != nil, func(sp *field.Path) field.ErrorList {
			var errs field.ErrorList
			if src.CSI.Driver == "" {
				errs = append(errs, field.Required(sp.Child("driver"), ""))
			}
			if src.CSI.VolumeHandle == "" {
				errs = append(errs, field.Required(sp.Child("volumeHandle"), ""))
			}
			return errs
		}},
	}
	n := 0
	for _, c := range checks {
		if !c.set {
			continue
		}
		sp := p.Child(c.name)
		if n > 0 {
			errs = append(errs, field.Forbidden(sp, "may not specify more than 1 volume type"))
			continue
		}
		n++
		if c.validate != nil {
			errs = append(errs, c.validate(sp)...)
		}
	}
	if n == 0 {
		errs = append(errs, field.Required(p, "must specify a volume type"))
	}
	if src.HostPath != nil && path.Clean(src.HostPath.Path) == "/" && spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimRecycle {
		errs = append(errs, field.Forbidden(p.Child("persistentVolumeReclaimPolicy"), "may not be 'recycle' for a hostPath mount of '/'"))
	}
	if spec.StorageClassName != "" {
		errs = append(errs, validateObjectName(spec.StorageClassName, apivalidation.NameIsDNSSubdomain, p.Child("storageClassName"))...)
	}
	if spec.VolumeMode != nil && !containsValue(supportedVolumeModes, *spec.VolumeMode) {
		errs = append(errs, field.NotSupported(p.Child("volumeMode"), *spec.VolumeMode, supportedVolumeModes))
	}
	if c := spec.VolumeAttributesClassName; c != nil {
		if *c == "" {
			errs = append(errs, field.Required(p.Child("volumeAttributesClassName"), "an empty string is disallowed"))
		} else {
			errs = append(errs, validateObjectName(*c, apivalidation.NameIsDNSSubdomain, p.Child("volumeAttributesClassName"))...)
		}
		if src.CSI == nil {
			errs = append(errs, field.Required(p.Child("csi"), "has to be specified when using volumeAttributesClassName"))
		}
	}
	return errs
}

func (s pvStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	pv, ok1 := obj.(*corev1.PersistentVolume)
	oldPV, ok2 := old.(*corev1.PersistentVolume)
	if !ok1 || !ok2 {
		return wrongType(obj, "*v1.PersistentVolume")
	}
	errs := s.Validate(ctx, obj)
	newSrc := pv.Spec.PersistentVolumeSource.DeepCopy()
	// A CSI expansion secret may be added later.
	if oldPV.Spec.CSI != nil && oldPV.Spec.CSI.ControllerExpandSecretRef == nil && newSrc.CSI != nil {
		newSrc.CSI.ControllerExpandSecretRef = nil
	}
	if !apiequality.Semantic.DeepEqual(*newSrc, oldPV.Spec.PersistentVolumeSource) {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "persistentvolumesource"),
			fmt.Sprintf("spec.persistentvolumesource is immutable after creation\n%v", diff.Diff(oldPV.Spec.PersistentVolumeSource, *newSrc))))
	}
	errs = append(errs, apivalidation.ValidateImmutableField(pv.Spec.VolumeMode, oldPV.Spec.VolumeMode, field.NewPath("volumeMode"))...)
	if oldPV.Spec.VolumeAttributesClassName != nil && pv.Spec.VolumeAttributesClassName == nil {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "volumeAttributesClassName"), "update from non-nil value to nil is forbidden"))
	}
	return errs
}

// ValidateStatusUpdate: upstream checks only metadata here.
func (pvStrategy) ValidateStatusUpdate(context.Context, runtime.Object, runtime.Object) field.ErrorList {
	return nil
}

func (pvStrategy) SelectableFields(obj runtime.Object) fields.Set {
	pv, ok := obj.(*corev1.PersistentVolume)
	if !ok {
		return nil
	}
	// "name" is an upstream bug kept for compatibility.
	return fields.Set{"name": pv.Name}
}

var pvColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Capacity", "string", corev1.PersistentVolumeSpec{}.SwaggerDoc()["capacity"]),
	column("Access Modes", "string", corev1.PersistentVolumeSpec{}.SwaggerDoc()["accessModes"]),
	column("Reclaim Policy", "string", corev1.PersistentVolumeSpec{}.SwaggerDoc()["persistentVolumeReclaimPolicy"]),
	column("Status", "string", corev1.PersistentVolumeStatus{}.SwaggerDoc()["phase"]),
	column("Claim", "string", corev1.PersistentVolumeSpec{}.SwaggerDoc()["claimRef"]),
	column("StorageClass", "string", "StorageClass of the pv"),
	column("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
	column("Reason", "string", corev1.PersistentVolumeStatus{}.SwaggerDoc()["reason"]),
	ageColumn,
	wideColumn("VolumeMode", "string", corev1.PersistentVolumeSpec{}.SwaggerDoc()["volumeMode"]),
}

func (pvStrategy) ColumnDefinitions() []metav1.TableColumnDefinition { return pvColumns }

func (s pvStrategy) Row(obj runtime.Object) []interface{} {
	pv, ok := obj.(*corev1.PersistentVolume)
	if !ok {
		return nil
	}
	claim := ""
	if r := pv.Spec.ClaimRef; r != nil {
		claim = r.Namespace + "/" + r.Name
	}
	phase := string(pv.Status.Phase)
	if pv.DeletionTimestamp != nil {
		phase = "Terminating"
	}
	capacity := pv.Spec.Capacity[corev1.ResourceStorage]
	class := pv.Annotations[corev1.BetaStorageClassAnnotation]
	if class == "" {
		class = pv.Spec.StorageClassName
	}
	return []interface{}{pv.Name, capacity.String(), accessModesString(pv.Spec.AccessModes), string(pv.Spec.PersistentVolumeReclaimPolicy),
		phase, claim, class, optionalString(pv.Spec.VolumeAttributesClassName), pv.Status.Reason,
		s.since(pv.CreationTimestamp), volumeModeString(pv.Spec.VolumeMode)}
}
