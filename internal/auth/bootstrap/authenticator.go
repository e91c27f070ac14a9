package bootstrap

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"skiff.dev/skiff/internal/auth/authn"
)

// Errors of Authenticate for a token of the right shape that does not
// authenticate (each answers 401).
var (
	ErrUnknownToken = errors.New("bootstrap token: no such token")
	ErrWrongSecret  = errors.New("bootstrap token: wrong secret")
	ErrExpired      = errors.New("bootstrap token: expired")
	ErrNotForAuthn  = errors.New("bootstrap token: not usable for authentication")
	ErrBadGroups    = errors.New("bootstrap token: invalid auth-extra-groups")
)

// SecretSource finds a Secret in kube-system by name; the API server's
// watch cache in production. Implementations are safe for concurrent use
// and return objects the caller must not modify.
type SecretSource interface {
	Secret(name string) (*corev1.Secret, bool)
}

// Authenticator recognizes "Authorization: Bearer <id>.<secret>".
type Authenticator struct {
	Secrets SecretSource
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

var _ authn.Authenticator = Authenticator{}

// Authenticate implements authn.Authenticator: a bearer token that is not
// of the bootstrap shape is not ours (nil, false, nil), so the
// service-account authenticator may try it.
func (a Authenticator) Authenticate(r *http.Request) (*authn.User, bool, error) {
	h := r.Header.Get("Authorization")
	scheme, value, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return nil, false, nil
	}
	t, err := ParseToken(strings.TrimSpace(value))
	if err != nil {
		return nil, false, nil
	}
	return a.authenticate(t)
}

func (a Authenticator) authenticate(t Token) (*authn.User, bool, error) {
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	s, ok := a.Secrets.Secret(t.SecretName())
	if !ok || s.Type != SecretType || s.DeletionTimestamp != nil || string(s.Data[KeyTokenID]) != t.ID {
		return nil, false, fmt.Errorf("%w: %s", ErrUnknownToken, t.ID)
	}
	if !secretMatches(s.Data[KeyTokenSecret], t.Secret) {
		return nil, false, fmt.Errorf("%w: %s", ErrWrongSecret, t.ID)
	}
	if Expired(s, now()) {
		return nil, false, fmt.Errorf("%w: %s", ErrExpired, t.ID)
	}
	if string(s.Data[KeyUsageAuthentication]) != "true" {
		return nil, false, fmt.Errorf("%w: %s", ErrNotForAuthn, t.ID)
	}
	groups := []string{Group}
	if extra := string(s.Data[KeyExtraGroups]); extra != "" {
		for _, g := range strings.Split(extra, ",") {
			g = strings.TrimSpace(g)
			if !extraGroupRE.MatchString(g) {
				return nil, false, fmt.Errorf("%w: %q", ErrBadGroups, g)
			}
			if g != Group {
				groups = append(groups, g)
			}
		}
	}
	return &authn.User{Name: UserPrefix + t.ID, Groups: groups}, true, nil
}
