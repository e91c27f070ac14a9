// Package admissionregistration holds the registry strategies of
// admissionregistration.k8s.io/v1: the webhook configurations (this file)
// and the validating admission policies and their bindings, with
// upstream's defaults, validation and `kubectl get` columns.
package admissionregistration

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/celexpr"
	"skiff.dev/skiff/internal/registry"
)

// WebhookResources returns mutatingwebhookconfigurations and
// validatingwebhookconfigurations (cluster-scoped).
func WebhookResources() []registry.Resource {
	return webhookResources(time.Now)
}

func webhookResources(now func() time.Time) []registry.Resource {
	gv := admissionregistrationv1.SchemeGroupVersion
	return []registry.Resource{
		{
			GroupVersion: gv, Resource: "mutatingwebhookconfigurations", Kind: "MutatingWebhookConfiguration",
			SingularName: "mutatingwebhookconfiguration", Categories: []string{"api-extensions"},
			New:      func() runtime.Object { return &admissionregistrationv1.MutatingWebhookConfiguration{} },
			NewList:  func() runtime.Object { return &admissionregistrationv1.MutatingWebhookConfigurationList{} },
			Strategy: webhookConfigStrategy{now: now, mutating: true}, HasGeneration: true,
		},
		{
			GroupVersion: gv, Resource: "validatingwebhookconfigurations", Kind: "ValidatingWebhookConfiguration",
			SingularName: "validatingwebhookconfiguration", Categories: []string{"api-extensions"},
			New:      func() runtime.Object { return &admissionregistrationv1.ValidatingWebhookConfiguration{} },
			NewList:  func() runtime.Object { return &admissionregistrationv1.ValidatingWebhookConfigurationList{} },
			Strategy: webhookConfigStrategy{now: now}, HasGeneration: true,
		},
	}
}

// webhookConfigStrategy serves both kinds: a mutating webhook is a
// validating one plus reinvocationPolicy.
type webhookConfigStrategy struct {
	now      func() time.Time
	mutating bool
}

var (
	_ registry.Strategy       = webhookConfigStrategy{}
	_ registry.TableConvertor = webhookConfigStrategy{}
)

// webhookFields points at the fields both webhook kinds share, so one
// defaulting and one validation serve both. reinvocationPolicy is nil for
// validating webhooks.
type webhookFields struct {
	name                    string
	clientConfig            *admissionregistrationv1.WebhookClientConfig
	rules                   []admissionregistrationv1.RuleWithOperations
	failurePolicy           **admissionregistrationv1.FailurePolicyType
	matchPolicy             **admissionregistrationv1.MatchPolicyType
	namespaceSelector       **metav1.LabelSelector
	objectSelector          **metav1.LabelSelector
	sideEffects             *admissionregistrationv1.SideEffectClass
	timeoutSeconds          **int32
	admissionReviewVersions []string
	matchConditions         []admissionregistrationv1.MatchCondition
	reinvocationPolicy      **admissionregistrationv1.ReinvocationPolicyType
}

// webhooksOf returns the shared fields of each webhook of a configuration,
// or nil for another type.
func webhooksOf(obj runtime.Object) ([]webhookFields, bool) {
	switch c := obj.(type) {
	case *admissionregistrationv1.MutatingWebhookConfiguration:
		out := make([]webhookFields, len(c.Webhooks))
		for i := range c.Webhooks {
			w := &c.Webhooks[i]
			out[i] = webhookFields{
				name: w.Name, clientConfig: &w.ClientConfig, rules: w.Rules,
				failurePolicy: &w.FailurePolicy, matchPolicy: &w.MatchPolicy,
				namespaceSelector: &w.NamespaceSelector, objectSelector: &w.ObjectSelector,
				sideEffects: w.SideEffects, timeoutSeconds: &w.TimeoutSeconds,
				admissionReviewVersions: w.AdmissionReviewVersions, matchConditions: w.MatchConditions,
				reinvocationPolicy: &w.ReinvocationPolicy,
			}
		}
		return out, true
	case *admissionregistrationv1.ValidatingWebhookConfiguration:
		out := make([]webhookFields, len(c.Webhooks))
		for i := range c.Webhooks {
			w := &c.Webhooks[i]
			out[i] = webhookFields{
				name: w.Name, clientConfig: &w.ClientConfig, rules: w.Rules,
				failurePolicy: &w.FailurePolicy, matchPolicy: &w.MatchPolicy,
				namespaceSelector: &w.NamespaceSelector, objectSelector: &w.ObjectSelector,
				sideEffects: w.SideEffects, timeoutSeconds: &w.TimeoutSeconds,
				admissionReviewVersions: w.AdmissionReviewVersions, matchConditions: w.MatchConditions,
			}
		}
		return out, true
	}
	return nil, false
}

