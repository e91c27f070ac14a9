package serviceaccount

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	jose "github.com/go-jose/go-jose/v4"
)

// KeyFile is where the server keeps its token signing key, relative to
// the data directory (next to the cluster CA).
const KeyFile = "tls/service-account.key"

// Keys are the signing key and every public key a token may be verified
// with. The signing key's public half is always among the verification
// keys; more come from --service-account-key-file, so that a key can be
// rotated: sign with the new one while tokens signed by the old one stay
// valid until they expire.
type Keys struct {
	signer crypto.Signer
	alg    jose.SignatureAlgorithm
	kid    string
	public []publicKey
}

type publicKey struct {
	key crypto.PublicKey
	kid string
	alg jose.SignatureAlgorithm
}

// LoadOrCreateKey returns the signing key at path, generating an ECDSA
// P-256 key there (mode 0600) if the file does not exist. ES256 keys are
// generated in microseconds, where an RSA key would slow the first start.
// An existing file may hold an RSA or ECDSA private key in PKCS#1, SEC 1
// or PKCS#8 PEM, as upstream's --service-account-signing-key-file.
func LoadOrCreateKey(path string) (*Keys, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate service account key: %w", err)
		}
		der, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("encode service account key: %w", err)
		}
		if err := writeKey(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})); err != nil {
			return nil, err
		}
		return NewKeys(key)
	}
	if err != nil {
		return nil, fmt.Errorf("read service account key: %w", err)
	}
	keys, err := parsePEM(data)
	if err != nil {
		return nil, fmt.Errorf("service account key %s: %w", path, err)
	}
	for _, k := range keys {
		if s, ok := k.(crypto.Signer); ok {
			return NewKeys(s)
		}
	}
	return nil, fmt.Errorf("service account key %s: no private key", path)
}

func writeKey(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write service account key: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write service account key: %w", err)
	}
	return nil
}

// NewKeys returns Keys signing with signer (an *ecdsa.PrivateKey on P-256,
// P-384 or P-521, or an *rsa.PrivateKey).
func NewKeys(signer crypto.Signer) (*Keys, error) {
	pk, err := newPublicKey(signer.Public())
	if err != nil {
		return nil, err
	}
	return &Keys{signer: signer, alg: pk.alg, kid: pk.kid, public: []publicKey{pk}}, nil
}

// AddVerificationKeysFromFile adds the public keys in a PEM file (public
// keys, certificates' keys or private keys' public halves), as upstream's
// --service-account-key-file.
func (k *Keys) AddVerificationKeysFromFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read service account key file: %w", err)
	}
	keys, err := parsePEM(data)
	if err != nil {
		return fmt.Errorf("service account key file %s: %w", path, err)
	}
	for _, key := range keys {
		if s, ok := key.(crypto.Signer); ok {
			key = s.Public()
		}
		pk, err := newPublicKey(key)
		if err != nil {
			return fmt.Errorf("service account key file %s: %w", path, err)
		}
		if !k.has(pk.kid) {
			k.public = append(k.public, pk)
		}
	}
	return nil
}

func (k *Keys) has(kid string) bool {
	for _, p := range k.public {
		if p.kid == kid {
			return true
		}
	}
	return false
}

func newPublicKey(key crypto.PublicKey) (publicKey, error) {
	var alg jose.SignatureAlgorithm
	switch pub := key.(type) {
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256():
			alg = jose.ES256
		case elliptic.P384():
			alg = jose.ES384
		case elliptic.P521():
			alg = jose.ES512
		default:
			return publicKey{}, fmt.Errorf("unsupported ECDSA curve")
		}
	case *rsa.PublicKey:
		alg = jose.RS256
	default:
		return publicKey{}, fmt.Errorf("unsupported key type %T", key)
	}
	kid, err := keyID(key)
	if err != nil {
		return publicKey{}, err
	}
	return publicKey{key: key, kid: kid, alg: alg}, nil
}

// keyID is upstream's key id: the unpadded base64url SHA-256 of the
// public key's PKIX DER, so that the same key gets the same kid on every
// server and in the JWKS.
func keyID(key crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		return "", fmt.Errorf("encode public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

func parsePEM(data []byte) ([]any, error) {
	var out []any
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		var (
			key any
			err error
		)
		switch block.Type {
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "PUBLIC KEY":
			key, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			key, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var c *x509.Certificate
			if c, err = x509.ParseCertificate(block.Bytes); err == nil {
				key = c.PublicKey
			}
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", block.Type, err)
		}
		out = append(out, key)
	}
	if len(out) == 0 {
		return nil, errors.New("no keys found")
	}
	return out, nil
}
