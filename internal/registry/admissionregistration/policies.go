package admissionregistration

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/celexpr"
	"skiff.dev/skiff/internal/registry"
)

// PolicyResources returns validatingadmissionpolicies (with /status) and
// validatingadmissionpolicybindings, both cluster-scoped.
func PolicyResources() []registry.Resource {
	return policyResources(time.Now)
}

func policyResources(now func() time.Time) []registry.Resource {
	gv := admissionregistrationv1.SchemeGroupVersion
	return []registry.Resource{
		{
			GroupVersion: gv, Resource: "validatingadmissionpolicies", Kind: "ValidatingAdmissionPolicy",
			SingularName: "validatingadmissionpolicy", Categories: []string{"api-extensions"},
			New:      func() runtime.Object { return &admissionregistrationv1.ValidatingAdmissionPolicy{} },
			NewList:  func() runtime.Object { return &admissionregistrationv1.ValidatingAdmissionPolicyList{} },
			Strategy: policyStrategy{now: now}, HasStatus: true, HasGeneration: true,
		},
		{
			GroupVersion: gv, Resource: "validatingadmissionpolicybindings", Kind: "ValidatingAdmissionPolicyBinding",
			SingularName: "validatingadmissionpolicybinding", Categories: []string{"api-extensions"},
			New:      func() runtime.Object { return &admissionregistrationv1.ValidatingAdmissionPolicyBinding{} },
			NewList:  func() runtime.Object { return &admissionregistrationv1.ValidatingAdmissionPolicyBindingList{} },
			Strategy: bindingStrategy{now: now}, HasGeneration: true,
		},
	}
}

type policyStrategy struct{ now func() time.Time }

var (
	_ registry.Strategy       = policyStrategy{}
	_ registry.StatusStrategy = policyStrategy{}
	_ registry.TableConvertor = policyStrategy{}
)

// DefaultMatchResources applies upstream's defaults to a policy's
// matchConstraints or a binding's matchResources: matchPolicy Equivalent,
// empty selectors, rule scope "*".
func DefaultMatchResources(m *admissionregistrationv1.MatchResources) {
	if m == nil {
		return
	}
	if m.MatchPolicy == nil {
		m.MatchPolicy = ptrTo(admissionregistrationv1.Equivalent)
	}
	if m.NamespaceSelector == nil {
		m.NamespaceSelector = &metav1.LabelSelector{}
	}
	if m.ObjectSelector == nil {
		m.ObjectSelector = &metav1.LabelSelector{}
	}
	for _, rules := range [][]admissionregistrationv1.NamedRuleWithOperations{m.ResourceRules, m.ExcludeResourceRules} {
		for i := range rules {
			if rules[i].Scope == nil {
				rules[i].Scope = ptrTo(admissionregistrationv1.AllScopes)
			}
		}
	}
}

func (policyStrategy) Default(obj runtime.Object) {
	p, ok := obj.(*admissionregistrationv1.ValidatingAdmissionPolicy)
	if !ok {
		return
	}
	if p.Spec.FailurePolicy == nil {
		p.Spec.FailurePolicy = ptrTo(admissionregistrationv1.Fail)
	}
	DefaultMatchResources(p.Spec.MatchConstraints)
}

func (policyStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object)      {}
func (policyStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {}

func (policyStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	p, ok := obj.(*admissionregistrationv1.ValidatingAdmissionPolicy)
	if !ok {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("expected *v1.ValidatingAdmissionPolicy, got %T", obj))}
	}
	return validatePolicySpec(p.Name, &p.Spec, field.NewPath("spec"))
}

func (s policyStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return s.Validate(ctx, obj)
}

// ValidateStatusUpdate checks the status the type checker (or a client)
// writes: conditions as metav1 conditions, warnings with their field.
func (policyStrategy) ValidateStatusUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	p, ok := obj.(*admissionregistrationv1.ValidatingAdmissionPolicy)
	if !ok {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("expected *v1.ValidatingAdmissionPolicy, got %T", obj))}
	}
	sp := field.NewPath("status")
	errs := metav1validation.ValidateConditions(p.Status.Conditions, sp.Child("conditions"))
	if tc := p.Status.TypeChecking; tc != nil {
		for i, w := range tc.ExpressionWarnings {
			wp := sp.Child("typeChecking", "expressionWarnings").Index(i)
			if w.FieldRef == "" {
				errs = append(errs, field.Required(wp.Child("fieldRef"), ""))
			}
			if w.Warning == "" {
				errs = append(errs, field.Required(wp.Child("warning"), ""))
			}
		}
	}
	return errs
}

