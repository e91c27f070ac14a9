// Package noderestriction is upstream's NodeRestriction admission
// plug-in: it limits what a kubelet (a user system:node:<name> in group
// system:nodes) may write to its own Node and Lease, the pods bound to it
// (their status, their deletion, their eviction), mirror pods of itself,
// and tokens bound to its pods. The Node authorizer lets nodes make these
// requests at all; this plug-in looks at the objects. Other users pass
// untouched.
//
// Skiff runs no static pods, but pod creation follows upstream exactly: a
// node may create only mirror pods (the kubernetes.io/config.mirror
// annotation) bound to itself, owned by its Node, referring to no
// service account, secret, config map or claim.
package noderestriction

import (
	"context"
	"fmt"
	"sort"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"

	"skiff.dev/skiff/internal/admission"
	"skiff.dev/skiff/internal/auth/node"
)

// Name is the plug-in's upstream name.
const Name = "NodeRestriction"

// mirrorPodAnnotation marks the API mirror of a kubelet's static pod.
const mirrorPodAnnotation = "kubernetes.io/config.mirror"

// Objects reads current pods and nodes (the API server's watch cache).
// Returned objects are shared: callers must not modify them.
type Objects interface {
	Pod(namespace, name string) (*corev1.Pod, bool)
	Node(name string) (*corev1.Node, bool)
}

// Plugin is the NodeRestriction plug-in.
type Plugin struct{ Objects Objects }

var _ admission.Validator = Plugin{}

// Name implements admission.Plugin.
func (Plugin) Name() string { return Name }

// Validate implements admission.Validator. Skiff's chain admits deletes
// only through validators, so NodeRestriction validates (upstream's is a
// mutating plug-in that changes nothing).
func (p Plugin) Validate(_ context.Context, a *admission.Attributes) error {
	nodeName, isNode := node.Identity(a.User)
	if !isNode {
		return nil
	}
	if nodeName == "" {
		return admission.Forbidden(a, fmt.Errorf("could not determine node from user %q", a.User.Name))
	}
	switch a.GroupResource().String() {
	case "pods":
		switch a.Subresource {
		case "":
			return p.pod(nodeName, a)
		case "status":
			return podStatus(nodeName, a)
		case "eviction":
			return p.eviction(nodeName, a)
		default:
			return admission.Forbidden(a, fmt.Errorf("unexpected pod subresource %q, only 'status' and 'eviction' are allowed", a.Subresource))
		}
	case "nodes":
		return nodeObject(nodeName, a)
	case "persistentvolumeclaims":
		if a.Subresource != "status" {
			return admission.Forbidden(a, fmt.Errorf("may only update PVC status"))
		}
		return claimStatus(nodeName, a)
	case "serviceaccounts":
		return p.token(nodeName, a)
	case "leases.coordination.k8s.io":
		return lease(nodeName, a)
	case "csinodes.storage.k8s.io":
		return csiNode(nodeName, a)
	}
	return nil
}

func (p Plugin) pod(nodeName string, a *admission.Attributes) error {
	switch a.Operation {
	case admission.Create:
		return p.mirrorPod(nodeName, a)
	case admission.Delete:
		existing, ok := a.OldObject.(*corev1.Pod)
		if !ok {
			return admission.Forbidden(a, fmt.Errorf("unexpected type %T", a.OldObject))
		}
		if existing.Spec.NodeName != nodeName {
			return admission.Forbidden(a, fmt.Errorf("node %q can only delete pods with spec.nodeName set to itself", nodeName))
		}
		return nil
	default:
		return admission.Forbidden(a, fmt.Errorf("unexpected operation %q, node %q can only create and delete mirror pods", a.Operation, nodeName))
	}
}