func ptrTo[T any](v T) *T { return &v }

// Default applies upstream's v1 defaults. sideEffects and
// admissionReviewVersions have none in v1: they are required.
func (webhookConfigStrategy) Default(obj runtime.Object) {
	hooks, _ := webhooksOf(obj)
	for _, w := range hooks {
		if *w.failurePolicy == nil {
			*w.failurePolicy = ptrTo(admissionregistrationv1.Fail)
		}
		if *w.matchPolicy == nil {
			*w.matchPolicy = ptrTo(admissionregistrationv1.Equivalent)
		}
		if *w.namespaceSelector == nil {
			*w.namespaceSelector = &metav1.LabelSelector{}
		}
		if *w.objectSelector == nil {
			*w.objectSelector = &metav1.LabelSelector{}
		}
		if *w.timeoutSeconds == nil {
			*w.timeoutSeconds = ptrTo(int32(10))
		}
		if w.reinvocationPolicy != nil && *w.reinvocationPolicy == nil {
			*w.reinvocationPolicy = ptrTo(admissionregistrationv1.NeverReinvocationPolicy)
		}
		for i := range w.rules {
			if w.rules[i].Scope == nil {
				w.rules[i].Scope = ptrTo(admissionregistrationv1.AllScopes)
			}
		}
		if s := w.clientConfig.Service; s != nil && s.Port == nil {
			s.Port = ptrTo(int32(443))
		}
	}
}

func (webhookConfigStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object)      {}
func (webhookConfigStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {}

// webhookValidation are upstream's validation options: on update, rules
// an existing object already breaks are not enforced, so it stays
// updatable.
type webhookValidation struct {
	requireNoSideEffects, requireRecognizedReviewVersion, requireUniqueNames bool
}

func (s webhookConfigStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	hooks, ok := webhooksOf(obj)
	if !ok {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("expected a webhook configuration, got %T", obj))}
	}
	return validateWebhooks(hooks, webhookValidation{true, true, true})
}

func (s webhookConfigStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	hooks, ok1 := webhooksOf(obj)
	oldHooks, ok2 := webhooksOf(old)
	if !ok1 || !ok2 {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("expected a webhook configuration, got %T", obj))}
	}
	opts := webhookValidation{true, true, true}
	names := sets.New[string]()
	for _, w := range oldHooks {
		if w.sideEffects == nil || !noSideEffectClasses.Has(string(*w.sideEffects)) {
			opts.requireNoSideEffects = false
		}
		if len(w.admissionReviewVersions) > 0 && !hasAcceptedReviewVersion(w.admissionReviewVersions) {
			opts.requireRecognizedReviewVersion = false
		}
		if names.Has(w.name) {
			opts.requireUniqueNames = false
		}
		names.Insert(w.name)
	}
	return validateWebhooks(hooks, opts)
}

// AcceptedAdmissionReviewVersions are the AdmissionReview versions a
// webhook may ask for; the API server sends v1.
var AcceptedAdmissionReviewVersions = []string{"v1", "v1beta1"}

var (
	supportedFailurePolicies      = sets.New(string(admissionregistrationv1.Ignore), string(admissionregistrationv1.Fail))
	supportedMatchPolicies        = sets.New(string(admissionregistrationv1.Exact), string(admissionregistrationv1.Equivalent))
	supportedSideEffectClasses    = sets.New("Unknown", "None", "Some", "NoneOnDryRun")
	noSideEffectClasses           = sets.New("None", "NoneOnDryRun")
	supportedReinvocationPolicies = sets.New(string(admissionregistrationv1.NeverReinvocationPolicy), string(admissionregistrationv1.IfNeededReinvocationPolicy))
	supportedOperations           = sets.New("*", "CREATE", "UPDATE", "DELETE", "CONNECT")
	supportedScopes               = sets.New("Cluster", "Namespaced", "*")
)