const (
	maxAuditAnnotations = 20
	// maxAuditAnnotationValueExpressionLength is upstream's 5 KiB: less
	// than an audit annotation value's 10 KiB, as an expression that
	// joins strings often makes a longer value than itself.
	maxAuditAnnotationValueExpressionLength = 5 * 1024
)

var supportedValidationReasons = sets.New(
	string(metav1.StatusReasonForbidden), string(metav1.StatusReasonInvalid), string(metav1.StatusReasonRequestEntityTooLarge))

// validatePolicySpec is upstream's validation of a policy, CEL
// compilation of every expression included: an expression that does not
// compile, or has the wrong type, is Invalid at its field.
func validatePolicySpec(name string, spec *admissionregistrationv1.ValidatingAdmissionPolicySpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.FailurePolicy == nil {
		errs = append(errs, field.Required(p.Child("failurePolicy"), ""))
	} else if !supportedFailurePolicies.Has(string(*spec.FailurePolicy)) {
		errs = append(errs, field.NotSupported(p.Child("failurePolicy"), *spec.FailurePolicy, sets.List(supportedFailurePolicies)))
	}
	hasParams := spec.ParamKind != nil
	if hasParams {
		errs = append(errs, validateParamKind(*spec.ParamKind, p.Child("paramKind"))...)
	}
	if spec.MatchConstraints == nil {
		errs = append(errs, field.Required(p.Child("matchConstraints"), ""))
	} else {
		errs = append(errs, validateMatchResources(spec.MatchConstraints, p.Child("matchConstraints"))...)
		// At least one resourceRule, to give the expressions a type.
		if len(spec.MatchConstraints.ResourceRules) == 0 {
			errs = append(errs, field.Required(p.Child("matchConstraints", "resourceRules"), ""))
		}
	}
	env, err := celexpr.NewEnv(celexpr.Decls{Params: hasParams})
	if err != nil {
		return append(errs, field.InternalError(p, err))
	}
	errs = append(errs, validateMatchConditions(spec.MatchConditions, p.Child("matchConditions"))...)
	for i, c := range spec.MatchConditions {
		if strings.TrimSpace(c.Expression) != "" {
			errs = append(errs, compileErr(env, c.Expression, p.Child("matchConditions").Index(i).Child("expression"), cel.BoolType)...)
		}
	}
	// Variables compile in order, each seeing the earlier ones; the
	// other expressions see them all.
	for i, v := range spec.Variables {
		vp := p.Child("variables").Index(i)
		if strings.TrimSpace(v.Name) == "" {
			errs = append(errs, field.Required(vp.Child("name"), "name is not specified"))
		} else if !celexpr.IsIdentifier(v.Name) {
			errs = append(errs, field.Invalid(vp.Child("name"), v.Name, "name is not a valid CEL identifier"))
		}
		if strings.TrimSpace(v.Expression) == "" {
			errs = append(errs, field.Required(vp.Child("expression"), "expression is not specified"))
			continue
		}
		if _, err := env.AddVariable(v.Name, v.Expression); err != nil {
			errs = append(errs, celFieldError(vp.Child("expression"), v.Expression, err))
		}
	}
	if len(spec.Validations) == 0 && len(spec.AuditAnnotations) == 0 {
		msg := "validations or auditAnnotations must contain at least one item"
		return append(errs, field.Required(p.Child("validations"), msg), field.Required(p.Child("auditAnnotations"), msg))
	}
	for i, v := range spec.Validations {
		errs = append(errs, validateValidation(env, &v, p.Child("validations").Index(i))...)
	}
	if len(spec.AuditAnnotations) > maxAuditAnnotations {
		errs = append(errs, field.Invalid(p.Child("auditAnnotations"), spec.AuditAnnotations, fmt.Sprintf("must not have more than %d auditAnnotations", maxAuditAnnotations)))
	}
	keys := sets.New[string]()
	for i, a := range spec.AuditAnnotations {
		ap := p.Child("auditAnnotations").Index(i)
		if name != "" {
			for _, msg := range utilvalidation.IsQualifiedName(name + "/" + a.Key) {
				errs = append(errs, field.Invalid(ap.Child("key"), name+"/"+a.Key, msg))
			}
		} else {
			errs = append(errs, field.Invalid(ap.Child("key"), a.Key, "requires metadata.name be non-empty"))
		}
		switch expr := strings.TrimSpace(a.ValueExpression); {
		case expr == "":
			errs = append(errs, field.Required(ap.Child("valueExpression"), "valueExpression is not specified"))
		case len(expr) > maxAuditAnnotationValueExpressionLength:
			errs = append(errs, field.Required(ap.Child("valueExpression"), fmt.Sprintf("must not exceed %d bytes in length", maxAuditAnnotationValueExpressionLength)))
		default:
			errs = append(errs, compileErr(env, a.ValueExpression, ap.Child("valueExpression"), cel.StringType, cel.NullType)...)
		}
		if keys.Has(a.Key) {
			errs = append(errs, field.Duplicate(ap.Child("key"), a.Key))
		}
		keys.Insert(a.Key)
	}
	return errs
}