func (p Plugin) mirrorPod(nodeName string, a *admission.Attributes) error {
	pod, ok := a.Object.(*corev1.Pod)
	if !ok {
		return admission.Forbidden(a, fmt.Errorf("unexpected type %T", a.Object))
	}
	forbid := func(format string, args ...any) error { return admission.Forbidden(a, fmt.Errorf(format, args...)) }
	if _, mirror := pod.Annotations[mirrorPodAnnotation]; !mirror {
		return forbid("pod does not have %q annotation, node %q can only create mirror pods", mirrorPodAnnotation, nodeName)
	}
	if pod.Spec.NodeName != nodeName {
		return forbid("node %q can only create pods with spec.nodeName set to itself", nodeName)
	}
	switch len(pod.OwnerReferences) {
	case 0:
		return forbid("node %q can only create pods with an owner reference set to itself", nodeName)
	case 1:
	default:
		return forbid("node %q can only create pods with a single owner reference set to itself", nodeName)
	}
	owner := pod.OwnerReferences[0]
	if owner.APIVersion != "v1" || owner.Kind != "Node" || owner.Name != nodeName {
		return forbid("node %q can only create pods with an owner reference set to itself", nodeName)
	}
	if owner.Controller == nil || !*owner.Controller {
		return forbid("node %q can only create pods with a controller owner reference set to itself", nodeName)
	}
	if owner.BlockOwnerDeletion != nil && *owner.BlockOwnerDeletion {
		return forbid("node %q must not set blockOwnerDeletion on an owner reference", nodeName)
	}
	n, ok := p.Objects.Node(nodeName)
	if !ok {
		return apierrors.NewNotFound(corev1.Resource("nodes"), nodeName)
	}
	if owner.UID != n.UID {
		return forbid("node %s UID mismatch: expected %s got %s", nodeName, owner.UID, n.UID)
	}
	if pod.Spec.ServiceAccountName != "" {
		return forbid("node %q can not create pods that reference a service account", nodeName)
	}
	if len(node.SecretNames(pod)) > 0 {
		return forbid("node %q can not create pods that reference secrets", nodeName)
	}
	if len(node.ConfigMapNames(pod)) > 0 {
		return forbid("node %q can not create pods that reference configmaps", nodeName)
	}
	for _, v := range pod.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, s := range v.Projected.Sources {
			if s.ClusterTrustBundle != nil {
				return forbid("node %q can not create pods that reference clustertrustbundles", nodeName)
			}
		}
	}
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			return forbid("node %q can not create pods that reference persistentvolumeclaims", nodeName)
		}
	}
	return nil
}

func podStatus(nodeName string, a *admission.Attributes) error {
	if a.Operation != admission.Update {
		return admission.Forbidden(a, fmt.Errorf("unexpected operation %q", a.Operation))
	}
	old, ok := a.OldObject.(*corev1.Pod)
	if !ok {
		return admission.Forbidden(a, fmt.Errorf("unexpected type %T", a.OldObject))
	}
	if old.Spec.NodeName != nodeName {
		return admission.Forbidden(a, fmt.Errorf("node %q can only update pod status for pods with spec.nodeName set to itself", nodeName))
	}
	pod, ok := a.Object.(*corev1.Pod)
	if !ok {
		return admission.Forbidden(a, fmt.Errorf("unexpected type %T", a.Object))
	}
	if !labels.Equals(old.Labels, pod.Labels) {
		return admission.Forbidden(a, fmt.Errorf("node %q cannot update labels through pod status", nodeName))
	}
	if !apiequality.Semantic.DeepEqual(claimStatusKeys(old), claimStatusKeys(pod)) {
		return admission.Forbidden(a, fmt.Errorf("node %q cannot update resource claim statues", nodeName))
	}
	return nil
}

// claimStatusKeys are the names and claim names of a pod's resource claim
// statuses, which nodes must leave alone.
func claimStatusKeys(p *corev1.Pod) []string {
	var out []string
	for _, s := range p.Status.ResourceClaimStatuses {
		claim := "<nil>"
		if s.ResourceClaimName != nil {
			claim = *s.ResourceClaimName
		}
		out = append(out, s.Name+"="+claim)
	}
	return out
}

func (p Plugin) eviction(nodeName string, a *admission.Attributes) error {
	if a.Operation != admission.Create {
		return admission.Forbidden(a, fmt.Errorf("unexpected operation %s", a.Operation))
	}
	ev, ok := a.Object.(*policyv1.Eviction)
	if !ok {
		return admission.Forbidden(a, fmt.Errorf("unexpected type %T", a.Object))
	}
	podName := a.Name
	if podName == "" {
		if ev.Name == "" {
			return admission.Forbidden(a, fmt.Errorf("could not determine pod from request data"))
		}
		podName = ev.Name
	}
	pod, ok := p.Objects.Pod(a.Namespace, podName)
	if !ok {
		return apierrors.NewNotFound(corev1.Resource("pods"), podName)
	}
	if pod.Spec.NodeName != nodeName {
		return admission.Forbidden(a, fmt.Errorf("node %s can only evict pods with spec.nodeName set to itself", nodeName))
	}
	return nil
}

