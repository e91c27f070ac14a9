// Package tokens serves the service-account token APIs: the TokenRequest
// subresource serviceaccounts/token (`kubectl create token`), which mints
// bound tokens with an Issuer, and authentication.k8s.io/v1 TokenReview,
// which verifies a token for a webhook or an add-on. Nothing is stored.
//
// Use: pass WithTokenRequest(resources, cfg) and TokenReview(cfg) to the
// API server's resources.
package tokens

import (
	"context"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"

	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/auth/serviceaccount"
)

// Issuer mints bound tokens (serviceaccount.Issuer).
type Issuer interface {
	Issue(serviceaccount.Request) (serviceaccount.Token, error)
	APIAudiences() []string
}

// TokenAuthenticator verifies a bearer token for audiences (the API
// audiences if empty), returning its user and the audiences it is valid
// for; ok is false for a token it does not recognize
// (serviceaccount.Authenticator).
type TokenAuthenticator interface {
	AuthenticateToken(ctx context.Context, token string, audiences []string) (user *authn.User, validFor []string, ok bool, err error)
}

// Objects reads what a TokenRequest names. Errors are returned to the
// client as they are, so a missing object must be an apierrors NotFound.
// Reads must see writes that just succeeded (`kubectl create sa` then
// `kubectl create token`).
type Objects interface {
	serviceaccount.ObjectGetter
}

// Config is what the APIs answer with.
type Config struct {
	Issuer  Issuer
	Objects Objects
	// Authenticator verifies tokens for TokenReview.
	Authenticator TokenAuthenticator
	// MaxExpiration shortens longer requests, with a warning (upstream's
	// --service-account-max-token-expiration); 0 means no maximum.
	MaxExpiration time.Duration
	// ExtendExpiration: a pod-bound token for the API audiences
	// requested for exactly WarnOnlyExpiration (what the kubelet asks
	// for projected volumes) lives a year, and uses after the requested
	// expiry are only reported (upstream's
	// --service-account-extend-token-expiration, default true).
	ExtendExpiration bool
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// Upstream's constants of token expiry.
const (
	// MinExpirationSeconds is the shortest lifetime a TokenRequest may ask.
	MinExpirationSeconds = 10 * 60
	// DefaultExpirationSeconds is the lifetime of a request that names none.
	DefaultExpirationSeconds = 60 * 60
	// WarnOnlyExpirationSeconds is the kubelet's request for projected
	// tokens, extended when ExtendExpiration is on.
	WarnOnlyExpirationSeconds = 60*60 + 7
	// ExtendedExpirationSeconds is the extended lifetime (a year).
	ExtendedExpirationSeconds = 24 * 365 * 60 * 60
)

func (c Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

var (
	tokenRequestGVK = authenticationv1.SchemeGroupVersion.WithKind("TokenRequest")
	tokenReviewGVK  = authenticationv1.SchemeGroupVersion.WithKind("TokenReview")
)

// boundKinds are the objects a token may be bound to.
var boundKinds = map[string]bool{"Pod": true, "Secret": true, "Node": true}
