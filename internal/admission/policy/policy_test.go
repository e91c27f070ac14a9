package policy_test

import (
	"context"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/internal/admission"
	"skiff.dev/skiff/internal/admission/policy"
	"skiff.dev/skiff/internal/apiserver"
	"skiff.dev/skiff/internal/auth/authz"
	"skiff.dev/skiff/internal/registry/builtin"
	"skiff.dev/skiff/internal/testserver"
)

// server is a running API server with the plug-in.
type server struct {
	url   string
	admin *rest.Config
	cs    kubernetes.Interface
	w     *testserver.Warnings // the Warning headers cs received
}

// startServer runs the real API server with the ValidatingAdmissionPolicy
// plug-in over its own watch caches.
func startServer(t *testing.T) *server {
	t.Helper()
	var policies, bindings, namespaces policy.LazyObjects
	params := &policy.ServedParams{}
	plugin := policy.New(&policies, &bindings, &namespaces, params)
	plugin.Authorizer = authz.Superusers{Group: "system:masters"}
	srv := testserver.StartWith(t, func(_ testing.TB, s *testserver.Setup) {
		s.Config.Admission = admission.NewChain(plugin)
		s.Bound = append(s.Bound, func(srv *apiserver.Server) error {
			cached := func(gvr schema.GroupVersionResource) (policy.Objects, error) {
				c, err := srv.Cached(gvr)
				if err != nil {
					return nil, err
				}
				return c, nil
			}
			for gvr, dst := range map[schema.GroupVersionResource]*policy.LazyObjects{
				admissionregistrationv1.SchemeGroupVersion.WithResource("validatingadmissionpolicies"):       &policies,
				admissionregistrationv1.SchemeGroupVersion.WithResource("validatingadmissionpolicybindings"): &bindings,
				corev1.SchemeGroupVersion.WithResource("namespaces"):                                         &namespaces,
			} {
				c, err := cached(gvr)
				if err != nil {
					return err
				}
				dst.Bind(c)
			}
			params.Bind(builtin.Resources(), cached)
			return nil
		})
	})
	w := &testserver.Warnings{}
	admin := rest.CopyConfig(srv.Admin)
	admin.WarningHandler = w
	return &server{url: srv.URL, admin: admin, cs: kubernetes.NewForConfigOrDie(admin), w: w}
}

// deployment is a valid Deployment labelled for one scenario.
func deployment(name, scenario string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name, "scenario": scenario}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1.27"}}},
			},
		},
	}
}

// deploymentPolicy is upstream's documentation example, limited to the
// Deployments of one scenario (by label) so scenarios do not interfere.
func deploymentPolicy(name, scenario string, validations ...admissionregistrationv1.Validation) *admissionregistrationv1.ValidatingAdmissionPolicy {
	return &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{
				ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"scenario": scenario}},
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{"CREATE", "UPDATE"},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}},
				}}},
			},
			Validations: validations,
		},
	}
}

func binding(name, policyName string, actions ...admissionregistrationv1.ValidationAction) *admissionregistrationv1.ValidatingAdmissionPolicyBinding {
	return &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: policyName, ValidationActions: actions},
	}
}

type env struct {
	t  *testing.T
	cs kubernetes.Interface
	w  *testserver.Warnings
}

func (e env) apply(p *admissionregistrationv1.ValidatingAdmissionPolicy, b *admissionregistrationv1.ValidatingAdmissionPolicyBinding) {
	e.t.Helper()
	ctx := context.Background()
	api := e.cs.AdmissionregistrationV1()
	if _, err := api.ValidatingAdmissionPolicies().Create(ctx, p, metav1.CreateOptions{}); err != nil {
		e.t.Fatalf("create policy: %v", err)
	}
	if _, err := api.ValidatingAdmissionPolicyBindings().Create(ctx, b, metav1.CreateOptions{}); err != nil {
		e.t.Fatalf("create binding: %v", err)
	}
}

