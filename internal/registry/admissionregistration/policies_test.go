package admissionregistration

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry/registrytest"
)

// demoPolicy is the policy of upstream's documentation.
func demoPolicy() *admissionregistrationv1.ValidatingAdmissionPolicy {
	return &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "demo-policy.example.com"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{"CREATE", "UPDATE"},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}},
				}}},
			},
			Validations: []admissionregistrationv1.Validation{{Expression: "object.spec.replicas <= 5"}},
		},
	}
}

func TestPolicyDefaults(t *testing.T) {
	p := demoPolicy()
	policyStrategy{}.Default(p)
	mc := p.Spec.MatchConstraints
	if *p.Spec.FailurePolicy != admissionregistrationv1.Fail || *mc.MatchPolicy != admissionregistrationv1.Equivalent ||
		mc.NamespaceSelector == nil || mc.ObjectSelector == nil || *mc.ResourceRules[0].Scope != admissionregistrationv1.AllScopes {
		t.Fatalf("defaults not applied: %+v", p.Spec)
	}
	if errs := (policyStrategy{}).Validate(context.Background(), p); len(errs) != 0 {
		t.Fatalf("errors = %v", errs)
	}
}

func TestPolicyValidate(t *testing.T) {
	cases := []struct {
		name   string
		change func(p *admissionregistrationv1.ValidatingAdmissionPolicy)
		path   string
		typ    field.ErrorType
		detail string
	}{
		{"syntax error", func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.Validations[0].Expression = "object.spec.replicas <="
		},
			"spec.validations[0].expression", field.ErrorTypeInvalid, "compilation failed: ERROR: <input>:1:24: Syntax error"},
		{"not a bool", func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.Validations[0].Expression = "object.spec.replicas"
		},
			"spec.validations[0].expression", field.ErrorTypeInvalid, "must evaluate to bool"},
		{"params without paramKind", func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.Validations[0].Expression = "object.spec.replicas <= params.max"
		}, "spec.validations[0].expression", field.ErrorTypeInvalid, "undeclared reference to 'params'"},
		{"message expression type", func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.Validations[0].MessageExpression = "1"
		},
			"spec.validations[0].messageExpression", field.ErrorTypeInvalid, "must evaluate to string"},
		{"message line break", func(p *admissionregistrationv1.ValidatingAdmissionPolicy) { p.Spec.Validations[0].Message = "a\nb" },
			"spec.validations[0].message", field.ErrorTypeInvalid, "message must not contain line breaks"},
		{"reason", func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			r := metav1.StatusReason("Teapot")
			p.Spec.Validations[0].Reason = &r
		}, "spec.validations[0].reason", field.ErrorTypeNotSupported, ""},
		{"empty expression", func(p *admissionregistrationv1.ValidatingAdmissionPolicy) { p.Spec.Validations[0].Expression = " " },
			"spec.validations[0].expression", field.ErrorTypeRequired, "expression is not specified"},
		{"no validations", func(p *admissionregistrationv1.ValidatingAdmissionPolicy) { p.Spec.Validations = nil },
			"spec.validations", field.ErrorTypeRequired, "validations or auditAnnotations must contain at least one item"},
		{"no resource rules", func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.MatchConstraints.ResourceRules = nil
		},
			"spec.matchConstraints.resourceRules", field.ErrorTypeRequired, ""},
		{"bad rule", func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.MatchConstraints.ResourceRules[0].Operations = []admissionregistrationv1.OperationType{"PATCH"}
		}, "spec.matchConstraints.resourceRules[0].operations[0]", field.ErrorTypeNotSupported, ""},
		{"variable name", func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.Variables = []admissionregistrationv1.Variable{{Name: "1x", Expression: "1"}}
		}, "spec.variables[0].name", field.ErrorTypeInvalid, "name is not a valid CEL identifier"},
		{"variable used", func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.Variables = []admissionregistrationv1.Variable{{Name: "replicas", Expression: "object.spec.replicas"}}
			p.Spec.Validations[0].Expression = "variables.replicas <= 5 && variables.other"
		}, "spec.validations[0].expression", field.ErrorTypeInvalid, "undeclared reference"},
		{"match condition", func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.MatchConditions = []admissionregistrationv1.MatchCondition{{Name: "x", Expression: "'a'"}}
		}, "spec.matchConditions[0].expression", field.ErrorTypeInvalid, "must evaluate to bool"},
		{"audit annotation", func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.AuditAnnotations = []admissionregistrationv1.AuditAnnotation{{Key: "high-replicas", ValueExpression: "1"}}
		}, "spec.auditAnnotations[0].valueExpression", field.ErrorTypeInvalid, "must evaluate to one of [string null_type]"},
		{"paramKind", func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.ParamKind = &admissionregistrationv1.ParamKind{APIVersion: "v1"}
		}, "spec.paramKind.kind", field.ErrorTypeRequired, ""},
		{"failurePolicy", func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.FailurePolicy = ptrTo(admissionregistrationv1.FailurePolicyType("Maybe"))
		}, "spec.failurePolicy", field.ErrorTypeNotSupported, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := demoPolicy()
			tc.change(p)
			policyStrategy{}.Default(p)
			errs := policyStrategy{}.Validate(context.Background(), p)
			if len(errs) == 0 || errs[0].Field != tc.path || errs[0].Type != tc.typ || !strings.Contains(errs[0].Error(), tc.detail) {
				t.Fatalf("errors = %v", errs)
			}
		})
	}
}

