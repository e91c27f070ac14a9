// Package policy is the ValidatingAdmissionPolicy admission plug-in:
// admissionregistration.k8s.io/v1 ValidatingAdmissionPolicies, bound by
// ValidatingAdmissionPolicyBindings, validate writes with CEL expressions
// (internal/celexpr), as upstream's plug-in of the same name.
//
// For each write, every policy whose matchConstraints match is paired with
// each of its bindings whose matchResources match; for each param object
// the binding's paramRef selects (or once, without a paramKind), the
// policy's matchConditions, then validations and auditAnnotations are
// evaluated. A failed validation is acted on by the binding's
// validationActions: Deny refuses the write (the first denial is
// returned, with the validation's reason as the status), Warn adds a
// Warning header, Audit records the validation_failure audit annotation.
// An expression that fails to evaluate, a missing param or a policy that
// does not compile counts as a denial under failurePolicy Fail and is
// ignored under Ignore.
//
// Policies, bindings, namespaces and params are read from the API
// server's watch cache; compiled policies are kept per UID and
// resourceVersion, behind a mutex, since the plug-in runs on every
// request goroutine at once. Writes to admissionregistration.k8s.io
// resources are never subject to policies, as upstream, so a bad policy
// can always be fixed.
//
// TypeChecker (typecheck.go) is the one goroutine of the package: an
// informer on policies feeding a one-worker queue that writes each
// changed policy's status.typeChecking through the API.
package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/internal/admission"
	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/auth/authz"
	"skiff.dev/skiff/internal/celexpr"
)

// PluginName is upstream's name of the plug-in.
const PluginName = "ValidatingAdmissionPolicy"

// ValidationFailureAnnotation is the audit annotation Audit actions
// record: a JSON list of the failed validations.
const ValidationFailureAnnotation = "validation.policy.admission.k8s.io/validation_failure"

// Objects reads one resource from the API server's watch cache. Returned
// objects are shared and must not be modified.
type Objects interface {
	List(namespace string) []runtime.Object
	Get(namespace, name string) (runtime.Object, bool)
}

// ParamSource finds the objects of a policy's paramKind.
type ParamSource interface {
	// ParamObjects returns the objects of kind gvk and whether the kind
	// is namespaced, or an error if the API server does not serve it.
	ParamObjects(gvk schema.GroupVersionKind) (objs Objects, namespaced bool, err error)
}

// Plugin is the ValidatingAdmissionPolicy validator.
type Plugin struct {
	Policies, Bindings, Namespaces Objects
	Params                         ParamSource
	// Authorizer answers the CEL authorizer library's checks; nil makes
	// `authorizer` null.
	Authorizer authz.Authorizer

	compiled compiledPolicies
}

var _ admission.Validator = (*Plugin)(nil)

// New returns the plug-in reading the given caches.
func New(policies, bindings, namespaces Objects, params ParamSource) *Plugin {
	return &Plugin{Policies: policies, Bindings: bindings, Namespaces: namespaces, Params: params}
}

func (*Plugin) Name() string { return PluginName }

// denial is a failed validation or a policy error acted on with Deny.
type denial struct {
	policy, binding string
	message         string
	reason          metav1.StatusReason
}

// validationFailure is one entry of ValidationFailureAnnotation.
type validationFailure struct {
	Message           string                                     `json:"message"`
	Policy            string                                     `json:"policy"`
	Binding           string                                     `json:"binding"`
	ExpressionIndex   int                                        `json:"expressionIndex"`
	ValidationActions []admissionregistrationv1.ValidationAction `json:"validationActions"`
}

// request is one write's state while policies are evaluated.
type request struct {
	a       *admission.Attributes
	ctx     context.Context
	input   *celexpr.Input // built on first use
	nsObj   *corev1.Namespace
	nsRead  bool
	denials []denial
	audits  []validationFailure
}

