package apps

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry"
	"skiff.dev/skiff/internal/registry/core"
)

type statefulSetStrategy struct{ now func() time.Time }

var (
	_ registry.Strategy       = statefulSetStrategy{}
	_ registry.StatusStrategy = statefulSetStrategy{}
	_ registry.MetaValidator  = statefulSetStrategy{}
	_ registry.TableConvertor = statefulSetStrategy{}
	_ registry.WarningsFunc   = statefulSetStrategy{}
)

// Default applies SetDefaults_StatefulSet with 1.37's default feature
// gates (MaxUnavailableStatefulSet is on, so maxUnavailable defaults to 1).
func (statefulSetStrategy) Default(obj runtime.Object) {
	ss, ok := obj.(*appsv1.StatefulSet)
	if !ok {
		return
	}
	spec := &ss.Spec
	if spec.PodManagementPolicy == "" {
		spec.PodManagementPolicy = appsv1.OrderedReadyPodManagement
	}
	if spec.UpdateStrategy.Type == "" {
		spec.UpdateStrategy.Type = appsv1.RollingUpdateStatefulSetStrategyType
		if spec.UpdateStrategy.RollingUpdate == nil {
			spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{}
		}
	}
	if ru := spec.UpdateStrategy.RollingUpdate; spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType && ru != nil {
		if ru.Partition == nil {
			ru.Partition = ptrTo[int32](0)
		}
		if ru.MaxUnavailable == nil {
			ru.MaxUnavailable = ptrTo(intstr.FromInt32(1))
		}
	}
	if spec.PersistentVolumeClaimRetentionPolicy == nil {
		spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{}
	}
	if spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted == "" {
		spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	}
	if spec.PersistentVolumeClaimRetentionPolicy.WhenScaled == "" {
		spec.PersistentVolumeClaimRetentionPolicy.WhenScaled = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	}
	if spec.Replicas == nil {
		spec.Replicas = ptrTo[int32](1)
	}
	if spec.RevisionHistoryLimit == nil {
		spec.RevisionHistoryLimit = ptrTo[int32](10)
	}
	core.DefaultPodTemplateSpec(&spec.Template)
	for i := range spec.VolumeClaimTemplates {
		defaultClaimTemplate(&spec.VolumeClaimTemplates[i])
	}
}

// defaultClaimTemplate applies the PersistentVolumeClaim defaults upstream
// runs on every claim template, so that stored templates round-trip equal.
func defaultClaimTemplate(pvc *corev1.PersistentVolumeClaim) {
	core.DefaultPersistentVolumeClaimSpec(&pvc.Spec)
	if pvc.Status.Phase == "" {
		pvc.Status.Phase = corev1.ClaimPending
	}
}

// ValidateMeta: a StatefulSet's name is the stem of its pods' hostnames, so
// it must be a DNS label, not a subdomain.
func (statefulSetStrategy) ValidateMeta(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	ss, ok := obj.(*appsv1.StatefulSet)
	if !ok {
		return wrongType(obj, "*v1.StatefulSet")
	}
	p := field.NewPath("metadata")
	if old == nil {
		return apimachineryvalidation.ValidateObjectMeta(&ss.ObjectMeta, true, apimachineryvalidation.NameIsDNSLabel, p)
	}
	o, ok := old.(*appsv1.StatefulSet)
	if !ok {
		return wrongType(old, "*v1.StatefulSet")
	}
	// Names are not revalidated on update: objects stored when subdomain
	// names were allowed must still be updatable (to remove finalizers).
	return apimachineryvalidation.ValidateObjectMetaUpdate(&ss.ObjectMeta, &o.ObjectMeta, p)
}

