package framework

import (
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
	resourcehelper "k8s.io/component-helpers/resource"
)

// Default requests the scorers assume for a container that sets none, so
// best-effort pods still spread (upstream's DefaultMilliCPURequest and
// DefaultMemoryRequest).
const (
	DefaultMilliCPURequest int64 = 100
	DefaultMemoryRequest   int64 = 200 * 1024 * 1024
)

// Resource is a set of quantities in the units the scheduler compares:
// millicores, bytes, a pod count and integer extended resources.
type Resource struct {
	MilliCPU         int64
	Memory           int64
	EphemeralStorage int64
	AllowedPodNumber int64
	Scalar           map[v1.ResourceName]int64
}

// NewResource converts a ResourceList.
func NewResource(rl v1.ResourceList) Resource {
	var r Resource
	r.AddList(rl)
	return r
}

// AddList adds every quantity of rl.
func (r *Resource) AddList(rl v1.ResourceList) {
	for name, q := range rl {
		switch name {
		case v1.ResourceCPU:
			r.MilliCPU += q.MilliValue()
		case v1.ResourceMemory:
			r.Memory += q.Value()
		case v1.ResourceEphemeralStorage:
			r.EphemeralStorage += q.Value()
		case v1.ResourcePods:
			r.AllowedPodNumber += q.Value()
		default:
			if isScalarResource(name) {
				r.addScalar(name, q.Value())
			}
		}
	}
}

func (r *Resource) addScalar(name v1.ResourceName, v int64) {
	if r.Scalar == nil {
		r.Scalar = map[v1.ResourceName]int64{}
	}
	r.Scalar[name] += v
}

// add adds o to r (sign +1) or subtracts it (sign -1).
func (r *Resource) add(o *Resource, sign int64) {
	r.MilliCPU += sign * o.MilliCPU
	r.Memory += sign * o.Memory
	r.EphemeralStorage += sign * o.EphemeralStorage
	r.AllowedPodNumber += sign * o.AllowedPodNumber
	for k, v := range o.Scalar {
		r.addScalar(k, sign*v)
	}
}

// Clone returns a deep copy.
func (r Resource) Clone() Resource {
	c := r
	if r.Scalar != nil {
		c.Scalar = make(map[v1.ResourceName]int64, len(r.Scalar))
		for k, v := range r.Scalar {
			c.Scalar[k] = v
		}
	}
	return c
}

// IsZero reports whether no quantity is requested.
func (r *Resource) IsZero() bool {
	return r.MilliCPU == 0 && r.Memory == 0 && r.EphemeralStorage == 0 && len(r.Scalar) == 0
}

// isScalarResource is upstream's IsScalarResourceName: extended resources
// (domain-prefixed, outside kubernetes.io), hugepages and attachable
// volumes.
func isScalarResource(name v1.ResourceName) bool {
	s := string(name)
	if len(s) > len(v1.ResourceHugePagesPrefix) && s[:len(v1.ResourceHugePagesPrefix)] == v1.ResourceHugePagesPrefix {
		return true
	}
	if len(s) > len(v1.ResourceAttachableVolumesPrefix) && s[:len(v1.ResourceAttachableVolumesPrefix)] == v1.ResourceAttachableVolumesPrefix {
		return true
	}
	return IsExtendedResourceName(name)
}

// IsExtendedResourceName reports whether name is an extended resource
// (qualified with a domain other than kubernetes.io, not requests.*).
func IsExtendedResourceName(name v1.ResourceName) bool {
	s := string(name)
	slash := -1
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			slash = i
			break
		}
	}
	if slash < 0 {
		return false
	}
	domain := s[:slash]
	if domain == "kubernetes.io" || len(domain) > len(".kubernetes.io") && domain[len(domain)-len(".kubernetes.io"):] == ".kubernetes.io" {
		return false
	}
	return len(s) < 9 || s[:9] != "requests."
}

// AffinityTerm is a pod (anti-)affinity term with its selectors parsed.
type AffinityTerm struct {
	Namespaces        sets.Set[string]
	Selector          labels.Selector
	NamespaceSelector labels.Selector // nil: only Namespaces count
	TopologyKey       string
}

// Matches reports whether pod (in a namespace labelled nsLabels) is
// selected by the term, as upstream's AffinityTerm.Matches.
func (t *AffinityTerm) Matches(pod *v1.Pod, nsLabels labels.Set) bool {
	if t.Namespaces.Has(pod.Namespace) || (t.NamespaceSelector != nil && t.NamespaceSelector.Matches(nsLabels)) {
		return t.Selector.Matches(labels.Set(pod.Labels))
	}
	return false
}

// WeightedAffinityTerm is a preferred term with its weight.
type WeightedAffinityTerm struct {
	AffinityTerm
	Weight int32
}

