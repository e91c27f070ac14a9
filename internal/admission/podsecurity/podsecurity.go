// Package podsecurity is the PodSecurity admission plug-in: it enforces,
// audits and warns about the Pod Security Standards per namespace, chosen
// by the namespace's pod-security.kubernetes.io/{enforce,audit,warn}[-version]
// labels over a cluster default, as upstream's plug-in of the same name.
//
//   - pods (create; an update only when it changes a container image or
//     adds containers, as upstream) and pods/ephemeralcontainers: enforce
//     refuses with 403 `violates PodSecurity "baseline:latest": …`, audit
//     adds the pod-security.kubernetes.io/audit-violations audit
//     annotation, warn adds a `would violate PodSecurity …` warning;
//   - workloads with a pod template (Deployment, ReplicaSet, StatefulSet,
//     DaemonSet, Job, CronJob, ReplicationController, PodTemplate): audit
//     and warn only, never refused (their pods are checked on creation);
//   - namespaces: invalid policy labels are a 422; raising enforce warns
//     about the existing pods that would violate it.
//
// The checks themselves are internal/podsecurity.
package podsecurity

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/internal/admission"
	"skiff.dev/skiff/internal/podsecurity"
)

// PluginName is upstream's name of the plug-in.
const PluginName = "PodSecurity"

// Audit annotation keys, as upstream's (prefix pod-security.kubernetes.io/).
const (
	AnnotationAuditViolations = podsecurity.LabelPrefix + "audit-violations"
	AnnotationEnforcePolicy   = podsecurity.LabelPrefix + "enforce-policy"
	AnnotationExempt          = podsecurity.LabelPrefix + "exempt"
	AnnotationError           = podsecurity.LabelPrefix + "error"
)

// Config is the cluster-wide part of the policy (upstream's
// PodSecurityConfiguration).
type Config struct {
	// Defaults apply to each mode a namespace does not label.
	Defaults podsecurity.Policy
	// Exemptions are never checked.
	Exemptions Exemptions
	// MaxPodsToCheck bounds the existing pods checked when a namespace's
	// enforce level is raised (upstream: 3000).
	MaxPodsToCheck int
}

// Exemptions, as upstream's: requests by these users, pods with these
// runtime classes, and everything in these namespaces.
type Exemptions struct {
	Usernames, RuntimeClasses, Namespaces []string
}

// DefaultConfig is Skiff's cluster default: enforce=baseline,
// warn=restricted (audit=privileged), all at latest, no exemptions.
// Baseline refuses privileged, host-namespace and hostPath pods while
// admitting ordinary workloads; restricted warns about what a hardened
// pod would set.
func DefaultConfig() Config {
	latest := podsecurity.LatestVersion
	return Config{
		Defaults: podsecurity.Policy{
			Enforce: podsecurity.LevelVersion{Level: podsecurity.Baseline, Version: latest},
			Audit:   podsecurity.LevelVersion{Level: podsecurity.Privileged, Version: latest},
			Warn:    podsecurity.LevelVersion{Level: podsecurity.Restricted, Version: latest},
		},
		MaxPodsToCheck: 3000,
	}
}

// Objects is what the plug-in reads. Implementations serve from memory
// (the API server's watch cache); returned objects must not be modified.
type Objects interface {
	// Namespace returns a namespace, or false if it does not exist.
	Namespace(name string) (*corev1.Namespace, bool)
	// Pods lists a namespace's pods.
	Pods(namespace string) []*corev1.Pod
}

// Plugin is the PodSecurity validating admission plug-in.
type Plugin struct {
	cfg  Config
	objs Objects
}

var _ admission.Validator = (*Plugin)(nil)

// New returns the plug-in reading namespaces and pods from objs.
func New(cfg Config, objs Objects) *Plugin {
	if cfg.MaxPodsToCheck <= 0 {
		cfg.MaxPodsToCheck = 3000
	}
	return &Plugin{cfg: cfg, objs: objs}
}

// Name implements admission.Plugin.
func (*Plugin) Name() string { return PluginName }

