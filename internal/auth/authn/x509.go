package authn

import (
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
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
}

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
	return &User{
		Name:   leaf.Subject.CommonName,
		Groups: slices.Clone(leaf.Subject.Organization),
	}, true, nil
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
