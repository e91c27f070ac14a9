// Package limitranger is upstream's LimitRanger admission plug-in: the
// LimitRanges of a namespace give a new pod's containers their default
// requests and limits (mutating), and bound the resources of containers,
// pods and persistent volume claims (validating: min, max and
// maxLimitRequestRatio), with upstream's messages.
package limitranger

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"

	"skiff.dev/skiff/internal/admission"
	"skiff.dev/skiff/internal/quota"
)

// Name is the plug-in's upstream name.
const Name = "LimitRanger"

// Annotation records what the plug-in defaulted on a pod.
const Annotation = "kubernetes.io/limit-ranger"

// Objects lists a namespace's LimitRanges (the API server's cache). Safe
// for concurrent use.
type Objects interface {
	List(namespace string) []runtime.Object
}

// Plugin is the LimitRanger plug-in.
type Plugin struct {
	LimitRanges Objects
}

var (
	_ admission.Mutator   = Plugin{}
	_ admission.Validator = Plugin{}
)

// Name implements admission.Plugin.
func (Plugin) Name() string { return Name }

// applies is upstream's SupportsAttributes: pods on create (their
// containers' resources are immutable after), claims on create and
// update, never a subresource.
func applies(a *admission.Attributes) bool {
	if a.Subresource != "" {
		return false
	}
	switch a.Object.(type) {
	case *corev1.Pod:
		return a.Operation == admission.Create
	case *corev1.PersistentVolumeClaim:
		return a.Operation == admission.Create || a.Operation == admission.Update
	}
	return false
}

func (p Plugin) ranges(namespace string) []*corev1.LimitRange {
	var out []*corev1.LimitRange
	for _, o := range p.LimitRanges.List(namespace) {
		if lr, ok := o.(*corev1.LimitRange); ok {
			out = append(out, lr)
		}
	}
	return out
}

// Admit defaults the requests and limits of a new pod's containers.
func (p Plugin) Admit(_ context.Context, a *admission.Attributes) error {
	if !applies(a) {
		return nil
	}
	pod, ok := a.Object.(*corev1.Pod)
	if !ok {
		return nil
	}
	for _, lr := range p.ranges(a.Namespace) {
		DefaultPod(pod, lr)
	}
	return nil
}

// Validate checks a pod or claim against every LimitRange of its
// namespace.
func (p Plugin) Validate(_ context.Context, a *admission.Attributes) error {
	if !applies(a) {
		return nil
	}
	var errs []error
	for _, lr := range p.ranges(a.Namespace) {
		switch o := a.Object.(type) {
		case *corev1.Pod:
			errs = append(errs, ValidatePod(o, lr)...)
		case *corev1.PersistentVolumeClaim:
			errs = append(errs, ValidateClaim(o, lr)...)
		}
	}
	if len(errs) > 0 {
		return admission.Forbidden(a, utilerrors.NewAggregate(errs))
	}
	return nil
}

// containerDefaults are the Container items' default (limits) and
// defaultRequest (requests).
func containerDefaults(lr *corev1.LimitRange) corev1.ResourceRequirements {
	r := corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	for _, item := range lr.Spec.Limits {
		if item.Type != corev1.LimitTypeContainer {
			continue
		}
		for k, v := range item.DefaultRequest {
			r.Requests[k] = v.DeepCopy()
		}
		for k, v := range item.Default {
			r.Limits[k] = v.DeepCopy()
		}
	}
	return r
}

// DefaultPod gives every container (init included) the range's defaults
// for the resources it leaves out, and records them in the pod's
// kubernetes.io/limit-ranger annotation, as upstream:
// "LimitRanger plugin set: cpu, memory request for container app; cpu limit for container app".
func DefaultPod(pod *corev1.Pod, lr *corev1.LimitRange) {
	defs := containerDefaults(lr)
	if len(defs.Requests) == 0 && len(defs.Limits) == 0 {
		return
	}
	var notes []string
	for i := range pod.Spec.Containers {
		notes = defaultContainer(&pod.Spec.Containers[i], defs, "container", notes)
	}
	for i := range pod.Spec.InitContainers {
		notes = defaultContainer(&pod.Spec.InitContainers[i], defs, "init container", notes)
	}
	if len(notes) == 0 {
		return
	}
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[Annotation] = "LimitRanger plugin set: " + strings.Join(notes, "; ")
}

func defaultContainer(c *corev1.Container, defs corev1.ResourceRequirements, kind string, notes []string) []string {
	set := func(dst *corev1.ResourceList, from corev1.ResourceList) []string {
		var names []string
		for k, v := range from {
			if _, ok := (*dst)[k]; ok {
				continue
			}
			if *dst == nil {
				*dst = corev1.ResourceList{}
			}
			(*dst)[k] = v.DeepCopy()
			names = append(names, string(k))
		}
		sort.Strings(names)
		return names
	}
	limits := set(&c.Resources.Limits, defs.Limits)
	requests := set(&c.Resources.Requests, defs.Requests)
	if len(requests) > 0 {
		notes = append(notes, fmt.Sprintf("%s request for %s %s", strings.Join(requests, ", "), kind, c.Name))
	}
	if len(limits) > 0 {
		notes = append(notes, fmt.Sprintf("%s limit for %s %s", strings.Join(limits, ", "), kind, c.Name))
	}
	return notes
}

