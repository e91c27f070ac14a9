// Package resourcequota is upstream's ResourceQuota admission plug-in: a
// write that would take a namespace's usage past one of its
// ResourceQuotas' hard limits is refused, a pod that leaves out a compute
// resource a quota tracks is refused, and an admitted write is charged to
// its quotas at once (status.used, with compare-and-swap), so parallel
// creates cannot overshoot between two syncs of the resource quota
// controller, which recomputes status.used from the objects themselves.
// What an object uses comes from internal/quota, shared with that
// controller.
//
// As upstream, a quota is enforced from the status the controller wrote:
// status.hard bounds, status.used is what is already used; a quota the
// controller has not synced yet (no status.hard) does not refuse.
package resourcequota

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/skiff/internal/admission"
	"skiff.dev/skiff/internal/quota"
)

// Name is the plug-in's upstream name.
const Name = "ResourceQuota"

// Quotas lists a namespace's ResourceQuotas (the API server's cache; it
// may lag behind the store). Safe for concurrent use.
type Quotas interface {
	List(namespace string) []runtime.Object
}

// Store reads and writes quotas in the store itself.
type Store interface {
	// Get returns the stored quota.
	Get(ctx context.Context, namespace, name string) (*corev1.ResourceQuota, error)
	// UpdateStatus writes q's status if q.ResourceVersion is still the
	// stored one; else it returns a Conflict error (apierrors.IsConflict).
	UpdateStatus(ctx context.Context, q *corev1.ResourceQuota) error
}

// Plugin is the ResourceQuota plug-in.
type Plugin struct {
	Quotas Quotas
	Store  Store
	// Now is the clock (whether a terminating pod still counts); nil
	// means time.Now.
	Now func() time.Time
}

var _ admission.Validator = Plugin{}

// Name implements admission.Plugin.
func (Plugin) Name() string { return Name }

// maxAttempts bounds the compare-and-swap retries of one write.
const maxAttempts = 10

// errConflicts is returned when the quotas changed under every attempt.
var errConflicts = errors.New("too many conflicts updating quota usage, try again")