func (p *Plugin) Validate(ctx context.Context, a *admission.Attributes) error {
	if a.Resource.Group == admissionregistrationv1.GroupName || p.Policies == nil {
		return nil
	}
	objs := p.Policies.List("")
	if len(objs) == 0 {
		return nil
	}
	r := &request{a: a, ctx: ctx}
	live := make(map[types.UID]bool, len(objs))
	var bindings []*admissionregistrationv1.ValidatingAdmissionPolicyBinding
	if p.Bindings != nil {
		for _, o := range p.Bindings.List("") {
			if b, ok := o.(*admissionregistrationv1.ValidatingAdmissionPolicyBinding); ok {
				bindings = append(bindings, b)
			}
		}
	}
	sort.Slice(bindings, func(i, j int) bool { return bindings[i].Name < bindings[j].Name })
	for _, o := range objs {
		pol, ok := o.(*admissionregistrationv1.ValidatingAdmissionPolicy)
		if !ok {
			continue
		}
		live[pol.UID] = true
		p.evaluatePolicy(r, pol, bindings)
	}
	p.compiled.prune(live)
	if len(r.audits) > 0 {
		if v, err := json.Marshal(r.audits); err == nil {
			a.AddAnnotation(ValidationFailureAnnotation, string(v))
		}
	}
	if len(r.denials) == 0 {
		return nil
	}
	return denialError(a, r.denials[0])
}

// denialError is upstream's refusal: a Forbidden-shaped Status whose
// reason and code are the validation's (Invalid, 422, by default).
func denialError(a *admission.Attributes, d denial) error {
	msg := fmt.Sprintf("ValidatingAdmissionPolicy '%s' with binding '%s' denied request: %s", d.policy, d.binding, d.message)
	if d.binding == "" {
		msg = fmt.Sprintf("ValidatingAdmissionPolicy '%s' denied request: %s", d.policy, d.message)
	}
	err := admission.Forbidden(a, errors.New(msg))
	var se *apierrors.StatusError
	if !errors.As(err, &se) {
		return err
	}
	reason := d.reason
	if reason == "" {
		reason = metav1.StatusReasonInvalid
	}
	se.ErrStatus.Reason = reason
	se.ErrStatus.Code = reasonCode(reason)
	if se.ErrStatus.Details == nil {
		se.ErrStatus.Details = &metav1.StatusDetails{}
	}
	se.ErrStatus.Details.Causes = append(se.ErrStatus.Details.Causes, metav1.StatusCause{Message: msg})
	return se
}