var (
	podsResource       = corev1.Resource("pods")
	namespacesResource = corev1.Resource("namespaces")
	// workloads are the resources with a pod template (upstream's
	// DefaultPodSpecExtractor).
	workloads = map[schema.GroupResource]bool{
		corev1.Resource("podtemplates"):           true,
		corev1.Resource("replicationcontrollers"): true,
		appsv1.Resource("replicasets"):            true,
		appsv1.Resource("deployments"):            true,
		appsv1.Resource("statefulsets"):           true,
		appsv1.Resource("daemonsets"):             true,
		batchv1.Resource("jobs"):                  true,
		batchv1.Resource("cronjobs"):              true,
	}
	// ignoredPodSubresources change nothing the standards check; any other
	// pod subresource (ephemeralcontainers, resize) is evaluated.
	ignoredPodSubresources = map[string]bool{
		"exec": true, "attach": true, "binding": true, "eviction": true,
		"log": true, "portforward": true, "proxy": true, "status": true,
	}
)

// Validate implements admission.Validator: creates and updates only.
func (p *Plugin) Validate(_ context.Context, a *admission.Attributes) error {
	if a.Operation != admission.Create && a.Operation != admission.Update {
		return nil
	}
	switch gr := a.GroupResource(); {
	case gr == namespacesResource:
		return p.validateNamespace(a)
	case gr == podsResource:
		return p.validatePod(a)
	case workloads[gr]:
		p.validateWorkload(a)
	}
	return nil
}

func (p *Plugin) policy(labels map[string]string) (podsecurity.Policy, error) {
	pol, errs := podsecurity.PolicyFromLabels(labels, p.cfg.Defaults)
	return pol, errs.ToAggregate()
}

// namespacePolicy is the policy of a namespace; a namespace missing from
// the cache gets the defaults (its pod's create fails anyway).
func (p *Plugin) namespacePolicy(name string) (podsecurity.Policy, error) {
	ns, ok := p.objs.Namespace(name)
	if !ok {
		return p.cfg.Defaults, nil
	}
	return p.policy(ns.Labels)
}

func (p *Plugin) validatePod(a *admission.Attributes) error {
	if ignoredPodSubresources[a.Subresource] {
		return nil
	}
	if p.exempt(a) {
		return nil
	}
	pol, polErr := p.namespacePolicy(a.Namespace)
	if polErr == nil && pol.FullyPrivileged() {
		a.AddAnnotation(AnnotationEnforcePolicy, podsecurity.LevelVersion{Level: podsecurity.Privileged, Version: podsecurity.LatestVersion}.String())
		return nil
	}
	pod, ok := a.Object.(*corev1.Pod)
	if !ok {
		return apierrors.NewBadRequest("failed to decode pod")
	}
	if a.Operation == admission.Update {
		old, ok := a.OldObject.(*corev1.Pod)
		if !ok {
			return apierrors.NewBadRequest("failed to decode old pod")
		}
		if !significantPodUpdate(pod, old) {
			return nil
		}
	}
	return p.evaluate(a, pol, polErr, &pod.ObjectMeta, &pod.Spec, true)
}

func (p *Plugin) validateWorkload(a *admission.Attributes) {
	if a.Subresource != "" || p.exempt(a) {
		return
	}
	pol, polErr := p.namespacePolicy(a.Namespace)
	if polErr == nil && pol.Warn.Level == podsecurity.Privileged && pol.Audit.Level == podsecurity.Privileged {
		return
	}
	t, ok := podsecurity.PodTemplateOf(a.Object)
	if !ok {
		return
	}
	_ = p.evaluate(a, pol, polErr, t.Meta, t.Spec, false)
}

func (p *Plugin) exempt(a *admission.Attributes) bool {
	switch {
	case a.Namespace != "" && slices.Contains(p.cfg.Exemptions.Namespaces, a.Namespace):
		a.AddAnnotation(AnnotationExempt, "namespace")
		return true
	case a.User != nil && a.User.Name != "" && slices.Contains(p.cfg.Exemptions.Usernames, a.User.Name):
		a.AddAnnotation(AnnotationExempt, "user")
		return true
	}
	return false
}

