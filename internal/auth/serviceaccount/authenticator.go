package serviceaccount

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/auth/authn"
)

// ObjectGetter reads the objects a token names, to check that they still
// exist. A missing object is an error (any error: the token is then
// rejected). Returned objects are not modified.
type ObjectGetter interface {
	ServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	Pod(ctx context.Context, namespace, name string) (*corev1.Pod, error)
	Node(ctx context.Context, name string) (*corev1.Node, error)
}

// Errors of token verification; the messages are upstream's.
var (
	ErrExpired        = errors.New("service account token has expired")
	ErrNotValidYet    = errors.New("service account token is not valid yet")
	ErrIssuedInFuture = errors.New("service account token is issued in the future")
	ErrInvalidated    = errors.New("service account token has been invalidated")
)

// Authenticator verifies service-account bearer tokens. It is safe for
// concurrent use.
type Authenticator struct {
	cfg      Config
	getter   ObjectGetter
	verified verifiedCache
}

var _ authn.Authenticator = (*Authenticator)(nil)

// NewAuthenticator returns an Authenticator trusting cfg.Keys' public
// keys, checking objects with getter.
func NewAuthenticator(cfg Config, getter ObjectGetter) *Authenticator {
	return &Authenticator{cfg: cfg.withDefaults(), getter: getter}
}

// Authenticate implements authn.Authenticator for "Authorization: Bearer
// <token>", with the API audiences.
func (a *Authenticator) Authenticate(r *http.Request) (*authn.User, bool, error) {
	token, ok := BearerToken(r)
	if !ok {
		return nil, false, nil
	}
	u, _, ok, err := a.AuthenticateToken(r.Context(), token, nil)
	return u, ok, err
}

// BearerToken returns the token of an "Authorization: Bearer" header.
func BearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// AuthenticateToken verifies token for audiences (the API audiences if
// empty) and returns its user and the audiences it is valid for. A token
// that is not a JWT of one of our issuers is not recognized (ok false,
// nil error), so that other token authenticators may try it; one of ours
// that fails verification is an error.
func (a *Authenticator) AuthenticateToken(ctx context.Context, token string, audiences []string) (*authn.User, []string, bool, error) {
	iss, ok := peekIssuer(token)
	if !ok || (iss != a.cfg.Issuer && iss != LegacyIssuer) {
		return nil, nil, false, nil
	}
	claims, ok := a.verified.get(token)
	if !ok {
		var err error
		claims, ok, err = a.verify(token)
		if !ok || err != nil {
			return nil, nil, false, err
		}
		a.verified.put(token, claims)
	}
	public, private, legacy := &claims.public, &claims.private, &claims.legacy
	if public.Issuer != iss {
		return nil, nil, false, fmt.Errorf("token issuer %q is invalid", public.Issuer)
	}

	tokenAuds := []string(public.Audience)
	if len(tokenAuds) == 0 {
		// Legacy tokens have no audience: only the API accepts them.
		tokenAuds = a.cfg.APIAudiences
	}
	if len(audiences) == 0 {
		audiences = a.cfg.APIAudiences
	}
	var auds []string
	for _, t := range tokenAuds {
		if slices.Contains(audiences, t) && !slices.Contains(auds, t) {
			auds = append(auds, t)
		}
	}
	if len(auds) == 0 {
		return nil, nil, false, fmt.Errorf("token audiences %q is invalid for the target audiences %q", tokenAuds, audiences)
	}

	now := a.cfg.Now()
	switch err := public.ValidateWithLeeway(jwt.Expected{Time: now}, jwt.DefaultLeeway); {
	case err == nil:
	case errors.Is(err, jwt.ErrExpired):
		return nil, nil, false, ErrExpired
	case errors.Is(err, jwt.ErrNotValidYet):
		return nil, nil, false, ErrNotValidYet
	case errors.Is(err, jwt.ErrIssuedInTheFuture):
		return nil, nil, false, ErrIssuedInFuture
	default:
		return nil, nil, false, fmt.Errorf("service account token claims could not be validated: %w", err)
	}

	var (
		u   *authn.User
		err error
	)
	if iss == LegacyIssuer {
		u, err = a.validateLegacy(ctx, token, public, legacy)
	} else {
		u, err = a.validateBound(ctx, now, public, private.Kubernetes)
	}
	if err != nil {
		return nil, nil, false, err
	}
	return u, auds, true, nil
}

