package scheduler

import (
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	schedulinglisters "k8s.io/client-go/listers/scheduling/v1"
)

// workloadSelector is upstream's DefaultSelector over informer caches:
// the selectors of the services selecting a pod, merged with its
// controlling ReplicationController's, ReplicaSet's or StatefulSet's.
type workloadSelector struct {
	services corelisters.ServiceLister
	rcs      corelisters.ReplicationControllerLister
	rss      appslisters.ReplicaSetLister
	sss      appslisters.StatefulSetLister
}

func (w workloadSelector) SelectorFor(pod *v1.Pod) labels.Selector {
	set := labels.Set{}
	if svcs, err := w.services.Services(pod.Namespace).List(labels.Everything()); err == nil {
		for _, s := range svcs {
			if s.Spec.Selector != nil && labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(pod.Labels)) {
				set = labels.Merge(set, s.Spec.Selector)
			}
		}
	}
	sel := set.AsSelector()
	owner := metav1.GetControllerOfNoCopy(pod)
	if owner == nil {
		return sel
	}
	var ls *metav1.LabelSelector
	switch {
	case owner.Kind == "ReplicationController" && owner.APIVersion == "v1":
		if rc, err := w.rcs.ReplicationControllers(pod.Namespace).Get(owner.Name); err == nil {
			return labels.Merge(set, rc.Spec.Selector).AsSelector()
		}
	case owner.Kind == "ReplicaSet" && owner.APIVersion == "apps/v1":
		if rs, err := w.rss.ReplicaSets(pod.Namespace).Get(owner.Name); err == nil {
			ls = rs.Spec.Selector
		}
	case owner.Kind == "StatefulSet" && owner.APIVersion == "apps/v1":
		if ss, err := w.sss.StatefulSets(pod.Namespace).Get(owner.Name); err == nil {
			ls = ss.Spec.Selector
		}
	}
	if ls != nil {
		if other, err := metav1.LabelSelectorAsSelector(ls); err == nil {
			if reqs, ok := other.Requirements(); ok {
				sel = sel.Add(reqs...)
			}
		}
	}
	return sel
}

// namespaceLabels reads namespaces' labels from the informer cache.
type namespaceLabels struct{ lister corelisters.NamespaceLister }

func (n namespaceLabels) NamespaceLabels(ns string) labels.Set {
	if obj, err := n.lister.Get(ns); err == nil {
		return obj.Labels
	}
	return labels.Set{}
}

// priorityResolver gives a pod's priority: spec.priority when the API set
// it, else its PriorityClass's value, else the global default class's,
// else zero. The Priority admission plug-in sets spec.priority; classes
// are resolved only with Options.ResolvePriorityClasses.
type priorityResolver struct {
	classes schedulinglisters.PriorityClassLister
}

func (r priorityResolver) priority(pod *v1.Pod) int32 {
	if pod.Spec.Priority != nil {
		return *pod.Spec.Priority
	}
	if r.classes == nil {
		return 0
	}
	if name := pod.Spec.PriorityClassName; name != "" {
		if pc, err := r.classes.Get(name); err == nil {
			return pc.Value
		}
		return 0
	}
	if pcs, err := r.classes.List(labels.Everything()); err == nil {
		for _, pc := range pcs {
			if pc.GlobalDefault {
				return pc.Value
			}
		}
	}
	return 0
}