func hasAcceptedReviewVersion(versions []string) bool {
	for _, v := range versions {
		for _, a := range AcceptedAdmissionReviewVersions {
			if v == a {
				return true
			}
		}
	}
	return false
}

func validateWebhooks(hooks []webhookFields, opts webhookValidation) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	for i, w := range hooks {
		p := field.NewPath("webhooks").Index(i)
		errs = append(errs, validateWebhook(w, opts, p)...)
		errs = append(errs, validateAdmissionReviewVersions(w.admissionReviewVersions, opts.requireRecognizedReviewVersion, p.Child("admissionReviewVersions"))...)
		if opts.requireUniqueNames && w.name != "" {
			if names.Has(w.name) {
				errs = append(errs, field.Duplicate(p.Child("name"), w.name))
			}
			names.Insert(w.name)
		}
	}
	return errs
}

func validateWebhook(w webhookFields, opts webhookValidation, p *field.Path) field.ErrorList {
	errs := utilvalidation.IsFullyQualifiedName(p.Child("name"), w.name)
	for i := range w.rules {
		errs = append(errs, validateRuleWithOperations(&w.rules[i], p.Child("rules").Index(i))...)
	}
	if fp := *w.failurePolicy; fp != nil && !supportedFailurePolicies.Has(string(*fp)) {
		errs = append(errs, field.NotSupported(p.Child("failurePolicy"), *fp, sets.List(supportedFailurePolicies)))
	}
	if mp := *w.matchPolicy; mp != nil && !supportedMatchPolicies.Has(string(*mp)) {
		errs = append(errs, field.NotSupported(p.Child("matchPolicy"), *mp, sets.List(supportedMatchPolicies)))
	}
	allowed := supportedSideEffectClasses
	if opts.requireNoSideEffects {
		allowed = noSideEffectClasses
	}
	if w.sideEffects == nil {
		errs = append(errs, field.Required(p.Child("sideEffects"), "must specify one of "+strings.Join(sets.List(allowed), ", ")))
	} else if !allowed.Has(string(*w.sideEffects)) {
		errs = append(errs, field.NotSupported(p.Child("sideEffects"), *w.sideEffects, sets.List(allowed)))
	}
	if t := *w.timeoutSeconds; t != nil && (*t > 30 || *t < 1) {
		errs = append(errs, field.Invalid(p.Child("timeoutSeconds"), *t, "the timeout value must be between 1 and 30 seconds"))
	}
	for _, sel := range []struct {
		s    *metav1.LabelSelector
		name string
	}{{*w.namespaceSelector, "namespaceSelector"}, {*w.objectSelector, "objectSelector"}} {
		if sel.s != nil {
			errs = append(errs, metav1validation.ValidateLabelSelector(sel.s, metav1validation.LabelSelectorValidationOptions{}, p.Child(sel.name))...)
		}
	}
	if rp := w.reinvocationPolicy; rp != nil && *rp != nil && !supportedReinvocationPolicies.Has(string(**rp)) {
		errs = append(errs, field.NotSupported(p.Child("reinvocationPolicy"), **rp, sets.List(supportedReinvocationPolicies)))
	}
	cc := w.clientConfig
	switch {
	case (cc.URL == nil) == (cc.Service == nil):
		errs = append(errs, field.Required(p.Child("clientConfig"), "exactly one of url or service is required"))
	case cc.URL != nil:
		errs = append(errs, validateWebhookURL(p.Child("clientConfig", "url"), *cc.URL)...)
	default:
		errs = append(errs, validateWebhookService(p.Child("clientConfig", "service"), cc.Service)...)
	}
	return append(errs, validateMatchConditions(w.matchConditions, p.Child("matchConditions"))...)
}

func validateAdmissionReviewVersions(versions []string, requireRecognized bool, p *field.Path) field.ErrorList {
	if len(versions) == 0 {
		return field.ErrorList{field.Required(p, "must specify one of "+strings.Join(AcceptedAdmissionReviewVersions, ", "))}
	}
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, v := range versions {
		if seen[v] {
			errs = append(errs, field.Invalid(p.Index(i), v, "duplicate version"))
			continue
		}
		seen[v] = true
		for _, msg := range utilvalidation.IsDNS1035Label(v) {
			errs = append(errs, field.Invalid(p.Index(i), v, msg))
		}
	}
	if requireRecognized && !hasAcceptedReviewVersion(versions) {
		errs = append(errs, field.Invalid(p, versions, "must include at least one of "+strings.Join(AcceptedAdmissionReviewVersions, ", ")))
	}
	return errs
}

