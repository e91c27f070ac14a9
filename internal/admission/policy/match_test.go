package policy

import (
	"fmt"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/internal/admission"
	"skiff.dev/skiff/internal/auth/authn"
)

func rule(ops []admissionregistrationv1.OperationType, groups, versions, resources []string, scope admissionregistrationv1.ScopeType, names ...string) admissionregistrationv1.NamedRuleWithOperations {
	return admissionregistrationv1.NamedRuleWithOperations{ResourceNames: names, RuleWithOperations: admissionregistrationv1.RuleWithOperations{
		Operations: ops,
		Rule:       admissionregistrationv1.Rule{APIGroups: groups, APIVersions: versions, Resources: resources, Scope: &scope},
	}}
}

func TestMatches(t *testing.T) {
	all := []admissionregistrationv1.OperationType{"*"}
	create := []admissionregistrationv1.OperationType{"CREATE"}
	deploy := &admission.Attributes{
		Operation: admission.Create, Resource: appsv1.SchemeGroupVersion.WithResource("deployments"),
		Namespace: "team-a", Name: "web",
		Object: &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"tier": "front"}}},
	}
	scale := *deploy
	scale.Subresource, scale.Operation = "scale", admission.Update
	node := &admission.Attributes{Operation: admission.Create, Resource: corev1.SchemeGroupVersion.WithResource("nodes"), Name: "n1",
		Object: &corev1.Node{}}
	ns := &admission.Attributes{Operation: admission.Create, Resource: corev1.SchemeGroupVersion.WithResource("namespaces"), Name: "team-b",
		Object: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-b", Labels: map[string]string{"env": "prod"}}}}
	prod := map[string]string{"env": "prod"}
	envProd := &metav1.LabelSelector{MatchLabels: prod}

	cases := []struct {
		name     string
		m        admissionregistrationv1.MatchResources
		a        *admission.Attributes
		nsLabels map[string]string
		want     bool
	}{
		{"exact rule", admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{
			rule(create, []string{"apps"}, []string{"v1"}, []string{"deployments"}, "*")}}, deploy, nil, true},
		{"other operation", admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{
			rule([]admissionregistrationv1.OperationType{"DELETE"}, []string{"apps"}, []string{"v1"}, []string{"deployments"}, "*")}}, deploy, nil, false},
		{"wildcards", admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{
			rule(all, []string{"*"}, []string{"*"}, []string{"*"}, "*")}}, deploy, nil, true},
		{"* is no subresource", admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{
			rule(all, []string{"*"}, []string{"*"}, []string{"*"}, "*")}}, &scale, nil, false},
		{"*/* has subresources", admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{
			rule(all, []string{"*"}, []string{"*"}, []string{"*/*"}, "*")}}, &scale, nil, true},
		{"deployments/scale", admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{
			rule(all, []string{"apps"}, []string{"v1"}, []string{"deployments/scale"}, "*")}}, &scale, nil, true},
		{"cluster scope", admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{
			rule(all, []string{"*"}, []string{"*"}, []string{"*"}, "Cluster")}}, deploy, nil, false},
		{"namespaced scope", admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{
			rule(all, []string{"*"}, []string{"*"}, []string{"*"}, "Namespaced")}}, node, nil, false},
		{"resource names", admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{
			rule(all, []string{"*"}, []string{"*"}, []string{"*"}, "*", "api")}}, deploy, nil, false},
		{"excluded", admissionregistrationv1.MatchResources{
			ResourceRules:        []admissionregistrationv1.NamedRuleWithOperations{rule(all, []string{"*"}, []string{"*"}, []string{"*"}, "*")},
			ExcludeResourceRules: []admissionregistrationv1.NamedRuleWithOperations{rule(all, []string{"apps"}, []string{"*"}, []string{"deployments"}, "*")},
		}, deploy, nil, false},
		{"no rules matches all", admissionregistrationv1.MatchResources{}, deploy, nil, true},
		{"namespace selector, other namespace", admissionregistrationv1.MatchResources{NamespaceSelector: envProd}, deploy, map[string]string{"env": "dev"}, false},
		{"namespace selector, prod namespace", admissionregistrationv1.MatchResources{NamespaceSelector: envProd}, deploy, prod, true},
		{"namespace selector, cluster-scoped", admissionregistrationv1.MatchResources{NamespaceSelector: envProd}, node, nil, true},
		{"namespace selector on a namespace's own labels", admissionregistrationv1.MatchResources{NamespaceSelector: envProd}, ns, nil, true},
		{"object selector", admissionregistrationv1.MatchResources{ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "front"}}}, deploy, nil, true},
		{"object selector, no match", admissionregistrationv1.MatchResources{ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "back"}}}, deploy, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := matches(&tc.m, tc.a, tc.nsLabels)
			if err != nil || got != tc.want {
				t.Fatalf("matches = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// staticObjects is a fixed set of objects, as a watch cache would hold.
type staticObjects []runtime.Object

func (s staticObjects) List(string) []runtime.Object { return s }
func (s staticObjects) Get(_, name string) (runtime.Object, bool) {
	for _, o := range s {
		if o.(metav1.Object).GetName() == name {
			return o, true
		}
	}
	return nil, false
}

// TestAuditActions: Audit records upstream's validation_failure annotation
// and auditAnnotations their values, and neither refuses the write.
func TestAuditActions(t *testing.T) {
	fail := admissionregistrationv1.Fail
	pol := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "p", UID: "u1", ResourceVersion: "1"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &fail,
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{
				rule([]admissionregistrationv1.OperationType{"*"}, []string{"apps"}, []string{"v1"}, []string{"deployments"}, "*")}},
			Variables:        []admissionregistrationv1.Variable{{Name: "replicas", Expression: "object.spec.replicas"}},
			Validations:      []admissionregistrationv1.Validation{{Expression: "variables.replicas <= 5"}},
			AuditAnnotations: []admissionregistrationv1.AuditAnnotation{{Key: "replicas", ValueExpression: "'replicas ' + string(variables.replicas)"}},
		},
	}
	b := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: "b"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "p", ValidationActions: []admissionregistrationv1.ValidationAction{"Audit"}}}
	replicas := int32(6)
	annotations := map[string]string{}
	a := &admission.Attributes{
		Operation: admission.Create, Kind: schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"},
		Resource: appsv1.SchemeGroupVersion.WithResource("deployments"), Namespace: "default", Name: "web",
		Object:   &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: appsv1.DeploymentSpec{Replicas: &replicas}},
		Annotate: func(k, v string) { annotations[k] = v },
	}
	p := New(staticObjects{pol}, staticObjects{b}, staticObjects{}, nil)
	if err := p.Validate(t.Context(), a); err != nil {
		t.Fatalf("audit-only policy refused: %v", err)
	}
	want := map[string]string{
		"p/replicas":                `replicas 6`,
		ValidationFailureAnnotation: `[{"message":"failed expression: variables.replicas \u003c= 5","policy":"p","binding":"b","expressionIndex":0,"validationActions":["Audit"]}]`,
	}
	if len(annotations) != len(want) || annotations["p/replicas"] != want["p/replicas"] || annotations[ValidationFailureAnnotation] != want[ValidationFailureAnnotation] {
		t.Fatalf("annotations = %v\nwant %v", annotations, want)
	}
}

