package authn

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"
)

// testCert is a certificate with its key, for building chains in tests
// without depending on the pki package.
type testCert struct {
	cert *x509.Certificate
	key  crypto.Signer
}

var testNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

type certOpt func(*x509.Certificate)

func withUsage(u ...x509.ExtKeyUsage) certOpt {
	return func(c *x509.Certificate) { c.ExtKeyUsage = u }
}

func withValidity(from, to time.Time) certOpt {
	return func(c *x509.Certificate) { c.NotBefore, c.NotAfter = from, to }
}

func asCA() certOpt {
	return func(c *x509.Certificate) {
		c.IsCA = true
		c.BasicConstraintsValid = true
		c.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
		c.ExtKeyUsage = nil
		// Wide enough for both testNow (server-side checks) and the
		// real clock (the TLS client checking the server's chain).
		c.NotBefore = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
		c.NotAfter = time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)
	}
}

func withHosts(hosts ...string) certOpt {
	return func(c *x509.Certificate) {
		for _, h := range hosts {
			if ip := net.ParseIP(h); ip != nil {
				c.IPAddresses = append(c.IPAddresses, ip)
			} else {
				c.DNSNames = append(c.DNSNames, h)
			}
		}
	}
}

// newCert signs a certificate for cn/orgs with parent (self-signed when parent
// is nil). By default it is a client certificate valid around testNow.
func newCert(t *testing.T, parent *testCert, cn string, orgs []string, opts ...certOpt) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore:    testNow.Add(-time.Hour),
		NotAfter:     testNow.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	for _, o := range opts {
		o(tmpl)
	}
	signerCert, signerKey := tmpl, crypto.Signer(key)
	if parent != nil {
		signerCert, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, key.Public(), signerKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCert{cert: c, key: key}
}

func (c *testCert) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.cert)
	return p
}

// tlsCert returns c (followed by chain) as a tls.Certificate.
func (c *testCert) tlsCert(chain ...*testCert) tls.Certificate {
	out := tls.Certificate{Certificate: [][]byte{c.cert.Raw}, PrivateKey: c.key, Leaf: c.cert}
	for _, i := range chain {
		out.Certificate = append(out.Certificate, i.cert.Raw)
	}
	return out
}
