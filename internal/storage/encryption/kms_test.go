package encryption

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	kmsapi "k8s.io/kms/apis/v2"

	"skiff.dev/skiff/internal/storage/encryption/kmstest"
)

// fakeClock is the provider's clock: the write key's expiry is checked
// against it, so tests move time instead of waiting.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func startPlugin(t testing.TB) *kmstest.Plugin {
	t.Helper()
	p, err := kmstest.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// kmsRules is secrets → the named kms provider first, identity second.
func kmsRules(name, endpoint string) *Configuration {
	return &Configuration{Kind: Kind, APIVersion: APIVersion, Resources: []ResourceConfiguration{{
		Resources: []string{"secrets"},
		Providers: []ProviderConfiguration{
			{KMS: &KMSConfiguration{APIVersion: "v2", Name: name, Endpoint: endpoint}},
			{Identity: &IdentityConfiguration{}},
		},
	}}}
}

// newKMSTransformers builds cfg with the poll out of the way (tests call
// refresh themselves) and the clock given.
func newKMSTransformers(t testing.TB, cfg *Configuration, clock *fakeClock) *Transformers {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	timing := defaultKMSTiming
	timing.positiveInterval, timing.negativeInterval = time.Hour, time.Hour
	timing.now = clock.now
	tr, err := newTransformers(cfg, nil, timing)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	return tr
}

func storedObject(t *testing.T, name string, stored []byte) *encryptedObject {
	t.Helper()
	prefix := "k8s:enc:kms:v2:" + name + ":"
	if !bytes.HasPrefix(stored, []byte(prefix)) {
		t.Fatalf("stored value %.40q lacks %q", stored, prefix)
	}
	o, err := unmarshalEncryptedObject(stored[len(prefix):])
	if err != nil {
		t.Fatal(err)
	}
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	return o
}

const secretKey = "/registry/core/secrets/default/db"

func TestKMSRoundTrip(t *testing.T) {
	p := startPlugin(t)
	tr := newKMSTransformers(t, kmsRules("kms1", p.Endpoint), &fakeClock{t: time.Now()})
	plain := []byte(`{"data":{"password":"hunter2-kms"}}`)
	stored, err := tr.Encrypt(secretKey, plain)
	if err != nil {
		t.Fatal(err)
	}
	o := storedObject(t, "kms1", stored)
	if o.KeyID != "key-1" || o.SourceType != dekSourceHKDFSeed || string(o.Annotations[kmstest.AnnotationKey]) != "key-1" {
		t.Fatalf("encrypted object: keyID %q type %d annotations %q", o.KeyID, o.SourceType, o.Annotations)
	}
	if bytes.Contains(stored, []byte("hunter2")) {
		t.Fatal("plain text in the stored value")
	}
	got, stale, err := tr.Decrypt(secretKey, stored)
	if err != nil || stale || !bytes.Equal(got, plain) {
		t.Fatalf("Decrypt: %q stale=%v err=%v", got, stale, err)
	}
	// The store key is authenticated: a value copied elsewhere does not open.
	if _, _, err := tr.Decrypt("/registry/core/secrets/default/other", stored); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("value under another key: err %v, want ErrDecrypt", err)
	}
	if w := tr.WriteKeys()["secrets"]; w != "kms:kms1" {
		t.Fatalf("write key %q", w)
	}
	if err := tr.CheckKMS(context.Background()); err != nil {
		t.Fatalf("health: %v", err)
	}
}

