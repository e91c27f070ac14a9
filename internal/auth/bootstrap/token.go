// Package bootstrap is upstream's bootstrap tokens: short-lived bearer
// tokens, kept as Secrets of type bootstrap.kubernetes.io/token in
// kube-system, with which a new node authenticates as
// system:bootstrap:<token-id> (group system:bootstrappers) to ask for its
// own client certificate (TLS bootstrapping).
//
// A token is "<token-id>.<token-secret>" ([a-z0-9]{6}.[a-z0-9]{16}),
// stored in the Secret bootstrap-token-<token-id>. `skiff token create`
// prints it as a join token that also pins the cluster CA (JoinToken), so
// that a joining agent never trusts a server it has not verified.
package bootstrap

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Upstream's names (k8s.io/cluster-bootstrap/token/api).
const (
	SecretType             corev1.SecretType = "bootstrap.kubernetes.io/token"
	SecretPrefix                             = "bootstrap-token-"
	Namespace                                = metav1.NamespaceSystem
	KeyTokenID                               = "token-id"
	KeyTokenSecret                           = "token-secret"
	KeyExpiration                            = "expiration"
	KeyDescription                           = "description"
	KeyUsageAuthentication                   = "usage-bootstrap-authentication"
	KeyUsageSigning                          = "usage-bootstrap-signing"
	KeyExtraGroups                           = "auth-extra-groups"
	// UserPrefix + token-id is the authenticated user's name.
	UserPrefix = "system:bootstrap:"
	// Group every bootstrap token's user is in.
	Group = "system:bootstrappers"
)

var (
	tokenRE      = regexp.MustCompile(`^([a-z0-9]{6})\.([a-z0-9]{16})$`)
	idRE         = regexp.MustCompile(`^[a-z0-9]{6}$`)
	extraGroupRE = regexp.MustCompile(`^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$`)
)

// ErrMalformed is returned for a string that is not a bootstrap token or
// join token.
var ErrMalformed = errors.New("malformed bootstrap token")

// Token is a bootstrap token.
type Token struct {
	ID, Secret string
}

// String is the bearer form, "<id>.<secret>".
func (t Token) String() string { return t.ID + "." + t.Secret }

// SecretName is the Secret that holds the token.
func (t Token) SecretName() string { return SecretPrefix + t.ID }

// ParseToken parses "<id>.<secret>".
func ParseToken(s string) (Token, error) {
	m := tokenRE.FindStringSubmatch(s)
	if m == nil {
		return Token{}, fmt.Errorf("%w: want [a-z0-9]{6}.[a-z0-9]{16}", ErrMalformed)
	}
	return Token{ID: m[1], Secret: m[2]}, nil
}

// ValidID reports whether id is a token id.
func ValidID(id string) bool { return idRE.MatchString(id) }

const tokenAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// NewToken returns a random token.
func NewToken() (Token, error) {
	b := make([]byte, 22)
	if _, err := rand.Read(b); err != nil {
		return Token{}, fmt.Errorf("generate bootstrap token: %w", err)
	}
	// 256 is not a multiple of 36: reject the bytes that would bias it.
	out := make([]byte, 0, 22)
	for len(out) < 22 {
		for _, c := range b {
			if c < 252 && len(out) < 22 {
				out = append(out, tokenAlphabet[int(c)%36])
			}
		}
		if _, err := rand.Read(b); err != nil {
			return Token{}, fmt.Errorf("generate bootstrap token: %w", err)
		}
	}
	return Token{ID: string(out[:6]), Secret: string(out[6:])}, nil
}

// SecretOptions describe a new token's Secret.
type SecretOptions struct {
	// TTL: the token expires TTL after now; 0 never.
	TTL         time.Duration
	Description string
	// ExtraGroups, each system:bootstrappers:<something>.
	ExtraGroups []string
}

// NewSecret is the Secret of t, usable for authentication only.
func NewSecret(t Token, opts SecretOptions, now time.Time) (*corev1.Secret, error) {
	for _, g := range opts.ExtraGroups {
		if !extraGroupRE.MatchString(g) {
			return nil, fmt.Errorf("extra group %q: must match %s", g, extraGroupRE)
		}
	}
	data := map[string][]byte{
		KeyTokenID:             []byte(t.ID),
		KeyTokenSecret:         []byte(t.Secret),
		KeyUsageAuthentication: []byte("true"),
	}
	if opts.TTL > 0 {
		data[KeyExpiration] = []byte(now.Add(opts.TTL).UTC().Format(time.RFC3339))
	}
	if opts.Description != "" {
		data[KeyDescription] = []byte(opts.Description)
	}
	if len(opts.ExtraGroups) > 0 {
		data[KeyExtraGroups] = []byte(strings.Join(opts.ExtraGroups, ","))
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: t.SecretName(), Namespace: Namespace},
		Type:       SecretType,
		Data:       data,
	}, nil
}

// Expiration is the Secret's expiration time; ok is false if it has none.
// An unparsable expiration counts as expired (upstream does the same).
func Expiration(s *corev1.Secret) (at time.Time, ok bool) {
	v, has := s.Data[KeyExpiration]
	if !has {
		return time.Time{}, false
	}
	at, err := time.Parse(time.RFC3339, string(v))
	if err != nil {
		return time.Time{}, true
	}
	return at, true
}

// Expired reports whether s has expired at now.
func Expired(s *corev1.Secret, now time.Time) bool {
	at, ok := Expiration(s)
	return ok && !now.Before(at)
}

// secretMatches compares in constant time.
func secretMatches(stored []byte, given string) bool {
	return subtle.ConstantTimeCompare(stored, []byte(given)) == 1
}

// joinPrefix marks a join token: "K10" + hex SHA-256 of the cluster CA
// certificate (DER) + "::" + the bootstrap token, as k3s prints.
const joinPrefix = "K10"

// JoinToken is what `skiff agent --token` takes: a bootstrap token and
// the hash of the CA the server must present.
type JoinToken struct {
	// CAHash is the SHA-256 of the CA certificate's DER bytes; empty if
	// the token carried no pin (then --ca-cert-hash must give one).
	CAHash []byte
	Token  Token
}

// String is the full form, K10<hex>::<id>.<secret>.
func (j JoinToken) String() string {
	return joinPrefix + hex.EncodeToString(j.CAHash) + "::" + j.Token.String()
}

// CAHash is the pin of a CA certificate (DER).
func CAHash(der []byte) []byte {
	h := sha256.Sum256(der)
	return h[:]
}

// ParseJoinToken parses "K10<sha256 hex>::<id>.<secret>" or a bare
// "<id>.<secret>" (whose CAHash is empty).
func ParseJoinToken(s string) (JoinToken, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, joinPrefix) {
		t, err := ParseToken(s)
		return JoinToken{Token: t}, err
	}
	hashHex, tok, ok := strings.Cut(strings.TrimPrefix(s, joinPrefix), "::")
	if !ok {
		return JoinToken{}, fmt.Errorf("%w: want K10<ca hash>::<id>.<secret>", ErrMalformed)
	}
	hash, err := ParseCAHash(hashHex)
	if err != nil {
		return JoinToken{}, err
	}
	t, err := ParseToken(tok)
	if err != nil {
		return JoinToken{}, err
	}
	return JoinToken{CAHash: hash, Token: t}, nil
}

// ParseCAHash parses a hex SHA-256, optionally prefixed "sha256:" (as
// kubeadm's --discovery-token-ca-cert-hash).
func ParseCAHash(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimPrefix(s, "sha256:"))
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("%w: the CA hash must be 64 hex digits (SHA-256)", ErrMalformed)
	}
	return b, nil
}
