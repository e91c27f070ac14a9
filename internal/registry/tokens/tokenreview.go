package tokens

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/registry"
)

// TokenReview is authentication.k8s.io/v1 tokenreviews: create only,
// cluster-scoped, answered by cfg.Authenticator (the API server calls
// CreateVirtual).
func TokenReview(cfg Config) registry.Resource {
	return registry.Resource{
		GroupVersion: authenticationv1.SchemeGroupVersion, Resource: "tokenreviews", Kind: "TokenReview", SingularName: "tokenreview",
		New:      func() runtime.Object { return &authenticationv1.TokenReview{} },
		NewList:  func() runtime.Object { return &metav1.List{} },
		Strategy: reviewStrategy{cfg: cfg}, Verbs: []string{"create"},
	}
}

type reviewStrategy struct{ cfg Config }

func (reviewStrategy) Default(runtime.Object)                                           {}
func (reviewStrategy) PrepareForCreate(context.Context, runtime.Object)                 {}
func (reviewStrategy) PrepareForUpdate(context.Context, runtime.Object, runtime.Object) {}
func (reviewStrategy) ValidateUpdate(context.Context, runtime.Object, runtime.Object) field.ErrorList {
	return nil
}

func (reviewStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	if _, ok := obj.(*authenticationv1.TokenReview); !ok {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("not a TokenReview: %T", obj))}
	}
	return nil
}

// errBadAudiences is upstream's answer when the authenticator accepted a
// token for none of the requested audiences.
var errBadAudiences = apierrors.NewInternalError(fmt.Errorf("error validating audiences"))

// CreateVirtual is upstream's TokenReview REST Create: the review's
// status says whether the token authenticates, as whom, for which
// audiences, or why not.
func (s reviewStrategy) CreateVirtual(ctx context.Context, obj runtime.Object) (runtime.Object, error) {
	review, ok := obj.(*authenticationv1.TokenReview)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a TokenReview: %T", obj))
	}
	if review.Spec.Token == "" {
		return nil, apierrors.NewBadRequest("token is required for TokenReview in authentication")
	}
	review.Status = authenticationv1.TokenReviewStatus{}
	if s.cfg.Authenticator == nil {
		return review, nil
	}
	user, auds, ok, err := s.cfg.Authenticator.AuthenticateToken(ctx, review.Spec.Token, review.Spec.Audiences)
	review.Status.Authenticated = ok && user != nil
	if err != nil {
		review.Status.Error = err.Error()
	}
	if !review.Status.Authenticated {
		return review, nil
	}
	if len(auds) == 0 {
		return nil, errBadAudiences
	}
	groups := append([]string(nil), user.Groups...)
	if !user.InGroup(authn.GroupAuthenticated) {
		groups = append(groups, authn.GroupAuthenticated)
	}
	info := authenticationv1.UserInfo{Username: user.Name, UID: user.UID, Groups: groups, Extra: map[string]authenticationv1.ExtraValue{}}
	for k, v := range user.Extra {
		info.Extra[k] = v
	}
	review.Status.User = info
	review.Status.Audiences = auds
	return review, nil
}