// One seed, encrypted by the plugin once, serves many writes; reads in
// the same process never call Decrypt, and a new process calls it once.
func TestKMSDEKReuse(t *testing.T) {
	p := startPlugin(t)
	cfg := kmsRules("kms1", p.Endpoint)
	tr := newKMSTransformers(t, cfg, &fakeClock{t: time.Now()})
	var stored [][]byte
	for i := range 50 {
		v, err := tr.Encrypt(fmt.Sprintf("%s-%d", secretKey, i), fmt.Appendf(nil, "value-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, v)
	}
	if !bytes.Equal(storedObject(t, "kms1", stored[0]).EncryptedDEKSource, storedObject(t, "kms1", stored[49]).EncryptedDEKSource) {
		t.Fatal("two writes carry different encrypted seeds")
	}
	if d0, d1 := storedObject(t, "kms1", stored[0]).EncryptedData, storedObject(t, "kms1", stored[1]).EncryptedData; bytes.Equal(d0[:hkdfInfoSize], d1[:hkdfInfoSize]) {
		t.Fatal("two writes derived their keys from the same info")
	}
	read := func(tr *Transformers) {
		t.Helper()
		for i, v := range stored {
			got, _, err := tr.Decrypt(fmt.Sprintf("%s-%d", secretKey, i), v)
			if err != nil || string(got) != fmt.Sprintf("value-%d", i) {
				t.Fatalf("read %d: %q %v", i, got, err)
			}
		}
	}
	read(tr)
	if enc, dec, _ := p.Calls(); enc != 1 || dec != 0 {
		t.Fatalf("plugin calls: %d Encrypt, %d Decrypt; want 1 and 0", enc, dec)
	}
	restarted := newKMSTransformers(t, cfg, &fakeClock{t: time.Now()})
	read(restarted)
	read(restarted)
	if _, dec, _ := p.Calls(); dec != 1 {
		t.Fatalf("a new process decrypted the seed %d times for 100 reads, want 1", dec)
	}
}

// A new key ID from Status means a new seed; values of the old key still
// read (through the plugin) and are reported stale, so a rewrite moves
// them to the new key.
func TestKMSKeyRotation(t *testing.T) {
	p := startPlugin(t)
	clock := &fakeClock{t: time.Now()}
	tr := newKMSTransformers(t, kmsRules("kms1", p.Endpoint), clock)
	old, err := tr.Encrypt(secretKey, []byte("before"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetKeyID("key-2"); err != nil {
		t.Fatal(err)
	}
	if err := tr.kms[0].refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	cur, err := tr.Encrypt(secretKey, []byte("after"))
	if err != nil {
		t.Fatal(err)
	}
	if o := storedObject(t, "kms1", cur); o.KeyID != "key-2" {
		t.Fatalf("after rotation written with %q", o.KeyID)
	}
	if enc, _, _ := p.Calls(); enc != 2 {
		t.Fatalf("Encrypt calls %d, want 2 (one seed per key ID)", enc)
	}
	if got, stale, err := tr.Decrypt(secretKey, old); err != nil || !stale || string(got) != "before" {
		t.Fatalf("old value: %q stale=%v %v", got, stale, err)
	}
	if got, stale, err := tr.Decrypt(secretKey, cur); err != nil || stale || string(got) != "after" {
		t.Fatalf("new value: %q stale=%v %v", got, stale, err)
	}
	// The same key ID again: the seed is kept, its life extended.
	if err := tr.kms[0].refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if enc, _, _ := p.Calls(); enc != 2 {
		t.Fatalf("Encrypt calls %d after an unchanged Status, want 2", enc)
	}
}

func TestKMSPluginDown(t *testing.T) {
	p := startPlugin(t)
	clock := &fakeClock{t: time.Now()}
	cfg := kmsRules("kms1", p.Endpoint)
	tr := newKMSTransformers(t, cfg, clock)
	stored, err := tr.Encrypt(secretKey, []byte("written-while-up"))
	if err != nil {
		t.Fatal(err)
	}
	p.Stop()
	ctx := context.Background()

	// Reads of a cached seed still work; writes go on for the write TTL
	// (upstream's 3 minutes), then fail: never plain text.
	if got, _, err := tr.Decrypt(secretKey, stored); err != nil || string(got) != "written-while-up" {
		t.Fatalf("cached read with the plugin down: %q %v", got, err)
	}
	if err := tr.kms[0].refresh(ctx); !errors.Is(err, ErrKMSPlugin) {
		t.Fatalf("Status with the plugin down: %v", err)
	}
	if err := tr.CheckKMS(ctx); err == nil || !strings.Contains(err.Error(), "kms-provider-0") {
		t.Fatalf("health with the plugin down: %v", err)
	}
	if _, err := tr.Encrypt(secretKey, []byte("x")); err != nil {
		t.Fatalf("write within the TTL: %v", err)
	}
	clock.advance(defaultKMSTiming.writeTTL + time.Second)
	if out, err := tr.Encrypt(secretKey, []byte("x")); !errors.Is(err, ErrKMSNoWriteKey) || out != nil {
		t.Fatalf("write after the TTL: %q %v, want ErrKMSNoWriteKey", out, err)
	}
	// A server started while the plugin is down has no key at all: writes
	// fail at once, reads need the plugin.
	cold := newKMSTransformers(t, cfg, clock)
	if _, err := cold.Encrypt(secretKey, []byte("x")); !errors.Is(err, ErrKMSNoWriteKey) {
		t.Fatalf("write without a key: %v", err)
	}
	if _, _, err := cold.Decrypt(secretKey, stored); !errors.Is(err, ErrKMSPlugin) {
		t.Fatalf("uncached read with the plugin down: %v", err)
	}

	// The plugin comes back: the next Status renews the key.
	if err := p.Restart(); err != nil {
		t.Fatal(err)
	}
	for _, tr := range []*Transformers{tr, cold} {
		// gRPC reconnects with a backoff (at most kmsReconnectMaxDelay).
		deadline := time.Now().Add(20 * time.Second)
		for err := tr.kms[0].refresh(ctx); err != nil; err = tr.kms[0].refresh(ctx) {
			if time.Now().After(deadline) {
				t.Fatalf("Status after the plugin is back: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if _, err := tr.Encrypt(secretKey, []byte("x")); err != nil {
			t.Fatalf("write after the plugin is back: %v", err)
		}
		if got, _, err := tr.Decrypt(secretKey, stored); err != nil || string(got) != "written-while-up" {
			t.Fatalf("read after the plugin is back: %q %v", got, err)
		}
	}
}

// The background poll finds a key ID change and a recovered plugin by
// itself.
func TestKMSPoll(t *testing.T) {
	p := startPlugin(t)
	timing := defaultKMSTiming
	timing.positiveInterval, timing.negativeInterval = 10*time.Millisecond, 10*time.Millisecond
	tr, err := newTransformers(kmsRules("kms1", p.Endpoint), nil, timing)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := p.SetKeyID("key-2"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := tr.kms[0].state.Load()
		if st != nil && st.obj.KeyID == "key-2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the poll did not pick up key-2")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestKMSUnhealthyStatus(t *testing.T) {
	p := startPlugin(t)
	p.SetHealthz("plugin is sad")
	tr := newKMSTransformers(t, kmsRules("kms1", p.Endpoint), &fakeClock{t: time.Now()})
	if err := tr.CheckKMS(context.Background()); err == nil || !strings.Contains(err.Error(), "got unexpected healthz status: plugin is sad") {
		t.Fatalf("health: %v", err)
	}
	if _, err := tr.Encrypt(secretKey, []byte("x")); !errors.Is(err, ErrKMSNoWriteKey) {
		t.Fatalf("write with an unhealthy plugin: %v", err)
	}
}

// Values name their provider: a configuration whose kms provider has
// another name cannot read them, even through the same plugin.
func TestKMSWrongName(t *testing.T) {
	p := startPlugin(t)
	a := newKMSTransformers(t, kmsRules("a", p.Endpoint), &fakeClock{t: time.Now()})
	stored, err := a.Encrypt(secretKey, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	b := newKMSTransformers(t, kmsRules("b", p.Endpoint), &fakeClock{t: time.Now()})
	if _, _, err := b.Decrypt(secretKey, stored); !errors.Is(err, ErrNoMatchingPrefix) {
		t.Fatalf("read by provider b: %v, want ErrNoMatchingPrefix", err)
	}
}

// Values upstream wrote before 1.29 carry the AES-GCM key itself
// (AES_GCM_KEY): they read.
func TestKMSReadsAESGCMKeyValues(t *testing.T) {
	p := startPlugin(t)
	tr := newKMSTransformers(t, kmsRules("kms1", p.Endpoint), &fakeClock{t: time.Now()})
	dek := bytes.Repeat([]byte{7}, 32)
	resp, err := p.Encrypt(context.Background(), &kmsapi.EncryptRequest{Plaintext: dek})
	if err != nil {
		t.Fatal(err)
	}
	g, err := newDEKReader(dekSourceAESGCMKey, dek)
	if err != nil {
		t.Fatal(err)
	}
	data, err := g.seal(secretKey, []byte("old-format"))
	if err != nil {
		t.Fatal(err)
	}
	o := encryptedObject{EncryptedData: data, KeyID: resp.KeyId, EncryptedDEKSource: resp.Ciphertext, Annotations: resp.Annotations, SourceType: dekSourceAESGCMKey}
	stored := append([]byte("k8s:enc:kms:v2:kms1:"), o.marshal()...)
	got, stale, err := tr.Decrypt(secretKey, stored)
	if err != nil || string(got) != "old-format" || !stale {
		t.Fatalf("AES_GCM_KEY value: %q stale=%v %v", got, stale, err)
	}
}

func BenchmarkKMS(b *testing.B) {
	p := startPlugin(b)
	tr := newKMSTransformers(b, kmsRules("kms1", p.Endpoint), &fakeClock{t: time.Now()})
	value := bytes.Repeat([]byte("s"), 1024)
	b.SetBytes(int64(len(value)))
	for b.Loop() {
		enc, err := tr.Encrypt(secretKey, value)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := tr.Decrypt(secretKey, enc); err != nil {
			b.Fatal(err)
		}
	}
}
