// Package node is upstream's Node authorizer (--authorization-mode=Node):
// a kubelet, authenticated as system:node:<name> in group system:nodes,
// may read the secrets, configmaps, persistent volume claims and volumes
// of the pods bound to its node, create tokens for those pods' service
// accounts, and reach its own Lease; everything else a node may do is
// upstream's system:node rule set, which the authorizer applies itself
// (upstream binds the system:node ClusterRole to nobody). For requests of
// other users, and for requests of nodes that it does not allow, it has no
// opinion: RBAC, next in the union, decides.
//
// Upstream keeps a graph of pods, volumes and their references, fed by
// informers. Skiff asks the API server's watch cache instead, on each
// request, through Objects: the pods of the request's namespace (or all
// pods, for a cluster-scoped persistent volume) bound to the node, and the
// claims they mount. This reads the same data the graph holds, without a
// second copy to keep in step.
//
// Like upstream with the AuthorizeNodeWithSelectors feature off, nodes may
// get, list and watch every pod and node (the request attributes carry no
// field selector to scope lists by spec.nodeName); NodeRestriction
// admission limits what they may write.
package node

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/auth/authz"
	"skiff.dev/skiff/internal/auth/rbac"
)

// Identity conventions of kubelet client certificates.
const (
	// Group every node's user is in.
	Group = "system:nodes"
	// UserPrefix precedes the node's name in its user name.
	UserPrefix = "system:node:"
	// LeaseNamespace holds the nodes' heartbeat Leases.
	LeaseNamespace = "kube-node-lease"
)

// Identity returns the node a user speaks for: a user named
// system:node:<name> in group system:nodes (upstream's
// NodeIdentifier). ok is false for every other user; name may be empty
// for a malformed node user.
func Identity(u *authn.User) (name string, ok bool) {
	if u == nil || !strings.HasPrefix(u.Name, UserPrefix) || !u.InGroup(Group) {
		return "", false
	}
	return strings.TrimPrefix(u.Name, UserPrefix), true
}

// Objects reads the cluster's current pods and claims. Implementations
// return objects shared with a cache: callers must not modify them.
// Safe for concurrent use.
type Objects interface {
	// Pods lists the pods of a namespace ("" = every namespace).
	Pods(namespace string) []*corev1.Pod
	// PersistentVolumeClaim returns one claim.
	PersistentVolumeClaim(namespace, name string) (*corev1.PersistentVolumeClaim, bool)
}

// Authorizer is the Node authorizer. Rules are the statically allowed
// rules of nodes (upstream's system:node role, bootstrap.NodeRules).
type Authorizer struct {
	Objects Objects
	Rules   []rbacv1.PolicyRule
}

var _ authz.Authorizer = Authorizer{}

// Authorize implements authz.Authorizer.
func (z Authorizer) Authorize(_ context.Context, a authz.Attributes) (authz.Decision, string, error) {
	nodeName, isNode := Identity(a.User)
	if !isNode {
		return authz.NoOpinion, "", nil
	}
	if nodeName == "" {
		return authz.NoOpinion, fmt.Sprintf("unknown node for user %q", a.User.Name), nil
	}
	if a.IsResourceRequest {
		switch a.APIGroup + "/" + a.Resource {
		case "/secrets":
			return z.readNamespaced(nodeName, a, z.secretReferenced)
		case "/configmaps":
			return z.readNamespaced(nodeName, a, z.configMapReferenced)
		case "/persistentvolumeclaims":
			if a.Subresource == "status" {
				return z.statusUpdate(nodeName, a, z.claimReferenced)
			}
			return z.get(nodeName, a, z.claimReferenced)
		case "/persistentvolumes":
			return z.get(nodeName, a, z.volumeReferenced)
		case "/serviceaccounts":
			return z.createToken(nodeName, a)
		case "coordination.k8s.io/leases":
			return lease(nodeName, a)
		case "storage.k8s.io/csinodes":
			return csiNode(nodeName, a)
		}
	}
	for i := range z.Rules {
		if rbac.RuleAllows(a, &z.Rules[i]) {
			return authz.Allow, "", nil
		}
	}
	return authz.NoOpinion, "", nil
}

// related reports whether the named object of a namespace is reachable
// from a pod bound to the node.
type related func(nodeName, namespace, name string) bool

func (z Authorizer) readNamespaced(nodeName string, a authz.Attributes, rel related) (authz.Decision, string, error) {
	switch a.Verb {
	case "get", "list", "watch":
	default:
		return authz.NoOpinion, "can only read resources of this type", nil
	}
	if a.Subresource != "" {
		return authz.NoOpinion, "cannot read subresource", nil
	}
	if a.Namespace == "" {
		return authz.NoOpinion, "can only read namespaced object of this type", nil
	}
	return z.authorize(nodeName, a, rel)
}

