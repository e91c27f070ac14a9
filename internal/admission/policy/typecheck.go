package policy

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"skiff.dev/skiff/internal/celexpr"
	"skiff.dev/skiff/internal/controller/reconcile"
	"skiff.dev/skiff/internal/registry"
)

// maxTypesToCheck is upstream's bound on the kinds a policy is checked
// against.
const maxTypesToCheck = 10

// TypeCheck is upstream's type checking of a policy: each validation's
// expression and messageExpression is compiled with object and oldObject
// typed as each kind the policy's resource rules name (no wildcards, at
// most ten kinds) and params as its paramKind, and what does not check is
// returned as warnings for status.typeChecking. Type checking never
// changes how the policy is enforced.
func TypeCheck(p *admissionregistrationv1.ValidatingAdmissionPolicy, resources []registry.Resource) []admissionregistrationv1.ExpressionWarning {
	kinds := typesToCheck(p, resources)
	if len(kinds) == 0 {
		return nil
	}
	var params reflect.Type
	if k := p.Spec.ParamKind; k != nil {
		if gv, err := schema.ParseGroupVersion(k.APIVersion); err == nil {
			for _, r := range resources {
				if r.GroupVersionKind() == gv.WithKind(k.Kind) {
					params = reflect.TypeOf(r.New())
				}
			}
		}
	}
	envs := make([]*celexpr.Env, len(kinds))
	for i, k := range kinds {
		env, err := celexpr.TypedEnv(celexpr.Decls{Params: p.Spec.ParamKind != nil}, k.goType, params)
		if err != nil {
			return nil
		}
		for _, v := range p.Spec.Variables {
			_, _ = env.AddVariable(v.Name, v.Expression) // its errors were refused on write
		}
		envs[i] = env
	}
	check := func(expr string) string {
		var out []string
		for i, k := range kinds {
			if issues := envs[i].Check(expr); issues != "" {
				out = append(out, fmt.Sprintf("%v: %s\n", k.gvk, issues))
			}
		}
		return strings.Join(out, "\n")
	}
	var warnings []admissionregistrationv1.ExpressionWarning
	vp := field.NewPath("spec", "validations")
	for i, v := range p.Spec.Validations {
		if w := check(v.Expression); w != "" {
			warnings = append(warnings, admissionregistrationv1.ExpressionWarning{FieldRef: vp.Index(i).Child("expression").String(), Warning: w})
		}
		if v.MessageExpression == "" {
			continue
		}
		if w := check(v.MessageExpression); w != "" {
			warnings = append(warnings, admissionregistrationv1.ExpressionWarning{FieldRef: vp.Index(i).Child("messageExpression").String(), Warning: w})
		}
	}
	return warnings
}

type kindToCheck struct {
	gvk    schema.GroupVersionKind
	goType reflect.Type
}

// typesToCheck are the kinds p's resource rules name without wildcards,
// in group, version, kind order.
func typesToCheck(p *admissionregistrationv1.ValidatingAdmissionPolicy, resources []registry.Resource) []kindToCheck {
	if p.Spec.MatchConstraints == nil {
		return nil
	}
	seen := map[schema.GroupVersionKind]bool{}
	var out []kindToCheck
	for _, rule := range p.Spec.MatchConstraints.ResourceRules {
		if hasStar(rule.APIGroups) || hasStar(rule.APIVersions) {
			continue
		}
		for _, g := range rule.APIGroups {
			for _, v := range rule.APIVersions {
				for _, res := range rule.Resources {
					if strings.ContainsAny(res, "*/") {
						continue
					}
					for _, r := range resources {
						gvk := r.GroupVersionKind()
						if r.GroupVersion == (schema.GroupVersion{Group: g, Version: v}) && r.Resource == res && !seen[gvk] && len(out) < maxTypesToCheck {
							seen[gvk] = true
							out = append(out, kindToCheck{gvk: gvk, goType: reflect.TypeOf(r.New())})
						}
					}
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].gvk, out[j].gvk
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		return a.Kind < b.Kind
	})
	return out
}

func hasStar(items []string) bool {
	for _, s := range items {
		if strings.Contains(s, "*") {
			return true
		}
	}
	return false
}

// TypeChecker keeps every policy's status.typeChecking and
// status.observedGeneration up to date, as upstream's type-checking
// controller: a policy whose observedGeneration lags its generation is
// checked and its status written through the API.
type TypeChecker struct {
	Client    kubernetes.Interface
	Resources []registry.Resource
	Log       *slog.Logger
}

// Run checks policies until ctx ends.
func (c *TypeChecker) Run(ctx context.Context) error {
	log := c.Log
	if log == nil {
		log = slog.Default()
	}
	factory := informers.NewSharedInformerFactory(c.Client, 0)
	inf := factory.Admissionregistration().V1().ValidatingAdmissionPolicies()
	lister := inf.Lister()
	loop := reconcile.NewLoop("validatingadmissionpolicy-status", reconcile.ReconcileFunc(func(ctx context.Context, key string) error {
		p, err := lister.Get(key)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if p.Status.ObservedGeneration == p.Generation && p.Status.TypeChecking != nil {
			return nil
		}
		p = p.DeepCopy()
		p.Status.ObservedGeneration = p.Generation
		p.Status.TypeChecking = &admissionregistrationv1.TypeChecking{ExpressionWarnings: TypeCheck(p, c.Resources)}
		_, err = c.Client.AdmissionregistrationV1().ValidatingAdmissionPolicies().UpdateStatus(ctx, p, metav1.UpdateOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}), log.With("controller", "validatingadmissionpolicy-status"))
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    loop.Enqueue,
		UpdateFunc: func(_, obj any) { loop.Enqueue(obj) },
	}); err != nil {
		return err
	}
	loop.WaitFor(inf.Informer().HasSynced)
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	return loop.Run(ctx, 1)
}