func (statefulSetStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {}

func (statefulSetStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {}

// statefulSetOptions are upstream's StatefulSetValidationOptions.
type statefulSetOptions struct {
	allowInvalidServiceName bool
	skipTemplate            bool
	skipClaimTemplates      bool
	allowRecreate           bool
}

func (statefulSetStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	ss, ok := obj.(*appsv1.StatefulSet)
	if !ok {
		return wrongType(obj, "*v1.StatefulSet")
	}
	return validateStatefulSetSpec(&ss.Spec, field.NewPath("spec"), statefulSetOptions{})
}

// ValidateUpdate allows every spec change but the four identity fields
// (selector, claim templates, service name, pod management policy).
func (statefulSetStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	ss, ok1 := obj.(*appsv1.StatefulSet)
	o, ok2 := old.(*appsv1.StatefulSet)
	if !ok1 || !ok2 {
		return wrongType(obj, "*v1.StatefulSet")
	}
	opts := statefulSetOptions{
		allowInvalidServiceName: true,
		skipClaimTemplates:      true,
		allowRecreate:           o.Spec.UpdateStrategy.Type == appsv1.RecreateStatefulSetStrategyType,
	}
	// Tolerate a stored template that today's rules reject, as upstream
	// does, so that such objects can still be scaled or deleted.
	if len(validateStatefulSetSpec(&o.Spec, nil, opts)) > 0 {
		opts.skipTemplate = true
	}
	p := field.NewPath("spec")
	errs := validateStatefulSetSpec(&ss.Spec, p, opts)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(ss.Spec.Selector, o.Spec.Selector, p.Child("selector"))...)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(ss.Spec.VolumeClaimTemplates, o.Spec.VolumeClaimTemplates, p.Child("volumeClaimTemplates"))...)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(ss.Spec.ServiceName, o.Spec.ServiceName, p.Child("serviceName"))...)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(ss.Spec.PodManagementPolicy, o.Spec.PodManagementPolicy, p.Child("podManagementPolicy"))...)
	return errs
}

func (statefulSetStrategy) ValidateStatusUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	ss, ok1 := obj.(*appsv1.StatefulSet)
	o, ok2 := old.(*appsv1.StatefulSet)
	if !ok1 || !ok2 {
		return wrongType(obj, "*v1.StatefulSet")
	}
	p := field.NewPath("status")
	errs := validateStatefulSetStatus(&ss.Status, p)
	errs = append(errs, collisionCountDecremented(ss.Status.CollisionCount, o.Status.CollisionCount, p.Child("collisionCount"))...)
	return errs
}

// Warnings: the template on create and when the spec changes, and a
// negative revision history limit on every write.
func (statefulSetStrategy) Warnings(ctx context.Context, obj, old runtime.Object) []string {
	ss, ok := obj.(*appsv1.StatefulSet)
	if !ok {
		return nil
	}
	var w []string
	o, isUpdate := old.(*appsv1.StatefulSet)
	if !isUpdate || !apiequality.Semantic.DeepEqual(ss.Spec, o.Spec) {
		w = core.PodTemplateWarnings(field.NewPath("spec", "template"), &ss.Spec.Template)
	}
	if ss.Spec.RevisionHistoryLimit != nil && *ss.Spec.RevisionHistoryLimit < 0 {
		w = append(w, "spec.revisionHistoryLimit: a negative value retains all historical revisions; a value >= 0 is recommended")
	}
	return w
}

func validateStatefulSetSpec(spec *appsv1.StatefulSetSpec, p *field.Path, opts statefulSetOptions) field.ErrorList {
	var errs field.ErrorList
	switch spec.PodManagementPolicy {
	case "":
		errs = append(errs, field.Required(p.Child("podManagementPolicy"), ""))
	case appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement:
	default:
		errs = append(errs, field.Invalid(p.Child("podManagementPolicy"), spec.PodManagementPolicy,
			fmt.Sprintf("must be '%s' or '%s'", appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement)))
	}
	errs = append(errs, validateStatefulSetUpdateStrategy(&spec.UpdateStrategy, p.Child("updateStrategy"), opts.allowRecreate)...)
	if pol := spec.PersistentVolumeClaimRetentionPolicy; pol != nil {
		pp := p.Child("persistentVolumeClaimRetentionPolicy")
		errs = append(errs, validateRetentionPolicyType(pol.WhenDeleted, pp.Child("whenDeleted"))...)
		errs = append(errs, validateRetentionPolicyType(pol.WhenScaled, pp.Child("whenScaled"))...)
	}
	// Claim templates are immutable, so they are checked on create only:
	// templates stored under older rules stay updatable.
	if !opts.skipClaimTemplates {
		for i := range spec.VolumeClaimTemplates {
			cp := p.Child("volumeClaimTemplates").Index(i).Child("spec")
			errs = append(errs, core.ValidatePersistentVolumeClaimSpec(&spec.VolumeClaimTemplates[i].Spec, cp)...)
		}
	}
	errs = append(errs, nonnegativePtr(spec.Replicas, p.Child("replicas"))...)
	errs = append(errs, nonnegative(int64(spec.MinReadySeconds), p.Child("minReadySeconds"))...)
	if spec.Ordinals != nil {
		errs = append(errs, nonnegative(int64(spec.Ordinals.Start), p.Child("ordinals", "start"))...)
	}
	if !opts.allowInvalidServiceName && spec.ServiceName != "" {
		for _, msg := range validation.IsDNS1123Label(spec.ServiceName) {
			errs = append(errs, field.Invalid(p.Child("serviceName"), spec.ServiceName, msg))
		}
	}
	sel, selErrs := validateSelector(spec.Selector, "statefulset", p.Child("selector"))
	errs = append(errs, selErrs...)
	if sel == nil {
		errs = append(errs, field.Invalid(p.Child("selector"), spec.Selector, ""))
	} else {
		tp := p.Child("template")
		tmpl := statefulSetTemplateToValidate(spec)
		errs = append(errs, validateTemplateMatches(sel, tmpl, tp)...)
		if !opts.skipTemplate {
			errs = append(errs, core.ValidatePodTemplateSpec(tmpl, tp)...)
		}
	}
	errs = append(errs, validateAlwaysRestartTemplate(&spec.Template, "StatefulSet", p.Child("template"))...)
	return errs
}