func reasonCode(r metav1.StatusReason) int32 {
	switch r {
	case metav1.StatusReasonForbidden:
		return http.StatusForbidden
	case metav1.StatusReasonUnauthorized:
		return http.StatusUnauthorized
	case metav1.StatusReasonRequestEntityTooLarge:
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusUnprocessableEntity
}

func failurePolicyOf(pol *admissionregistrationv1.ValidatingAdmissionPolicy) admissionregistrationv1.FailurePolicyType {
	if pol.Spec.FailurePolicy == nil {
		return admissionregistrationv1.Fail
	}
	return *pol.Spec.FailurePolicy
}

// configError handles what keeps a policy or binding from being
// evaluated at all: a denial under Fail, nothing under Ignore.
func (r *request) configError(pol *admissionregistrationv1.ValidatingAdmissionPolicy, binding string, err error) {
	if failurePolicyOf(pol) != admissionregistrationv1.Fail {
		return
	}
	msg := "failed to configure binding: " + err.Error()
	if binding == "" {
		msg = "failed to configure policy: " + err.Error()
	}
	r.denials = append(r.denials, denial{policy: pol.Name, binding: binding, message: msg})
}

func (p *Plugin) evaluatePolicy(r *request, pol *admissionregistrationv1.ValidatingAdmissionPolicy, bindings []*admissionregistrationv1.ValidatingAdmissionPolicyBinding) {
	ok, err := matches(pol.Spec.MatchConstraints, r.a, r.namespaceLabels(p))
	if err != nil {
		r.configError(pol, "", err)
		return
	}
	if !ok || pol.Spec.MatchConstraints == nil {
		return
	}
	var cp *compiled
	for _, b := range bindings {
		if b.Spec.PolicyName != pol.Name {
			continue
		}
		if cp == nil {
			if cp = p.compiled.get(pol); cp.err != nil {
				r.configError(pol, "", cp.err)
				return
			}
		}
		ok, err := matches(b.Spec.MatchResources, r.a, r.namespaceLabels(p))
		if err != nil {
			r.configError(pol, b.Name, err)
			continue
		}
		if !ok {
			continue
		}
		params, err := p.params(r.a, pol, b)
		if err != nil {
			r.configError(pol, b.Name, err)
			continue
		}
		for _, param := range params {
			r.evaluate(p, pol, b, cp, param)
		}
	}
}

// noParams stands for "evaluate once, with params null".
var noParams = []map[string]any{nil}

// params returns the param objects b selects for pol, unstructured.
func (p *Plugin) params(a *admission.Attributes, pol *admissionregistrationv1.ValidatingAdmissionPolicy, b *admissionregistrationv1.ValidatingAdmissionPolicyBinding) ([]map[string]any, error) {
	kind := pol.Spec.ParamKind
	if kind == nil {
		return noParams, nil
	}
	ref := b.Spec.ParamRef
	if ref == nil {
		return nil, fmt.Errorf("paramKind kind `%s` is defined but paramRef is not set", kind.Kind)
	}
	gv, err := schema.ParseGroupVersion(kind.APIVersion)
	if err != nil || p.Params == nil {
		return nil, fmt.Errorf("failed to find resource referenced by paramKind: '%s, Kind=%s'", kind.APIVersion, kind.Kind)
	}
	gvk := gv.WithKind(kind.Kind)
	objs, namespaced, err := p.Params.ParamObjects(gvk)
	if err != nil {
		return nil, fmt.Errorf("failed to find resource referenced by paramKind: '%s, Kind=%s'", kind.APIVersion, kind.Kind)
	}
	ns := ""
	if namespaced {
		ns = ref.Namespace
		if ns == "" {
			ns = a.Namespace
		}
		if ns == "" {
			return nil, errors.New("cannot use namespaced paramRef in policy binding that matches cluster-scoped resources")
		}
	}
	var found []runtime.Object
	if ref.Name != "" {
		if o, ok := objs.Get(ns, ref.Name); ok {
			found = append(found, o)
		}
	} else if ref.Selector != nil {
		sel, err := metav1.LabelSelectorAsSelector(ref.Selector)
		if err != nil {
			return nil, err
		}
		for _, o := range objs.List(ns) {
			if m, ok := o.(metav1.Object); ok && sel.Matches(labels.Set(m.GetLabels())) {
				found = append(found, o)
			}
		}
	}
	if len(found) == 0 {
		if ref.ParameterNotFoundAction != nil && *ref.ParameterNotFoundAction == admissionregistrationv1.AllowAction {
			return nil, nil
		}
		return nil, errors.New("no params found for policy binding with `Deny` parameterNotFoundAction")
	}
	out := make([]map[string]any, 0, len(found))
	for _, o := range found {
		u, err := celexpr.ToUnstructured(o, gvk)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// namespaceLabels returns the labels of the request's namespace.
func (r *request) namespaceLabels(p *Plugin) map[string]string {
	if ns := r.namespace(p); ns != nil {
		return ns.Labels
	}
	return nil
}

func (r *request) namespace(p *Plugin) *corev1.Namespace {
	if r.nsRead {
		return r.nsObj
	}
	r.nsRead = true
	if r.a.Namespace == "" || p.Namespaces == nil {
		return nil
	}
	if o, ok := p.Namespaces.Get("", r.a.Namespace); ok {
		r.nsObj, _ = o.(*corev1.Namespace)
	}
	return r.nsObj
}

// celInput converts the request for CEL, once.
func (r *request) celInput(p *Plugin) (*celexpr.Input, error) {
	if r.input != nil {
		return r.input, nil
	}
	a := r.a
	in := &celexpr.Input{Request: celexpr.RequestMap(a), Authorize: p.authorizeFunc(a.User),
		RequestResource: celexpr.AuthzCheck{Group: a.Resource.Group, Resource: a.Resource.Resource,
			Subresource: a.Subresource, Namespace: a.Namespace, Name: a.Name}}
	var err error
	switch {
	case a.Operation == admission.Connect && a.Options != nil:
		// A connect's object is its options (PodExecOptions, ...), as
		// upstream.
		if in.Object, err = celexpr.ToUnstructured(a.Options, a.Options.GetObjectKind().GroupVersionKind()); err != nil {
			return nil, err
		}
	case a.Object != nil && a.Operation != admission.Connect:
		if in.Object, err = celexpr.ToUnstructured(a.Object, a.Kind); err != nil {
			return nil, err
		}
	}
	if a.OldObject != nil {
		if in.OldObject, err = celexpr.ToUnstructured(a.OldObject, a.Kind); err != nil {
			return nil, err
		}
	}
	if ns := r.namespace(p); ns != nil {
		if in.NamespaceObject, err = celexpr.ToUnstructured(ns, corev1.SchemeGroupVersion.WithKind("Namespace")); err != nil {
			return nil, err
		}
	}
	r.input = in
	return in, nil
}

// evaluate runs one policy with one binding and one param object.
func (r *request) evaluate(p *Plugin, pol *admissionregistrationv1.ValidatingAdmissionPolicy, b *admissionregistrationv1.ValidatingAdmissionPolicyBinding, cp *compiled, param map[string]any) {
	in, err := r.celInput(p)
	if err != nil {
		r.configError(pol, b.Name, err)
		return
	}
	withParams := *in
	withParams.Params = param
	act := celexpr.NewActivation(r.ctx, withParams, cp.variables)
	fail := failurePolicyOf(pol) == admissionregistrationv1.Fail

	// matchConditions: any false skips the policy; otherwise an error
	// fails it as failurePolicy says.
	var mcErr error
	for _, mc := range cp.matchConditions {
		ok, err := mc.EvalBool(act)
		if err != nil {
			if mcErr == nil {
				mcErr = fmt.Errorf("failed to evaluate matchCondition %q: %v", mc.name, err)
			}
			continue
		}
		if !ok {
			return
		}
	}
	if mcErr != nil {
		if fail {
			r.act(pol, b, -1, mcErr.Error(), metav1.StatusReasonInvalid)
		}
		return
	}
	for i, v := range cp.validations {
		ok, err := v.expression.EvalBool(act)
		switch {
		case err != nil:
			if fail {
				r.act(pol, b, i, fmt.Sprintf("expression '%s' resulted in error: %v", v.expression.Expression, err), metav1.StatusReasonInvalid)
			}
		case !ok:
			r.act(pol, b, i, v.failureMessage(act), v.reason)
		}
	}
	for _, an := range cp.auditAnnotations {
		val, set, err := an.EvalString(act)
		switch {
		case err != nil:
			if fail {
				r.act(pol, b, -1, fmt.Sprintf("expression '%s' resulted in error: %v", an.Expression, err), metav1.StatusReasonInvalid)
			}
		case set && val != "":
			r.a.AddAnnotation(pol.Name+"/"+an.name, val)
		}
	}
}

// failureMessage is the messageExpression's result, or else message, or
// else "failed expression: <expression>", as upstream.
func (v validation) failureMessage(act *celexpr.Activation) string {
	if v.messageExpression != nil {
		s, ok, err := v.messageExpression.EvalString(act)
		if s = strings.TrimSpace(s); err == nil && ok && s != "" && !strings.ContainsAny(s, "\r\n") {
			return s
		}
	}
	if v.message != "" {
		return v.message
	}
	return "failed expression: " + strings.TrimSpace(v.expression.Expression)
}

// act applies b's validationActions to a failed validation (index i, -1
// for a failure outside the validations).
func (r *request) act(pol *admissionregistrationv1.ValidatingAdmissionPolicy, b *admissionregistrationv1.ValidatingAdmissionPolicyBinding, i int, msg string, reason metav1.StatusReason) {
	for _, action := range b.Spec.ValidationActions {
		switch action {
		case admissionregistrationv1.Deny:
			r.denials = append(r.denials, denial{policy: pol.Name, binding: b.Name, message: msg, reason: reason})
		case admissionregistrationv1.Warn:
			r.a.AddWarning(fmt.Sprintf("Validation failed for ValidatingAdmissionPolicy '%s' with binding '%s': %s", pol.Name, b.Name, msg))
		case admissionregistrationv1.Audit:
			r.audits = append(r.audits, validationFailure{Message: msg, Policy: pol.Name, Binding: b.Name,
				ExpressionIndex: i, ValidationActions: b.Spec.ValidationActions})
		}
	}
}

// authorizeFunc asks p.Authorizer the CEL authorizer's checks as user, or
// as the ServiceAccount a check names.
func (p *Plugin) authorizeFunc(user *authn.User) celexpr.AuthorizeFunc {
	if p.Authorizer == nil {
		return nil
	}
	return func(ctx context.Context, c celexpr.AuthzCheck) (bool, string, error) {
		u := user
		if c.ServiceAccountName != "" {
			u = &authn.User{
				Name:   "system:serviceaccount:" + c.ServiceAccountNamespace + ":" + c.ServiceAccountName,
				Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + c.ServiceAccountNamespace},
			}
		}
		attrs := authz.Attributes{User: u, Verb: c.Verb, Path: c.Path}
		if c.Path == "" {
			attrs = authz.Attributes{User: u, Verb: c.Verb, IsResourceRequest: true, APIGroup: c.Group, APIVersion: "*",
				Resource: c.Resource, Subresource: c.Subresource, Namespace: c.Namespace, Name: c.Name}
		}
		d, reason, err := p.Authorizer.Authorize(ctx, attrs)
		return d == authz.Allow, reason, err
	}
}