func claimStatus(nodeName string, a *admission.Attributes) error {
	if a.Operation != admission.Update {
		return admission.Forbidden(a, fmt.Errorf("unexpected operation %q", a.Operation))
	}
	old, ok := a.OldObject.(*corev1.PersistentVolumeClaim)
	if !ok {
		return admission.Forbidden(a, fmt.Errorf("unexpected type %T", a.OldObject))
	}
	cur, ok := a.Object.(*corev1.PersistentVolumeClaim)
	if !ok {
		return admission.Forbidden(a, fmt.Errorf("unexpected type %T", a.Object))
	}
	// Only status.capacity, status.conditions and the resize status may
	// change.
	old, cur = old.DeepCopy(), cur.DeepCopy()
	for _, c := range []*corev1.PersistentVolumeClaim{old, cur} {
		c.ResourceVersion = ""
		c.ManagedFields = nil
		c.Status.Capacity = nil
		c.Status.Conditions = nil
		c.Status.AllocatedResourceStatuses = nil
		c.Status.AllocatedResources = nil
	}
	if !apiequality.Semantic.DeepEqual(old, cur) {
		return admission.Forbidden(a, fmt.Errorf("node %q is not allowed to update fields other than status.capacity and status.conditions", nodeName))
	}
	return nil
}

func nodeObject(nodeName string, a *admission.Attributes) error {
	if a.Name != nodeName {
		return admission.Forbidden(a, fmt.Errorf("node %q is not allowed to modify node %q", nodeName, a.Name))
	}
	switch a.Operation {
	case admission.Create:
		n, ok := a.Object.(*corev1.Node)
		if !ok {
			return admission.Forbidden(a, fmt.Errorf("unexpected type %T", a.Object))
		}
		if n.Spec.ConfigSource != nil {
			return admission.Forbidden(a, fmt.Errorf("node %q is not allowed to create pods with a non-nil configSource", nodeName))
		}
		if bad := forbiddenLabels(modifiedLabels(n.Labels, nil)); len(bad) > 0 {
			return admission.Forbidden(a, fmt.Errorf("node %q is not allowed to set the following labels: %s", nodeName, strings.Join(bad, ", ")))
		}
	case admission.Update:
		n, ok := a.Object.(*corev1.Node)
		if !ok {
			return admission.Forbidden(a, fmt.Errorf("unexpected type %T", a.Object))
		}
		old, ok := a.OldObject.(*corev1.Node)
		if !ok {
			return admission.Forbidden(a, fmt.Errorf("unexpected type %T", a.Object))
		}
		if n.Spec.ConfigSource != nil && !apiequality.Semantic.DeepEqual(n.Spec.ConfigSource, old.Spec.ConfigSource) {
			return admission.Forbidden(a, fmt.Errorf("node %q is not allowed to update configSource to a new non-nil configSource", nodeName))
		}
		if !apiequality.Semantic.DeepEqual(n.Spec.Taints, old.Spec.Taints) {
			return admission.Forbidden(a, fmt.Errorf("node %q is not allowed to modify taints", nodeName))
		}
		if bad := forbiddenLabels(modifiedLabels(n.Labels, old.Labels)); len(bad) > 0 {
			return admission.Forbidden(a, fmt.Errorf("is not allowed to modify labels: %s", strings.Join(bad, ", ")))
		}
	}
	return nil
}