// PodInfo is a pod with what the plug-ins need precomputed once: its
// effective requests, host ports, priority and parsed affinity terms.
type PodInfo struct {
	Pod      *v1.Pod
	Priority int32
	// Requests are the effective requests (max of init containers, sum of
	// the others, sidecars, pod overhead), as the Fit filter compares them.
	Requests Resource
	// NonZeroCPU and NonZeroMemory default missing container requests,
	// as the scorers use them.
	NonZeroCPU, NonZeroMemory int64
	HostPorts                 []v1.ContainerPort

	RequiredAffinity      []AffinityTerm
	RequiredAntiAffinity  []AffinityTerm
	PreferredAffinity     []WeightedAffinityTerm
	PreferredAntiAffinity []WeightedAffinityTerm
	// ParseError is set when a term's selector does not parse; such a pod
	// is rejected by InterPodAffinity's PreFilter.
	ParseError error
}

// NewPodInfo precomputes pod's scheduling facts. priority is the pod's
// resolved priority (spec.priority, or its class's value).
func NewPodInfo(pod *v1.Pod, priority int32) *PodInfo {
	pi := &PodInfo{Pod: pod, Priority: priority}
	pi.Requests = NewResource(resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{}))
	nz := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{NonMissingContainerRequests: v1.ResourceList{
		v1.ResourceCPU:    *resource.NewMilliQuantity(DefaultMilliCPURequest, resource.DecimalSI),
		v1.ResourceMemory: *resource.NewQuantity(DefaultMemoryRequest, resource.DecimalSI),
	}})
	pi.NonZeroCPU = nz.Cpu().MilliValue()
	pi.NonZeroMemory = nz.Memory().Value()
	for _, cs := range [][]v1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			for _, p := range c.Ports {
				if p.HostPort > 0 {
					pi.HostPorts = append(pi.HostPorts, p)
				}
			}
		}
	}
	if a := pod.Spec.Affinity; a != nil {
		if pa := a.PodAffinity; pa != nil {
			pi.RequiredAffinity = pi.terms(pa.RequiredDuringSchedulingIgnoredDuringExecution)
			pi.PreferredAffinity = pi.weightedTerms(pa.PreferredDuringSchedulingIgnoredDuringExecution)
		}
		if paa := a.PodAntiAffinity; paa != nil {
			pi.RequiredAntiAffinity = pi.terms(paa.RequiredDuringSchedulingIgnoredDuringExecution)
			pi.PreferredAntiAffinity = pi.weightedTerms(paa.PreferredDuringSchedulingIgnoredDuringExecution)
		}
	}
	return pi
}

// HasAffinity reports whether the pod has any pod (anti-)affinity term.
func (pi *PodInfo) HasAffinity() bool {
	return len(pi.RequiredAffinity)+len(pi.RequiredAntiAffinity)+len(pi.PreferredAffinity)+len(pi.PreferredAntiAffinity) > 0
}

func (pi *PodInfo) terms(in []v1.PodAffinityTerm) []AffinityTerm {
	out := make([]AffinityTerm, 0, len(in))
	for i := range in {
		t, err := NewAffinityTerm(pi.Pod, &in[i])
		if err != nil {
			pi.ParseError = err
			continue
		}
		out = append(out, t)
	}
	return out
}

func (pi *PodInfo) weightedTerms(in []v1.WeightedPodAffinityTerm) []WeightedAffinityTerm {
	out := make([]WeightedAffinityTerm, 0, len(in))
	for i := range in {
		t, err := NewAffinityTerm(pi.Pod, &in[i].PodAffinityTerm)
		if err != nil {
			pi.ParseError = err
			continue
		}
		out = append(out, WeightedAffinityTerm{AffinityTerm: t, Weight: in[i].Weight})
	}
	return out
}

// NewAffinityTerm parses term of pod: an empty namespace list with no
// namespace selector means the pod's own namespace; matchLabelKeys and
// mismatchLabelKeys add requirements on the pod's own label values.
func NewAffinityTerm(pod *v1.Pod, term *v1.PodAffinityTerm) (AffinityTerm, error) {
	sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
	if err != nil {
		return AffinityTerm{}, err
	}
	if term.LabelSelector == nil {
		sel = labels.Nothing()
	}
	sel = withLabelKeys(sel, pod.Labels, term.MatchLabelKeys, term.MismatchLabelKeys)
	ns := sets.New(term.Namespaces...)
	var nsSel labels.Selector
	if term.NamespaceSelector != nil {
		if nsSel, err = metav1.LabelSelectorAsSelector(term.NamespaceSelector); err != nil {
			return AffinityTerm{}, err
		}
	} else if len(term.Namespaces) == 0 {
		ns.Insert(pod.Namespace)
	}
	return AffinityTerm{Namespaces: ns, Selector: sel, NamespaceSelector: nsSel, TopologyKey: term.TopologyKey}, nil
}

func withLabelKeys(sel labels.Selector, podLabels map[string]string, match, mismatch []string) labels.Selector {
	if len(match)+len(mismatch) == 0 {
		return sel
	}
	for _, k := range match {
		if v, ok := podLabels[k]; ok {
			if r, err := labels.NewRequirement(k, "=", []string{v}); err == nil {
				sel = sel.Add(*r)
			}
		}
	}
	for _, k := range mismatch {
		if v, ok := podLabels[k]; ok {
			if r, err := labels.NewRequirement(k, "!=", []string{v}); err == nil {
				sel = sel.Add(*r)
			}
		}
	}
	return sel
}