// evaluate applies a namespace's policy to a pod (enforce only for pods
// themselves), as upstream's EvaluatePod: the enforce result refuses; the
// audit result annotates; the warn result warns unless refused.
func (p *Plugin) evaluate(a *admission.Attributes, pol podsecurity.Policy, polErr error, meta *metav1.ObjectMeta, spec *corev1.PodSpec, enforce bool) error {
	if rc := spec.RuntimeClassName; rc != nil && *rc != "" && slices.Contains(p.cfg.Exemptions.RuntimeClasses, *rc) {
		a.AddAnnotation(AnnotationExempt, "runtimeClass")
		return nil
	}
	if polErr != nil {
		a.AddAnnotation(AnnotationError, fmt.Sprintf("Failed to parse policy: %v", polErr))
	}
	cache := map[podsecurity.LevelVersion][]podsecurity.Result{}
	eval := func(lv podsecurity.LevelVersion) []podsecurity.Result {
		r, ok := cache[lv]
		if !ok {
			r = podsecurity.Evaluate(lv, meta, spec)
			cache[lv] = r
		}
		return r
	}
	var refusal error
	if enforce {
		a.AddAnnotation(AnnotationEnforcePolicy, pol.Enforce.String())
		if r := eval(pol.Enforce); len(r) > 0 {
			refusal = admission.Forbidden(a, fmt.Errorf("violates PodSecurity %q: %s", pol.Enforce.String(), podsecurity.Detail(r)))
		}
	}
	if r := eval(pol.Audit); len(r) > 0 {
		a.AddAnnotation(AnnotationAuditViolations, fmt.Sprintf("would violate PodSecurity %q: %s", pol.Audit.String(), podsecurity.Detail(r)))
	}
	if refusal != nil {
		return refusal
	}
	if r := eval(pol.Warn); len(r) > 0 {
		a.AddWarning(fmt.Sprintf("would violate PodSecurity %q: %s", pol.Warn.String(), podsecurity.Detail(r)))
	}
	return nil
}