func validateValidation(env *celexpr.Env, v *admissionregistrationv1.Validation, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if strings.TrimSpace(v.Expression) == "" {
		errs = append(errs, field.Required(p.Child("expression"), "expression is not specified"))
	} else {
		errs = append(errs, compileErr(env, v.Expression, p.Child("expression"), cel.BoolType)...)
	}
	if v.MessageExpression != "" && strings.TrimSpace(v.MessageExpression) == "" {
		errs = append(errs, field.Invalid(p.Child("messageExpression"), v.MessageExpression, "must be non-empty if specified"))
	} else if v.MessageExpression != "" {
		errs = append(errs, compileErr(env, v.MessageExpression, p.Child("messageExpression"), cel.StringType)...)
	}
	msg := strings.TrimSpace(v.Message)
	if v.Message != "" && msg == "" {
		errs = append(errs, field.Invalid(p.Child("message"), v.Message, "message must be non-empty if specified"))
	} else if strings.ContainsAny(msg, "\n\r") {
		errs = append(errs, field.Invalid(p.Child("message"), v.Message, "message must not contain line breaks"))
	}
	if v.Reason != nil && !supportedValidationReasons.Has(string(*v.Reason)) {
		errs = append(errs, field.NotSupported(p.Child("reason"), *v.Reason, sets.List(supportedValidationReasons)))
	}
	return errs
}

func compileErr(env *celexpr.Env, expr string, p *field.Path, want ...*cel.Type) field.ErrorList {
	if _, err := env.Compile(expr, want...); err != nil {
		return field.ErrorList{celFieldError(p, expr, err)}
	}
	return nil
}

// celFieldError reports a compile error as upstream: Invalid, with the
// expression as the value and the compiler's text as the detail.
func celFieldError(p *field.Path, expr string, err error) *field.Error {
	if ce, ok := err.(*celexpr.CompileError); ok {
		return field.Invalid(p, expr, ce.Detail)
	}
	return field.InternalError(p, err)
}

func validateParamKind(k admissionregistrationv1.ParamKind, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if k.APIVersion == "" {
		errs = append(errs, field.Required(p.Child("apiVersion"), ""))
	} else if gv, err := schema.ParseGroupVersion(k.APIVersion); err != nil {
		errs = append(errs, field.Invalid(p.Child("apiVersion"), k.APIVersion, err.Error()))
	} else {
		if gv.Group != "" {
			if msgs := utilvalidation.IsDNS1123Subdomain(gv.Group); len(msgs) > 0 {
				errs = append(errs, field.Invalid(p.Child("apiVersion"), gv.Group, strings.Join(msgs, ",")))
			}
		}
		if gv.Version == "" {
			errs = append(errs, field.Invalid(p.Child("apiVersion"), k.APIVersion, "version must be specified"))
		} else if msgs := utilvalidation.IsDNS1035Label(gv.Version); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p.Child("apiVersion"), gv.Version, strings.Join(msgs, ",")))
		}
	}
	if k.Kind == "" {
		errs = append(errs, field.Required(p.Child("kind"), ""))
	} else if msgs := utilvalidation.IsDNS1035Label(strings.ToLower(k.Kind)); len(msgs) > 0 {
		errs = append(errs, field.Invalid(p.Child("kind"), k.Kind, "may have mixed case, but should otherwise match: "+strings.Join(msgs, ",")))
	}
	return errs
}

