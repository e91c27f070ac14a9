package encryption

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/nacl/secretbox"
)

func b64(n int, fill byte) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{fill}, n))
}

func providerWith(name string, keys ...Key) ProviderConfiguration {
	switch name {
	case "secretbox":
		return ProviderConfiguration{Secretbox: &SecretboxConfiguration{Keys: keys}}
	case "aesgcm":
		return ProviderConfiguration{AESGCM: &AESConfiguration{Keys: keys}}
	case "aescbc":
		return ProviderConfiguration{AESCBC: &AESConfiguration{Keys: keys}}
	}
	return ProviderConfiguration{Identity: &IdentityConfiguration{}}
}

func mustChain(t *testing.T, ps ...ProviderConfiguration) *chain {
	t.Helper()
	c, err := newChain(ps, nil)
	if err != nil {
		t.Fatalf("newChain: %v", err)
	}
	return c
}

// openByUpstreamLayout decodes a payload the way upstream's transformers
// lay it out, independently of our cipherKey code.
func openByUpstreamLayout(t *testing.T, provider string, key []byte, storeKey string, payload []byte) []byte {
	t.Helper()
	switch provider {
	case "secretbox":
		var nonce [24]byte
		var k [32]byte
		copy(nonce[:], payload[:24])
		copy(k[:], key)
		out, ok := secretbox.Open(nil, payload[24:], &nonce, &k)
		if !ok {
			t.Fatalf("secretbox layout: does not open")
		}
		return out
	case "aesgcm":
		block, _ := aes.NewCipher(key)
		aead, _ := cipher.NewGCM(block)
		out, err := aead.Open(nil, payload[:12], payload[12:], []byte(storeKey))
		if err != nil {
			t.Fatalf("aesgcm layout: %v", err)
		}
		return out
	case "aescbc":
		block, _ := aes.NewCipher(key)
		out := make([]byte, len(payload)-16)
		cipher.NewCBCDecrypter(block, payload[:16]).CryptBlocks(out, payload[16:])
		return out[:len(out)-int(out[len(out)-1])]
	}
	t.Fatalf("unknown provider %s", provider)
	return nil
}

func TestProviders(t *testing.T) {
	const storeKey = "/registry/core/secrets/default/db"
	for _, tc := range []struct {
		provider string
		size     int
	}{
		{"secretbox", 32},
		{"aesgcm", 16},
		{"aesgcm", 32},
		{"aescbc", 24},
		{"aescbc", 32},
	} {
		t.Run(tc.provider, func(t *testing.T) {
			key := Key{Name: "k1", Secret: b64(tc.size, 7)}
			c := mustChain(t, providerWith(tc.provider, key))
			for _, plain := range [][]byte{[]byte(`{"data":{"password":"hunter2"}}`), {}, bytes.Repeat([]byte("x"), 16)} {
				enc, err := c.encrypt(storeKey, plain)
				if err != nil {
					t.Fatalf("encrypt: %v", err)
				}
				prefix := "k8s:enc:" + tc.provider + ":v1:k1:"
				if !strings.HasPrefix(string(enc), prefix) {
					t.Fatalf("stored value %q lacks upstream's prefix %q", enc, prefix)
				}
				if len(plain) > 0 && bytes.Contains(enc, plain) {
					t.Fatalf("stored value holds the plain text")
				}
				if got := openByUpstreamLayout(t, tc.provider, bytes.Repeat([]byte{7}, tc.size), storeKey, enc[len(prefix):]); !bytes.Equal(got, plain) {
					t.Fatalf("upstream layout: got %q, want %q", got, plain)
				}
				got, stale, err := c.decrypt(storeKey, enc)
				if err != nil || stale || !bytes.Equal(got, plain) {
					t.Fatalf("decrypt: %q stale=%v err=%v, want %q", got, stale, err, plain)
				}
			}
			enc, err := c.encrypt(storeKey, []byte("value"))
			if err != nil {
				t.Fatal(err)
			}

			// Same name, other key material: the payload does not open.
			wrong := mustChain(t, providerWith(tc.provider, Key{Name: "k1", Secret: b64(tc.size, 9)}))
			if got, _, err := wrong.decrypt(storeKey, enc); err == nil && bytes.Equal(got, []byte("value")) {
				t.Fatalf("a wrong key decrypted the value")
			} else if err == nil && tc.provider != "aescbc" {
				t.Fatalf("a wrong key gave no error (got %q)", got)
			}
			// A key no longer configured: no matching prefix, even with
			// identity present.
			other := mustChain(t, providerWith(tc.provider, Key{Name: "k2", Secret: b64(tc.size, 7)}), providerWith("identity"))
			if _, _, err := other.decrypt(storeKey, enc); !errors.Is(err, ErrNoMatchingPrefix) {
				t.Fatalf("unknown key: err %v, want ErrNoMatchingPrefix", err)
			}
			// A second key decrypts and reports the value stale.
			rotated := mustChain(t, providerWith(tc.provider, Key{Name: "k2", Secret: b64(tc.size, 8)}, key))
			if got, stale, err := rotated.decrypt(storeKey, enc); err != nil || !stale || string(got) != "value" {
				t.Fatalf("old key: %q stale=%v err=%v", got, stale, err)
			}
		})
	}
}