func modifiedLabels(a, b map[string]string) []string {
	seen := map[string]bool{}
	for k, v := range a {
		if w, ok := b[k]; !ok || v != w {
			seen[k] = true
		}
	}
	for k, v := range b {
		if w, ok := a[k]; !ok || v != w {
			seen[k] = true
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// forbiddenLabels are the keys, of those a node adds, changes or removes,
// that a node may not touch: the node-restriction.kubernetes.io
// namespace, and kubernetes.io / k8s.io keys other than the kubelet's own.
func forbiddenLabels(keys []string) []string {
	var out []string
	for _, k := range keys {
		ns := labelNamespace(k)
		if inNamespace(ns, corev1.LabelNamespaceNodeRestriction) || (isKubernetesLabel(ns) && !isKubeletLabel(k)) {
			out = append(out, k)
		}
	}
	return out
}

func labelNamespace(key string) string {
	if prefix, _, ok := strings.Cut(key, "/"); ok {
		return prefix
	}
	return ""
}

// inNamespace: ns is domain or one of its subdomains.
func inNamespace(ns, domain string) bool {
	return ns == domain || strings.HasSuffix(ns, "."+domain)
}

func isKubernetesLabel(ns string) bool {
	return inNamespace(ns, "kubernetes.io") || inNamespace(ns, "k8s.io")
}

// kubeletLabels are the kubernetes.io labels a kubelet may set on its
// Node (upstream's k8s.io/kubelet/pkg/apis.IsKubeletLabel).
var kubeletLabels = map[string]bool{
	corev1.LabelHostname:                true,
	corev1.LabelTopologyZone:            true,
	corev1.LabelTopologyRegion:          true,
	corev1.LabelFailureDomainBetaZone:   true,
	corev1.LabelFailureDomainBetaRegion: true,
	corev1.LabelInstanceType:            true,
	corev1.LabelInstanceTypeStable:      true,
	corev1.LabelOSStable:                true,
	corev1.LabelArchStable:              true,
	"beta.kubernetes.io/os":             true,
	"beta.kubernetes.io/arch":           true,
}

func isKubeletLabel(key string) bool {
	if kubeletLabels[key] {
		return true
	}
	ns := labelNamespace(key)
	return inNamespace(ns, "kubelet.kubernetes.io") || inNamespace(ns, "node.kubernetes.io")
}

func (p Plugin) token(nodeName string, a *admission.Attributes) error {
	if a.Operation != admission.Create || a.Subresource != "token" {
		return nil
	}
	tr, ok := a.Object.(*authenticationv1.TokenRequest)
	if !ok {
		return admission.Forbidden(a, fmt.Errorf("unexpected type %T", a.Object))
	}
	ref := tr.Spec.BoundObjectRef
	if ref == nil || ref.APIVersion != "v1" || ref.Kind != "Pod" || ref.Name == "" {
		return admission.Forbidden(a, fmt.Errorf("node requested token not bound to a pod"))
	}
	if ref.UID == "" {
		return admission.Forbidden(a, fmt.Errorf("node requested token with a pod binding without a uid"))
	}
	pod, ok := p.Objects.Pod(a.Namespace, ref.Name)
	if !ok {
		return apierrors.NewNotFound(corev1.Resource("pods"), ref.Name)
	}
	if ref.UID != pod.UID {
		return admission.Forbidden(a, fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
	}
	if pod.Spec.NodeName != nodeName {
		return admission.Forbidden(a, fmt.Errorf("node requested token bound to a pod scheduled on a different node"))
	}
	return nil
}

func lease(nodeName string, a *admission.Attributes) error {
	if a.Namespace != node.LeaseNamespace {
		return admission.Forbidden(a, fmt.Errorf("can only access leases in the %q system namespace", node.LeaseNamespace))
	}
	name := a.Name
	if a.Operation == admission.Create {
		l, ok := a.Object.(*coordinationv1.Lease)
		if !ok {
			return admission.Forbidden(a, fmt.Errorf("unexpected type %T", a.Object))
		}
		name = l.Name
	}
	if name != nodeName {
		return admission.Forbidden(a, fmt.Errorf("can only access node lease with the same name as the requesting node"))
	}
	return nil
}

func csiNode(nodeName string, a *admission.Attributes) error {
	name := a.Name
	if a.Operation == admission.Create {
		m, err := meta.Accessor(a.Object)
		if err != nil {
			return admission.Forbidden(a, fmt.Errorf("unable to access the object name"))
		}
		name = m.GetName()
	}
	if name != nodeName {
		return admission.Forbidden(a, fmt.Errorf("can only access CSINode with the same name as the requesting node"))
	}
	return nil
}