// validateMatchResources checks matchConstraints and a binding's
// matchResources (whose defaults have been applied).
func validateMatchResources(m *admissionregistrationv1.MatchResources, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if m == nil {
		return nil
	}
	if m.MatchPolicy == nil {
		errs = append(errs, field.Required(p.Child("matchPolicy"), ""))
	} else if !supportedMatchPolicies.Has(string(*m.MatchPolicy)) {
		errs = append(errs, field.NotSupported(p.Child("matchPolicy"), *m.MatchPolicy, sets.List(supportedMatchPolicies)))
	}
	for _, sel := range []struct {
		name string
		s    *metav1.LabelSelector
	}{{"namespaceSelector", m.NamespaceSelector}, {"objectSelector", m.ObjectSelector}} {
		if sel.s == nil {
			errs = append(errs, field.Required(p.Child(sel.name), ""))
		} else {
			errs = append(errs, metav1validation.ValidateLabelSelector(sel.s, metav1validation.LabelSelectorValidationOptions{}, p.Child(sel.name))...)
		}
	}
	for _, rules := range []struct {
		name  string
		rules []admissionregistrationv1.NamedRuleWithOperations
	}{{"resourceRules", m.ResourceRules}, {"excludeResourceRules", m.ExcludeResourceRules}} {
		for i := range rules.rules {
			errs = append(errs, validateNamedRule(&rules.rules[i], p.Child(rules.name).Index(i))...)
		}
	}
	return errs
}

func validateNamedRule(r *admissionregistrationv1.NamedRuleWithOperations, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	for i, n := range r.ResourceNames {
		for _, msg := range path.ValidatePathSegmentName(n, false) {
			errs = append(errs, field.Invalid(p.Child("resourceNames").Index(i), n, msg))
		}
		if names.Has(n) {
			errs = append(errs, field.Duplicate(p.Child("resourceNames").Index(i), n))
		}
		names.Insert(n)
	}
	return append(errs, validateRuleWithOperations(&r.RuleWithOperations, p)...)
}

func (policyStrategy) ColumnDefinitions() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
		{Name: "Validations", Type: "integer", Description: "Validations indicates the number of validation rules defined in this configuration"},
		{Name: "ParamKind", Type: "string", Description: "ParamKind specifies the kind of resources used to parameterize this policy"},
		{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
	}
}

func (s policyStrategy) Row(obj runtime.Object) []interface{} {
	p, ok := obj.(*admissionregistrationv1.ValidatingAdmissionPolicy)
	if !ok {
		return nil
	}
	paramKind := "<unset>"
	if k := p.Spec.ParamKind; k != nil {
		paramKind = k.APIVersion + "/" + k.Kind
	}
	return []interface{}{p.Name, int64(len(p.Spec.Validations)), paramKind, policyAge(s.now, p.CreationTimestamp)}
}

func policyAge(now func() time.Time, ts metav1.Time) string {
	if ts.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now().Sub(ts.Time))
}

type bindingStrategy struct{ now func() time.Time }

var (
	_ registry.Strategy       = bindingStrategy{}
	_ registry.TableConvertor = bindingStrategy{}
)

func (bindingStrategy) Default(obj runtime.Object) {
	if b, ok := obj.(*admissionregistrationv1.ValidatingAdmissionPolicyBinding); ok {
		DefaultMatchResources(b.Spec.MatchResources)
	}
}

