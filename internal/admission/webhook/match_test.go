package webhook

import (
	"context"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff.dev/skiff/internal/admission"
	"skiff.dev/skiff/internal/auth/authn"
)

func rule(ops []string, groups, versions, resources []string, scope string) admissionregistrationv1.RuleWithOperations {
	r := admissionregistrationv1.RuleWithOperations{Rule: admissionregistrationv1.Rule{APIGroups: groups, APIVersions: versions, Resources: resources}}
	for _, o := range ops {
		r.Operations = append(r.Operations, admissionregistrationv1.OperationType(o))
	}
	if scope != "" {
		s := admissionregistrationv1.ScopeType(scope)
		r.Scope = &s
	}
	return r
}

func attrs(op admission.Operation, gvr schema.GroupVersionResource, sub, ns, name string) *admission.Attributes {
	return &admission.Attributes{Operation: op, Resource: gvr, Subresource: sub, Namespace: ns, Name: name, User: &authn.User{Name: "u"}}
}

var (
	pods       = corev1.SchemeGroupVersion.WithResource("pods")
	namespaces = corev1.SchemeGroupVersion.WithResource("namespaces")
	nodes      = corev1.SchemeGroupVersion.WithResource("nodes")
	deploys    = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
)

func TestRuleMatches(t *testing.T) {
	star := []string{"*"}
	core, v1 := []string{""}, []string{"v1"}
	cases := []struct {
		name string
		rule admissionregistrationv1.RuleWithOperations
		a    *admission.Attributes
		want bool
	}{
		{"exact", rule([]string{"CREATE"}, core, v1, []string{"pods"}, ""), attrs(admission.Create, pods, "", "ns", "p"), true},
		{"other operation", rule([]string{"CREATE"}, core, v1, []string{"pods"}, ""), attrs(admission.Update, pods, "", "ns", "p"), false},
		{"operation *", rule([]string{"*"}, core, v1, []string{"pods"}, ""), attrs(admission.Delete, pods, "", "ns", "p"), true},
		{"other group", rule([]string{"*"}, []string{"apps"}, v1, []string{"pods"}, ""), attrs(admission.Create, pods, "", "ns", "p"), false},
		{"group *", rule([]string{"*"}, star, v1, []string{"deployments"}, ""), attrs(admission.Create, deploys, "", "ns", "d"), true},
		{"other version", rule([]string{"*"}, star, []string{"v1beta1"}, []string{"deployments"}, ""), attrs(admission.Create, deploys, "", "ns", "d"), false},
		{"version *", rule([]string{"*"}, star, star, []string{"deployments"}, ""), attrs(admission.Create, deploys, "", "ns", "d"), true},
		{"resource does not cover subresource", rule([]string{"*"}, core, v1, []string{"pods"}, ""), attrs(admission.Update, pods, "status", "ns", "p"), false},
		{"resource/sub", rule([]string{"*"}, core, v1, []string{"pods/status"}, ""), attrs(admission.Update, pods, "status", "ns", "p"), true},
		{"resource/*", rule([]string{"*"}, core, v1, []string{"pods/*"}, ""), attrs(admission.Connect, pods, "exec", "ns", "p"), true},
		{"resource/* covers main", rule([]string{"*"}, core, v1, []string{"pods/*"}, ""), attrs(admission.Create, pods, "", "ns", "p"), true},
		{"*/sub", rule([]string{"*"}, star, star, []string{"*/status"}, ""), attrs(admission.Update, deploys, "status", "ns", "d"), true},
		{"*/sub other sub", rule([]string{"*"}, star, star, []string{"*/status"}, ""), attrs(admission.Update, deploys, "scale", "ns", "d"), false},
		{"* not subresources", rule([]string{"*"}, star, star, star, ""), attrs(admission.Update, pods, "status", "ns", "p"), false},
		{"*/* everything", rule([]string{"*"}, star, star, []string{"*/*"}, ""), attrs(admission.Update, pods, "status", "ns", "p"), true},
		{"scope Namespaced, namespaced", rule([]string{"*"}, star, star, star, "Namespaced"), attrs(admission.Create, pods, "", "ns", "p"), true},
		{"scope Namespaced, cluster", rule([]string{"*"}, star, star, star, "Namespaced"), attrs(admission.Create, nodes, "", "", "n"), false},
		{"scope Namespaced, namespace object", rule([]string{"*"}, star, star, star, "Namespaced"), attrs(admission.Create, namespaces, "", "x", "x"), false},
		{"scope Cluster, namespace object", rule([]string{"*"}, star, star, star, "Cluster"), attrs(admission.Create, namespaces, "", "", "x"), true},
		{"scope Cluster, namespaced", rule([]string{"*"}, star, star, star, "Cluster"), attrs(admission.Create, pods, "", "ns", "p"), false},
		{"scope *", rule([]string{"*"}, star, star, star, "*"), attrs(admission.Create, nodes, "", "", "n"), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ruleMatches(&tc.rule, tc.a); got != tc.want {
				t.Fatalf("ruleMatches = %v, want %v", got, tc.want)
			}
		})
	}
}

