package authn

import (
	"crypto/tls"
	"crypto/x509"
)

// cipherSuites are the TLS 1.2 suites we accept: ECDHE key exchange (forward
// secrecy) with AEAD ciphers only, the set the CIS Kubernetes benchmark
// (1.2.x, --tls-cipher-suites) recommends minus the non-forward-secret RSA
// key-exchange suites. TLS 1.3 suites are not configurable and all fine.
var cipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// TLSConfig returns the API server's TLS configuration: serving certificate
// serving, TLS 1.2 or newer, AEAD cipher suites, HTTP/2 and HTTP/1.1.
//
// Client certificates are requested and clientCAs is advertised to clients,
// but the handshake does not verify them (tls.RequestClientCert, as upstream
// kube-apiserver does): a certificate from an unknown CA must produce a 401
// Status from the API like any other bad credential, not a TLS alert, and
// the request may still authenticate with a token. X509Authenticator does the
// verification. The handshake still proves the client holds the key.
func TLSConfig(serving tls.Certificate, clientCAs *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: cipherSuites,
		Certificates: []tls.Certificate{serving},
		ClientAuth:   tls.RequestClientCert,
		ClientCAs:    clientCAs,
		NextProtos:   []string{"h2", "http/1.1"},
	}
}