// BenchmarkValidate measures one write against one matching policy (its
// compilation cached): conversion of the object, activation, evaluation.
func BenchmarkValidate(b *testing.B) {
	fail := admissionregistrationv1.Fail
	pol := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "p", UID: "u1", ResourceVersion: "1"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &fail,
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{
				rule([]admissionregistrationv1.OperationType{"*"}, []string{"apps"}, []string{"v1"}, []string{"deployments"}, "*")}},
			Validations: []admissionregistrationv1.Validation{{Expression: "object.spec.replicas <= 5"}},
		},
	}
	bind := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: "b"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "p", ValidationActions: []admissionregistrationv1.ValidationAction{"Deny"}}}
	replicas := int32(3)
	p := New(staticObjects{pol}, staticObjects{bind}, staticObjects{}, nil)
	a := &admission.Attributes{
		Operation: admission.Create, Kind: schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"},
		Resource: appsv1.SchemeGroupVersion.WithResource("deployments"), Namespace: "default", Name: "web",
		Object: &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: appsv1.DeploymentSpec{Replicas: &replicas}},
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Validate(b.Context(), a); err != nil {
			b.Fatal(err)
		}
	}
}

// paramObjects serves ConfigMaps as the only param kind.
type paramObjects struct{ objs staticObjects }

