package admissionregistration

import (
	"context"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry/registrytest"
)

func validHook() admissionregistrationv1.ValidatingWebhook {
	return admissionregistrationv1.ValidatingWebhook{
		Name:         "check.example.com",
		ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: ptrTo("https://example.com/validate")},
		Rules: []admissionregistrationv1.RuleWithOperations{{
			Operations: []admissionregistrationv1.OperationType{"CREATE"},
			Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
		}},
		SideEffects:             ptrTo(admissionregistrationv1.SideEffectClassNone),
		AdmissionReviewVersions: []string{"v1"},
	}
}

func TestWebhookDefaults(t *testing.T) {
	m := &admissionregistrationv1.MutatingWebhookConfiguration{Webhooks: []admissionregistrationv1.MutatingWebhook{{
		Name:         "m.example.com",
		ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: "ns", Name: "svc"}},
		Rules:        []admissionregistrationv1.RuleWithOperations{{}},
	}}}
	webhookConfigStrategy{mutating: true}.Default(m)
	w := m.Webhooks[0]
	if *w.FailurePolicy != admissionregistrationv1.Fail || *w.MatchPolicy != admissionregistrationv1.Equivalent ||
		w.NamespaceSelector == nil || w.ObjectSelector == nil || *w.TimeoutSeconds != 10 ||
		*w.ReinvocationPolicy != admissionregistrationv1.NeverReinvocationPolicy ||
		*w.Rules[0].Scope != admissionregistrationv1.AllScopes || *w.ClientConfig.Service.Port != 443 {
		t.Fatalf("defaults: %+v", w)
	}
	if w.SideEffects != nil || w.AdmissionReviewVersions != nil {
		t.Fatal("sideEffects and admissionReviewVersions have no default in v1")
	}
}

func TestWebhookValidation(t *testing.T) {
	cases := []struct {
		name   string
		edit   func(*admissionregistrationv1.ValidatingWebhook)
		field  string
		typ    field.ErrorType
		detail string
	}{
		{name: "valid", edit: func(*admissionregistrationv1.ValidatingWebhook) {}},
		{"name not qualified", func(w *admissionregistrationv1.ValidatingWebhook) { w.Name = "check" },
			"webhooks[0].name", field.ErrorTypeInvalid, "should be a domain with at least three segments separated by dots"},
		{"both url and service", func(w *admissionregistrationv1.ValidatingWebhook) {
			w.ClientConfig.Service = &admissionregistrationv1.ServiceReference{Name: "a", Namespace: "b"}
		}, "webhooks[0].clientConfig", field.ErrorTypeRequired, "exactly one of url or service is required"},
		{"http url", func(w *admissionregistrationv1.ValidatingWebhook) { w.ClientConfig.URL = ptrTo("http://example.com") },
			"webhooks[0].clientConfig.url", field.ErrorTypeInvalid, "'https' is the only allowed URL scheme; desired format: https://host[/path]"},
		{"url query", func(w *admissionregistrationv1.ValidatingWebhook) {
			w.ClientConfig.URL = ptrTo("https://example.com/?a=b")
		},
			"webhooks[0].clientConfig.url", field.ErrorTypeInvalid, "query parameters are not permitted in the URL"},
		{"url user", func(w *admissionregistrationv1.ValidatingWebhook) {
			w.ClientConfig.URL = ptrTo("https://u:p@example.com/")
		},
			"webhooks[0].clientConfig.url", field.ErrorTypeInvalid, "user information is not permitted in the URL"},
		{"service path", func(w *admissionregistrationv1.ValidatingWebhook) {
			w.ClientConfig = admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Name: "a", Namespace: "b", Path: ptrTo("/a//b")}}
		}, "webhooks[0].clientConfig.service.path", field.ErrorTypeInvalid, "segment[1] may not be empty"},
		{"no side effects", func(w *admissionregistrationv1.ValidatingWebhook) { w.SideEffects = nil },
			"webhooks[0].sideEffects", field.ErrorTypeRequired, "must specify one of None, NoneOnDryRun"},
		{"side effects Some", func(w *admissionregistrationv1.ValidatingWebhook) {
			w.SideEffects = ptrTo(admissionregistrationv1.SideEffectClassSome)
		},
			"webhooks[0].sideEffects", field.ErrorTypeNotSupported, ""},
		{"no review versions", func(w *admissionregistrationv1.ValidatingWebhook) { w.AdmissionReviewVersions = nil },
			"webhooks[0].admissionReviewVersions", field.ErrorTypeRequired, "must specify one of v1, v1beta1"},
		{"unknown review version", func(w *admissionregistrationv1.ValidatingWebhook) { w.AdmissionReviewVersions = []string{"v2"} },
			"webhooks[0].admissionReviewVersions", field.ErrorTypeInvalid, "must include at least one of v1, v1beta1"},
		{"timeout", func(w *admissionregistrationv1.ValidatingWebhook) { w.TimeoutSeconds = ptrTo(int32(31)) },
			"webhooks[0].timeoutSeconds", field.ErrorTypeInvalid, "the timeout value must be between 1 and 30 seconds"},
		{"no operations", func(w *admissionregistrationv1.ValidatingWebhook) { w.Rules[0].Operations = nil },
			"webhooks[0].rules[0].operations", field.ErrorTypeRequired, ""},
		{"bad operation", func(w *admissionregistrationv1.ValidatingWebhook) {
			w.Rules[0].Operations = []admissionregistrationv1.OperationType{"PATCH"}
		},
			"webhooks[0].rules[0].operations[0]", field.ErrorTypeNotSupported, ""},
		{"star and more resources", func(w *admissionregistrationv1.ValidatingWebhook) { w.Rules[0].Resources = []string{"*", "pods"} },
			"webhooks[0].rules[0].resources", field.ErrorTypeInvalid, "if '*' is present, must not specify other resources without subresources"},
		{"star star and more", func(w *admissionregistrationv1.ValidatingWebhook) { w.Rules[0].Resources = []string{"*/*", "pods"} },
			"webhooks[0].rules[0].resources", field.ErrorTypeInvalid, "if '*/*' is present, must not specify other resources"},
		{"x/* then x/y", func(w *admissionregistrationv1.ValidatingWebhook) {
			w.Rules[0].Resources = []string{"pods/*", "pods/status"}
		},
			"webhooks[0].rules[0].resources[1]", field.ErrorTypeInvalid, "if 'pods/*' is present, must not specify pods/status"},
		{"bad scope", func(w *admissionregistrationv1.ValidatingWebhook) {
			w.Rules[0].Scope = ptrTo(admissionregistrationv1.ScopeType("Node"))
		},
			"webhooks[0].rules[0].scope", field.ErrorTypeNotSupported, ""},
		{"selector", func(w *admissionregistrationv1.ValidatingWebhook) {
			w.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Bogus"}}}
		}, "webhooks[0].namespaceSelector.matchExpressions[0].operator", field.ErrorTypeInvalid, ""},
		{"match condition name", func(w *admissionregistrationv1.ValidatingWebhook) {
			w.MatchConditions = []admissionregistrationv1.MatchCondition{{Name: "not valid!", Expression: "true"}}
		}, "webhooks[0].matchConditions[0].name", field.ErrorTypeInvalid, ""},
		{"match condition syntax", func(w *admissionregistrationv1.ValidatingWebhook) {
			w.MatchConditions = []admissionregistrationv1.MatchCondition{{Name: "c", Expression: "object.metadata.name =="}}
		}, "webhooks[0].matchConditions[0].expression", field.ErrorTypeInvalid, "compilation failed: ERROR: <input>:1:"},
		{"match condition not bool", func(w *admissionregistrationv1.ValidatingWebhook) {
			w.MatchConditions = []admissionregistrationv1.MatchCondition{{Name: "c", Expression: "'x'"}}
		}, "webhooks[0].matchConditions[0].expression", field.ErrorTypeInvalid, "must evaluate to bool"},
		{"match condition valid", func(w *admissionregistrationv1.ValidatingWebhook) {
			w.MatchConditions = []admissionregistrationv1.MatchCondition{{Name: "not-kube-system", Expression: "request.namespace != 'kube-system' && has(object.metadata)"}}
		}, "", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := validHook()
			tc.edit(&w)
			c := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Webhooks: []admissionregistrationv1.ValidatingWebhook{w}}
			s := webhookConfigStrategy{}
			s.Default(c)
			errs := s.Validate(context.Background(), c)
			if tc.field == "" {
				if len(errs) != 0 {
					t.Fatalf("errors: %v", errs)
				}
				return
			}
			if len(errs) != 1 || errs[0].Field != tc.field || errs[0].Type != tc.typ || !strings.Contains(errs[0].Error(), tc.detail) {
				t.Fatalf("errors: %v", errs)
			}
		})
	}
}

