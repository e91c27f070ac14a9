package accessreview

import (
	"context"
	"fmt"
	"slices"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/auth/authn"
)

// selfSARStrategy: "may I?" — the requesting user is the subject.
type selfSARStrategy struct {
	noop
	cfg Config
}

func (selfSARStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	r, ok := obj.(*authorizationv1.SelfSubjectAccessReview)
	if !ok {
		return field.ErrorList{field.InternalError(nil, wrongType(obj))}
	}
	return validateAttributes(&r.Spec, field.NewPath("spec"))
}

func (s selfSARStrategy) CreateVirtual(ctx context.Context, obj runtime.Object) (runtime.Object, error) {
	r, ok := obj.(*authorizationv1.SelfSubjectAccessReview)
	if !ok {
		return nil, wrongType(obj)
	}
	user, err := requestUser(ctx)
	if err != nil {
		return nil, err
	}
	r.Status = decide(ctx, s.cfg.Authorizer, attributes(user, r.Spec.ResourceAttributes, r.Spec.NonResourceAttributes))
	return r, nil
}

// sarStrategy: "may this user?", for any user (webhooks, kubelets).
type sarStrategy struct {
	noop
	cfg Config
}

func validateSARSpec(spec *authorizationv1.SubjectAccessReviewSpec, p *field.Path) field.ErrorList {
	errs := validateAttributes(&authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: spec.ResourceAttributes, NonResourceAttributes: spec.NonResourceAttributes}, p)
	if spec.User == "" && len(spec.Groups) == 0 {
		errs = append(errs, field.Invalid(p.Child("user"), spec.User, "at least one of user or group must be specified"))
	}
	return errs
}

func (sarStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	r, ok := obj.(*authorizationv1.SubjectAccessReview)
	if !ok {
		return field.ErrorList{field.InternalError(nil, wrongType(obj))}
	}
	return validateSARSpec(&r.Spec, field.NewPath("spec"))
}

func specUser(spec *authorizationv1.SubjectAccessReviewSpec) *authn.User {
	u := &authn.User{Name: spec.User, UID: spec.UID, Groups: spec.Groups}
	if len(spec.Extra) > 0 {
		u.Extra = map[string][]string{}
		for k, v := range spec.Extra {
			u.Extra[k] = v
		}
	}
	return u
}

func (s sarStrategy) CreateVirtual(ctx context.Context, obj runtime.Object) (runtime.Object, error) {
	r, ok := obj.(*authorizationv1.SubjectAccessReview)
	if !ok {
		return nil, wrongType(obj)
	}
	r.Status = decide(ctx, s.cfg.Authorizer, attributes(specUser(&r.Spec), r.Spec.ResourceAttributes, r.Spec.NonResourceAttributes))
	return r, nil
}

// localSARStrategy: a SubjectAccessReview confined to one namespace, so
// that namespace admins may be granted it.
type localSARStrategy struct {
	noop
	cfg Config
}

func (localSARStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	r, ok := obj.(*authorizationv1.LocalSubjectAccessReview)
	if !ok {
		return field.ErrorList{field.InternalError(nil, wrongType(obj))}
	}
	p := field.NewPath("spec")
	errs := validateSARSpec(&r.Spec, p)
	if r.Spec.ResourceAttributes != nil && r.Spec.ResourceAttributes.Namespace != "" && r.Spec.ResourceAttributes.Namespace != r.Namespace {
		errs = append(errs, field.Invalid(p.Child("resourceAttributes", "namespace"), r.Spec.ResourceAttributes.Namespace, "must match metadata.namespace"))
	}
	if r.Spec.NonResourceAttributes != nil {
		errs = append(errs, field.Invalid(p.Child("nonResourceAttributes"), r.Spec.NonResourceAttributes, "disallowed on this kind of request"))
	}
	return errs
}

func (s localSARStrategy) CreateVirtual(ctx context.Context, obj runtime.Object) (runtime.Object, error) {
	r, ok := obj.(*authorizationv1.LocalSubjectAccessReview)
	if !ok {
		return nil, wrongType(obj)
	}
	if r.Spec.ResourceAttributes != nil && r.Spec.ResourceAttributes.Namespace == "" {
		r.Spec.ResourceAttributes.Namespace = r.Namespace
	}
	r.Status = decide(ctx, s.cfg.Authorizer, attributes(specUser(&r.Spec), r.Spec.ResourceAttributes, nil))
	return r, nil
}

