// Package podendpoints holds what the Endpoints and EndpointSlice
// controllers agree on, as upstream's endpoint utilities: which pods a
// service selects, which of them belong in its endpoints, the port a
// service port reaches on a pod (named targetPorts included), a pod's
// hostname under a headless service, and the time of the change that
// made endpoints change (the last-change-trigger-time annotation). It is
// pure: objects in, answers out.
package podendpoints

import (
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Include reports whether pod belongs in a service's endpoints: it has
// an IP and has not finished (Succeeded or Failed); a terminating pod
// only when includeTerminating (the Endpoints controller passes the
// service's publishNotReadyAddresses, the EndpointSlice controller true,
// and marks it terminating instead).
func Include(pod *corev1.Pod, includeTerminating bool) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	if pod.Status.PodIP == "" && len(pod.Status.PodIPs) == 0 {
		return false
	}
	return includeTerminating || pod.DeletionTimestamp == nil
}

// IsReady reports the pod's Ready condition.
func IsReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Selects reports whether svc's selector picks pod. A service without a
// selector selects nothing: its endpoints are the user's.
func Selects(svc *corev1.Service, pod *corev1.Pod) bool {
	if svc.Spec.Selector == nil || svc.Namespace != pod.Namespace {
		return false
	}
	return labels.SelectorFromValidatedSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels))
}

// FindPort is the port number sp's targetPort reaches on pod: a number
// as is, a name looked up among the containers' ports of sp's protocol.
// An unset targetPort means the service port itself.
func FindPort(pod *corev1.Pod, sp *corev1.ServicePort) (int32, error) {
	tp := sp.TargetPort
	if tp.Type == 0 {
		if tp.IntVal == 0 {
			return sp.Port, nil
		}
		return tp.IntVal, nil
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == tp.StrVal && p.Protocol == sp.Protocol {
				return p.ContainerPort, nil
			}
		}
	}
	return 0, fmt.Errorf("no suitable port for manifest: %s", pod.UID)
}

// Hostname is the DNS hostname pod has under svc: its spec.hostname
// when its spec.subdomain names the service, else "".
func Hostname(pod *corev1.Pod, svc *corev1.Service) string {
	if pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name && pod.Namespace == svc.Namespace {
		return pod.Spec.Hostname
	}
	return ""
}

// IsHeadless reports a service with clusterIP None.
func IsHeadless(svc *corev1.Service) bool { return svc.Spec.ClusterIP == corev1.ClusterIPNone }

// IPOf is the pod's IP of the given family ("" for either), or "".
func IPOf(pod *corev1.Pod, family corev1.IPFamily) string {
	ips := []string{pod.Status.PodIP}
	for _, ip := range pod.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	for _, ip := range ips {
		if ip == "" {
			continue
		}
		if family == "" || FamilyOf(ip) == family {
			return ip
		}
	}
	return ""
}

// FamilyOf is the family of an IP address string.
func FamilyOf(ip string) corev1.IPFamily {
	for i := 0; i < len(ip); i++ {
		if ip[i] == ':' {
			return corev1.IPv6Protocol
		}
	}
	return corev1.IPv4Protocol
}

// TriggerTimeTracker computes the last-change-trigger-time of a
// service's endpoints, as upstream's TriggerTimeTracker: the earliest
// time among the changes the controller has not yet reflected — a pod's
// Ready condition transition, or the service's creation. It remembers,
// per service, the state it last computed from. Safe for concurrent use.
type TriggerTimeTracker struct {
	mu sync.Mutex
	m  map[string]*serviceState
}

type serviceState struct {
	svc  time.Time
	pods map[string]time.Time
}

// NewTriggerTimeTracker returns an empty tracker.
func NewTriggerTimeTracker() *TriggerTimeTracker {
	return &TriggerTimeTracker{m: map[string]*serviceState{}}
}

// Compute returns the trigger time for svc given the pods it selects now
// (zero when nothing changed since the last commit) and commit, which
// records this state as reflected. A controller commits once its write
// succeeded (or was not needed), so a failed write keeps the trigger time
// for the retry.
func (t *TriggerTimeTracker) Compute(key string, svc *corev1.Service, pods []*corev1.Pod) (trigger time.Time, commit func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	prev := t.m[key]
	next := &serviceState{svc: svc.CreationTimestamp.Time, pods: make(map[string]time.Time, len(pods))}
	var min time.Time
	consider := func(ts time.Time) {
		if ts.IsZero() {
			return
		}
		if min.IsZero() || ts.Before(min) {
			min = ts
		}
	}
	if prev == nil || !prev.svc.Equal(next.svc) {
		consider(next.svc)
	}
	for _, p := range pods {
		ts := podTriggerTime(p)
		next.pods[p.Name] = ts
		if prev == nil {
			consider(ts)
			continue
		}
		if old, ok := prev.pods[p.Name]; !ok || !old.Equal(ts) {
			consider(ts)
		}
	}
	return min, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.m[key] = next
	}
}

// Delete forgets a deleted service.
func (t *TriggerTimeTracker) Delete(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, key)
}

// podTriggerTime is when the pod's readiness last changed.
func podTriggerTime(p *corev1.Pod) time.Time {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}

// FormatTriggerTime is the annotation's value.
func FormatTriggerTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
