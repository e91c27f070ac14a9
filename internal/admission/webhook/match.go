package webhook

import (
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/skiff/internal/admission"
)

// matches reports whether h applies to a: one of its rules matches, and
// so do both selectors. matchPolicy Equivalent matches as Exact: Skiff
// serves every resource in one version (autoscaling's v1 and v2 views
// aside), so the equivalent of a request is the request itself.
func (d *dispatcher) matches(h *hook, a *admission.Attributes) (bool, error) {
	ruled := false
	for i := range h.rules {
		if ruleMatches(&h.rules[i], a) {
			ruled = true
			break
		}
	}
	if !ruled {
		return false, nil
	}
	if h.selectorErr != nil {
		// Let the call fail per failurePolicy, as upstream does with
		// a selector it cannot parse.
		return true, nil
	}
	if !objectSelectorMatches(h.objectSelector, a) {
		return false, nil
	}
	return namespaceSelectorMatches(h.namespaceSelector, a, d.src.Namespaces), nil
}

// ruleMatches is upstream's rule matcher: scope, operation, group,
// version and resource/subresource, each exact or "*".
func ruleMatches(r *admissionregistrationv1.RuleWithOperations, a *admission.Attributes) bool {
	return scopeMatches(r.Scope, a) && operationMatches(r.Operations, a.Operation) &&
		exactOrWildcard(r.APIGroups, a.Resource.Group) && exactOrWildcard(r.APIVersions, a.Resource.Version) &&
		resourceMatches(r.Resources, a.Resource.Resource, a.Subresource)
}

func isNamespaceObject(a *admission.Attributes) bool {
	return a.Resource.Group == "" && a.Resource.Resource == "namespaces"
}

// scopeMatches: Namespaced matches namespaced resources, Cluster the
// cluster-scoped ones; a Namespace object itself is cluster-scoped.
func scopeMatches(scope *admissionregistrationv1.ScopeType, a *admission.Attributes) bool {
	if scope == nil || *scope == admissionregistrationv1.AllScopes {
		return true
	}
	namespaced := !isNamespaceObject(a) && a.Namespace != ""
	switch *scope {
	case admissionregistrationv1.NamespacedScope:
		return namespaced
	case admissionregistrationv1.ClusterScope:
		return !namespaced
	}
	return false
}

func operationMatches(ops []admissionregistrationv1.OperationType, op admission.Operation) bool {
	for _, o := range ops {
		if o == admissionregistrationv1.OperationAll || string(o) == string(op) {
			return true
		}
	}
	return false
}

func exactOrWildcard(items []string, requested string) bool {
	for _, it := range items {
		if it == "*" || it == requested {
			return true
		}
	}
	return false
}

// resourceMatches: "pods" matches the main resource only, "pods/status"
// that subresource, "pods/*" the resource and all its subresources,
// "*/status" every status subresource, "*" every main resource and "*/*"
// everything.
func resourceMatches(rules []string, resource, subresource string) bool {
	for _, rs := range rules {
		res, sub, _ := strings.Cut(rs, "/")
		if (res == "*" || res == resource) && (sub == "*" || sub == subresource) {
			return true
		}
	}
	return false
}

// objectSelectorMatches: the selector matches the new or the old object's
// labels; an empty selector matches everything, even without an object.
func objectSelectorMatches(sel labels.Selector, a *admission.Attributes) bool {
	if sel.Empty() {
		return true
	}
	return labelsMatch(sel, a.Object) || labelsMatch(sel, a.OldObject)
}

func labelsMatch(sel labels.Selector, obj runtime.Object) bool {
	if obj == nil {
		return false
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return false
	}
	return sel.Matches(labels.Set(m.GetLabels()))
}

// namespaceSelectorMatches: cluster-scoped objects always match, except
// Namespaces, which are matched by their own labels; namespaced ones by
// their namespace's labels.
func namespaceSelectorMatches(sel labels.Selector, a *admission.Attributes, namespaces Objects) bool {
	if sel.Empty() {
		return true
	}
	if isNamespaceObject(a) && a.Subresource == "" {
		obj := a.Object
		if a.Operation == admission.Delete || obj == nil {
			obj = a.OldObject
		}
		return labelsMatch(sel, obj)
	}
	name := a.Namespace
	if isNamespaceObject(a) {
		name = a.Name
	}
	if name == "" {
		return true
	}
	var nsLabels labels.Set
	if namespaces != nil {
		if o, ok := namespaces.Get("", name); ok {
			if ns, ok := o.(*corev1.Namespace); ok {
				nsLabels = ns.Labels
			}
		}
	}
	return sel.Matches(nsLabels)
}
