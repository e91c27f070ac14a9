package authn

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// ErrNoCommonName is returned for a verified client certificate whose subject
// has no common name: the CN is the user name, and there is no anonymous user.
var ErrNoCommonName = errors.New("client certificate has no common name")

// X509Authenticator authenticates requests by their TLS client certificate,
// as upstream's --client-ca-file does: the certificate must chain to one of
// the roots (through intermediates the client sent), be valid now and allow
// client authentication. The user is the subject's common name and the groups
// are its organizations.
type X509Authenticator struct {
	roots *x509.CertPool
	// now is the clock used for validity checks; tests replace it.
	now func() time.Time

	// verified remembers chains that verified, so that every request of
	// a long-lived connection does not pay for signature checks again
	// (upstream caches the same way). Entries expire after
	// verifiedTTL or at the leaf's NotAfter, whichever is first.
	mu       sync.Mutex
	verified map[[sha256.Size]byte]verifiedChain
}

type verifiedChain struct {
	user    User
	expires time.Time
}

const (
	verifiedTTL     = 5 * time.Minute
	maxVerifiedSize = 4096
)

var _ Authenticator = (*X509Authenticator)(nil)

// NewX509Authenticator returns an authenticator trusting roots. A nil pool
// trusts nothing (it does not fall back to the system roots, which must never
// be able to mint cluster identities).
func NewX509Authenticator(roots *x509.CertPool) *X509Authenticator {
	if roots == nil {
		roots = x509.NewCertPool()
	}
	return &X509Authenticator{roots: roots, now: time.Now}
}

// Authenticate implements Authenticator. A request without a client
// certificate is not recognized; one whose certificate fails verification is
// an error.
func (a *X509Authenticator) Authenticate(r *http.Request) (*User, bool, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, false, nil
	}
	leaf := r.TLS.PeerCertificates[0]
	key := chainKey(r.TLS.PeerCertificates)
	now := a.now()
	a.mu.Lock()
	if v, ok := a.verified[key]; ok && now.Before(v.expires) {
		a.mu.Unlock()
		u := v.user
		u.Groups = slices.Clone(v.user.Groups)
		return &u, true, nil
	}
	a.mu.Unlock()
	opts := x509.VerifyOptions{
		Roots:       a.roots,
		CurrentTime: a.now(),
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if len(r.TLS.PeerCertificates) > 1 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range r.TLS.PeerCertificates[1:] {
			opts.Intermediates.AddCert(c)
		}
	}
	if _, err := leaf.Verify(opts); err != nil {
		return nil, false, fmt.Errorf("verifying certificate %s failed: %w", certificateIdentifier(leaf), err)
	}
	if leaf.Subject.CommonName == "" {
		return nil, false, fmt.Errorf("certificate %s: %w", certificateIdentifier(leaf), ErrNoCommonName)
	}
	u := User{Name: leaf.Subject.CommonName, Groups: slices.Clone(leaf.Subject.Organization)}
	expires := now.Add(verifiedTTL)
	if leaf.NotAfter.Before(expires) {
		expires = leaf.NotAfter
	}
	a.mu.Lock()
	if a.verified == nil || len(a.verified) >= maxVerifiedSize {
		a.verified = make(map[[sha256.Size]byte]verifiedChain)
	}
	a.verified[key] = verifiedChain{user: u, expires: expires}
	a.mu.Unlock()
	out := u
	out.Groups = slices.Clone(u.Groups)
	return &out, true, nil
}

// chainKey identifies the exact certificates a client presented.
func chainKey(certs []*x509.Certificate) [sha256.Size]byte {
	h := sha256.New()
	for _, c := range certs {
		h.Write(c.Raw)
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// certificateIdentifier names a certificate in error messages well enough to
// find it, without dumping it.
func certificateIdentifier(c *x509.Certificate) string {
	return fmt.Sprintf("SN=%s, SKID=%s, AKID=%s, subject=%q, issuer=%q",
		c.SerialNumber, hexOrNone(c.SubjectKeyId), hexOrNone(c.AuthorityKeyId),
		c.Subject.String(), c.Issuer.String())
}

func hexOrNone(b []byte) string {
	if len(b) == 0 {
		return "<none>"
	}
	return hex.EncodeToString(b)
}