func (z Authorizer) get(nodeName string, a authz.Attributes, rel related) (authz.Decision, string, error) {
	if a.Verb != "get" {
		return authz.NoOpinion, "can only get individual resources of this type", nil
	}
	if a.Subresource != "" {
		return authz.NoOpinion, "cannot get subresource", nil
	}
	return z.authorize(nodeName, a, rel)
}

func (z Authorizer) statusUpdate(nodeName string, a authz.Attributes, rel related) (authz.Decision, string, error) {
	switch a.Verb {
	case "update", "patch":
	default:
		return authz.NoOpinion, "can only get/update/patch this type", nil
	}
	if a.Subresource != "status" {
		return authz.NoOpinion, "can only update status subresource", nil
	}
	return z.authorize(nodeName, a, rel)
}

func (z Authorizer) createToken(nodeName string, a authz.Attributes) (authz.Decision, string, error) {
	if a.Verb != "create" || a.Name == "" {
		return authz.NoOpinion, "can only create tokens for individual service accounts", nil
	}
	if a.Subresource != "token" {
		return authz.NoOpinion, "can only create token subresource of serviceaccount", nil
	}
	return z.authorize(nodeName, a, z.serviceAccountReferenced)
}

func (z Authorizer) authorize(nodeName string, a authz.Attributes, rel related) (authz.Decision, string, error) {
	if a.Name == "" {
		return authz.NoOpinion, "No Object name found", nil
	}
	if z.Objects == nil || !rel(nodeName, a.Namespace, a.Name) {
		return authz.NoOpinion, fmt.Sprintf("no relationship found between node '%s' and this object", nodeName), nil
	}
	return authz.Allow, "", nil
}

func lease(nodeName string, a authz.Attributes) (authz.Decision, string, error) {
	switch a.Verb {
	case "get", "create", "update", "patch", "delete":
	default:
		return authz.NoOpinion, "can only get, create, update, patch, or delete a node lease", nil
	}
	if a.Namespace != LeaseNamespace {
		return authz.NoOpinion, fmt.Sprintf("can only access leases in the %q system namespace", LeaseNamespace), nil
	}
	// A create's name is in its body, not its path: NodeRestriction
	// admission checks it.
	if a.Verb != "create" && a.Name != nodeName {
		return authz.NoOpinion, "can only access node lease with the same name as the requesting node", nil
	}
	return authz.Allow, "", nil
}

func csiNode(nodeName string, a authz.Attributes) (authz.Decision, string, error) {
	switch a.Verb {
	case "get", "create", "update", "patch", "delete":
	default:
		return authz.NoOpinion, "can only get, create, update, patch, or delete a CSINode", nil
	}
	if a.Subresource != "" {
		return authz.NoOpinion, "cannot authorize CSINode subresources", nil
	}
	if a.Verb != "create" && a.Name != nodeName {
		return authz.NoOpinion, "can only access CSINode with the same name as the requesting node", nil
	}
	return authz.Allow, "", nil
}

// boundPods returns the pods of a namespace ("" = all) bound to the node.
func (z Authorizer) boundPods(nodeName, namespace string) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range z.Objects.Pods(namespace) {
		if p.Spec.NodeName == nodeName {
			out = append(out, p)
		}
	}
	return out
}

func (z Authorizer) anyBoundPod(nodeName, namespace string, refers func(*corev1.Pod) bool) bool {
	for _, p := range z.boundPods(nodeName, namespace) {
		if refers(p) {
			return true
		}
	}
	return false
}

func (z Authorizer) secretReferenced(nodeName, namespace, name string) bool {
	return z.anyBoundPod(nodeName, namespace, func(p *corev1.Pod) bool { return has(SecretNames(p), name) })
}

func (z Authorizer) configMapReferenced(nodeName, namespace, name string) bool {
	return z.anyBoundPod(nodeName, namespace, func(p *corev1.Pod) bool { return has(ConfigMapNames(p), name) })
}

func (z Authorizer) claimReferenced(nodeName, namespace, name string) bool {
	return z.anyBoundPod(nodeName, namespace, func(p *corev1.Pod) bool { return has(ClaimNames(p), name) })
}

func (z Authorizer) serviceAccountReferenced(nodeName, namespace, name string) bool {
	return z.anyBoundPod(nodeName, namespace, func(p *corev1.Pod) bool { return serviceAccountName(p) == name })
}

// volumeReferenced: a persistent volume is reachable through a bound
// claim of a pod bound to the node.
func (z Authorizer) volumeReferenced(nodeName, _, name string) bool {
	for _, p := range z.boundPods(nodeName, "") {
		for _, claim := range ClaimNames(p) {
			pvc, ok := z.Objects.PersistentVolumeClaim(p.Namespace, claim)
			if ok && pvc.Spec.VolumeName == name {
				return true
			}
		}
	}
	return false
}

func serviceAccountName(p *corev1.Pod) string {
	if p.Spec.ServiceAccountName != "" {
		return p.Spec.ServiceAccountName
	}
	return p.Spec.DeprecatedServiceAccount
}

func has(set []string, s string) bool {
	for _, x := range set {
		if x == s {
			return true
		}
	}
	return false
}
