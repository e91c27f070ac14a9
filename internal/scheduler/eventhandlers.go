package scheduler

import (
	"maps"

	v1 "k8s.io/api/core/v1"
	toolscache "k8s.io/client-go/tools/cache"

	"skiff.dev/skiff/internal/scheduler/plugins/interpodaffinity"
	"skiff.dev/skiff/internal/scheduler/plugins/nodeports"
	"skiff.dev/skiff/internal/scheduler/plugins/noderesources"
	"skiff.dev/skiff/internal/scheduler/plugins/podtopologyspread"
)

// Which rejections an event may lift: a pod leaving frees resources,
// ports and spreading/anti-affinity room; a pod arriving may satisfy
// affinity or spreading.
func freedByPodDelete(rejectedBy map[string]bool) bool {
	return rejectedBy[noderesources.FitName] || rejectedBy[nodeports.Name] ||
		rejectedBy[interpodaffinity.Name] || rejectedBy[podtopologyspread.Name]
}

func helpedByPodAdd(rejectedBy map[string]bool) bool {
	return rejectedBy[interpodaffinity.Name] || rejectedBy[podtopologyspread.Name]
}

func anyPlugin(map[string]bool) bool { return true }

func (s *Scheduler) onNodeAdd(obj any) {
	node, ok := obj.(*v1.Node)
	if !ok {
		return
	}
	s.cache.AddNode(node)
	s.queue.MoveUnschedulable(anyPlugin)
}

func (s *Scheduler) onNodeUpdate(oldObj, newObj any) {
	old, ok1 := oldObj.(*v1.Node)
	node, ok2 := newObj.(*v1.Node)
	if !ok1 || !ok2 {
		return
	}
	s.cache.AddNode(node)
	if schedulingChanged(old, node) {
		s.queue.MoveUnschedulable(anyPlugin)
	}
}

// schedulingChanged ignores heartbeat-only node updates, which would
// otherwise churn the unschedulable pods.
func schedulingChanged(old, node *v1.Node) bool {
	return old.Spec.Unschedulable != node.Spec.Unschedulable ||
		!maps.Equal(old.Labels, node.Labels) ||
		!equalTaints(old.Spec.Taints, node.Spec.Taints) ||
		!equalResources(old.Status.Allocatable, node.Status.Allocatable) ||
		len(old.Status.Images) != len(node.Status.Images)
}

func equalTaints(a, b []v1.Taint) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || a[i].Value != b[i].Value || a[i].Effect != b[i].Effect {
			return false
		}
	}
	return true
}

func equalResources(a, b v1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || v.Cmp(w) != 0 {
			return false
		}
	}
	return true
}

func (s *Scheduler) onNodeDelete(obj any) {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if node, ok := obj.(*v1.Node); ok {
		s.cache.RemoveNode(node.Name)
	}
}

func (s *Scheduler) onPodAdd(obj any) {
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return
	}
	switch {
	case pod.Spec.NodeName != "":
		if !terminal(pod) {
			s.cache.SetPod(s.podInfo(pod))
			s.queue.MoveUnschedulable(helpedByPodAdd)
		}
	case s.responsible(pod):
		s.queue.Add(s.podInfo(pod))
	}
}

func (s *Scheduler) onPodUpdate(oldObj, newObj any) {
	old, ok1 := oldObj.(*v1.Pod)
	pod, ok2 := newObj.(*v1.Pod)
	if !ok1 || !ok2 || old.ResourceVersion == pod.ResourceVersion {
		return
	}
	switch {
	case pod.Spec.NodeName != "":
		if old.Spec.NodeName == "" {
			s.queue.Delete(pod.UID) // bound (by us, or by someone else)
		}
		if terminal(pod) {
			s.cache.RemovePod(pod.UID)
			s.queue.MoveUnschedulable(freedByPodDelete)
			return
		}
		s.cache.SetPod(s.podInfo(pod))
		if old.Spec.NodeName == "" || !maps.Equal(old.Labels, pod.Labels) {
			s.queue.MoveUnschedulable(helpedByPodAdd)
		}
	case s.responsible(pod):
		s.queue.Add(s.podInfo(pod))
	default:
		s.queue.Delete(pod.UID)
	}
}

func (s *Scheduler) onPodDelete(obj any) {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return
	}
	s.queue.Delete(pod.UID)
	if pod.Spec.NodeName != "" || s.cache.Has(pod.UID) {
		s.cache.RemovePod(pod.UID)
		s.queue.MoveUnschedulable(freedByPodDelete)
	}
}
