package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"
)

const (
	leafValidity = 365 * 24 * time.Hour
	// renewBefore is how close to expiry a leaf certificate may get before
	// a start reissues it; 90 days is what k3s uses, and leaves a quarter of
	// the validity as margin for clusters that restart rarely.
	renewBefore = 90 * 24 * time.Hour

	// ServingCommonName is the subject of the API server's serving
	// certificate. Clients check SANs, not the CN.
	ServingCommonName = "skiff-apiserver"
)

// ErrNoHosts is returned when a serving certificate is requested for no host.
var ErrNoHosts = errors.New("serving certificate needs at least one host")

// ErrInvalidHost is returned for a host that is neither an IP address nor a
// valid DNS name.
var ErrInvalidHost = errors.New("invalid host name for a certificate")

// ErrNoUser is returned when a client certificate is requested without a user
// name; the authenticator takes the user from the CN and refuses an empty one.
var ErrNoUser = errors.New("client certificate needs a user name")

// leafSpec says what a leaf certificate must contain.
type leafSpec struct {
	commonName string
	groups     []string // subject organizations
	hosts      []string // SANs (serving only)
	usage      x509.ExtKeyUsage
}

func servingSpec(hosts []string) (leafSpec, error) {
	dnsNames, ips := splitHosts(hosts)
	for _, d := range dnsNames {
		if !validDNSName(d) {
			return leafSpec{}, fmt.Errorf("%w: %q", ErrInvalidHost, d)
		}
	}
	if len(dnsNames)+len(ips) == 0 {
		return leafSpec{}, ErrNoHosts
	}
	return leafSpec{commonName: ServingCommonName, hosts: hosts, usage: x509.ExtKeyUsageServerAuth}, nil
}

func clientSpec(user string, groups []string) (leafSpec, error) {
	if user == "" {
		return leafSpec{}, ErrNoUser
	}
	return leafSpec{commonName: user, groups: groups, usage: x509.ExtKeyUsageClientAuth}, nil
}

// SignServing returns a new serving certificate and key (PEM) for hosts, valid
// for one year, for TLS server authentication. Hosts are DNS names or IP
// addresses; the caller chooses them (see ServingHosts).
func (ca *CA) SignServing(hosts []string) (certPEM, keyPEM []byte, err error) {
	spec, err := servingSpec(hosts)
	if err != nil {
		return nil, nil, err
	}
	return ca.sign(spec)
}

// SignClient returns a new client certificate and key (PEM) with CN=user and
// O=groups, valid for one year, for TLS client authentication. This is how
// in-process components can get an identity without touching the disk.
func (ca *CA) SignClient(user string, groups []string) (certPEM, keyPEM []byte, err error) {
	spec, err := clientSpec(user, groups)
	if err != nil {
		return nil, nil, err
	}
	return ca.sign(spec)
}

// IssueServing signs a new serving certificate for hosts and writes it to
// certPath and keyPath, replacing what is there.
func (ca *CA) IssueServing(certPath, keyPath string, hosts []string) error {
	spec, err := servingSpec(hosts)
	if err != nil {
		return err
	}
	return ca.issue(certPath, keyPath, spec)
}

// LoadOrIssueServing keeps the serving certificate at certPath if it was
// signed by this CA, matches its key, covers every one of hosts and is more
// than 90 days from expiry; otherwise it issues a new one. It reports whether
// it issued.
func (ca *CA) LoadOrIssueServing(certPath, keyPath string, hosts []string) (issued bool, err error) {
	spec, err := servingSpec(hosts)
	if err != nil {
		return false, err
	}
	return ca.loadOrIssue(certPath, keyPath, spec)
}

// IssueClient signs a new client certificate with CN=user and O=groups and
// writes it to certPath and keyPath, replacing what is there.
func (ca *CA) IssueClient(certPath, keyPath, user string, groups []string) error {
	spec, err := clientSpec(user, groups)
	if err != nil {
		return err
	}
	return ca.issue(certPath, keyPath, spec)
}

// LoadOrIssueClient keeps the client certificate at certPath if it was signed
// by this CA, matches its key, names exactly user and groups and is more than
// 90 days from expiry; otherwise it issues a new one. It reports whether it
// issued.
func (ca *CA) LoadOrIssueClient(certPath, keyPath, user string, groups []string) (issued bool, err error) {
	spec, err := clientSpec(user, groups)
	if err != nil {
		return false, err
	}
	return ca.loadOrIssue(certPath, keyPath, spec)
}

func (ca *CA) loadOrIssue(certPath, keyPath string, spec leafSpec) (bool, error) {
	if ca.reusable(certPath, keyPath, spec) {
		return false, restrictPair(certPath, keyPath)
	}
	if err := ca.issue(certPath, keyPath, spec); err != nil {
		return false, err
	}
	return true, nil
}

// reusable reports whether the files hold a certificate that fits spec. Any
// problem reading them means "not reusable": they are ours to regenerate.
func (ca *CA) reusable(certPath, keyPath string, spec leafSpec) bool {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return false
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return false
	}
	certs, err := parseCertsPEM(certPEM)
	if err != nil {
		return false
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return false
	}
	return leafFits(ca.Cert, certs[0], key.Public(), spec, ca.clock()) == ""
}

// leafFits returns why cert does not satisfy spec at time now, or "" if it
// does.
func leafFits(caCert, cert *x509.Certificate, pub crypto.PublicKey, spec leafSpec, now time.Time) string {
	switch {
	case cert.CheckSignatureFrom(caCert) != nil:
		return "not signed by the CA"
	case !publicKeysEqual(pub, cert.PublicKey):
		return "key does not match certificate"
	case now.Before(cert.NotBefore):
		return "not yet valid"
	case now.Add(renewBefore).After(cert.NotAfter):
		return "expires soon"
	case !slices.Contains(cert.ExtKeyUsage, spec.usage):
		return "wrong extended key usage"
	case cert.Subject.CommonName != spec.commonName:
		return "different common name"
	case !sameSet(cert.Subject.Organization, spec.groups):
		return "different groups"
	case !coversHosts(cert, spec.hosts):
		return "SANs do not cover the requested hosts"
	}
	return ""
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

func (ca *CA) issue(certPath, keyPath string, spec leafSpec) error {
	certPEM, keyPEM, err := ca.sign(spec)
	if err != nil {
		return err
	}
	// Key first: a crash between the writes leaves a key that does not match
	// the old certificate, which the next start detects and reissues.
	if err := writeFileAtomic(keyPath, keyPEM, keyMode); err != nil {
		return err
	}
	return writeFileAtomic(certPath, certPEM, certMode)
}

func (ca *CA) sign(spec leafSpec) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	now := ca.clock()
	notAfter := now.Add(leafValidity)
	// A leaf outliving its CA would fail verification anyway; cap it.
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	dnsNames, ips := splitHosts(spec.hosts)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:   spec.commonName,
			Organization: slices.Clone(spec.groups),
		},
		DNSNames:              dnsNames,
		IPAddresses:           ips,
		NotBefore:             now.Add(-backdate).UTC(),
		NotAfter:              notAfter.UTC(),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{spec.usage},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("sign certificate for %q: %w", spec.commonName, err)
	}
	keyPEM, err = encodeKeyPEM(key)
	if err != nil {
		return nil, nil, err
	}
	return encodeCertPEM(der), keyPEM, nil
}

// restrictPair gives a reused certificate and key this package's modes,
// should an older Skiff or a user have loosened them.
func restrictPair(certPath, keyPath string) error {
	if err := RestrictMode(certPath, certMode); err != nil {
		return err
	}
	return RestrictMode(keyPath, keyMode)
}