// signedClaims are a token's claims once its signature checked out.
type signedClaims struct {
	public  jwt.Claims
	private privateClaims
	legacy  legacyClaims
}

// verify parses token and checks its signature against our keys. A token
// that does not parse as a JWT is not ours (ok false, nil error).
func (a *Authenticator) verify(token string) (*signedClaims, bool, error) {
	tok, err := jwt.ParseSigned(token, a.algorithms())
	if err != nil {
		return nil, false, nil
	}
	kid := ""
	for _, h := range tok.Headers {
		if h.KeyID != "" {
			kid = h.KeyID
			break
		}
	}
	var verifyErr error
	for _, k := range a.keysFor(kid) {
		c := &signedClaims{}
		if err := tok.Claims(k.key, &c.public, &c.private, &c.legacy); err != nil {
			verifyErr = err
			continue
		}
		return c, true, nil
	}
	return nil, false, fmt.Errorf("invalid signature: %w", verifyErr)
}

// maxVerified bounds the verified-signature cache; when full it starts
// over, which costs one signature check per token in use.
const maxVerified = 4096

// verifiedCache remembers the claims of tokens whose signature checked
// out, by the token's SHA-256. Checking an ES256 signature costs about a
// hundred times the rest of an authentication; everything that can change
// (expiry, audience, whether the service account and the bound pod,
// secret or node still exist) is still checked on every request, so a
// revoked token is refused at once. (Upstream caches the whole result of a
// token authentication for 10 s instead.) The verification keys do not
// change while the server runs.
type verifiedCache struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]*signedClaims
}

func (c *verifiedCache) get(token string) (*signedClaims, bool) {
	k := sha256.Sum256([]byte(token))
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *verifiedCache) put(token string, v *signedClaims) {
	k := sha256.Sum256([]byte(token))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxVerified {
		c.m = make(map[[sha256.Size]byte]*signedClaims)
	}
	c.m[k] = v
}

func (a *Authenticator) algorithms() []jose.SignatureAlgorithm {
	var algs []jose.SignatureAlgorithm
	for _, k := range a.cfg.Keys.public {
		if !slices.Contains(algs, k.alg) {
			algs = append(algs, k.alg)
		}
	}
	return algs
}

// keysFor returns the keys with id kid, or every key if none has it (a
// token from a signer that sets no kid).
func (a *Authenticator) keysFor(kid string) []publicKey {
	for _, k := range a.cfg.Keys.public {
		if k.kid == kid {
			return []publicKey{k}
		}
	}
	return a.cfg.Keys.public
}