// Validate checks the write against every quota of its namespace and
// charges it to those it uses.
func (p Plugin) Validate(ctx context.Context, a *admission.Attributes) error {
	if a.Subresource != "" || a.Namespace == "" || (a.Operation != admission.Create && a.Operation != admission.Update) {
		return nil
	}
	if _, ok := a.Object.(*corev1.Pod); ok && a.Operation == admission.Update {
		// A pod's resources change only through pods/resize; other
		// updates use nothing new (as upstream's pod evaluator).
		return nil
	}
	var quotas []*corev1.ResourceQuota
	for _, o := range p.Quotas.List(a.Namespace) {
		if q, ok := o.(*corev1.ResourceQuota); ok {
			quotas = append(quotas, q)
		}
	}
	if len(quotas) == 0 {
		return nil
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	delta := Delta(a, now())
	for attempt := 0; len(quotas) > 0; attempt++ {
		if attempt == maxAttempts {
			return admission.Forbidden(a, errConflicts)
		}
		var charged []*corev1.ResourceQuota
		for _, q := range quotas {
			next, err := Charge(q, a.Object, delta)
			if err != nil {
				return admission.Forbidden(a, err)
			}
			if next != nil {
				charged = append(charged, next)
			}
		}
		if a.DryRun {
			return nil
		}
		var retry []*corev1.ResourceQuota
		for _, q := range charged {
			err := p.Store.UpdateStatus(ctx, q)
			switch {
			case err == nil:
			case apierrors.IsConflict(err):
				fresh, gerr := p.Store.Get(ctx, q.Namespace, q.Name)
				if apierrors.IsNotFound(gerr) {
					continue
				}
				if gerr != nil {
					return fmt.Errorf("read quota %s/%s: %w", q.Namespace, q.Name, gerr)
				}
				retry = append(retry, fresh)
			case apierrors.IsNotFound(err):
			default:
				return fmt.Errorf("charge quota %s/%s: %w", q.Namespace, q.Name, err)
			}
		}
		quotas = retry
	}
	return nil
}

// Delta is what the write adds to its namespace's usage: the object's
// usage on create, the growth of it on update (a pod resized, a claim
// expanded, a service given node ports). Shrinking is the controller's to
// give back.
func Delta(a *admission.Attributes, now time.Time) corev1.ResourceList {
	cur := Usage(a.Resource.Group, a.Resource.Resource, a.Object, now)
	if a.Operation != admission.Update || a.OldObject == nil {
		return cur
	}
	old := Usage(a.Resource.Group, a.Resource.Resource, a.OldObject, now)
	out := corev1.ResourceList{}
	for k, v := range cur {
		d := v.DeepCopy()
		if o, ok := old[k]; ok {
			d.Sub(o)
		}
		if d.Sign() > 0 {
			out[k] = d
		}
	}
	return out
}

// legacyCounts are the object-count names older than count/<resource>.
var legacyCounts = map[string]corev1.ResourceName{
	"configmaps": corev1.ResourceConfigMaps, "secrets": corev1.ResourceSecrets,
	"replicationcontrollers": corev1.ResourceReplicationControllers, "resourcequotas": corev1.ResourceQuotas,
}

// Usage is what one object of group/res uses.
func Usage(group, res string, obj runtime.Object, now time.Time) corev1.ResourceList {
	switch o := obj.(type) {
	case *corev1.Pod:
		if !quota.PodCounts(o, now) {
			return corev1.ResourceList{}
		}
		return quota.PodUsage(o)
	case *corev1.Service:
		return quota.ServiceUsage(o)
	case *corev1.PersistentVolumeClaim:
		return quota.PVCUsage(o)
	}
	out := corev1.ResourceList{quota.CountName(group, res): resource.MustParse("1")}
	if n, ok := legacyCounts[res]; ok && group == "" {
		out[n] = resource.MustParse("1")
	}
	return out
}

// computeNames are the pod resources every container must state when a
// quota tracks them (upstream's backward-compatibility rule).
var computeNames = []corev1.ResourceName{
	corev1.ResourceCPU, corev1.ResourceMemory,
	corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory,
	corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory,
}

// Charge checks obj's delta against q. It returns the quota with the
// delta added to status.used, nil if q is not concerned, or upstream's
// refusal.
func Charge(q *corev1.ResourceQuota, obj runtime.Object, delta corev1.ResourceList) (*corev1.ResourceQuota, error) {
	hard := q.Status.Hard
	if len(hard) == 0 {
		return nil, nil // not synced yet: upstream does not enforce it either
	}
	pod, isPod := obj.(*corev1.Pod)
	if quota.Scoped(q) && (!isPod || !quota.PodMatchesScopes(pod, q)) {
		return nil, nil
	}
	if isPod {
		if err := podConstraints(pod, hard); err != nil {
			return nil, fmt.Errorf("failed quota: %s: %w", q.Name, err)
		}
	}
	requested := corev1.ResourceList{}
	for k, v := range delta {
		if _, ok := hard[k]; ok && !v.IsZero() {
			requested[k] = v
		}
	}
	if len(requested) == 0 {
		return nil, nil
	}
	var exceeded []corev1.ResourceName
	used := q.Status.Used.DeepCopy()
	if used == nil {
		used = corev1.ResourceList{}
	}
	for k, v := range requested {
		n := used[k].DeepCopy()
		n.Add(v)
		if n.Cmp(hard[k]) > 0 {
			exceeded = append(exceeded, k)
		}
		used[k] = n
	}
	if len(exceeded) > 0 {
		return nil, fmt.Errorf("exceeded quota: %s, requested: %s, used: %s, limited: %s",
			q.Name, pretty(requested, exceeded), pretty(q.Status.Used, exceeded), pretty(hard, exceeded))
	}
	next := q.DeepCopy()
	next.Status.Used = used
	return next, nil
}

// podConstraints: when a quota tracks cpu or memory, each container must
// request (or limit) it: "must specify limits.cpu for: app; requests.memory for: app,sidecar".
func podConstraints(pod *corev1.Pod, hard corev1.ResourceList) error {
	var required []corev1.ResourceName
	for _, n := range computeNames {
		if _, ok := hard[n]; ok {
			required = append(required, n)
		}
	}
	if len(required) == 0 {
		return nil
	}
	missing := map[corev1.ResourceName][]string{}
	all := append(append([]corev1.Container{}, pod.Spec.Containers...), pod.Spec.InitContainers...)
	for _, c := range all {
		has := map[corev1.ResourceName]bool{}
		for k := range c.Resources.Requests {
			has[k] = true
			has["requests."+k] = true
		}
		for k := range c.Resources.Limits {
			has["limits."+k] = true
		}
		for _, n := range required {
			if !has[n] {
				missing[n] = append(missing[n], c.Name)
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	names := make([]string, 0, len(missing))
	for n := range missing {
		names = append(names, string(n))
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		containers := missing[corev1.ResourceName(n)]
		sort.Strings(containers)
		parts[i] = n + " for: " + strings.Join(containers, ",")
	}
	return fmt.Errorf("must specify %s", strings.Join(parts, "; "))
}

// pretty is upstream's "cpu=1,memory=1Gi" rendering of the named
// resources, sorted by name.
func pretty(l corev1.ResourceList, names []corev1.ResourceName) string {
	sorted := make([]string, len(names))
	for i, n := range names {
		sorted[i] = string(n)
	}
	sort.Strings(sorted)
	parts := make([]string, len(sorted))
	for i, n := range sorted {
		v := l[corev1.ResourceName(n)]
		parts[i] = n + "=" + v.String()
	}
	return strings.Join(parts, ",")
}
