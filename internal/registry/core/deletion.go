package core

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/skiff/internal/registry"
)

var (
	_ registry.GracefulDeleter = podStrategy{}
	_ registry.DeletionHolder  = namespaceStrategy{}
)

// HoldsDeletion: a namespace stays until the namespace controller has
// emptied it and removed its spec.finalizers.
func (namespaceStrategy) HoldsDeletion(obj runtime.Object) bool {
	ns, ok := obj.(*corev1.Namespace)
	return ok && len(ns.Spec.Finalizers) > 0
}

// BeginDeletion marks the namespace Terminating, as upstream's registry
// does when the delete is accepted.
func (namespaceStrategy) BeginDeletion(obj runtime.Object) {
	if ns, ok := obj.(*corev1.Namespace); ok {
		ns.Status.Phase = corev1.NamespaceTerminating
	}
}