// validateBound checks that the objects a bound token names still exist
// with the same UIDs (objects being deleted count as gone once the
// leeway has passed), as upstream's validator.
func (a *Authenticator) validateBound(ctx context.Context, now time.Time, public *jwt.Claims, k *kubernetesClaims) (*authn.User, error) {
	if k == nil || k.Namespace == "" || k.ServiceAccount.Name == "" {
		return nil, errors.New("service account token is missing the kubernetes.io claims")
	}
	if public.Subject != UserName(k.Namespace, k.ServiceAccount.Name) {
		return nil, errors.New("sub claim is invalid")
	}
	deletedBefore := now.Add(-jwt.DefaultLeeway)
	ns, saRef := k.Namespace, k.ServiceAccount
	sa, err := a.getter.ServiceAccount(ctx, ns, saRef.Name)
	if err != nil {
		return nil, fmt.Errorf("service account %s/%s: %w", ns, saRef.Name, err)
	}
	if string(sa.UID) != saRef.UID {
		return nil, fmt.Errorf("service account UID (%s) does not match claim (%s)", sa.UID, saRef.UID)
	}
	if deletedSince(sa.DeletionTimestamp, deletedBefore) {
		return nil, fmt.Errorf("service account %s/%s has been deleted", ns, saRef.Name)
	}
	if r := k.Secret; r != nil {
		s, err := a.getter.Secret(ctx, ns, r.Name)
		if err != nil {
			return nil, ErrInvalidated
		}
		if string(s.UID) != r.UID {
			return nil, fmt.Errorf("secret UID (%s) does not match service account secret ref claim (%s)", s.UID, r.UID)
		}
		if deletedSince(s.DeletionTimestamp, deletedBefore) {
			return nil, ErrInvalidated
		}
	}
	u := &authn.User{Name: UserName(ns, sa.Name), UID: saRef.UID, Groups: []string{GroupAll, GroupPrefix + ns}}
	extra := map[string][]string{}
	if r := k.Pod; r != nil {
		p, err := a.getter.Pod(ctx, ns, r.Name)
		if err != nil {
			return nil, ErrInvalidated
		}
		if string(p.UID) != r.UID {
			return nil, fmt.Errorf("pod UID (%s) does not match service account pod ref claim (%s)", p.UID, r.UID)
		}
		if deletedSince(p.DeletionTimestamp, deletedBefore) {
			return nil, ErrInvalidated
		}
		extra[ExtraPodName] = []string{r.Name}
		extra[ExtraPodUID] = []string{r.UID}
	}
	if r := k.Node; r != nil {
		if k.Pod == nil {
			// Bound to the node itself: the node must still exist.
			n, err := a.getter.Node(ctx, r.Name)
			if err != nil {
				return nil, ErrInvalidated
			}
			if string(n.UID) != r.UID {
				return nil, fmt.Errorf("node UID (%s) does not match service account node ref claim (%s)", n.UID, r.UID)
			}
			if deletedSince(n.DeletionTimestamp, deletedBefore) {
				return nil, ErrInvalidated
			}
		}
		extra[ExtraNodeName] = []string{r.Name}
		if r.UID != "" {
			extra[ExtraNodeUID] = []string{r.UID}
		}
	}
	if public.ID != "" {
		extra[ExtraCredentialID] = []string{"JTI=" + public.ID}
	}
	if len(extra) > 0 {
		u.Extra = extra
	}
	return u, nil
}

// validateLegacy checks a Secret-based token: the secret still holds
// exactly this token, and its service account exists with the same UID.
func (a *Authenticator) validateLegacy(ctx context.Context, token string, public *jwt.Claims, c *legacyClaims) (*authn.User, error) {
	switch {
	case public.Subject == "":
		return nil, errors.New("sub claim is missing")
	case c.Namespace == "":
		return nil, errors.New("namespace claim is missing")
	case c.SecretName == "":
		return nil, errors.New("secretName claim is missing")
	case c.ServiceAccountName == "":
		return nil, errors.New("serviceAccountName claim is missing")
	case c.ServiceAccountUID == "":
		return nil, errors.New("serviceAccountUID claim is missing")
	}
	if ns, name, ok := splitUserName(public.Subject); !ok || ns != c.Namespace || name != c.ServiceAccountName {
		return nil, errors.New("sub claim is invalid")
	}
	s, err := a.getter.Secret(ctx, c.Namespace, c.SecretName)
	if err != nil || s.DeletionTimestamp != nil {
		return nil, errors.New("Token has been invalidated")
	}
	if subtle.ConstantTimeCompare(s.Data[corev1.ServiceAccountTokenKey], []byte(token)) == 0 {
		return nil, errors.New("Token does not match server's copy")
	}
	sa, err := a.getter.ServiceAccount(ctx, c.Namespace, c.ServiceAccountName)
	if err != nil {
		return nil, fmt.Errorf("service account %s/%s: %w", c.Namespace, c.ServiceAccountName, err)
	}
	if sa.DeletionTimestamp != nil {
		return nil, fmt.Errorf("ServiceAccount %s/%s has been deleted", c.Namespace, c.ServiceAccountName)
	}
	if string(sa.UID) != c.ServiceAccountUID {
		return nil, fmt.Errorf("ServiceAccount UID (%s) does not match claim (%s)", sa.UID, c.ServiceAccountUID)
	}
	return &authn.User{
		Name: UserName(c.Namespace, c.ServiceAccountName), UID: c.ServiceAccountUID,
		Groups: []string{GroupAll, GroupPrefix + c.Namespace},
	}, nil
}

func deletedSince(ts *metav1.Time, before time.Time) bool {
	return ts != nil && ts.Time.Before(before)
}
