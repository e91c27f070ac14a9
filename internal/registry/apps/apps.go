// Package apps holds the registry strategies of the apps/v1 API group:
// deployments, replicasets, statefulsets, daemonsets and
// controllerrevisions. Each strategy mirrors upstream Kubernetes: the
// defaults of pkg/apis/apps/v1, the validation of pkg/apis/apps/validation
// (same field paths and messages) and the `kubectl get` columns of the
// upstream printers. Pod template defaults and validation are delegated to
// package core, so that every workload validates its pods the same way.
package apps

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry"
)

// Resources returns the apps/v1 resources with the wall clock for AGE.
func Resources() []registry.Resource {
	return resources(time.Now)
}

// resources builds the resource list; tests inject a fixed clock.
func resources(now func() time.Time) []registry.Resource {
	gv := appsv1.SchemeGroupVersion
	all := []string{"all"}
	return []registry.Resource{
		{
			GroupVersion: gv, Resource: "deployments", Kind: "Deployment", SingularName: "deployment",
			Namespaced: true, ShortNames: []string{"deploy"}, Categories: all,
			New:      func() runtime.Object { return &appsv1.Deployment{} },
			NewList:  func() runtime.Object { return &appsv1.DeploymentList{} },
			Strategy: deploymentStrategy{now: now}, HasStatus: true, HasGeneration: true,
			Scale: deploymentScale,
		},
		{
			GroupVersion: gv, Resource: "replicasets", Kind: "ReplicaSet", SingularName: "replicaset",
			Namespaced: true, ShortNames: []string{"rs"}, Categories: all,
			New:      func() runtime.Object { return &appsv1.ReplicaSet{} },
			NewList:  func() runtime.Object { return &appsv1.ReplicaSetList{} },
			Strategy: replicaSetStrategy{now: now}, HasStatus: true, HasGeneration: true,
			Scale: replicaSetScale,
		},
		{
			GroupVersion: gv, Resource: "statefulsets", Kind: "StatefulSet", SingularName: "statefulset",
			Namespaced: true, ShortNames: []string{"sts"}, Categories: all,
			New:      func() runtime.Object { return &appsv1.StatefulSet{} },
			NewList:  func() runtime.Object { return &appsv1.StatefulSetList{} },
			Strategy: statefulSetStrategy{now: now}, HasStatus: true, HasGeneration: true,
			Scale: statefulSetScale,
		},
		{
			GroupVersion: gv, Resource: "daemonsets", Kind: "DaemonSet", SingularName: "daemonset",
			Namespaced: true, ShortNames: []string{"ds"}, Categories: all,
			New:      func() runtime.Object { return &appsv1.DaemonSet{} },
			NewList:  func() runtime.Object { return &appsv1.DaemonSetList{} },
			Strategy: daemonSetStrategy{now: now}, HasStatus: true, HasGeneration: true,
		},
		{
			GroupVersion: gv, Resource: "controllerrevisions", Kind: "ControllerRevision", SingularName: "controllerrevision",
			Namespaced: true,
			New:        func() runtime.Object { return &appsv1.ControllerRevision{} },
			NewList:    func() runtime.Object { return &appsv1.ControllerRevisionList{} },
			Strategy:   controllerRevisionStrategy{now: now},
		},
	}
}

// wrongType reports a wiring bug: the generic handler always hands a
// strategy objects of its own resource's Go type.
func wrongType(obj runtime.Object, want string) field.ErrorList {
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("expected %s, got %T", want, obj))}
}