func TestWebhookNamesUnique(t *testing.T) {
	c := &admissionregistrationv1.ValidatingWebhookConfiguration{Webhooks: []admissionregistrationv1.ValidatingWebhook{validHook(), validHook()}}
	errs := webhookConfigStrategy{}.Validate(context.Background(), c)
	if len(errs) != 1 || errs[0].Field != "webhooks[1].name" || errs[0].Type != field.ErrorTypeDuplicate {
		t.Fatalf("errors: %v", errs)
	}
	// An existing configuration that already has Some side effects stays
	// updatable, as upstream.
	old := &admissionregistrationv1.ValidatingWebhookConfiguration{Webhooks: []admissionregistrationv1.ValidatingWebhook{validHook()}}
	old.Webhooks[0].SideEffects = ptrTo(admissionregistrationv1.SideEffectClassSome)
	upd := old.DeepCopy()
	if errs := (webhookConfigStrategy{}).ValidateUpdate(context.Background(), upd, old); len(errs) != 0 {
		t.Fatalf("update errors: %v", errs)
	}
}

func TestWebhookRow(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 10, 0, 0, time.UTC)
	c := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "x", CreationTimestamp: metav1.NewTime(now.Add(-5 * time.Minute))},
		Webhooks:   []admissionregistrationv1.MutatingWebhook{{}, {}},
	}
	row := webhookConfigStrategy{now: func() time.Time { return now }}.Row(c)
	if row[0] != "x" || row[1] != int64(2) || row[2] != "5m" {
		t.Fatalf("row: %v", row)
	}
}

func TestWebhookStrategiesNeverPanic(t *testing.T) {
	registrytest.StrategiesNeverPanic(t, WebhookResources(), registrytest.NewFiller(11, 3, 9), 40)
}
