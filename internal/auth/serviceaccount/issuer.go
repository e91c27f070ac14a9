package serviceaccount

import (
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
)

// Config is what issuing and verifying share.
type Config struct {
	Keys *Keys
	// Issuer is the iss of bound tokens (DefaultIssuer if empty).
	Issuer string
	// APIAudiences are the audiences the API server accepts, and the
	// default audiences of a TokenRequest (upstream's --api-audiences;
	// the issuer if empty).
	APIAudiences []string
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Issuer == "" {
		c.Issuer = DefaultIssuer
	}
	if len(c.APIAudiences) == 0 {
		c.APIAudiences = []string{c.Issuer}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Request describes a bound token to issue.
type Request struct {
	ServiceAccount *corev1.ServiceAccount
	// Audiences of the token; the API audiences if empty.
	Audiences []string
	// Expiration is the token's lifetime from now.
	Expiration time.Duration
	// At most one of Pod, Secret and Node is the object the token is
	// bound to: deleting it revokes the token. A pod-bound token may
	// carry the pod's Node too, as information only.
	Pod    *corev1.Pod
	Secret *corev1.Secret
	Node   *corev1.Node
	// WarnAfter, if positive, is recorded as the kubernetes.io warnafter
	// claim: the time after which a use is reported as stale.
	WarnAfter time.Duration
}

// Token is an issued token.
type Token struct {
	Token string
	// IssuedAt and Expires are the token's iat and exp (whole seconds).
	IssuedAt, Expires time.Time
	// ID is the jti.
	ID string
}

// Issuer mints tokens. It is safe for concurrent use.
type Issuer struct {
	cfg    Config
	signer jose.Signer
	newID  func() string
}

// ErrInvalidBinding is returned by Issue for a request bound to more than
// one kind of object.
var ErrInvalidBinding = errors.New("token can only be bound to one object type")

// NewIssuer returns an Issuer signing with cfg.Keys.
func NewIssuer(cfg Config) (*Issuer, error) {
	cfg = cfg.withDefaults()
	if cfg.Keys == nil {
		return nil, errors.New("serviceaccount: no signing key")
	}
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), cfg.Keys.kid)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: cfg.Keys.alg, Key: cfg.Keys.signer}, opts)
	if err != nil {
		return nil, fmt.Errorf("serviceaccount: token signer: %w", err)
	}
	return &Issuer{cfg: cfg, signer: signer, newID: uuid.NewString}, nil
}

// APIAudiences are the audiences the API server accepts (a TokenRequest's
// default).
func (i *Issuer) APIAudiences() []string { return append([]string(nil), i.cfg.APIAudiences...) }

// Issue mints a bound token: upstream's claims (iss, sub, aud, exp, iat,
// nbf, jti and kubernetes.io).
func (i *Issuer) Issue(r Request) (Token, error) {
	sa := r.ServiceAccount
	if sa == nil {
		return Token{}, errors.New("serviceaccount: no service account to issue a token for")
	}
	if r.Secret != nil && (r.Pod != nil || r.Node != nil) {
		return Token{}, ErrInvalidBinding
	}
	auds := r.Audiences
	if len(auds) == 0 {
		auds = i.cfg.APIAudiences
	}
	now := i.cfg.Now().Truncate(time.Second)
	exp := now.Add(r.Expiration)
	public := jwt.Claims{
		Issuer:    i.cfg.Issuer,
		Subject:   UserName(sa.Namespace, sa.Name),
		Audience:  jwt.Audience(auds),
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		Expiry:    jwt.NewNumericDate(exp),
		ID:        i.newID(),
	}
	k := &kubernetesClaims{Namespace: sa.Namespace, ServiceAccount: ref{Name: sa.Name, UID: string(sa.UID)}}
	switch {
	case r.Pod != nil:
		k.Pod = &ref{Name: r.Pod.Name, UID: string(r.Pod.UID)}
		if r.Node != nil {
			k.Node = &ref{Name: r.Node.Name, UID: string(r.Node.UID)}
		}
	case r.Secret != nil:
		k.Secret = &ref{Name: r.Secret.Name, UID: string(r.Secret.UID)}
	case r.Node != nil:
		k.Node = &ref{Name: r.Node.Name, UID: string(r.Node.UID)}
	}
	if r.WarnAfter > 0 {
		k.WarnAfter = jwt.NewNumericDate(now.Add(r.WarnAfter))
	}
	tok, err := jwt.Signed(i.signer).Claims(public).Claims(privateClaims{Kubernetes: k}).Serialize()
	if err != nil {
		return Token{}, fmt.Errorf("serviceaccount: sign token: %w", err)
	}
	return Token{Token: tok, IssuedAt: now, Expires: exp, ID: public.ID}, nil
}

// IssueLegacy mints the never-expiring token of a
// kubernetes.io/service-account-token Secret, with upstream's legacy
// claims. It is revoked by deleting the secret or the service account.
func (i *Issuer) IssueLegacy(sa *corev1.ServiceAccount, secret *corev1.Secret) (string, error) {
	public := jwt.Claims{Issuer: LegacyIssuer, Subject: UserName(sa.Namespace, sa.Name)}
	private := legacyClaims{
		ServiceAccountName: sa.Name, ServiceAccountUID: string(sa.UID),
		SecretName: secret.Name, Namespace: sa.Namespace,
	}
	tok, err := jwt.Signed(i.signer).Claims(public).Claims(private).Serialize()
	if err != nil {
		return "", fmt.Errorf("serviceaccount: sign legacy token: %w", err)
	}
	return tok, nil
}