// statefulSetTemplateToValidate returns the template as the controller
// will realise it: hostname and subdomain are overwritten per pod, and
// each claim template becomes a volume the containers may mount.
func statefulSetTemplateToValidate(spec *appsv1.StatefulSetSpec) *corev1.PodTemplateSpec {
	if spec.Template.Spec.Subdomain == "" && spec.Template.Spec.Hostname == "" && len(spec.VolumeClaimTemplates) == 0 {
		return &spec.Template
	}
	t := spec.Template.DeepCopy()
	t.Spec.Subdomain = ""
	t.Spec.Hostname = ""
	if len(spec.VolumeClaimTemplates) > 0 {
		claims := make(map[string]bool, len(spec.VolumeClaimTemplates))
		volumes := make([]corev1.Volume, 0, len(spec.VolumeClaimTemplates)+len(t.Spec.Volumes))
		for _, c := range spec.VolumeClaimTemplates {
			if claims[c.Name] {
				continue
			}
			claims[c.Name] = true
			volumes = append(volumes, corev1.Volume{Name: c.Name, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c.Name},
			}})
		}
		for _, v := range t.Spec.Volumes {
			if !claims[v.Name] {
				volumes = append(volumes, v)
			}
		}
		t.Spec.Volumes = volumes
	}
	return t
}

func validateStatefulSetUpdateStrategy(s *appsv1.StatefulSetUpdateStrategy, p *field.Path, allowRecreate bool) field.ErrorList {
	onlyRolling := fmt.Sprintf("only allowed for updateStrategy '%s'", appsv1.RollingUpdateStatefulSetStrategyType)
	switch {
	case s.Type == "":
		return field.ErrorList{field.Required(p, "")}
	case s.Type == appsv1.OnDeleteStatefulSetStrategyType,
		s.Type == appsv1.RecreateStatefulSetStrategyType && allowRecreate:
		if s.RollingUpdate != nil {
			return field.ErrorList{field.Invalid(p.Child("rollingUpdate"), s.RollingUpdate, onlyRolling)}
		}
	case s.Type == appsv1.RollingUpdateStatefulSetStrategyType:
		if s.RollingUpdate != nil {
			return validateRollingUpdateStatefulSet(s.RollingUpdate, p.Child("rollingUpdate"))
		}
	default:
		msg := fmt.Sprintf("must be '%s' or '%s'", appsv1.RollingUpdateStatefulSetStrategyType, appsv1.OnDeleteStatefulSetStrategyType)
		if allowRecreate {
			msg = fmt.Sprintf("must be '%s', '%s', or '%s'", appsv1.RollingUpdateStatefulSetStrategyType, appsv1.OnDeleteStatefulSetStrategyType, appsv1.RecreateStatefulSetStrategyType)
		}
		return field.ErrorList{field.Invalid(p, s, msg)}
	}
	return nil
}

