// Package quota is what objects use of a ResourceQuota, as upstream's
// quota evaluators: shared by the resource quota controller (which
// recomputes status.used from every object) and the ResourceQuota
// admission plug-in (which charges one object's usage at a time), so the
// two always agree. Pure: no client, no clock of its own.
package quota

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// PodCounts reports whether a pod uses quota, as upstream's pod
// evaluator: a finished pod (Succeeded or Failed) does not, nor one whose
// deletion grace period has run out.
func PodCounts(p *corev1.Pod, now time.Time) bool {
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return false
	}
	if p.DeletionTimestamp != nil && p.DeletionGracePeriodSeconds != nil {
		end := p.DeletionTimestamp.Add(time.Duration(*p.DeletionGracePeriodSeconds) * time.Second)
		if now.After(end) {
			return false
		}
	}
	return true
}

// PodResources are a pod's effective requests or limits: the app
// containers and sidecars (restartable init containers) summed, or the
// largest plain init container plus the sidecars started before it if
// that is more, plus the pod overhead.
func PodResources(p *corev1.Pod, pick func(corev1.ResourceRequirements) corev1.ResourceList) corev1.ResourceList {
	sum := corev1.ResourceList{}
	Add(sum, nil)
	for _, c := range p.Spec.Containers {
		Add(sum, pick(c.Resources))
	}
	sidecars := corev1.ResourceList{}
	initMax := corev1.ResourceList{}
	for _, c := range p.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			Add(sum, pick(c.Resources))
			Add(sidecars, pick(c.Resources))
			continue
		}
		step := corev1.ResourceList{}
		Add(step, sidecars)
		Add(step, pick(c.Resources))
		for k, v := range step {
			if cur, ok := initMax[k]; !ok || v.Cmp(cur) > 0 {
				initMax[k] = v.DeepCopy()
			}
		}
	}
	for k, v := range initMax {
		if cur, ok := sum[k]; !ok || v.Cmp(cur) > 0 {
			sum[k] = v.DeepCopy()
		}
	}
	Add(sum, p.Spec.Overhead)
	return sum
}

func Add(dst, src corev1.ResourceList) {
	for k, v := range src {
		cur := dst[k]
		cur.Add(v)
		dst[k] = cur
	}
}

// PodUsage is what one counting pod uses, under upstream's resource
// names: pods and count/pods, requests.* (and their short forms cpu,
// memory, ephemeral-storage, and requests.<extended resource>),
// limits.*.
func PodUsage(p *corev1.Pod) corev1.ResourceList {
	out := corev1.ResourceList{
		corev1.ResourcePods: resource.MustParse("1"),
		"count/pods":        resource.MustParse("1"),
	}
	requests := PodResources(p, func(r corev1.ResourceRequirements) corev1.ResourceList { return r.Requests })
	limits := PodResources(p, func(r corev1.ResourceRequirements) corev1.ResourceList { return r.Limits })
	for name, q := range requests {
		switch name {
		case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
			out[name] = q.DeepCopy()
			out[corev1.ResourceName("requests."+string(name))] = q.DeepCopy()
		default:
			if strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix) {
				out[corev1.ResourceName("requests."+string(name))] = q.DeepCopy()
			} else if strings.Contains(string(name), "/") {
				out[corev1.ResourceName("requests."+string(name))] = q.DeepCopy()
			}
		}
	}
	for name, q := range limits {
		switch name {
		case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
			out[corev1.ResourceName("limits."+string(name))] = q.DeepCopy()
		}
	}
	return out
}

// ServiceUsage is what one service uses: services, count/services,
// services.loadbalancers and services.nodeports (one per port that
// gets a node port).
func ServiceUsage(s *corev1.Service) corev1.ResourceList {
	out := corev1.ResourceList{
		corev1.ResourceServices: resource.MustParse("1"),
		"count/services":        resource.MustParse("1"),
	}
	var lbs, nodePorts int64
	switch s.Spec.Type {
	case corev1.ServiceTypeLoadBalancer:
		lbs = 1
		if s.Spec.AllocateLoadBalancerNodePorts == nil || *s.Spec.AllocateLoadBalancerNodePorts {
			nodePorts = int64(len(s.Spec.Ports))
		}
	case corev1.ServiceTypeNodePort:
		nodePorts = int64(len(s.Spec.Ports))
	}
	out[corev1.ResourceServicesLoadBalancers] = *resource.NewQuantity(lbs, resource.DecimalSI)
	out[corev1.ResourceServicesNodePorts] = *resource.NewQuantity(nodePorts, resource.DecimalSI)
	return out
}

// IsBestEffort reports whether no container (init included) requests or
// limits cpu or memory.
func IsBestEffort(p *corev1.Pod) bool {
	all := append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...)
	for _, c := range all {
		for _, l := range []corev1.ResourceList{c.Resources.Requests, c.Resources.Limits} {
			for _, n := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if _, ok := l[n]; ok {
					return false
				}
			}
		}
	}
	return true
}