// Upstream's aesgcm authenticates the storage key: a value copied under
// another key does not open.
func TestAESGCMAuthenticatesStoreKey(t *testing.T) {
	c := mustChain(t, providerWith("aesgcm", Key{Name: "k", Secret: b64(32, 1)}))
	enc, err := c.encrypt("/registry/core/secrets/a/x", []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.decrypt("/registry/core/secrets/b/x", enc); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("moved value: err %v, want ErrDecrypt", err)
	}
}

func TestIdentity(t *testing.T) {
	sb := providerWith("secretbox", Key{Name: "k", Secret: b64(32, 1)})
	id := providerWith("identity")
	plain := []byte(`{"kind":"Secret"}`)

	first := mustChain(t, id, sb)
	enc, err := first.encrypt("/k", plain)
	if err != nil || !bytes.Equal(enc, plain) {
		t.Fatalf("identity first: writes %q, %v; want plain", enc, err)
	}
	second := mustChain(t, sb, id)
	if got, stale, err := second.decrypt("/k", plain); err != nil || !stale || !bytes.Equal(got, plain) {
		t.Fatalf("identity second reads plain: %q stale=%v err=%v", got, stale, err)
	}
	sealed, _ := second.encrypt("/k", plain)
	if got, stale, err := first.decrypt("/k", sealed); err != nil || !stale || !bytes.Equal(got, plain) {
		t.Fatalf("identity first reads secretbox: %q stale=%v err=%v", got, stale, err)
	}
	only := mustChain(t, id)
	if _, _, err := only.decrypt("/k", sealed); !errors.Is(err, ErrNoMatchingPrefix) {
		t.Fatalf("identity alone on encrypted data: err %v, want ErrNoMatchingPrefix", err)
	}
	noIdentity := mustChain(t, sb)
	if _, _, err := noIdentity.decrypt("/k", plain); !errors.Is(err, ErrNoMatchingPrefix) {
		t.Fatalf("plain data without identity: err %v, want ErrNoMatchingPrefix", err)
	}
}

func BenchmarkEncrypt(b *testing.B) {
	value := bytes.Repeat([]byte("s"), 1024)
	for _, p := range []ProviderConfiguration{
		providerWith("secretbox", Key{Name: "k", Secret: b64(32, 1)}),
		providerWith("aesgcm", Key{Name: "k", Secret: b64(32, 1)}),
		providerWith("aescbc", Key{Name: "k", Secret: b64(32, 1)}),
	} {
		c, err := newChain([]ProviderConfiguration{p}, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.keys[0].provider, func(b *testing.B) {
			b.SetBytes(int64(len(value)))
			for b.Loop() {
				enc, err := c.encrypt("/registry/core/secrets/default/s", value)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := c.decrypt("/registry/core/secrets/default/s", enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