func validateRollingUpdateStatefulSet(ru *appsv1.RollingUpdateStatefulSetStrategy, p *field.Path) field.ErrorList {
	errs := nonnegativePtr(ru.Partition, p.Child("partition"))
	if ru.MaxUnavailable != nil {
		mp := p.Child("maxUnavailable")
		errs = append(errs, validatePositiveIntOrPercent(*ru.MaxUnavailable, mp)...)
		if intOrPercentValue(*ru.MaxUnavailable) == 0 {
			errs = append(errs, field.Invalid(mp, *ru.MaxUnavailable, "cannot be 0"))
		}
		errs = append(errs, notMoreThan100Percent(*ru.MaxUnavailable, mp)...)
	}
	return errs
}

func validateRetentionPolicyType(t appsv1.PersistentVolumeClaimRetentionPolicyType, p *field.Path) field.ErrorList {
	switch t {
	case appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType:
		return nil
	}
	return field.ErrorList{field.NotSupported(p, t, []string{
		string(appsv1.RetainPersistentVolumeClaimRetentionPolicyType),
		string(appsv1.DeletePersistentVolumeClaimRetentionPolicyType),
	})}
}

func validateStatefulSetStatus(s *appsv1.StatefulSetStatus, p *field.Path) field.ErrorList {
	errs := nonnegative(int64(s.Replicas), p.Child("replicas"))
	errs = append(errs, nonnegative(int64(s.ReadyReplicas), p.Child("readyReplicas"))...)
	errs = append(errs, nonnegative(int64(s.CurrentReplicas), p.Child("currentReplicas"))...)
	errs = append(errs, nonnegative(int64(s.UpdatedReplicas), p.Child("updatedReplicas"))...)
	errs = append(errs, nonnegative(int64(s.AvailableReplicas), p.Child("availableReplicas"))...)
	// observedGeneration is an int64 in apps/v1 but optional in upstream's
	// internal type: zero means unset.
	errs = append(errs, nonnegative(s.ObservedGeneration, p.Child("observedGeneration"))...)
	errs = append(errs, nonnegativePtr(s.CollisionCount, p.Child("collisionCount"))...)
	const msg = "cannot be greater than status.replicas"
	if s.ReadyReplicas > s.Replicas {
		errs = append(errs, field.Invalid(p.Child("readyReplicas"), s.ReadyReplicas, msg))
	}
	if s.CurrentReplicas > s.Replicas {
		errs = append(errs, field.Invalid(p.Child("currentReplicas"), s.CurrentReplicas, msg))
	}
	if s.UpdatedReplicas > s.Replicas {
		errs = append(errs, field.Invalid(p.Child("updatedReplicas"), s.UpdatedReplicas, msg))
	}
	if s.AvailableReplicas > s.Replicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), s.AvailableReplicas, msg))
	}
	if s.AvailableReplicas > s.ReadyReplicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), s.AvailableReplicas, "cannot be greater than status.readyReplicas"))
	}
	return errs
}

func (statefulSetStrategy) ColumnDefinitions() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Ready", Type: "string", Description: "Number of the pod with ready state"},
		ageColumn,
		containersColumn,
		imagesColumn,
	}
}

func (s statefulSetStrategy) Row(obj runtime.Object) []interface{} {
	ss, ok := obj.(*appsv1.StatefulSet)
	if !ok {
		return nil
	}
	names, images := containerCells(ss.Spec.Template.Spec.Containers)
	return []interface{}{
		ss.Name,
		fmt.Sprintf("%d/%d", ss.Status.ReadyReplicas, int32Value(ss.Spec.Replicas)),
		age(s.now(), ss.CreationTimestamp),
		names, images,
	}
}

var statefulSetScale = &registry.ScaleAccessor{
	Get: func(obj runtime.Object) (int32, int32, string) {
		ss, ok := obj.(*appsv1.StatefulSet)
		if !ok {
			return 0, 0, ""
		}
		return int32(int32Value(ss.Spec.Replicas)), ss.Status.Replicas, selectorString(ss.Spec.Selector)
	},
	Set: func(obj runtime.Object, replicas int32) {
		if ss, ok := obj.(*appsv1.StatefulSet); ok {
			ss.Spec.Replicas = ptrTo(replicas)
		}
	},
}
