// Package webhook is dynamic admission: the MutatingAdmissionWebhook and
// ValidatingAdmissionWebhook plug-ins, which call the HTTPS webhooks that
// admissionregistration.k8s.io/v1 Mutating- and
// ValidatingWebhookConfigurations name, as upstream's.
//
// For each admitted write, the configurations (read from the API server's
// watch cache, in name order) are matched against the request: rules by
// operation, group, version, resource/subresource and scope, the
// namespaceSelector on the namespace's labels, the objectSelector on the
// new and old object's labels, then the matchConditions (CEL). Each
// matching webhook is sent an AdmissionReview (v1, or v1beta1 to a webhook
// that accepts only that; JSON over HTTPS, trusting its caBundle or the
// system roots) and answers allowed or denied, with warnings, audit
// annotations and, for mutating webhooks, a JSONPatch applied to the
// object (which is then defaulted again, as upstream decodes it).
// Mutating webhooks run one after the other; validating ones in parallel.
//
// A webhook that cannot be called (connection refused, timeout, a bad
// answer) fails the request under failurePolicy Fail (500, `Internal error
// occurred: failed calling webhook "x": ...`) and is skipped under Ignore.
// A denial is the webhook's status code (403 when it gives none) with
// `<resource> "<name>" is forbidden: admission webhook "x" denied the
// request: <message>`. Writes of the admission configurations themselves
// never go to webhooks, so a broken webhook can always be removed.
//
// A webhook named by service reference is reached without kube-proxy: the
// service's EndpointSlices give a ready pod address (upstream's
// --enable-aggregator-routing), while TLS checks the certificate for
// <service>.<namespace>.svc, as upstream.
package webhook

import (
	"context"
	"fmt"
	"reflect"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff.dev/skiff/internal/admission"
)

// The plug-ins' upstream names.
const (
	MutatingName   = "MutatingAdmissionWebhook"
	ValidatingName = "ValidatingAdmissionWebhook"
)

// Objects is one resource's objects as the API server's watch cache holds
// them. Implementations are safe for concurrent use; returned objects are
// shared and must not be changed.
type Objects interface {
	List(namespace string) []runtime.Object
	Get(namespace, name string) (runtime.Object, bool)
}

// Sources are the caches the plug-ins read.
type Sources struct {
	// Configurations: mutatingwebhookconfigurations for the mutating
	// plug-in, validatingwebhookconfigurations for the validating one.
	Configurations Objects
	// Namespaces for namespaceSelector.
	Namespaces Objects
	// Services and EndpointSlices resolve service references.
	Services, EndpointSlices Objects
}

// Defaulter applies a resource's defaults to an object a mutating webhook
// has patched, as upstream decodes the patched object with defaulting.
// Nil: patched objects are not defaulted.
type Defaulter func(gvr schema.GroupVersionResource, obj runtime.Object)

// hook is what both kinds of webhook have in common; reinvocation is only
// set for mutating webhooks.
type hook struct {
	name              string
	config            string
	clientConfig      admissionregistrationv1.WebhookClientConfig
	rules             []admissionregistrationv1.RuleWithOperations
	failOpen          bool
	namespaceSelector labels.Selector
	objectSelector    labels.Selector
	sideEffects       admissionregistrationv1.SideEffectClass
	timeoutSeconds    int32
	reviewVersions    []string
	matchConditions   []admissionregistrationv1.MatchCondition
	reinvokeIfNeeded  bool
	// selectorErr is a selector that did not parse (stored before a
	// validation change, say): calling the hook then fails per policy.
	selectorErr error
}

