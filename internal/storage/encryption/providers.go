package encryption

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"golang.org/x/crypto/nacl/secretbox"
)

// Errors a read returns; callers wrap them with the key.
var (
	// ErrNoMatchingPrefix: a value none of the providers can read (an
	// encrypted value whose key is no longer configured).
	ErrNoMatchingPrefix = errors.New("no matching prefix found")
	// ErrDecrypt: a provider's key matched by name but the payload does
	// not open with it (a wrong or replaced key, or tampering).
	ErrDecrypt = errors.New("decryption failed")
)

// encPrefix starts every encrypted value (upstream's "k8s:enc:").
const encPrefix = "k8s:enc:"

// cipherKey is one named key of one provider: it seals a value and opens
// what it sealed. key is the store key, which aesgcm authenticates as
// upstream does (a value copied to another key does not open).
type cipherKey interface {
	seal(key string, plain []byte) ([]byte, error)
	open(key string, payload []byte) ([]byte, error)
}

// staleOpener is a cipherKey whose values can be stale by themselves: a
// KMS value sealed under a key ID the plugin no longer reports.
type staleOpener interface {
	openStale(key string, payload []byte) (plain []byte, stale bool, err error)
}

// namedKey is a cipherKey with its stored prefix, e.g.
// "k8s:enc:secretbox:v1:key1:".
type namedKey struct {
	provider, name string
	prefix         []byte
	c              cipherKey
}

func newNamedKey(provider string, k Key) (namedKey, error) {
	raw, err := base64.StdEncoding.DecodeString(k.Secret)
	if err != nil {
		return namedKey{}, fmt.Errorf("%s key %q: %w", provider, k.Name, err)
	}
	var c cipherKey
	switch provider {
	case "secretbox":
		if len(raw) != 32 {
			return namedKey{}, fmt.Errorf("secretbox key %q: must be 32 bytes", k.Name)
		}
		var sk secretboxKey
		copy(sk[:], raw)
		c = &sk
	case "aesgcm", "aescbc":
		block, err := aes.NewCipher(raw)
		if err != nil {
			return namedKey{}, fmt.Errorf("%s key %q: %w", provider, k.Name, err)
		}
		if provider == "aescbc" {
			c = cbcKey{block}
		} else {
			aead, err := cipher.NewGCM(block)
			if err != nil {
				return namedKey{}, fmt.Errorf("aesgcm key %q: %w", k.Name, err)
			}
			c = gcmKey{aead}
		}
	default:
		return namedKey{}, fmt.Errorf("unknown provider %q", provider)
	}
	return namedKey{provider: provider, name: k.Name, prefix: []byte(encPrefix + provider + ":v1:" + k.Name + ":"), c: c}, nil
}

// secretboxKey is XSalsa20-Poly1305: a random 24-byte nonce, then the box.
type secretboxKey [32]byte

func (k *secretboxKey) seal(_ string, plain []byte) ([]byte, error) {
	var nonce [24]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	return secretbox.Seal(nonce[:], plain, &nonce, (*[32]byte)(k)), nil
}

func (k *secretboxKey) open(_ string, payload []byte) ([]byte, error) {
	if len(payload) < 24+secretbox.Overhead {
		return nil, fmt.Errorf("%w: payload too short", ErrDecrypt)
	}
	var nonce [24]byte
	copy(nonce[:], payload)
	out, ok := secretbox.Open(nil, payload[24:], &nonce, (*[32]byte)(k))
	if !ok {
		return nil, fmt.Errorf("%w: secretbox: message authentication failed", ErrDecrypt)
	}
	return out, nil
}

// gcmKey is AES-GCM: a random 12-byte nonce, then the sealed value, with
// the store key as authenticated data (upstream's DefaultContext).
type gcmKey struct{ aead cipher.AEAD }