// rulesReviewStrategy: "what may I do in this namespace?" (kubectl auth
// can-i --list).
type rulesReviewStrategy struct {
	noop
	cfg Config
}

func (rulesReviewStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	if _, ok := obj.(*authorizationv1.SelfSubjectRulesReview); !ok {
		return field.ErrorList{field.InternalError(nil, wrongType(obj))}
	}
	return nil
}

func (s rulesReviewStrategy) CreateVirtual(ctx context.Context, obj runtime.Object) (runtime.Object, error) {
	r, ok := obj.(*authorizationv1.SelfSubjectRulesReview)
	if !ok {
		return nil, wrongType(obj)
	}
	user, err := requestUser(ctx)
	if err != nil {
		return nil, err
	}
	var rules []rbacv1.PolicyRule
	var errs []error
	if s.cfg.Rules != nil {
		rules, errs = s.cfg.Rules.RulesFor(user, r.Spec.Namespace)
	}
	if s.cfg.SuperuserGroup != "" && user.InGroup(s.cfg.SuperuserGroup) {
		// The superuser group may do anything whatever RBAC says; say so,
		// but only once: with upstream's default cluster-admin binding RBAC
		// already lists these two rules (kubectl auth can-i --list showed
		// them twice).
		var super []rbacv1.PolicyRule
		for _, su := range []rbacv1.PolicyRule{
			{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}},
			{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}},
		} {
			if !containsRule(rules, su) {
				super = append(super, su)
			}
		}
		rules = append(super, rules...)
	}
	st := authorizationv1.SubjectRulesReviewStatus{ResourceRules: []authorizationv1.ResourceRule{}, NonResourceRules: []authorizationv1.NonResourceRule{}}
	for _, rule := range rules {
		if len(rule.Resources) > 0 {
			st.ResourceRules = append(st.ResourceRules, authorizationv1.ResourceRule{
				Verbs: rule.Verbs, APIGroups: rule.APIGroups, Resources: rule.Resources, ResourceNames: rule.ResourceNames})
		}
		if len(rule.NonResourceURLs) > 0 {
			st.NonResourceRules = append(st.NonResourceRules, authorizationv1.NonResourceRule{Verbs: rule.Verbs, NonResourceURLs: rule.NonResourceURLs})
		}
	}
	if len(errs) > 0 {
		st.Incomplete = true
		st.EvaluationError = fmt.Sprint(errs)
	}
	r.Status = st
	return r, nil
}

// whoamiStrategy: SelfSubjectReview (kubectl auth whoami).
type whoamiStrategy struct{ noop }

func (whoamiStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	if _, ok := obj.(*authenticationv1.SelfSubjectReview); !ok {
		return field.ErrorList{field.InternalError(nil, wrongType(obj))}
	}
	return nil
}

func (whoamiStrategy) CreateVirtual(ctx context.Context, obj runtime.Object) (runtime.Object, error) {
	r, ok := obj.(*authenticationv1.SelfSubjectReview)
	if !ok {
		return nil, wrongType(obj)
	}
	user, err := requestUser(ctx)
	if err != nil {
		return nil, err
	}
	info := authenticationv1.UserInfo{Username: user.Name, UID: user.UID, Groups: user.Groups}
	if len(user.Extra) > 0 {
		info.Extra = map[string]authenticationv1.ExtraValue{}
		for k, v := range user.Extra {
			info.Extra[k] = v
		}
	}
	r.Status.UserInfo = info
	return r, nil
}

// containsRule reports whether rules hold one that grants exactly want.
func containsRule(rules []rbacv1.PolicyRule, want rbacv1.PolicyRule) bool {
	for _, r := range rules {
		if slices.Equal(r.Verbs, want.Verbs) && slices.Equal(r.APIGroups, want.APIGroups) && slices.Equal(r.Resources, want.Resources) &&
			len(r.ResourceNames) == 0 && slices.Equal(r.NonResourceURLs, want.NonResourceURLs) {
			return true
		}
	}
	return false
}