// ValidatePod checks each container against the Container items and the
// pod's total against the Pod items.
func ValidatePod(pod *corev1.Pod, lr *corev1.LimitRange) []error {
	var errs []error
	for _, item := range lr.Spec.Limits {
		switch item.Type {
		case corev1.LimitTypeContainer:
			all := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
			for _, c := range all {
				errs = append(errs, checkItem(item, c.Resources.Requests, c.Resources.Limits, false)...)
			}
		case corev1.LimitTypePod:
			requests := quota.PodResources(pod, func(r corev1.ResourceRequirements) corev1.ResourceList { return r.Requests })
			limits := quota.PodResources(pod, func(r corev1.ResourceRequirements) corev1.ResourceList { return r.Limits })
			errs = append(errs, checkItem(item, requests, limits, false)...)
		}
	}
	return errs
}

// ValidateClaim checks a claim's storage request against the
// PersistentVolumeClaim items.
func ValidateClaim(pvc *corev1.PersistentVolumeClaim, lr *corev1.LimitRange) []error {
	var errs []error
	for _, item := range lr.Spec.Limits {
		if item.Type == corev1.LimitTypePersistentVolumeClaim {
			errs = append(errs, checkItem(item, pvc.Spec.Resources.Requests, nil, true)...)
		}
	}
	return errs
}

// checkItem applies one item's min, max and ratio; a claim has no limits,
// so its max bounds the request.
func checkItem(item corev1.LimitRangeItem, requests, limits corev1.ResourceList, claim bool) []error {
	var errs []error
	kind := string(item.Type)
	for _, k := range sortedNames(item.Min) {
		if err := minConstraint(kind, k, item.Min[k], requests, limits); err != nil {
			errs = append(errs, err)
		}
	}
	for _, k := range sortedNames(item.Max) {
		var err error
		if claim {
			err = maxRequestConstraint(kind, k, item.Max[k], requests)
		} else {
			err = maxConstraint(kind, k, item.Max[k], requests, limits)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if !claim {
		for _, k := range sortedNames(item.MaxLimitRequestRatio) {
			if err := ratioConstraint(kind, k, item.MaxLimitRequestRatio[k], requests, limits); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errs
}

func sortedNames(l corev1.ResourceList) []corev1.ResourceName {
	out := make([]corev1.ResourceName, 0, len(l))
	for k := range l {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// values compares at milli precision when every value fits, as upstream
// (so 100m and 0.1 compare equal), else at unit precision.
func values(req, lim, enforced resource.Quantity) (r, l, e int64) {
	r, l, e = req.Value(), lim.Value(), enforced.Value()
	if r <= resource.MaxMilliValue && l <= resource.MaxMilliValue && e <= resource.MaxMilliValue {
		r, l, e = req.MilliValue(), lim.MilliValue(), enforced.MilliValue()
	}
	return r, l, e
}

func minConstraint(kind string, name corev1.ResourceName, enforced resource.Quantity, requests, limits corev1.ResourceList) error {
	req, reqOK := requests[name]
	lim, limOK := limits[name]
	r, l, e := values(req, lim, enforced)
	switch {
	case !reqOK:
		return fmt.Errorf("minimum %s usage per %s is %s.  No request is specified", name, kind, enforced.String())
	case r < e:
		return fmt.Errorf("minimum %s usage per %s is %s, but request is %s", name, kind, enforced.String(), req.String())
	case limOK && l < e:
		return fmt.Errorf("minimum %s usage per %s is %s, but limit is %s", name, kind, enforced.String(), lim.String())
	}
	return nil
}

func maxRequestConstraint(kind string, name corev1.ResourceName, enforced resource.Quantity, requests corev1.ResourceList) error {
	req, ok := requests[name]
	r, _, e := values(req, resource.Quantity{}, enforced)
	switch {
	case !ok:
		return fmt.Errorf("maximum %s usage per %s is %s.  No request is specified", name, kind, enforced.String())
	case r > e:
		return fmt.Errorf("maximum %s usage per %s is %s, but request is %s", name, kind, enforced.String(), req.String())
	}
	return nil
}

func maxConstraint(kind string, name corev1.ResourceName, enforced resource.Quantity, requests, limits corev1.ResourceList) error {
	req, reqOK := requests[name]
	lim, limOK := limits[name]
	r, l, e := values(req, lim, enforced)
	switch {
	case !limOK:
		return fmt.Errorf("maximum %s usage per %s is %s.  No limit is specified", name, kind, enforced.String())
	case l > e:
		return fmt.Errorf("maximum %s usage per %s is %s, but limit is %s", name, kind, enforced.String(), lim.String())
	case reqOK && r > e:
		return fmt.Errorf("maximum %s usage per %s is %s, but request is %s", name, kind, enforced.String(), req.String())
	}
	return nil
}

func ratioConstraint(kind string, name corev1.ResourceName, enforced resource.Quantity, requests, limits corev1.ResourceList) error {
	req, reqOK := requests[name]
	lim, limOK := limits[name]
	r, l, _ := values(req, lim, enforced)
	if !reqOK || r == 0 {
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but no request is specified or request is 0", name, kind, enforced.String())
	}
	if !limOK || l == 0 {
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but no limit is specified or limit is 0", name, kind, enforced.String())
	}
	ratio := float64(l) / float64(r)
	bound := float64(enforced.Value())
	observed := ratio
	if enforced.Value() <= resource.MaxMilliValue {
		observed, bound = ratio*1000, float64(enforced.MilliValue())
	}
	if observed > bound {
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but provided ratio is %f", name, kind, enforced.String(), ratio)
	}
	return nil
}
