package policy

import (
	"slices"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/skiff/internal/admission"
)

// matches reports whether a request falls under m (a policy's
// matchConstraints or a binding's matchResources), as upstream's
// matching: the namespace and object selectors, then no exclude rule, then
// a resource rule (none listed matches everything). nsLabels are the
// labels of the request's namespace (nil for a cluster-scoped request).
// matchPolicy Equivalent and Exact behave alike: Skiff serves one version
// of each resource, so there is no equivalent to convert to.
func matches(m *admissionregistrationv1.MatchResources, a *admission.Attributes, nsLabels map[string]string) (bool, error) {
	if m == nil {
		return true, nil
	}
	if ok, err := namespaceMatches(m.NamespaceSelector, a, nsLabels); err != nil || !ok {
		return false, err
	}
	if ok, err := objectMatches(m.ObjectSelector, a); err != nil || !ok {
		return false, err
	}
	for i := range m.ExcludeResourceRules {
		if ruleMatches(&m.ExcludeResourceRules[i], a) {
			return false, nil
		}
	}
	if len(m.ResourceRules) == 0 {
		return true, nil
	}
	for i := range m.ResourceRules {
		if ruleMatches(&m.ResourceRules[i], a) {
			return true, nil
		}
	}
	return false, nil
}

// namespaceMatches: a namespace is matched on its own labels, other
// cluster-scoped objects always match, namespaced ones on their
// namespace's labels.
func namespaceMatches(sel *metav1.LabelSelector, a *admission.Attributes, nsLabels map[string]string) (bool, error) {
	if sel == nil {
		return true, nil
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false, err
	}
	if s.Empty() {
		return true, nil
	}
	if a.Resource.Group == "" && a.Resource.Resource == "namespaces" {
		return objectLabelsMatch(s, a), nil
	}
	if a.Namespace == "" {
		return true, nil
	}
	return s.Matches(labels.Set(nsLabels)), nil
}

// objectMatches: the new or the old object's labels match.
func objectMatches(sel *metav1.LabelSelector, a *admission.Attributes) (bool, error) {
	if sel == nil {
		return true, nil
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false, err
	}
	if s.Empty() {
		return true, nil
	}
	return objectLabelsMatch(s, a), nil
}

func objectLabelsMatch(s labels.Selector, a *admission.Attributes) bool {
	for _, o := range []runtime.Object{a.Object, a.OldObject} {
		if m, ok := o.(metav1.Object); ok && o != nil && s.Matches(labels.Set(m.GetLabels())) {
			return true
		}
	}
	return false
}

// ruleMatches is upstream's rule matcher: operation, group, version,
// resource[/subresource] with "*" wildcards, scope, and resourceNames.
func ruleMatches(r *admissionregistrationv1.NamedRuleWithOperations, a *admission.Attributes) bool {
	opOK := false
	for _, op := range r.Operations {
		if op == admissionregistrationv1.OperationAll || string(op) == string(a.Operation) {
			opOK = true
			break
		}
	}
	if !opOK || !wildcardHas(r.APIGroups, a.Resource.Group) || !wildcardHas(r.APIVersions, a.Resource.Version) {
		return false
	}
	resOK := false
	for _, rs := range r.Resources {
		res, sub, _ := strings.Cut(rs, "/")
		if (res == "*" || res == a.Resource.Resource) && (sub == "*" || sub == a.Subresource) {
			resOK = true
			break
		}
	}
	if !resOK {
		return false
	}
	if r.Scope != nil {
		clusterScoped := a.Namespace == "" || (a.Resource.Group == "" && a.Resource.Resource == "namespaces")
		switch *r.Scope {
		case admissionregistrationv1.ClusterScope:
			if !clusterScoped {
				return false
			}
		case admissionregistrationv1.NamespacedScope:
			if clusterScoped {
				return false
			}
		}
	}
	return len(r.ResourceNames) == 0 || slices.Contains(r.ResourceNames, a.Name)
}

func wildcardHas(list []string, v string) bool {
	return slices.Contains(list, "*") || slices.Contains(list, v)
}