// PodMatchesScopes reports whether a pod is in the quota's scopes
// (spec.scopes and the scopeSelector's expressions, all of which must
// hold). A quota without scopes matches every pod.
func PodMatchesScopes(p *corev1.Pod, q *corev1.ResourceQuota) bool {
	for _, s := range q.Spec.Scopes {
		if !podInScope(p, corev1.ScopedResourceSelectorRequirement{ScopeName: s, Operator: corev1.ScopeSelectorOpExists}) {
			return false
		}
	}
	if q.Spec.ScopeSelector != nil {
		for _, req := range q.Spec.ScopeSelector.MatchExpressions {
			if !podInScope(p, req) {
				return false
			}
		}
	}
	return true
}

func podInScope(p *corev1.Pod, req corev1.ScopedResourceSelectorRequirement) bool {
	switch req.ScopeName {
	case corev1.ResourceQuotaScopeTerminating:
		return p.Spec.ActiveDeadlineSeconds != nil && *p.Spec.ActiveDeadlineSeconds >= 0
	case corev1.ResourceQuotaScopeNotTerminating:
		return p.Spec.ActiveDeadlineSeconds == nil
	case corev1.ResourceQuotaScopeBestEffort:
		return IsBestEffort(p)
	case corev1.ResourceQuotaScopeNotBestEffort:
		return !IsBestEffort(p)
	case corev1.ResourceQuotaScopePriorityClass:
		pc := p.Spec.PriorityClassName
		in := func() bool {
			for _, v := range req.Values {
				if v == pc {
					return true
				}
			}
			return false
		}
		switch req.Operator {
		case corev1.ScopeSelectorOpExists:
			return pc != ""
		case corev1.ScopeSelectorOpDoesNotExist:
			return pc == ""
		case corev1.ScopeSelectorOpIn:
			return in()
		case corev1.ScopeSelectorOpNotIn:
			return !in()
		}
	}
	return false
}

// Scoped reports whether the quota has scopes, which only
// pods can match: scoped quotas count nothing but pods.
func Scoped(q *corev1.ResourceQuota) bool {
	return len(q.Spec.Scopes) > 0 || q.Spec.ScopeSelector != nil && len(q.Spec.ScopeSelector.MatchExpressions) > 0
}

// Mask keeps the resources of usage named in hard, and gives each hard
// resource that nothing used a zero, so status.used lists exactly the
// tracked resources.
func Mask(usage, hard corev1.ResourceList, tracked func(corev1.ResourceName) bool) corev1.ResourceList {
	out := corev1.ResourceList{}
	for name := range hard {
		if v, ok := usage[name]; ok {
			out[name] = v
		} else if tracked(name) {
			out[name] = *resource.NewQuantity(0, resource.DecimalSI)
		}
	}
	return out
}

// Storage-class-scoped PVC quota names, as upstream:
// <class>.storageclass.storage.k8s.io/requests.storage and
// <class>.storageclass.storage.k8s.io/persistentvolumeclaims.
const storageClassSuffix = ".storageclass.storage.k8s.io/"

// PVCUsage is what one claim uses: persistentvolumeclaims,
// count/persistentvolumeclaims, requests.storage, and the same per
// storage class.
func PVCUsage(p *corev1.PersistentVolumeClaim) corev1.ResourceList {
	one := resource.MustParse("1")
	out := corev1.ResourceList{
		corev1.ResourcePersistentVolumeClaims: one,
		"count/persistentvolumeclaims":        one,
	}
	class := ""
	if p.Spec.StorageClassName != nil {
		class = *p.Spec.StorageClassName
	}
	if class != "" {
		out[corev1.ResourceName(class+storageClassSuffix+"persistentvolumeclaims")] = one
	}
	if r, ok := p.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
		out[corev1.ResourceRequestsStorage] = r.DeepCopy()
		if class != "" {
			out[corev1.ResourceName(class+storageClassSuffix+"requests.storage")] = r.DeepCopy()
		}
	}
	return out
}

// IsStorageClassResource reports whether name is a per-storage-class
// claim quota name.
func IsStorageClassResource(name corev1.ResourceName) bool {
	s := string(name)
	return strings.HasSuffix(s, storageClassSuffix+"persistentvolumeclaims") || strings.HasSuffix(s, storageClassSuffix+"requests.storage")
}

// CountName is the quota resource name counting objects of a resource:
// count/<resource> for the core group, count/<resource>.<group> else.
func CountName(group, resourceName string) corev1.ResourceName {
	if group == "" {
		return corev1.ResourceName("count/" + resourceName)
	}
	return corev1.ResourceName("count/" + resourceName + "." + group)
}