func (p paramObjects) ParamObjects(gvk schema.GroupVersionKind) (Objects, bool, error) {
	if gvk != corev1.SchemeGroupVersion.WithKind("ConfigMap") {
		return nil, false, fmt.Errorf("%s is not served", gvk)
	}
	return p.objs, true, nil
}

// TestValidateCases runs the plug-in's decision table on one Deployment
// (3 replicas, in namespace "team" labelled env=prod).
func TestValidateCases(t *testing.T) {
	replicas := int32(3)
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "team", Labels: map[string]string{"app": "web"}},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas}}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team", Labels: map[string]string{"env": "prod"}}}
	cm := func(name, max string, labels map[string]string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "team", Labels: labels}, Data: map[string]string{"max": max}}
	}
	params := paramObjects{staticObjects{cm("small", "2", map[string]string{"tier": "x"}), cm("large", "10", map[string]string{"tier": "x"})}}
	deny := admissionregistrationv1.DenyAction
	allow := admissionregistrationv1.AllowAction
	cases := []struct {
		name    string
		op      admission.Operation
		spec    func(*admissionregistrationv1.ValidatingAdmissionPolicySpec)
		binding func(*admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec)
		err     string // "" = admitted
	}{
		{name: "passes", spec: func(s *admissionregistrationv1.ValidatingAdmissionPolicySpec) {
			s.Validations = []admissionregistrationv1.Validation{{Expression: "object.spec.replicas <= 5"}}
		}},
		{name: "delete sees oldObject, object null", op: admission.Delete, spec: func(s *admissionregistrationv1.ValidatingAdmissionPolicySpec) {
			s.Validations = []admissionregistrationv1.Validation{{Expression: "object == null && oldObject.metadata.name == 'web'", Message: "m"}}
		}},
		{name: "namespaceObject and request", spec: func(s *admissionregistrationv1.ValidatingAdmissionPolicySpec) {
			s.Validations = []admissionregistrationv1.Validation{{Expression: "namespaceObject.metadata.labels.env == 'dev' || request.userInfo.username != 'alice'"}}
		}, err: "failed expression: namespaceObject.metadata.labels.env == 'dev' || request.userInfo.username != 'alice'"},
		{name: "match condition false skips", spec: func(s *admissionregistrationv1.ValidatingAdmissionPolicySpec) {
			s.MatchConditions = []admissionregistrationv1.MatchCondition{{Name: "big", Expression: "object.spec.replicas > 100"}}
			s.Validations = []admissionregistrationv1.Validation{{Expression: "false"}}
		}},
		{name: "match condition error under Fail", spec: func(s *admissionregistrationv1.ValidatingAdmissionPolicySpec) {
			s.MatchConditions = []admissionregistrationv1.MatchCondition{{Name: "oops", Expression: "object.spec.nope == 1"}}
			s.Validations = []admissionregistrationv1.Validation{{Expression: "true"}}
		}, err: `failed to evaluate matchCondition "oops": no such key: nope`},
		{name: "match condition error under Ignore", spec: func(s *admissionregistrationv1.ValidatingAdmissionPolicySpec) {
			s.FailurePolicy = ptrTo(admissionregistrationv1.Ignore)
			s.MatchConditions = []admissionregistrationv1.MatchCondition{{Name: "oops", Expression: "object.spec.nope == 1"}}
			s.Validations = []admissionregistrationv1.Validation{{Expression: "false"}}
		}},
		{name: "messageExpression error falls back to message", spec: func(s *admissionregistrationv1.ValidatingAdmissionPolicySpec) {
			s.Validations = []admissionregistrationv1.Validation{{Expression: "false", Message: "static", MessageExpression: "'x' + object.spec.nope"}}
		}, err: "denied request: static"},
		{name: "params by selector: each is checked", spec: func(s *admissionregistrationv1.ValidatingAdmissionPolicySpec) {
			s.ParamKind = &admissionregistrationv1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"}
			s.Validations = []admissionregistrationv1.Validation{{Expression: "object.spec.replicas <= int(params.data.max)", MessageExpression: "'over ' + params.metadata.name"}}
		}, binding: func(b *admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec) {
			b.ParamRef = &admissionregistrationv1.ParamRef{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "x"}}, ParameterNotFoundAction: &deny}
		}, err: "denied request: over small"},
		{name: "param not found, Allow", spec: func(s *admissionregistrationv1.ValidatingAdmissionPolicySpec) {
			s.ParamKind = &admissionregistrationv1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"}
			s.Validations = []admissionregistrationv1.Validation{{Expression: "false"}}
		}, binding: func(b *admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec) {
			b.ParamRef = &admissionregistrationv1.ParamRef{Name: "missing", ParameterNotFoundAction: &allow}
		}},
		{name: "param kind not served", spec: func(s *admissionregistrationv1.ValidatingAdmissionPolicySpec) {
			s.ParamKind = &admissionregistrationv1.ParamKind{APIVersion: "example.com/v1", Kind: "Limit"}
			s.Validations = []admissionregistrationv1.Validation{{Expression: "true"}}
		}, binding: func(b *admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec) {
			b.ParamRef = &admissionregistrationv1.ParamRef{Name: "x", ParameterNotFoundAction: &deny}
		}, err: "failed to configure binding: failed to find resource referenced by paramKind: 'example.com/v1, Kind=Limit'"},
		{name: "binding matchResources narrows", spec: func(s *admissionregistrationv1.ValidatingAdmissionPolicySpec) {
			s.Validations = []admissionregistrationv1.Validation{{Expression: "false"}}
		}, binding: func(b *admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec) {
			b.MatchResources = &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "dev"}}}
		}},
		{name: "request entity too large", spec: func(s *admissionregistrationv1.ValidatingAdmissionPolicySpec) {
			s.Validations = []admissionregistrationv1.Validation{{Expression: "false", Reason: ptrTo(metav1.StatusReasonRequestEntityTooLarge)}}
		}, err: "413"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pol := &admissionregistrationv1.ValidatingAdmissionPolicy{
				ObjectMeta: metav1.ObjectMeta{Name: "p", UID: types.UID(fmt.Sprint(i)), ResourceVersion: "1"},
				Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
					FailurePolicy: ptrTo(admissionregistrationv1.Fail),
					MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{
						rule([]admissionregistrationv1.OperationType{"*"}, []string{"apps"}, []string{"v1"}, []string{"deployments"}, "*")}},
				},
			}
			tc.spec(&pol.Spec)
			b := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: "b"},
				Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "p", ValidationActions: []admissionregistrationv1.ValidationAction{"Deny"}}}
			if tc.binding != nil {
				tc.binding(&b.Spec)
			}
			a := &admission.Attributes{
				Operation: admission.Create, Kind: appsv1.SchemeGroupVersion.WithKind("Deployment"),
				Resource: appsv1.SchemeGroupVersion.WithResource("deployments"), Namespace: "team", Name: "web",
				Object: dep, User: &authn.User{Name: "alice"},
			}
			if tc.op == admission.Delete {
				a.Operation, a.Object, a.OldObject = admission.Delete, nil, dep
			}
			err := New(staticObjects{pol}, staticObjects{b}, staticObjects{ns}, params).Validate(t.Context(), a)
			if tc.err == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			se, ok := err.(*apierrors.StatusError)
			if !ok || !strings.Contains(se.Error()+" "+fmt.Sprint(se.ErrStatus.Code), tc.err) {
				t.Fatalf("error = %v, want one containing %q", err, tc.err)
			}
		})
	}
}

func ptrTo[T any](v T) *T { return &v }
