// Package rbac is the RBAC authorizer: a pure evaluator of
// rbac.authorization.k8s.io/v1 policy (which bindings apply to a user, which
// rules they grant, whether a rule allows a request) with upstream's
// semantics, the Authorizer built on it, and the privilege-escalation checks
// that guard writes of roles and bindings.
//
// Policy is read through PolicySource, which the API server backs with its
// own watch cache; nothing here does I/O.
package rbac

import (
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"

	"skiff.dev/skiff/internal/auth/authz"
)

// RuleAllows reports whether rule allows the request a, as upstream's
// RuleAllows: resource requests match verb, API group, resource (with
// "resource/subresource", "*" and "*/subresource") and resourceNames;
// other requests match verb and nonResourceURLs (a trailing "*" is a
// prefix match).
func RuleAllows(a authz.Attributes, rule *rbacv1.PolicyRule) bool {
	if !verbMatches(rule, a.Verb) {
		return false
	}
	if !a.IsResourceRequest {
		return nonResourceURLMatches(rule, a.Path)
	}
	combined := a.Resource
	if a.Subresource != "" {
		combined += "/" + a.Subresource
	}
	return apiGroupMatches(rule, a.APIGroup) &&
		resourceMatches(rule, combined, a.Subresource) &&
		resourceNameMatches(rule, a.Name)
}

func verbMatches(rule *rbacv1.PolicyRule, verb string) bool {
	for _, v := range rule.Verbs {
		if v == rbacv1.VerbAll || v == verb {
			return true
		}
	}
	return false
}

func apiGroupMatches(rule *rbacv1.PolicyRule, group string) bool {
	for _, g := range rule.APIGroups {
		if g == rbacv1.APIGroupAll || g == group {
			return true
		}
	}
	return false
}

// resourceMatches: "*" matches everything, including subresources;
// "*/log" matches the log subresource of any resource.
func resourceMatches(rule *rbacv1.PolicyRule, combined, subresource string) bool {
	for _, r := range rule.Resources {
		if r == rbacv1.ResourceAll || r == combined {
			return true
		}
		if subresource != "" && r == "*/"+subresource {
			return true
		}
	}
	return false
}

// resourceNameMatches: a rule without resourceNames matches any name; one
// with names never matches a request without a name (list, create).
func resourceNameMatches(rule *rbacv1.PolicyRule, name string) bool {
	if len(rule.ResourceNames) == 0 {
		return true
	}
	for _, n := range rule.ResourceNames {
		if n == name {
			return true
		}
	}
	return false
}

func nonResourceURLMatches(rule *rbacv1.PolicyRule, path string) bool {
	for _, u := range rule.NonResourceURLs {
		if nonResourceURLCovers(u, path) {
			return true
		}
	}
	return false
}

func nonResourceURLCovers(ruleURL, path string) bool {
	if ruleURL == rbacv1.NonResourceAll || ruleURL == path {
		return true
	}
	return strings.HasSuffix(ruleURL, "*") && strings.HasPrefix(path, strings.TrimSuffix(ruleURL, "*"))
}
