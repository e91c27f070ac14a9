package tokens

import (
	"context"
	"fmt"
	"slices"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/auth/serviceaccount"
	"skiff.dev/skiff/internal/registry"
)

// WithTokenRequest returns resources with the token subresource added to
// core/v1 serviceaccounts.
func WithTokenRequest(resources []registry.Resource, cfg Config) []registry.Resource {
	out := slices.Clone(resources)
	for i := range out {
		r := &out[i]
		if r.GroupVersion == corev1.SchemeGroupVersion && r.Resource == "serviceaccounts" {
			r.CreateSubresources = append(slices.Clone(r.CreateSubresources), TokenRequest(cfg))
		}
	}
	return out
}

// TokenRequest is the serviceaccounts/token subresource.
func TokenRequest(cfg Config) registry.CreateSubresource {
	return registry.CreateSubresource{
		Name: "token", Kind: tokenRequestGVK,
		New: func() runtime.Object { return &authenticationv1.TokenRequest{} },
		Create: func(ctx context.Context, namespace, name string, obj runtime.Object) (runtime.Object, []string, error) {
			req, ok := obj.(*authenticationv1.TokenRequest)
			if !ok {
				return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("not a TokenRequest: %T", obj))
			}
			return cfg.createToken(ctx, namespace, name, req)
		},
	}
}

// ValidateTokenRequest is upstream's static validation of a defaulted
// request.
func ValidateTokenRequest(tr *authenticationv1.TokenRequest) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	exp := ptrValue(tr.Spec.ExpirationSeconds)
	if exp < MinExpirationSeconds {
		errs = append(errs, field.Invalid(spec.Child("expirationSeconds"), exp, "may not specify a duration less than 10 minutes"))
	}
	if exp > 1<<32 {
		errs = append(errs, field.Invalid(spec.Child("expirationSeconds"), exp, "may not specify a duration larger than 2^32 seconds"))
	}
	if len(tr.Spec.Attestations) != 0 {
		// Webhook-bound tokens, the only ones with attestations, are
		// not served.
		return field.ErrorList{field.Invalid(spec.Child("attestations"), tr.Spec.Attestations, "attestations may only be specified with a webhook bound object reference")}
	}
	return errs
}

