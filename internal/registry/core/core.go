// Package core holds the registry strategies of the core/v1 API group
// (pods, services, namespaces, nodes, configmaps, secrets, ...). Each
// strategy mirrors upstream Kubernetes: the defaults of
// pkg/apis/core/v1/defaults.go, the validation of
// pkg/apis/core/validation (same field paths, error types and messages),
// the selectable fields of pkg/registry/core/<resource> and the
// `kubectl get` columns of the upstream printers.
//
// Pod spec defaults and validation are exported (DefaultPodSpec,
// ValidatePodSpec, ...) so that workload groups (apps, batch) default and
// validate their pod templates exactly as pods are.
package core

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/skiff/internal/registry"
)

// Resources returns the core/v1 resources, with the wall clock for AGE.
func Resources() []registry.Resource {
	return resources(time.Now)
}

// resources builds the resource list; tests inject a fixed clock.
func resources(now func() time.Time) []registry.Resource {
	c := clock{now: now}
	gv := corev1.SchemeGroupVersion
	all := []string{"all"}
	return []registry.Resource{
		{
			GroupVersion: gv, Resource: "pods", Kind: "Pod", SingularName: "pod",
			Namespaced: true, ShortNames: []string{"po"}, Categories: all,
			New:      func() runtime.Object { return &corev1.Pod{} },
			NewList:  func() runtime.Object { return &corev1.PodList{} },
			Strategy: podStrategy{c}, HasStatus: true, HasGeneration: true,
		},
		{
			GroupVersion: gv, Resource: "persistentvolumeclaims", Kind: "PersistentVolumeClaim", SingularName: "persistentvolumeclaim",
			Namespaced: true, ShortNames: []string{"pvc"},
			New:      func() runtime.Object { return &corev1.PersistentVolumeClaim{} },
			NewList:  func() runtime.Object { return &corev1.PersistentVolumeClaimList{} },
			Strategy: pvcStrategy{c}, HasStatus: true,
		},
	}
}