// tryCreate creates d as a dry run (nothing is left behind), returning
// the error and the warnings.
func (e env) tryCreate(d *appsv1.Deployment) (error, []string) {
	e.w.Take()
	_, err := e.cs.AppsV1().Deployments("default").Create(context.Background(), d, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	return err, e.w.Take()
}

// eventually polls until check passes: policies reach the plug-in
// through the watch cache, a moment after their create returns.
func (e env) eventually(what string, check func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !check() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// refusal waits until creating d is refused, and returns the error.
func (e env) refusal(d *appsv1.Deployment) *apierrors.StatusError {
	e.t.Helper()
	var got error
	e.eventually("the write to be refused", func() bool { got, _ = e.tryCreate(d); return got != nil })
	se, ok := got.(*apierrors.StatusError)
	if !ok {
		e.t.Fatalf("error = %T %v, want a StatusError", got, got)
	}
	return se
}

func TestValidatingAdmissionPolicy(t *testing.T) {
	s := startServer(t)
	cs := s.cs
	e := env{t: t, cs: cs, w: s.w}
	ctx := context.Background()

	t.Run("deny", func(t *testing.T) {
		e.t = t
		e.apply(deploymentPolicy("demo-policy.example.com", "deny", admissionregistrationv1.Validation{Expression: "object.spec.replicas <= 5"}),
			binding("demo-binding-test.example.com", "demo-policy.example.com", admissionregistrationv1.Deny))
		se := e.refusal(deployment("web", "deny", 6))
		want := `deployments.apps "web" is forbidden: ValidatingAdmissionPolicy 'demo-policy.example.com' with binding 'demo-binding-test.example.com' denied request: failed expression: object.spec.replicas <= 5`
		if se.ErrStatus.Code != 422 || se.ErrStatus.Reason != metav1.StatusReasonInvalid || se.ErrStatus.Message != want {
			t.Fatalf("status = %d %s %q, want 422 Invalid %q", se.ErrStatus.Code, se.ErrStatus.Reason, se.ErrStatus.Message, want)
		}
		if err, _ := e.tryCreate(deployment("web", "deny", 5)); err != nil {
			t.Fatalf("5 replicas refused: %v", err)
		}
		// Scaling an admitted Deployment past the limit is an update the
		// policy refuses too.
		if _, err := cs.AppsV1().Deployments("default").Create(ctx, deployment("scaled", "deny", 2), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		d, _ := cs.AppsV1().Deployments("default").Get(ctx, "scaled", metav1.GetOptions{})
		d.Spec.Replicas = ptr.To[int32](9)
		if _, err := cs.AppsV1().Deployments("default").Update(ctx, d, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
			t.Fatalf("update to 9 replicas: %v", err)
		}
	})

	t.Run("warn and audit", func(t *testing.T) {
		e.t = t
		e.apply(deploymentPolicy("warn-policy", "warn", admissionregistrationv1.Validation{Expression: "object.spec.replicas <= 5"}),
			binding("warn-binding", "warn-policy", admissionregistrationv1.Warn, admissionregistrationv1.Audit))
		want := "Validation failed for ValidatingAdmissionPolicy 'warn-policy' with binding 'warn-binding': failed expression: object.spec.replicas <= 5"
		e.eventually("the warning", func() bool {
			err, warns := e.tryCreate(deployment("web", "warn", 6))
			if err != nil {
				t.Fatalf("warn-only policy refused: %v", err)
			}
			return len(warns) == 1 && warns[0] == want
		})
	})

	t.Run("params from a ConfigMap", func(t *testing.T) {
		e.t = t
		p := deploymentPolicy("replica-limit", "params", admissionregistrationv1.Validation{
			Expression: "object.spec.replicas <= int(params.data.maxReplicas)",
			Message:    "too many replicas",
		})
		p.Spec.ParamKind = &admissionregistrationv1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"}
		b := binding("replica-limit-default", "replica-limit", admissionregistrationv1.Deny)
		b.Spec.ParamRef = &admissionregistrationv1.ParamRef{Name: "limits", Namespace: "default",
			ParameterNotFoundAction: ptr.To(admissionregistrationv1.DenyAction)}
		e.apply(p, b)
		se := e.refusal(deployment("web", "params", 1))
		if !strings.HasSuffix(se.ErrStatus.Message, "denied request: failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction") {
			t.Fatalf("message = %q", se.ErrStatus.Message)
		}
		if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "limits"}, Data: map[string]string{"maxReplicas": "3"},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		e.eventually("the param to be read", func() bool { err, _ := e.tryCreate(deployment("web", "params", 3)); return err == nil })
		se = e.refusal(deployment("web", "params", 4))
		if !strings.HasSuffix(se.ErrStatus.Message, "with binding 'replica-limit-default' denied request: too many replicas") {
			t.Fatalf("message = %q", se.ErrStatus.Message)
		}
	})

	t.Run("messageExpression and reason", func(t *testing.T) {
		e.t = t
		e.apply(deploymentPolicy("message-policy", "message", admissionregistrationv1.Validation{
			Expression:        "object.spec.replicas <= 5",
			MessageExpression: "'object.spec.replicas must be no greater than 5, got ' + string(object.spec.replicas)",
			Reason:            ptr.To(metav1.StatusReasonForbidden),
		}), binding("message-binding", "message-policy", admissionregistrationv1.Deny))
		se := e.refusal(deployment("web", "message", 7))
		if se.ErrStatus.Code != 403 || !strings.HasSuffix(se.ErrStatus.Message, "denied request: object.spec.replicas must be no greater than 5, got 7") {
			t.Fatalf("status = %d %q", se.ErrStatus.Code, se.ErrStatus.Message)
		}
	})

	t.Run("evaluation error and failurePolicy", func(t *testing.T) {
		e.t = t
		failing := admissionregistrationv1.Validation{Expression: "object.spec.paused == true"} // no such key: unset
		e.apply(deploymentPolicy("fail-policy", "failure", failing), binding("fail-binding", "fail-policy", admissionregistrationv1.Deny))
		se := e.refusal(deployment("web", "failure", 1))
		if !strings.HasSuffix(se.ErrStatus.Message, "denied request: expression 'object.spec.paused == true' resulted in error: no such key: paused") {
			t.Fatalf("message = %q", se.ErrStatus.Message)
		}
		// The same policy with failurePolicy Ignore admits the write.
		p, err := cs.AdmissionregistrationV1().ValidatingAdmissionPolicies().Get(ctx, "fail-policy", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Spec.FailurePolicy = ptr.To(admissionregistrationv1.Ignore)
		if _, err := cs.AdmissionregistrationV1().ValidatingAdmissionPolicies().Update(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		e.eventually("failurePolicy Ignore to admit", func() bool { err, _ := e.tryCreate(deployment("web", "failure", 1)); return err == nil })
	})

	t.Run("authorizer", func(t *testing.T) {
		e.t = t
		e.apply(deploymentPolicy("authz-policy", "authz",
			admissionregistrationv1.Validation{Expression: "authorizer.requestResource.check('create').allowed()", Message: "requester may not create"},
			admissionregistrationv1.Validation{
				Expression: "authorizer.serviceAccount('default', 'builder').group('apps').resource('deployments').namespace(object.metadata.namespace).check('create').allowed()",
				Message:    "builder may not create deployments",
			}), binding("authz-binding", "authz-policy", admissionregistrationv1.Deny))
		se := e.refusal(deployment("web", "authz", 1))
		if !strings.HasSuffix(se.ErrStatus.Message, "denied request: builder may not create deployments") {
			t.Fatalf("message = %q", se.ErrStatus.Message)
		}
	})

	t.Run("compile errors are refused on write", func(t *testing.T) {
		_, err := cs.AdmissionregistrationV1().ValidatingAdmissionPolicies().Create(ctx,
			deploymentPolicy("broken", "broken", admissionregistrationv1.Validation{Expression: "object.spec.replicas <="}), metav1.CreateOptions{})
		se, ok := err.(*apierrors.StatusError)
		if !ok || se.ErrStatus.Code != 422 || !strings.Contains(se.ErrStatus.Message, "spec.validations[0].expression: Invalid value: \"object.spec.replicas <=\": compilation failed: ERROR: <input>:1:24: Syntax error") {
			t.Fatalf("error = %v", err)
		}
	})
}

// TestTypeChecking: the type checker writes upstream's warnings for an
// expression that cannot work on the kinds the policy matches, and an
// empty typeChecking for one that can, with the observed generation.
func TestTypeChecking(t *testing.T) {
	s := startServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&policy.TypeChecker{Client: s.cs, Resources: builtin.Resources()}).Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	api := s.cs.AdmissionregistrationV1().ValidatingAdmissionPolicies()
	bad := deploymentPolicy("typo", "typo",
		admissionregistrationv1.Validation{Expression: "object.spec.replicas <= 5"},
		admissionregistrationv1.Validation{Expression: "object.spec.replicass <= 5", MessageExpression: "'replicas: ' + object.spec.replicas"})
	for _, p := range []*admissionregistrationv1.ValidatingAdmissionPolicy{bad, deploymentPolicy("fine", "fine", admissionregistrationv1.Validation{Expression: "object.spec.replicas <= 5"})} {
		if _, err := api.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	e := env{t: t}
	var got *admissionregistrationv1.ValidatingAdmissionPolicy
	e.eventually("status.typeChecking", func() bool {
		var err error
		got, err = api.Get(ctx, "typo", metav1.GetOptions{})
		return err == nil && got.Status.TypeChecking != nil
	})
	w := got.Status.TypeChecking.ExpressionWarnings
	if got.Status.ObservedGeneration != got.Generation || len(w) != 2 ||
		w[0].FieldRef != "spec.validations[1].expression" ||
		!strings.HasPrefix(w[0].Warning, "apps/v1, Kind=Deployment: ERROR: <input>:1:12: undefined field 'replicass'") ||
		w[1].FieldRef != "spec.validations[1].messageExpression" ||
		!strings.Contains(w[1].Warning, "found no matching overload for '_+_' applied to '(string, int)'") {
		t.Fatalf("status = %+v", got.Status)
	}
	e.eventually("status of the good policy", func() bool {
		got, err := api.Get(ctx, "fine", metav1.GetOptions{})
		return err == nil && got.Status.TypeChecking != nil && len(got.Status.TypeChecking.ExpressionWarnings) == 0 && got.Status.ObservedGeneration == 1
	})
}