// objects is an in-memory Objects.
type objects map[string]runtime.Object

func (o objects) List(namespace string) []runtime.Object {
	var out []runtime.Object
	for _, v := range o {
		out = append(out, v)
	}
	return out
}

func (o objects) Get(namespace, name string) (runtime.Object, bool) {
	v, ok := o[namespace+"/"+name]
	return v, ok
}

func labelled(l map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Labels: l}}
}

func TestSelectors(t *testing.T) {
	nsObjs := objects{"/prod": &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "prod", Labels: map[string]string{"env": "prod"}}}}
	sel := func(k, v string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{k: v}}
	}
	cms := corev1.SchemeGroupVersion.WithResource("configmaps")
	withObj := func(a *admission.Attributes, obj, old runtime.Object) *admission.Attributes {
		a.Object, a.OldObject = obj, old
		return a
	}
	cases := []struct {
		name          string
		nsSel, objSel *metav1.LabelSelector
		a             *admission.Attributes
		want          bool
	}{
		{"empty selectors", nil, &metav1.LabelSelector{}, withObj(attrs(admission.Create, cms, "", "dev", "c"), labelled(nil), nil), true},
		{"namespace labels match", sel("env", "prod"), nil, withObj(attrs(admission.Create, cms, "", "prod", "c"), labelled(nil), nil), true},
		{"namespace labels differ", sel("env", "prod"), nil, withObj(attrs(admission.Create, cms, "", "dev", "c"), labelled(nil), nil), false},
		{"cluster-scoped ignore namespaceSelector", sel("env", "prod"), nil, withObj(attrs(admission.Create, nodes, "", "", "n"), labelled(nil), nil), true},
		{"namespace object by own labels", sel("env", "prod"), nil,
			withObj(attrs(admission.Create, namespaces, "", "", "new"), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"env": "prod"}}}, nil), true},
		{"namespace delete by old labels", sel("env", "prod"), nil,
			withObj(attrs(admission.Delete, namespaces, "", "", "prod"), nil, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"env": "dev"}}}), false},
		{"object selector new", nil, sel("app", "x"), withObj(attrs(admission.Update, cms, "", "dev", "c"), labelled(map[string]string{"app": "x"}), labelled(nil)), true},
		{"object selector old", nil, sel("app", "x"), withObj(attrs(admission.Update, cms, "", "dev", "c"), labelled(nil), labelled(map[string]string{"app": "x"})), true},
		{"object selector neither", nil, sel("app", "x"), withObj(attrs(admission.Update, cms, "", "dev", "c"), labelled(nil), labelled(nil)), false},
		{"object selector no object (connect)", nil, sel("app", "x"), attrs(admission.Connect, pods, "exec", "dev", "p"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := &dispatcher{src: Sources{Namespaces: nsObjs}}
			h := newHook("c", "h.example.com", admissionregistrationv1.WebhookClientConfig{},
				[]admissionregistrationv1.RuleWithOperations{rule([]string{"*"}, []string{"*"}, []string{"*"}, []string{"*/*"}, "")},
				nil, tc.nsSel, tc.objSel, nil, nil, []string{"v1"}, nil)
			got, err := d.matches(h, tc.a)
			if err != nil || got != tc.want {
				t.Fatalf("matches = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestConfigurationsExempt(t *testing.T) {
	all := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "all"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{Name: "all.example.com",
			Rules: []admissionregistrationv1.RuleWithOperations{rule([]string{"*"}, []string{"*"}, []string{"*"}, []string{"*/*"}, "")}}}}
	d := &dispatcher{src: Sources{Configurations: objects{"/all": all}}}
	for _, res := range []string{"validatingwebhookconfigurations", "mutatingwebhookconfigurations", "validatingadmissionpolicies", "validatingadmissionpolicybindings"} {
		hooks, _ := d.matching(context.Background(), attrs(admission.Create, admissionregistrationv1.SchemeGroupVersion.WithResource(res), "", "", "x"))
		if len(hooks) != 0 {
			t.Errorf("%s sent to webhooks", res)
		}
	}
	if hooks, _ := d.matching(context.Background(), attrs(admission.Create, pods, "", "ns", "p")); len(hooks) != 1 {
		t.Errorf("pods: %d hooks", len(hooks))
	}
}

func TestDryRunRefusedWithSideEffects(t *testing.T) {
	d := &dispatcher{client: newClient(nil, nil)}
	for _, se := range []admissionregistrationv1.SideEffectClass{"Some", "Unknown"} {
		h := &hook{name: "side.example.com", sideEffects: se, reviewVersions: []string{"v1"}, timeoutSeconds: 1}
		a := attrs(admission.Create, pods, "", "ns", "p")
		a.DryRun = true
		_, err := d.call(context.Background(), h, a)
		if !apierrors.IsBadRequest(err) || err.Error() != `admission webhook "side.example.com" does not support dry run` {
			t.Fatalf("%s: err = %v", se, err)
		}
	}
}