func hasWildcard(items []string) bool {
	for _, s := range items {
		if s == "*" {
			return true
		}
	}
	return false
}

func validateRuleWithOperations(r *admissionregistrationv1.RuleWithOperations, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	ops := make([]string, len(r.Operations))
	for i, o := range r.Operations {
		ops[i] = string(o)
	}
	if len(ops) == 0 {
		errs = append(errs, field.Required(p.Child("operations"), ""))
	}
	if len(ops) > 1 && hasWildcard(ops) {
		errs = append(errs, field.Invalid(p.Child("operations"), r.Operations, "if '*' is present, must not specify other operations"))
	}
	for i, o := range r.Operations {
		if !supportedOperations.Has(string(o)) {
			errs = append(errs, field.NotSupported(p.Child("operations").Index(i), o, sets.List(supportedOperations)))
		}
	}
	if len(r.APIGroups) == 0 {
		errs = append(errs, field.Required(p.Child("apiGroups"), ""))
	}
	if len(r.APIGroups) > 1 && hasWildcard(r.APIGroups) {
		errs = append(errs, field.Invalid(p.Child("apiGroups"), r.APIGroups, "if '*' is present, must not specify other API groups"))
	}
	if len(r.APIVersions) == 0 {
		errs = append(errs, field.Required(p.Child("apiVersions"), ""))
	}
	if len(r.APIVersions) > 1 && hasWildcard(r.APIVersions) {
		errs = append(errs, field.Invalid(p.Child("apiVersions"), r.APIVersions, "if '*' is present, must not specify other API versions"))
	}
	for i, v := range r.APIVersions {
		if v == "" {
			errs = append(errs, field.Required(p.Child("apiVersions").Index(i), ""))
		}
	}
	errs = append(errs, validateRuleResources(r.Resources, p.Child("resources"))...)
	if r.Scope != nil && !supportedScopes.Has(string(*r.Scope)) {
		errs = append(errs, field.NotSupported(p.Child("scope"), *r.Scope, sets.List(supportedScopes)))
	}
	return errs
}

// validateRuleResources checks "resource", "resource/subresource" and the
// wildcards "*", "*/*", "x/*" and "*/x" as upstream: a wildcard may not be
// combined with what it already covers.
func validateRuleResources(resources []string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(resources) == 0 {
		errs = append(errs, field.Required(p, ""))
	}
	wildSub, wildRes := sets.New[string](), sets.New[string]()
	doubleWild, singleWild, plain := false, false, false
	for i, rs := range resources {
		if rs == "" {
			errs = append(errs, field.Required(p.Index(i), ""))
			continue
		}
		if rs == "*/*" {
			doubleWild = true
		}
		if rs == "*" {
			singleWild = true
		}
		res, sub, ok := strings.Cut(rs, "/")
		if !ok {
			plain = rs != "*"
			continue
		}
		if wildSub.Has(res) {
			errs = append(errs, field.Invalid(p.Index(i), rs, fmt.Sprintf("if '%s/*' is present, must not specify %s", res, rs)))
		}
		if wildRes.Has(sub) {
			errs = append(errs, field.Invalid(p.Index(i), rs, fmt.Sprintf("if '*/%s' is present, must not specify %s", sub, rs)))
		}
		if sub == "*" {
			wildSub.Insert(res)
		}
		if res == "*" {
			wildRes.Insert(sub)
		}
	}
	if len(resources) > 1 && doubleWild {
		errs = append(errs, field.Invalid(p, resources, "if '*/*' is present, must not specify other resources"))
	}
	if singleWild && plain {
		errs = append(errs, field.Invalid(p, resources, "if '*' is present, must not specify other resources without subresources"))
	}
	return errs
}