func (bindingStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object)      {}
func (bindingStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {}

var supportedValidationActions = sets.New(
	string(admissionregistrationv1.Deny), string(admissionregistrationv1.Warn), string(admissionregistrationv1.Audit))

func (bindingStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	b, ok := obj.(*admissionregistrationv1.ValidatingAdmissionPolicyBinding)
	if !ok {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("expected *v1.ValidatingAdmissionPolicyBinding, got %T", obj))}
	}
	p := field.NewPath("spec")
	var errs field.ErrorList
	if b.Spec.PolicyName == "" {
		errs = append(errs, field.Required(p.Child("policyName"), ""))
	} else {
		for _, msg := range utilvalidation.IsDNS1123Subdomain(b.Spec.PolicyName) {
			errs = append(errs, field.Invalid(p.Child("policyName"), b.Spec.PolicyName, msg))
		}
	}
	errs = append(errs, validateParamRef(b.Spec.ParamRef, p.Child("paramRef"))...)
	// "matchResouces" is upstream's spelling of the path.
	errs = append(errs, validateMatchResources(b.Spec.MatchResources, p.Child("matchResouces"))...)
	ap := p.Child("validationActions")
	seen := sets.New[string]()
	for i, a := range b.Spec.ValidationActions {
		if !supportedValidationActions.Has(string(a)) {
			errs = append(errs, field.NotSupported(ap.Index(i), a, sets.List(supportedValidationActions)))
		}
		if seen.Has(string(a)) {
			errs = append(errs, field.Duplicate(ap.Index(i), a))
		}
		seen.Insert(string(a))
	}
	if seen.Has(string(admissionregistrationv1.Deny)) && seen.Has(string(admissionregistrationv1.Warn)) {
		errs = append(errs, field.Invalid(ap, b.Spec.ValidationActions, "must not contain both Deny and Warn (repeating the same validation failure information in the API response and headers serves no purpose)"))
	}
	if seen.Len() == 0 {
		errs = append(errs, field.Required(ap, "at least one validation action is required"))
	}
	return errs
}

func (s bindingStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return s.Validate(ctx, obj)
}

func validateParamRef(r *admissionregistrationv1.ParamRef, p *field.Path) field.ErrorList {
	if r == nil {
		return nil
	}
	var errs field.ErrorList
	if r.Name != "" {
		for _, msg := range path.ValidatePathSegmentName(r.Name, false) {
			errs = append(errs, field.Invalid(p.Child("name"), r.Name, msg))
		}
		if r.Selector != nil {
			errs = append(errs, field.Forbidden(p.Child("name"), "name and selector are mutually exclusive"))
		}
	}
	if r.Selector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(r.Selector, metav1validation.LabelSelectorValidationOptions{}, p.Child("selector"))...)
		if r.Name != "" {
			errs = append(errs, field.Forbidden(p.Child("selector"), "name and selector are mutually exclusive"))
		}
	}
	if r.Name == "" && r.Selector == nil {
		errs = append(errs, field.Required(p, "one of name or selector must be specified"))
	}
	switch a := r.ParameterNotFoundAction; {
	case a == nil || *a == "":
		errs = append(errs, field.Required(p.Child("parameterNotFoundAction"), ""))
	case *a != admissionregistrationv1.DenyAction && *a != admissionregistrationv1.AllowAction:
		errs = append(errs, field.NotSupported(p.Child("parameterNotFoundAction"), *a,
			[]string{string(admissionregistrationv1.DenyAction), string(admissionregistrationv1.AllowAction)}))
	}
	return errs
}

func (bindingStrategy) ColumnDefinitions() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
		{Name: "PolicyName", Type: "string", Description: "PolicyName indicates the policy definition which the policy binding binded to"},
		{Name: "ParamRef", Type: "string", Description: "ParamRef indicates the param resource which sets the configration param"},
		{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
	}
}

func (s bindingStrategy) Row(obj runtime.Object) []interface{} {
	b, ok := obj.(*admissionregistrationv1.ValidatingAdmissionPolicyBinding)
	if !ok {
		return nil
	}
	param := "<unset>"
	if r := b.Spec.ParamRef; r != nil {
		switch {
		case r.Name != "" && r.Namespace != "":
			param = r.Namespace + "/" + r.Name
		case r.Name != "":
			// Whether the param kind is namespaced is not known here.
			param = "*/" + r.Name
		case r.Selector != nil:
			param = r.Selector.String()
		}
	}
	return []interface{}{b.Name, b.Spec.PolicyName, param, policyAge(s.now, b.CreationTimestamp)}
}
