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
	type entry struct {
		resource, kind, singular string
		namespaced               bool
		short, categories        []string
		newObj, newList          func() runtime.Object
		strategy                 registry.Strategy
		status, generation       bool
		scale                    *registry.ScaleAccessor
	}
	entries := []entry{
		{"namespaces", "Namespace", "namespace", false, []string{"ns"}, nil,
			func() runtime.Object { return &corev1.Namespace{} }, func() runtime.Object { return &corev1.NamespaceList{} },
			namespaceStrategy{c}, true, false, nil},
		{"pods", "Pod", "pod", true, []string{"po"}, all,
			func() runtime.Object { return &corev1.Pod{} }, func() runtime.Object { return &corev1.PodList{} },
			podStrategy{c}, true, true, nil},
		{"services", "Service", "service", true, []string{"svc"}, all,
			func() runtime.Object { return &corev1.Service{} }, func() runtime.Object { return &corev1.ServiceList{} },
			serviceStrategy{clock: c}, true, false, nil},
		{"endpoints", "Endpoints", "endpoints", true, []string{"ep"}, nil,
			func() runtime.Object { return &corev1.Endpoints{} }, func() runtime.Object { return &corev1.EndpointsList{} },
			endpointsStrategy{c}, false, false, nil},
		{"nodes", "Node", "node", false, []string{"no"}, nil,
			func() runtime.Object { return &corev1.Node{} }, func() runtime.Object { return &corev1.NodeList{} },
			nodeStrategy{c}, true, false, nil},
		{"configmaps", "ConfigMap", "configmap", true, []string{"cm"}, nil,
			func() runtime.Object { return &corev1.ConfigMap{} }, func() runtime.Object { return &corev1.ConfigMapList{} },
			configMapStrategy{c}, false, false, nil},
		{"secrets", "Secret", "secret", true, nil, nil,
			func() runtime.Object { return &corev1.Secret{} }, func() runtime.Object { return &corev1.SecretList{} },
			secretStrategy{c}, false, false, nil},
		{"serviceaccounts", "ServiceAccount", "serviceaccount", true, []string{"sa"}, nil,
			func() runtime.Object { return &corev1.ServiceAccount{} }, func() runtime.Object { return &corev1.ServiceAccountList{} },
			serviceAccountStrategy{c}, false, false, nil},
		{"events", "Event", "event", true, []string{"ev"}, nil,
			func() runtime.Object { return &corev1.Event{} }, func() runtime.Object { return &corev1.EventList{} },
			eventStrategy{c}, false, false, nil},
		{"persistentvolumes", "PersistentVolume", "persistentvolume", false, []string{"pv"}, nil,
			func() runtime.Object { return &corev1.PersistentVolume{} }, func() runtime.Object { return &corev1.PersistentVolumeList{} },
			pvStrategy{c}, true, false, nil},
		{"persistentvolumeclaims", "PersistentVolumeClaim", "persistentvolumeclaim", true, []string{"pvc"}, nil,
			func() runtime.Object { return &corev1.PersistentVolumeClaim{} }, func() runtime.Object { return &corev1.PersistentVolumeClaimList{} },
			pvcStrategy{c}, true, false, nil},
		{"limitranges", "LimitRange", "limitrange", true, []string{"limits"}, nil,
			func() runtime.Object { return &corev1.LimitRange{} }, func() runtime.Object { return &corev1.LimitRangeList{} },
			limitRangeStrategy{}, false, false, nil},
		{"resourcequotas", "ResourceQuota", "resourcequota", true, []string{"quota"}, nil,
			func() runtime.Object { return &corev1.ResourceQuota{} }, func() runtime.Object { return &corev1.ResourceQuotaList{} },
			resourceQuotaStrategy{c}, true, false, nil},
		{"podtemplates", "PodTemplate", "podtemplate", true, nil, nil,
			func() runtime.Object { return &corev1.PodTemplate{} }, func() runtime.Object { return &corev1.PodTemplateList{} },
			podTemplateStrategy{c}, false, false, nil},
		{"replicationcontrollers", "ReplicationController", "replicationcontroller", true, []string{"rc"}, all,
			func() runtime.Object { return &corev1.ReplicationController{} }, func() runtime.Object { return &corev1.ReplicationControllerList{} },
			replicationControllerStrategy{c}, true, true, replicationControllerScale},
	}
	out := make([]registry.Resource, 0, len(entries))
	for _, e := range entries {
		out = append(out, registry.Resource{
			GroupVersion: gv, Resource: e.resource, Kind: e.kind, SingularName: e.singular,
			Namespaced: e.namespaced, ShortNames: e.short, Categories: e.categories,
			New: e.newObj, NewList: e.newList, Strategy: e.strategy,
			HasStatus: e.status, HasGeneration: e.generation, Scale: e.scale,
			// As upstream: a PUT may create endpoints and events; a
			// kubelet creates its Node with status.
			AllowCreateOnUpdate: e.resource == "endpoints" || e.resource == "events",
			KeepStatusOnCreate:  e.resource == "nodes",
		})
		if e.resource == "events" {
			out[len(out)-1].GCPolicy = registry.GCUnsupported
		}
	}
	return out
}