func TestBindingValidate(t *testing.T) {
	deny := admissionregistrationv1.DenyAction
	cases := []struct {
		name   string
		spec   admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec
		path   string
		detail string
	}{
		{name: "valid", spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "p", ValidationActions: []admissionregistrationv1.ValidationAction{"Deny"}}},
		{"no actions", admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "p"}, "spec.validationActions", "at least one validation action is required"},
		{"deny and warn", admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "p", ValidationActions: []admissionregistrationv1.ValidationAction{"Deny", "Warn"}},
			"spec.validationActions", "must not contain both Deny and Warn"},
		{"param ref name and selector", admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "p", ValidationActions: []admissionregistrationv1.ValidationAction{"Audit"},
			ParamRef: &admissionregistrationv1.ParamRef{Name: "x", Selector: &metav1.LabelSelector{}, ParameterNotFoundAction: &deny}},
			"spec.paramRef.name", "name and selector are mutually exclusive"},
		{"param ref action", admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "p", ValidationActions: []admissionregistrationv1.ValidationAction{"Warn"},
			ParamRef: &admissionregistrationv1.ParamRef{Name: "x"}}, "spec.paramRef.parameterNotFoundAction", "Required value"},
		{"no policy", admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{ValidationActions: []admissionregistrationv1.ValidationAction{"Warn"}}, "spec.policyName", "Required value"},
		{"bad match resources", admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "p", ValidationActions: []admissionregistrationv1.ValidationAction{"Warn"},
			MatchResources: &admissionregistrationv1.MatchResources{MatchPolicy: ptrTo(admissionregistrationv1.MatchPolicyType("Close"))}},
			"spec.matchResouces.matchPolicy", "Unsupported value"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: "b"}, Spec: tc.spec}
			bindingStrategy{}.Default(b)
			errs := bindingStrategy{}.Validate(context.Background(), b)
			if tc.path == "" {
				if len(errs) != 0 {
					t.Fatalf("errors = %v", errs)
				}
				return
			}
			if len(errs) == 0 || errs[0].Field != tc.path || !strings.Contains(errs[0].Error(), tc.detail) {
				t.Fatalf("errors = %v", errs)
			}
		})
	}
}

func TestPolicyRows(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	p := demoPolicy()
	p.CreationTimestamp = metav1.NewTime(now.Add(-time.Hour))
	if got, want := (policyStrategy{now: clock}).Row(p), []interface{}{"demo-policy.example.com", int64(1), "<unset>", "60m"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("row = %v, want %v", got, want)
	}
	p.Spec.ParamKind = &admissionregistrationv1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"}
	if got := (policyStrategy{now: clock}).Row(p)[2]; got != "v1/ConfigMap" {
		t.Fatalf("paramKind cell = %v", got)
	}
	b := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: "b"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "p", ParamRef: &admissionregistrationv1.ParamRef{Name: "limits", Namespace: "default"}}}
	if got, want := (bindingStrategy{now: clock}).Row(b), []interface{}{"b", "p", "default/limits", "<unknown>"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("row = %v, want %v", got, want)
	}
}

func TestPolicyStrategiesNeverPanic(t *testing.T) {
	registrytest.StrategiesNeverPanic(t, PolicyResources(), registrytest.NewFiller(7, 3, 6), 200)
}
