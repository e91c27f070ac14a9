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
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// File names of the CA inside its directory.
const (
	CACertFile = "ca.crt"
	CAKeyFile  = "ca.key"
)

const (
	caValidity = 10 * 365 * 24 * time.Hour
	// backdate covers clock skew between the machine that issues a
	// certificate and the machines that verify it.
	backdate = 5 * time.Minute
)

// ErrCAKeyMissing is returned by LoadOrCreateCA when the CA certificate exists
// but its key does not: the CA must not be silently replaced, since every
// certificate and kubeconfig already issued chains to it.
var ErrCAKeyMissing = errors.New("CA certificate present but its private key is missing")

// CA is a certificate authority that can sign leaf certificates.
// It is safe for concurrent use once created.
type CA struct {
	// Cert is the CA certificate; CertPEM its PEM encoding as stored on disk
	// (what kubeconfigs embed as certificate-authority-data).
	Cert    *x509.Certificate
	CertPEM []byte
	Key     crypto.Signer

	// now is the clock used for validity periods; tests replace it.
	now func() time.Time
}

// LoadOrCreateCA returns the CA stored in dir (ca.crt, ca.key), creating a new
// self-signed ECDSA P-256 CA valid for 10 years if dir holds no CA
// certificate. An existing CA is never replaced: if its files are unreadable,
// do not match, or the key is missing (ErrCAKeyMissing), an error is returned.
func LoadOrCreateCA(dir string) (*CA, error) {
	return loadOrCreateCA(dir, time.Now)
}

func loadOrCreateCA(dir string, now func() time.Time) (*CA, error) {
	certPath := filepath.Join(dir, CACertFile)
	keyPath := filepath.Join(dir, CAKeyFile)
	exists, err := fileExists(certPath)
	if err != nil {
		return nil, err
	}
	if exists {
		ca, err := LoadCA(certPath, keyPath)
		if err != nil {
			return nil, err
		}
		if err := restrictPair(certPath, keyPath); err != nil {
			return nil, err
		}
		ca.now = now
		return ca, nil
	}
	if err := ensureDir(dir); err != nil {
		return nil, err
	}
	ca, keyPEM, err := newCA(now)
	if err != nil {
		return nil, err
	}
	// Key first: the certificate's presence is what marks the CA as existing,
	// so a crash between the two writes leads to a clean regeneration.
	if err := writeFileAtomic(keyPath, keyPEM, keyMode); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(certPath, ca.CertPEM, certMode); err != nil {
		return nil, err
	}
	return ca, nil
}

// LoadCA reads a CA from a certificate and a key file. The certificate must
// be a CA certificate and the key must belong to it.
func LoadCA(certPath, keyPath string) (*CA, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("read CA certificate: %w", err)
	}
	certs, err := parseCertsPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("CA certificate %s: %w", certPath, err)
	}
	cert := certs[0]
	if !cert.IsCA {
		return nil, fmt.Errorf("CA certificate %s: not a CA certificate", certPath)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", keyPath, ErrCAKeyMissing)
	}
	if err != nil {
		return nil, fmt.Errorf("read CA key: %w", err)
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("CA key %s: %w", keyPath, err)
	}
	if !publicKeysEqual(key.Public(), cert.PublicKey) {
		return nil, fmt.Errorf("CA key %s does not match certificate %s", keyPath, certPath)
	}
	return &CA{Cert: cert, CertPEM: certPEM, Key: key, now: time.Now}, nil
}

func newCA(now func() time.Time) (*CA, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	t := now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: fmt.Sprintf("skiff-ca@%d", t.Unix())},
		NotBefore:             t.Add(-backdate).UTC(),
		NotAfter:              t.Add(caValidity).UTC(),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	keyPEM, err := encodeKeyPEM(key)
	if err != nil {
		return nil, nil, err
	}
	return &CA{Cert: cert, CertPEM: encodeCertPEM(der), Key: key, now: now}, keyPEM, nil
}

// Pool returns a new pool holding the CA certificate, for verifying peers.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

func (ca *CA) clock() time.Time {
	if ca.now == nil {
		return time.Now()
	}
	return ca.now()
}

// randomSerial returns a positive 128-bit serial number; random serials keep
// certificates from a regenerated data directory distinct.
func randomSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	n, err := rand.Int(rand.Reader, limit)
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}