func ptrValue(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// createToken is upstream's TokenREST.Create.
func (c Config) createToken(ctx context.Context, namespace, name string, req *authenticationv1.TokenRequest) (runtime.Object, []string, error) {
	if req.Name != "" && req.Name != name {
		return nil, nil, apierrors.NewInvalid(tokenRequestGVK.GroupKind(), name, field.ErrorList{
			field.Invalid(field.NewPath("metadata", "name"), req.Name, "must match the service account name if specified")})
	}
	if req.Namespace != "" && req.Namespace != namespace {
		return nil, nil, apierrors.NewInvalid(tokenRequestGVK.GroupKind(), name, field.ErrorList{
			field.Invalid(field.NewPath("metadata", "namespace"), req.Namespace, "must match the service account namespace if specified")})
	}
	sa, err := c.Objects.ServiceAccount(ctx, namespace, name)
	if err != nil {
		return nil, nil, err
	}
	if req.UID != "" && req.UID != sa.UID {
		return nil, nil, apierrors.NewConflict(schema.GroupResource{Group: tokenRequestGVK.Group, Resource: tokenRequestGVK.Kind}, name,
			fmt.Errorf("the UID in the token request (%s) does not match the UID of the service account (%s)", req.UID, sa.UID))
	}
	if req.Spec.ExpirationSeconds == nil {
		d := int64(DefaultExpirationSeconds)
		req.Spec.ExpirationSeconds = &d
	}
	if len(req.Spec.Audiences) == 0 {
		req.Spec.Audiences = c.Issuer.APIAudiences()
	}
	req.Name, req.Namespace, req.UID = sa.Name, sa.Namespace, sa.UID
	now := c.now()
	req.CreationTimestamp = metav1.NewTime(now)
	req.Status = authenticationv1.TokenRequestStatus{}
	if errs := ValidateTokenRequest(req); len(errs) > 0 {
		return nil, nil, apierrors.NewInvalid(tokenRequestGVK.GroupKind(), "", errs)
	}

	tr := serviceaccount.Request{ServiceAccount: sa, Audiences: req.Spec.Audiences}
	if ref := req.Spec.BoundObjectRef; ref != nil {
		if err := c.bind(ctx, &tr, namespace, name, ref); err != nil {
			return nil, nil, err
		}
	}

	var warnings []string
	exp := *req.Spec.ExpirationSeconds
	if max := int64(c.MaxExpiration / time.Second); max > 0 && exp > max {
		warnings = append(warnings, fmt.Sprintf("requested expiration of %d seconds shortened to %d seconds", exp, max))
		exp = max
		req.Spec.ExpirationSeconds = &exp
	}
	tokenExp := exp
	if c.ExtendExpiration && tr.Pod != nil && exp == WarnOnlyExpirationSeconds && subset(req.Spec.Audiences, c.Issuer.APIAudiences()) {
		tr.WarnAfter = time.Duration(exp) * time.Second
		tokenExp = ExtendedExpirationSeconds
	}
	tr.Expiration = time.Duration(tokenExp) * time.Second
	tok, err := c.Issuer.Issue(tr)
	if err != nil {
		return nil, nil, apierrors.NewInternalError(fmt.Errorf("failed to generate token: %w", err))
	}
	out := req.DeepCopy()
	out.Status = authenticationv1.TokenRequestStatus{
		Token: tok.Token,
		// The requested expiry, even when the token itself was
		// extended: clients refresh by this.
		ExpirationTimestamp: metav1.NewTime(now.Add(time.Duration(exp) * time.Second)),
	}
	return out, warnings, nil
}

// bind resolves a boundObjectRef into tr, with upstream's errors.
func (c Config) bind(ctx context.Context, tr *serviceaccount.Request, namespace, saName string, ref *authenticationv1.BoundObjectReference) error {
	gvk := schema.FromAPIVersionAndKind(ref.APIVersion, ref.Kind)
	if gvk.Group != "" || !boundKinds[gvk.Kind] {
		return apierrors.NewBadRequest(fmt.Sprintf("cannot bind token to object of type %s", gvk.String()))
	}
	var uid types.UID
	switch gvk.Kind {
	case "Pod":
		pod, err := c.Objects.Pod(ctx, namespace, ref.Name)
		if err != nil {
			return err
		}
		if pod.Spec.ServiceAccountName != saName {
			return apierrors.NewBadRequest(fmt.Sprintf("cannot bind token for serviceaccount %q to pod running with different serviceaccount name.", saName))
		}
		tr.Pod, uid = pod, pod.UID
		if pod.Spec.NodeName != "" {
			node, err := c.Objects.Node(ctx, pod.Spec.NodeName)
			switch {
			case apierrors.IsNotFound(err):
				// The node's name still tells a reader of the
				// token where the pod runs.
				node = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: pod.Spec.NodeName}}
			case err != nil:
				return apierrors.NewInternalError(err)
			}
			tr.Node = node
		}
	case "Node":
		node, err := c.Objects.Node(ctx, ref.Name)
		if err != nil {
			return err
		}
		tr.Node, uid = node, node.UID
	case "Secret":
		secret, err := c.Objects.Secret(ctx, namespace, ref.Name)
		if err != nil {
			return err
		}
		tr.Secret, uid = secret, secret.UID
	}
	if ref.UID != "" && ref.UID != uid {
		return apierrors.NewConflict(schema.GroupResource{Group: gvk.Group, Resource: gvk.Kind}, ref.Name,
			fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
	}
	return nil
}

// subset reports whether every one of a is in b (upstream's
// isKubeAudiences).
func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