func (k gcmKey) seal(key string, plain []byte) ([]byte, error) {
	ns := k.aead.NonceSize()
	out := make([]byte, ns, ns+len(plain)+k.aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	return k.aead.Seal(out, out[:ns], plain, []byte(key)), nil
}

func (k gcmKey) open(key string, payload []byte) ([]byte, error) {
	ns := k.aead.NonceSize()
	if len(payload) < ns+k.aead.Overhead() {
		return nil, fmt.Errorf("%w: payload too short", ErrDecrypt)
	}
	out, err := k.aead.Open(nil, payload[:ns], payload[ns:], []byte(key))
	if err != nil {
		return nil, fmt.Errorf("%w: aesgcm: %v", ErrDecrypt, err)
	}
	return out, nil
}

// cbcKey is AES-CBC: a random IV, then the PKCS#7-padded value. It has no
// integrity check, which is why upstream rates it weak.
type cbcKey struct{ block cipher.Block }

func (k cbcKey) seal(_ string, plain []byte) ([]byte, error) {
	bs := k.block.BlockSize()
	pad := bs - len(plain)%bs
	out := make([]byte, bs+len(plain)+pad)
	if _, err := rand.Read(out[:bs]); err != nil {
		return nil, fmt.Errorf("iv: %w", err)
	}
	copy(out[bs:], plain)
	copy(out[bs+len(plain):], bytes.Repeat([]byte{byte(pad)}, pad))
	cipher.NewCBCEncrypter(k.block, out[:bs]).CryptBlocks(out[bs:], out[bs:])
	return out, nil
}

func (k cbcKey) open(_ string, payload []byte) ([]byte, error) {
	bs := k.block.BlockSize()
	if len(payload) < 2*bs || len(payload)%bs != 0 {
		return nil, fmt.Errorf("%w: aescbc: the stored data is not a multiple of the block size", ErrDecrypt)
	}
	out := make([]byte, len(payload)-bs)
	cipher.NewCBCDecrypter(k.block, payload[:bs]).CryptBlocks(out, payload[bs:])
	pad := int(out[len(out)-1])
	if pad == 0 || pad > bs || pad > len(out) {
		return nil, fmt.Errorf("%w: aescbc: invalid PKCS7 data (empty or not padded)", ErrDecrypt)
	}
	for _, b := range out[len(out)-pad:] {
		if int(b) != pad {
			return nil, fmt.Errorf("%w: aescbc: invalid padding on input", ErrDecrypt)
		}
	}
	return out[:len(out)-pad], nil
}

// chain is one rule's providers: keys in the configured order (each
// provider's keys in its order) and where identity stands. The first entry
// writes.
type chain struct {
	keys []namedKey
	// identityFirst: writes are plain text.
	identityFirst bool
	// identity: plain values (no "k8s:enc:" prefix) are readable.
	identity bool
}

// newChain builds one rule's providers; newKMS connects kms providers
// (nil refuses them).
func newChain(providers []ProviderConfiguration, newKMS func(*KMSConfiguration) (*kmsProvider, error)) (*chain, error) {
	c := &chain{}
	for i, p := range providers {
		var name string
		var keys []Key
		switch {
		case p.KMS != nil:
			if newKMS == nil {
				return nil, fmt.Errorf("kms provider %q: not available here", p.KMS.Name)
			}
			kp, err := newKMS(p.KMS)
			if err != nil {
				return nil, err
			}
			c.keys = append(c.keys, namedKey{provider: "kms", name: p.KMS.Name,
				prefix: []byte(encPrefix + "kms:" + kmsAPIVersionV2 + ":" + p.KMS.Name + ":"), c: kp})
			continue
		case p.Identity != nil:
			if i == 0 {
				c.identityFirst = true
			}
			c.identity = true
			continue
		case p.Secretbox != nil:
			name, keys = "secretbox", p.Secretbox.Keys
		case p.AESGCM != nil:
			name, keys = "aesgcm", p.AESGCM.Keys
		case p.AESCBC != nil:
			name, keys = "aescbc", p.AESCBC.Keys
		}
		for _, k := range keys {
			nk, err := newNamedKey(name, k)
			if err != nil {
				return nil, err
			}
			c.keys = append(c.keys, nk)
		}
	}
	return c, nil
}

// writeKey names the key new values are sealed with ("identity" when
// writes are plain).
func (c *chain) writeKey() string {
	if c.identityFirst || len(c.keys) == 0 {
		return "identity"
	}
	return c.keys[0].provider + ":" + c.keys[0].name
}

func (c *chain) encrypt(key string, plain []byte) ([]byte, error) {
	if c.identityFirst || len(c.keys) == 0 {
		return plain, nil
	}
	k := c.keys[0]
	payload, err := k.c.seal(key, plain)
	if err != nil {
		return nil, fmt.Errorf("%s key %q: %w", k.provider, k.name, err)
	}
	out := make([]byte, 0, len(k.prefix)+len(payload))
	return append(append(out, k.prefix...), payload...), nil
}

// decrypt opens a stored value. stale reports a value not written with
// the current write key (what a rotation must rewrite).
func (c *chain) decrypt(key string, stored []byte) (plain []byte, stale bool, err error) {
	var errs []error
	for i, k := range c.keys {
		if !bytes.HasPrefix(stored, k.prefix) {
			continue
		}
		var out []byte
		var stale bool
		var err error
		if so, ok := k.c.(staleOpener); ok {
			out, stale, err = so.openStale(key, stored[len(k.prefix):])
		} else {
			out, err = k.c.open(key, stored[len(k.prefix):])
		}
		if err == nil {
			return out, stale || i != 0 || c.identityFirst, nil
		}
		errs = append(errs, fmt.Errorf("%s key %q: %w", k.provider, k.name, err))
	}
	if len(errs) > 0 {
		return nil, false, errors.Join(errs...)
	}
	// Upstream's identity refuses a value that looks encrypted, so a
	// missing key is an error rather than ciphertext served as an object.
	if c.identity && !bytes.HasPrefix(stored, []byte(encPrefix)) {
		return stored, !c.identityFirst, nil
	}
	return nil, false, ErrNoMatchingPrefix
}
