package core

import (
	"context"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry"
)

// namespaceStrategy: names are DNS labels, the "kubernetes" finalizer is
// added on create and only the /finalize subresource may change
// spec.finalizers afterwards.
type namespaceStrategy struct{ clock }

var (
	_ registry.Strategy       = namespaceStrategy{}
	_ registry.StatusStrategy = namespaceStrategy{}
	_ registry.MetaValidator  = namespaceStrategy{}
	_ registry.TableConvertor = namespaceStrategy{}
	_ registry.FieldsFunc     = namespaceStrategy{}
)

// Default labels the namespace with its own name
// (kubernetes.io/metadata.name), which namespace selectors rely on.
func (namespaceStrategy) Default(obj runtime.Object) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return
	}
	if ns.Name != "" {
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		ns.Labels[corev1.LabelMetadataName] = ns.Name
	}
	if ns.Status.Phase == "" {
		ns.Status.Phase = corev1.NamespaceActive
	}
}

func (s namespaceStrategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return
	}
	ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
	has := false
	for _, f := range ns.Spec.Finalizers {
		if f == corev1.FinalizerKubernetes {
			has = true
		}
	}
	if !has {
		ns.Spec.Finalizers = append(ns.Spec.Finalizers, corev1.FinalizerKubernetes)
	}
	// generateName may have been resolved since Default ran.
	s.Default(ns)
}

func (namespaceStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	ns, ok1 := obj.(*corev1.Namespace)
	oldNS, ok2 := old.(*corev1.Namespace)
	if ok1 && ok2 {
		ns.Spec.Finalizers = oldNS.Spec.Finalizers
		ns.Status = oldNS.Status
	}
}

func (namespaceStrategy) ValidateMeta(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return metaValidator{namespaced: false, nameFn: apivalidation.ValidateNamespaceName}.ValidateMeta(ctx, obj, old)
}

func (namespaceStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return wrongType(obj, "*v1.Namespace")
	}
	return ValidateNamespaceFinalizers(ns)
}

// ValidateNamespaceFinalizers checks spec.finalizers; the API server's
// namespaces/finalize handler uses it too.
func ValidateNamespaceFinalizers(ns *corev1.Namespace) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec", "finalizers")
	for _, f := range ns.Spec.Finalizers {
		errs = append(errs, apivalidation.ValidateFinalizerName(string(f), p)...)
		if !strings.Contains(string(f), "/") && f != corev1.FinalizerKubernetes && !standardMetaFinalizer(string(f)) {
			errs = append(errs, field.Invalid(p, f, "name is neither a standard finalizer name nor is it fully qualified"))
		}
	}
	return errs
}

func standardMetaFinalizer(f string) bool {
	return f == metav1.FinalizerOrphanDependents || f == metav1.FinalizerDeleteDependents
}

func (namespaceStrategy) ValidateUpdate(context.Context, runtime.Object, runtime.Object) field.ErrorList {
	return nil
}

// ValidateStatusUpdate: the phase follows the deletion timestamp.
func (namespaceStrategy) ValidateStatusUpdate(_ context.Context, obj, _ runtime.Object) field.ErrorList {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return wrongType(obj, "*v1.Namespace")
	}
	p := field.NewPath("status", "Phase")
	if ns.DeletionTimestamp.IsZero() {
		if ns.Status.Phase != corev1.NamespaceActive {
			return field.ErrorList{field.Invalid(p, ns.Status.Phase, "may only be 'Active' if `deletionTimestamp` is empty")}
		}
	} else if ns.Status.Phase != corev1.NamespaceTerminating {
		return field.ErrorList{field.Invalid(p, ns.Status.Phase, "may only be 'Terminating' if `deletionTimestamp` is not empty")}
	}
	return nil
}

func (namespaceStrategy) SelectableFields(obj runtime.Object) fields.Set {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return nil
	}
	// "name" is an upstream bug kept for compatibility.
	return fields.Set{"status.phase": string(ns.Status.Phase), "name": ns.Name}
}

var namespaceColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Status", "string", "The status of the namespace"),
	ageColumn,
}

func (namespaceStrategy) ColumnDefinitions() []metav1.TableColumnDefinition { return namespaceColumns }

func (s namespaceStrategy) Row(obj runtime.Object) []interface{} {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return nil
	}
	return []interface{}{ns.Name, string(ns.Status.Phase), s.since(ns.CreationTimestamp)}
}