// significantPodUpdate: upstream re-checks a pod update only when a
// container image changes or containers are added (the only mutable pod
// fields the standards look at, with ephemeral containers); metadata,
// status, tolerations and the like are let through.
func significantPodUpdate(pod, old *corev1.Pod) bool {
	if len(pod.Spec.Containers) != len(old.Spec.Containers) || len(pod.Spec.InitContainers) != len(old.Spec.InitContainers) {
		return true
	}
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Image != old.Spec.Containers[i].Image {
			return true
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Image != old.Spec.InitContainers[i].Image {
			return true
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		i := slices.IndexFunc(old.Spec.EphemeralContainers, func(o corev1.EphemeralContainer) bool { return o.Name == c.Name })
		if i < 0 || old.Spec.EphemeralContainers[i].Image != c.Image {
			return true
		}
	}
	return false
}

func (p *Plugin) validateNamespace(a *admission.Attributes) error {
	if a.Subresource != "" {
		return nil
	}
	ns, ok := a.Object.(*corev1.Namespace)
	if !ok {
		return apierrors.NewBadRequest("failed to decode namespace")
	}
	pol, errs := podsecurity.PolicyFromLabels(ns.Labels, p.cfg.Defaults)
	exempt := slices.Contains(p.cfg.Exemptions.Namespaces, ns.Name)
	switch a.Operation {
	case admission.Create:
		if len(errs) > 0 {
			return apierrors.NewInvalid(a.Kind.GroupKind(), a.Name, errs)
		}
		if exempt {
			a.AddWarning(p.exemptNamespaceWarning(ns.Name, pol, ns.Labels))
		}
		return nil
	case admission.Update:
		old, ok := a.OldObject.(*corev1.Namespace)
		if !ok {
			return apierrors.NewBadRequest("failed to decode old namespace")
		}
		oldPol, oldErrs := podsecurity.PolicyFromLabels(old.Labels, p.cfg.Defaults)
		// Bad labels are refused when they change, so a namespace that
		// already has them can still be updated otherwise.
		if len(errs) > 0 && (len(oldErrs) == 0 || errs.ToAggregate().Error() != oldErrs.ToAggregate().Error()) {
			return apierrors.NewInvalid(a.Kind.GroupKind(), a.Name, errs)
		}
		if podsecurity.RelaxesEnforce(oldPol.Enforce, pol.Enforce) {
			return nil
		}
		if exempt {
			a.AddWarning(p.exemptNamespaceWarning(ns.Name, pol, ns.Labels))
			return nil
		}
		for _, w := range p.existingPodWarnings(ns.Name, pol.Enforce) {
			a.AddWarning(w)
		}
	}
	return nil
}

// existingPodWarnings checks a namespace's pods against a new enforce
// level, one pod per controller first, and groups the pods by their
// violations, as upstream: `existing pods in namespace "x" violate the
// new PodSecurity enforce level "restricted:latest"` then
// `web-1 (and 2 other pods): privileged, runAsNonRoot != true`.
func (p *Plugin) existingPodWarnings(namespace string, enforce podsecurity.LevelVersion) []string {
	pods := p.prioritize(p.objs.Pods(namespace))
	total := len(pods)
	if len(pods) > p.cfg.MaxPodsToCheck {
		pods = pods[:p.cfg.MaxPodsToCheck]
	}
	type group struct {
		first string
		count int
	}
	groups := map[string]*group{}
	var reasons []string
	for _, pod := range pods {
		r := podsecurity.Evaluate(enforce, &pod.ObjectMeta, &pod.Spec)
		if len(r) == 0 {
			continue
		}
		key := podsecurity.Reasons(r)
		g, ok := groups[key]
		if !ok {
			g = &group{first: pod.Name}
			groups[key] = g
			reasons = append(reasons, key)
		} else if pod.Name < g.first {
			g.first = pod.Name
		}
		g.count++
	}
	var warnings []string
	if len(pods) < total {
		warnings = append(warnings, fmt.Sprintf("new PodSecurity enforce level only checked against the first %d of %d existing pods", len(pods), total))
	}
	if len(reasons) > 0 {
		warnings = append(warnings, fmt.Sprintf("existing pods in namespace %q violate the new PodSecurity enforce level %q", namespace, enforce.String()))
	}
	decorated := make([]string, len(reasons))
	for i, key := range reasons {
		g := groups[key]
		switch g.count {
		case 1:
			decorated[i] = fmt.Sprintf("%s: %s", g.first, key)
		case 2:
			decorated[i] = fmt.Sprintf("%s (and 1 other pod): %s", g.first, key)
		default:
			decorated[i] = fmt.Sprintf("%s (and %d other pods): %s", g.first, g.count-1, key)
		}
	}
	sort.Strings(decorated)
	return append(warnings, decorated...)
}

// prioritize drops pods of exempt runtime classes and puts one pod per
// controller first, so a bounded check sees every workload.
func (p *Plugin) prioritize(pods []*corev1.Pod) []*corev1.Pod {
	var first, rest []*corev1.Pod
	seen := map[types.UID]bool{}
	for _, pod := range pods {
		if rc := pod.Spec.RuntimeClassName; rc != nil && *rc != "" && slices.Contains(p.cfg.Exemptions.RuntimeClasses, *rc) {
			continue
		}
		ref := metav1.GetControllerOfNoCopy(pod)
		switch {
		case ref == nil:
			first = append(first, pod)
		case seen[ref.UID]:
			rest = append(rest, pod)
		default:
			seen[ref.UID] = true
			first = append(first, pod)
		}
	}
	return append(first, rest...)
}

// exemptNamespaceWarning tells that an exempt namespace's labels are
// ignored, listing the non-privileged modes it labels; "" when there is
// nothing to say.
func (p *Plugin) exemptNamespaceWarning(name string, pol podsecurity.Policy, labels map[string]string) string {
	if pol.FullyPrivileged() || pol.Equivalent(p.cfg.Defaults) {
		return ""
	}
	var modes []string
	for _, m := range []struct {
		name       string
		lv         podsecurity.LevelVersion
		level, ver string
	}{
		{"enforce", pol.Enforce, podsecurity.EnforceLevelLabel, podsecurity.EnforceVersionLabel},
		{"audit", pol.Audit, podsecurity.AuditLevelLabel, podsecurity.AuditVersionLabel},
		{"warn", pol.Warn, podsecurity.WarnLevelLabel, podsecurity.WarnVersionLabel},
	} {
		_, hasLevel := labels[m.level]
		_, hasVersion := labels[m.ver]
		if m.lv.Level != podsecurity.Privileged && (hasLevel || hasVersion) {
			modes = append(modes, m.name+"="+m.lv.String())
		}
	}
	return fmt.Sprintf("namespace %q is exempt from Pod Security, and the policy (%s) will be ignored", name, strings.Join(modes, ", "))
}
