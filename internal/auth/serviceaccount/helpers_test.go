package serviceaccount

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"testing"
)

func pemPublic(t *testing.T, k *rsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}