func validateWebhookURL(p *field.Path, raw string) field.ErrorList {
	const form = "; desired format: https://host[/path]"
	u, err := url.Parse(raw)
	if err != nil {
		return field.ErrorList{field.Required(p, "url must be a valid URL: "+err.Error()+form)}
	}
	var errs field.ErrorList
	if u.Scheme != "https" {
		errs = append(errs, field.Invalid(p, u.Scheme, "'https' is the only allowed URL scheme"+form))
	}
	if u.Host == "" {
		errs = append(errs, field.Invalid(p, u.Host, "host must be provided"+form))
	}
	if u.User != nil {
		errs = append(errs, field.Invalid(p, u.User.String(), "user information is not permitted in the URL"))
	}
	if u.Fragment != "" {
		errs = append(errs, field.Invalid(p, u.Fragment, "fragments are not permitted in the URL"))
	}
	if u.RawQuery != "" {
		errs = append(errs, field.Invalid(p, u.RawQuery, "query parameters are not permitted in the URL"))
	}
	return errs
}

func validateWebhookService(p *field.Path, s *admissionregistrationv1.ServiceReference) field.ErrorList {
	var errs field.ErrorList
	if s.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), "service name is required"))
	}
	if s.Namespace == "" {
		errs = append(errs, field.Required(p.Child("namespace"), "service namespace is required"))
	}
	if s.Port != nil {
		if msgs := utilvalidation.IsValidPortNum(int(*s.Port)); msgs != nil {
			errs = append(errs, field.Invalid(p.Child("port"), *s.Port, "port is not valid: "+strings.Join(msgs, ", ")))
		}
	}
	if s.Path == nil || *s.Path == "/" || *s.Path == "" {
		return errs
	}
	path := *s.Path
	if path == "//" {
		return append(errs, field.Invalid(p.Child("path"), path, "segment[0] may not be empty"))
	}
	if !strings.HasPrefix(path, "/") {
		errs = append(errs, field.Invalid(p.Child("path"), path, "must start with a '/'"))
	}
	check := strings.TrimSuffix(strings.TrimPrefix(path, "/"), "/")
	for i, step := range strings.Split(check, "/") {
		if step == "" {
			errs = append(errs, field.Invalid(p.Child("path"), path, fmt.Sprintf("segment[%d] may not be empty", i)))
			continue
		}
		for _, msg := range utilvalidation.IsDNS1123Subdomain(step) {
			errs = append(errs, field.Invalid(p.Child("path"), path, fmt.Sprintf("segment[%d]: %v", i, msg)))
		}
	}
	return errs
}

// compileMatchCondition compiles a matchCondition as the webhook plug-in
// will: a bool CEL expression over object, oldObject and request.
func compileMatchCondition(expr string) error {
	env, err := celexpr.NewEnv(celexpr.Decls{})
	if err != nil {
		return err
	}
	_, err = env.Compile(expr, cel.BoolType)
	return err
}

// validateMatchConditions checks names, presence and that each
// expression compiles (422 with the compiler's text, as upstream).
func validateMatchConditions(conds []admissionregistrationv1.MatchCondition, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(conds) > 64 {
		errs = append(errs, field.TooMany(p, len(conds), 64))
	}
	names := sets.New[string]()
	for i, c := range conds {
		cp := p.Index(i)
		if strings.TrimSpace(c.Expression) == "" {
			errs = append(errs, field.Required(cp.Child("expression"), ""))
		} else if err := compileMatchCondition(c.Expression); err != nil {
			errs = append(errs, field.Invalid(cp.Child("expression"), c.Expression, err.Error()))
		}
		if c.Name == "" {
			errs = append(errs, field.Required(cp.Child("name"), ""))
		} else {
			for _, msg := range utilvalidation.IsQualifiedName(c.Name) {
				errs = append(errs, field.Invalid(cp.Child("name"), c.Name, msg))
			}
			if names.Has(c.Name) {
				errs = append(errs, field.Duplicate(cp.Child("name"), c.Name))
			}
			names.Insert(c.Name)
		}
	}
	return errs
}

func (webhookConfigStrategy) ColumnDefinitions() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
		{Name: "Webhooks", Type: "integer", Description: "Webhooks indicates the number of webhooks in the configuration"},
		{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
	}
}

func (s webhookConfigStrategy) Row(obj runtime.Object) []interface{} {
	hooks, ok := webhooksOf(obj)
	if !ok {
		return nil
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil
	}
	age := "<unknown>"
	if ts := m.GetCreationTimestamp(); !ts.IsZero() {
		age = duration.HumanDuration(s.now().Sub(ts.Time))
	}
	return []interface{}{m.GetName(), int64(len(hooks)), age}
}
