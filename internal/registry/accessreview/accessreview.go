// Package accessreview serves upstream's create-only review APIs:
// authorization.k8s.io/v1 SelfSubjectAccessReview, SubjectAccessReview,
// LocalSubjectAccessReview and SelfSubjectRulesReview, and
// authentication.k8s.io/v1 SelfSubjectReview. Nothing is stored: the API
// server calls CreateVirtual (apiserver.VirtualCreater), which answers
// from the authorizer and the requesting user, so `kubectl auth can-i`
// (with --list) and `kubectl auth whoami` work.
package accessreview

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/auth/authz"
	"skiff.dev/skiff/internal/registry"
)

// RulesResolver lists the rules that apply to a user in a namespace; the
// errors say the list may be incomplete (SelfSubjectRulesReview).
type RulesResolver interface {
	RulesFor(user *authn.User, namespace string) ([]rbacv1.PolicyRule, []error)
}

// Config is what the reviews answer from.
type Config struct {
	// Authorizer is the API server's whole authorizer.
	Authorizer authz.Authorizer
	// Rules lists a user's rules; SuperuserGroup's members get every
	// rule instead, as upstream's system:masters authorizer reports.
	Rules          RulesResolver
	SuperuserGroup string
}

// Resources returns the review resources.
func Resources(cfg Config) []registry.Resource {
	az, an := authorizationv1.SchemeGroupVersion, authenticationv1.SchemeGroupVersion
	create := []string{"create"}
	list := func() runtime.Object { return &metav1.List{} }
	return []registry.Resource{
		{
			GroupVersion: az, Resource: "selfsubjectaccessreviews", Kind: "SelfSubjectAccessReview", SingularName: "selfsubjectaccessreview",
			New: func() runtime.Object { return &authorizationv1.SelfSubjectAccessReview{} }, NewList: list,
			Strategy: selfSARStrategy{cfg: cfg}, Verbs: create,
		},
		{
			GroupVersion: az, Resource: "subjectaccessreviews", Kind: "SubjectAccessReview", SingularName: "subjectaccessreview",
			New: func() runtime.Object { return &authorizationv1.SubjectAccessReview{} }, NewList: list,
			Strategy: sarStrategy{cfg: cfg}, Verbs: create,
		},
		{
			GroupVersion: az, Resource: "localsubjectaccessreviews", Kind: "LocalSubjectAccessReview", SingularName: "localsubjectaccessreview",
			Namespaced: true,
			New:        func() runtime.Object { return &authorizationv1.LocalSubjectAccessReview{} }, NewList: list,
			Strategy: localSARStrategy{cfg: cfg}, Verbs: create,
		},
		{
			GroupVersion: az, Resource: "selfsubjectrulesreviews", Kind: "SelfSubjectRulesReview", SingularName: "selfsubjectrulesreview",
			New: func() runtime.Object { return &authorizationv1.SelfSubjectRulesReview{} }, NewList: list,
			Strategy: rulesReviewStrategy{cfg: cfg}, Verbs: create,
		},
		{
			GroupVersion: an, Resource: "selfsubjectreviews", Kind: "SelfSubjectReview", SingularName: "selfsubjectreview",
			New: func() runtime.Object { return &authenticationv1.SelfSubjectReview{} }, NewList: list,
			Strategy: whoamiStrategy{}, Verbs: create,
		},
	}
}

// noop gives the review strategies the Strategy methods they do not use.
type noop struct{}

func (noop) Default(runtime.Object)                                           {}
func (noop) PrepareForCreate(context.Context, runtime.Object)                 {}
func (noop) PrepareForUpdate(context.Context, runtime.Object, runtime.Object) {}
func (noop) ValidateUpdate(context.Context, runtime.Object, runtime.Object) field.ErrorList {
	return nil
}

func wrongType(obj runtime.Object) error {
	return apierrors.NewBadRequest(fmt.Sprintf("unexpected object: %T", obj))
}

func requestUser(ctx context.Context) (*authn.User, error) {
	u := authn.UserFrom(ctx)
	if u == nil {
		return nil, apierrors.NewBadRequest("no user present on request")
	}
	return u, nil
}

// validateAttributes is upstream's check that exactly one of
// resourceAttributes and nonResourceAttributes is set.
func validateAttributes(spec *authorizationv1.SelfSubjectAccessReviewSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.ResourceAttributes != nil && spec.NonResourceAttributes != nil {
		errs = append(errs, field.Invalid(p.Child("nonResourceAttributes"), spec.NonResourceAttributes, "cannot be specified in combination with resourceAttributes"))
	}
	if spec.ResourceAttributes == nil && spec.NonResourceAttributes == nil {
		errs = append(errs, field.Invalid(p.Child("resourceAttributes"), spec.NonResourceAttributes, "exactly one of nonResourceAttributes or resourceAttributes must be specified"))
	}
	return errs
}

func attributes(user *authn.User, ra *authorizationv1.ResourceAttributes, nra *authorizationv1.NonResourceAttributes) authz.Attributes {
	a := authz.Attributes{User: user}
	if ra != nil {
		a.IsResourceRequest = true
		a.Verb, a.Namespace, a.APIGroup, a.APIVersion = ra.Verb, ra.Namespace, ra.Group, ra.Version
		a.Resource, a.Subresource, a.Name = ra.Resource, ra.Subresource, ra.Name
	}
	if nra != nil {
		a.Verb, a.Path = nra.Verb, nra.Path
	}
	return a
}

// decide is upstream's SubjectAccessReview status.
func decide(ctx context.Context, z authz.Authorizer, a authz.Attributes) authorizationv1.SubjectAccessReviewStatus {
	d, reason, err := z.Authorize(ctx, a)
	st := authorizationv1.SubjectAccessReviewStatus{Allowed: d == authz.Allow, Denied: d == authz.Deny, Reason: reason}
	if err != nil {
		st.EvaluationError = err.Error()
	}
	return st
}