// hooksFrom lists the webhooks of the configurations in objs, in order.
func hooksFrom(objs []runtime.Object) []*hook {
	var out []*hook
	for _, o := range objs {
		switch c := o.(type) {
		case *admissionregistrationv1.MutatingWebhookConfiguration:
			for i := range c.Webhooks {
				w := &c.Webhooks[i]
				h := newHook(c.Name, w.Name, w.ClientConfig, w.Rules, w.FailurePolicy, w.NamespaceSelector, w.ObjectSelector,
					w.SideEffects, w.TimeoutSeconds, w.AdmissionReviewVersions, w.MatchConditions)
				h.reinvokeIfNeeded = w.ReinvocationPolicy != nil && *w.ReinvocationPolicy == admissionregistrationv1.IfNeededReinvocationPolicy
				out = append(out, h)
			}
		case *admissionregistrationv1.ValidatingWebhookConfiguration:
			for i := range c.Webhooks {
				w := &c.Webhooks[i]
				out = append(out, newHook(c.Name, w.Name, w.ClientConfig, w.Rules, w.FailurePolicy, w.NamespaceSelector, w.ObjectSelector,
					w.SideEffects, w.TimeoutSeconds, w.AdmissionReviewVersions, w.MatchConditions))
			}
		}
	}
	return out
}

func newHook(config, name string, cc admissionregistrationv1.WebhookClientConfig, rules []admissionregistrationv1.RuleWithOperations,
	fp *admissionregistrationv1.FailurePolicyType, nsSel, objSel *metav1.LabelSelector, se *admissionregistrationv1.SideEffectClass,
	timeout *int32, versions []string, conds []admissionregistrationv1.MatchCondition) *hook {
	h := &hook{
		name: name, config: config, clientConfig: cc, rules: rules,
		failOpen:       fp != nil && *fp == admissionregistrationv1.Ignore,
		timeoutSeconds: 10, reviewVersions: versions, matchConditions: conds,
	}
	if se != nil {
		h.sideEffects = *se
	}
	if timeout != nil {
		h.timeoutSeconds = *timeout
	}
	h.namespaceSelector, h.selectorErr = selector(nsSel)
	if h.selectorErr == nil {
		h.objectSelector, h.selectorErr = selector(objSel)
	}
	return h
}

func selector(s *metav1.LabelSelector) (labels.Selector, error) {
	if s == nil {
		return labels.Everything(), nil
	}
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return nil, fmt.Errorf("invalid label selector: %w", err)
	}
	return sel, nil
}

// exempt reports whether a write is of the admission configuration
// itself, which upstream never sends to webhooks.
func exempt(a *admission.Attributes) bool {
	if a.Resource.Group != admissionregistrationv1.GroupName {
		return false
	}
	switch a.Resource.Resource {
	case "mutatingwebhookconfigurations", "validatingwebhookconfigurations",
		"validatingadmissionpolicies", "validatingadmissionpolicybindings",
		"mutatingadmissionpolicies", "mutatingadmissionpolicybindings":
		return true
	}
	return false
}

// replaceObject overwrites *dst with *src (both pointers to the same
// struct type), since plug-ins change a.Object in place.
func replaceObject(dst, src runtime.Object) error {
	dv, sv := reflect.ValueOf(dst), reflect.ValueOf(src)
	if dv.Kind() != reflect.Pointer || sv.Type() != dv.Type() {
		return fmt.Errorf("cannot replace %T with %T", dst, src)
	}
	dv.Elem().Set(sv.Elem())
	return nil
}

// errorName is the name upstream's errors give an object with none yet.
func errorName(a *admission.Attributes) string {
	if a.Name == "" {
		return "Unknown"
	}
	return a.Name
}

// dispatcher holds what both plug-ins share.
type dispatcher struct {
	src      Sources
	client   *client
	conds    conditions
	mutating bool
}

// matching returns the hooks that apply to a, in order.
func (d *dispatcher) matching(ctx context.Context, a *admission.Attributes) ([]*hook, error) {
	if d.src.Configurations == nil || exempt(a) {
		return nil, nil
	}
	var out []*hook
	for _, h := range hooksFrom(d.src.Configurations.List("")) {
		ok, err := d.matches(h, a)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, h)
		}
	}
	return out, nil
}
