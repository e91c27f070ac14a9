package encryption

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	kmsapi "k8s.io/kms/apis/v2"
)

// The KMS v2 provider, as kube-apiserver's (KEP-3299): a plugin behind a
// unix socket holds the key encryption key and answers the
// KeyManagementService gRPC API (k8s.io/kms/apis/v2). Skiff generates a
// 32-byte seed locally, has the plugin encrypt it once, and reuses it for
// every write until the plugin reports another key ID: each write derives
// its own AES-256-GCM key from the seed with HKDF-SHA256 and 32 random
// bytes (upstream's HKDF_SHA256_XNONCE_AES_GCM_SEED), so neither the
// number of writes nor GCM's 12-byte nonce limits the seed's life. The
// stored value is "k8s:enc:kms:v2:<name>:" followed by upstream's
// protobuf EncryptedObject.
//
// Reads decrypt a value's seed (or, for values written by upstream before
// 1.29, its AES-GCM key) through the plugin once and keep it in memory,
// keyed by what the plugin was given, so later reads cost no call.

// Errors of the KMS provider; callers wrap them.
var (
	// ErrKMSNoWriteKey: a write found no usable data encryption key: the
	// plugin has not answered Status and Encrypt since the server started,
	// or has failed for longer than the write TTL. The value is not
	// written (never in plain text).
	ErrKMSNoWriteKey = errors.New("no usable KMS data encryption key")
	// ErrKMSPlugin: a call to the plugin failed.
	ErrKMSPlugin = errors.New("kms plugin call failed")
)

// KMS API versions.
const (
	kmsAPIVersionV1 = "v1"
	kmsAPIVersionV2 = "v2"
	// kmsV1Deprecated is upstream's message when KMSv1 is not enabled.
	// Skiff has no KMSv1 to enable.
	kmsV1Deprecated = "KMSv1 is deprecated and will only receive security updates going forward. Use KMSv2 instead (Skiff does not implement KMSv1)"
	// defaultKMSTimeout is upstream's default timeout for plugin calls.
	defaultKMSTimeout = 3 * time.Second
	seedSize          = 32 // upstream's MinSeedSizeExtendedNonceGCM
	hkdfInfoSize      = 32
	dekCacheTTL       = 24 * time.Hour
	// kmsReconnectMaxDelay caps the wait between reconnects to a plugin.
	kmsReconnectMaxDelay = 5 * time.Second
)

// kmsTiming is how the provider polls its plugin. The defaults are
// upstream's; tests shorten them.
type kmsTiming struct {
	// positiveInterval and negativeInterval: Status polls while the plugin
	// is healthy and while it is not.
	positiveInterval, negativeInterval time.Duration
	// healthyTTL and unhealthyTTL: a health check reuses the last answer
	// this long rather than calling Status.
	healthyTTL, unhealthyTTL time.Duration
	// writeTTL: writes go on with the current key this long after the last
	// successful Status; then they fail until the plugin answers again.
	writeTTL time.Duration
	now      func() time.Time
}

var defaultKMSTiming = kmsTiming{
	positiveInterval: time.Minute,
	negativeInterval: 10 * time.Second,
	healthyTTL:       20 * time.Second,
	unhealthyTTL:     3 * time.Second,
	writeTTL:         3 * time.Minute,
	now:              time.Now,
}

// kmsProvider is one configured kms provider: a gRPC client of its
// plugin, the write key, the cache of read keys and the Status poll.
type kmsProvider struct {
	name    string
	timeout time.Duration
	timing  kmsTiming
	conn    *grpc.ClientConn
	client  kmsapi.KeyManagementServiceClient

	// state is the write key; nil until the first Status and Encrypt.
	state atomic.Pointer[kmsWriteState]
	cache dekCache

	// mu serialises Status calls and guards the last answer.
	mu      sync.Mutex
	lastErr error
	lastAt  time.Time
	version string

	stop context.CancelFunc
	done chan struct{}
}

var _ cipherKey = (*kmsProvider)(nil)
var _ staleOpener = (*kmsProvider)(nil)

// kmsWriteState is the seed new values are written with and the
// EncryptedObject fields that go with it.
type kmsWriteState struct {
	seed    seedKey
	obj     encryptedObject // EncryptedData empty
	expires time.Time
}

// newKMSProvider connects to the plugin, asks its Status once (a plugin
// that is not up yet is not fatal: upstream lets plugins start after the
// API server) and starts the poll. Close stops it.
func newKMSProvider(cfg *KMSConfiguration, timing kmsTiming) (*kmsProvider, error) {
	timeout := defaultKMSTimeout
	if cfg.Timeout != nil {
		timeout = cfg.Timeout.Duration
	}
	conn, err := grpc.NewClient(cfg.Endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()),
		// gRPC's reconnect backoff grows to two minutes; a plugin back
		// from an outage must be seen well within the write TTL.
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{
			BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: kmsReconnectMaxDelay,
		}}))
	if err != nil {
		return nil, fmt.Errorf("kms provider %q: connect to %s: %w", cfg.Name, cfg.Endpoint, err)
	}
	ctx, stop := context.WithCancel(context.Background())
	p := &kmsProvider{
		name: cfg.Name, timeout: timeout, timing: timing,
		conn: conn, client: kmsapi.NewKeyManagementServiceClient(conn),
		stop: stop, done: make(chan struct{}),
	}
	if err := p.refresh(ctx); err != nil {
		slog.Error("kms plugin failed health check probe", "name", p.name, "err", err)
	}
	go p.run(ctx)
	return p, nil
}

// run polls Status: every positiveInterval while the plugin is healthy,
// every negativeInterval while it is not, so that the write key is
// renewed before writeTTL runs out and a key ID change is seen.
func (p *kmsProvider) run(ctx context.Context) {
	defer close(p.done)
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for {
		interval := p.timing.positiveInterval
		if p.lastHealth() != nil {
			interval = p.timing.negativeInterval
		}
		timer.Reset(interval)
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if err := p.refresh(ctx); err != nil && ctx.Err() == nil {
			slog.Error("kms plugin failed health check probe", "name", p.name, "err", err)
		}
	}
}

// Close stops the poll and closes the connection. Values it wrote stay
// readable by any provider of the same name and plugin.
func (p *kmsProvider) Close() error {
	p.stop()
	<-p.done
	return p.conn.Close()
}

func (p *kmsProvider) lastHealth() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastErr
}

// check is the health check (upstream's kms-providers check): the last
// answer while it is fresh, a Status call otherwise.
func (p *kmsProvider) check(ctx context.Context) error {
	p.mu.Lock()
	ttl := p.timing.healthyTTL
	if p.lastErr != nil {
		ttl = p.timing.unhealthyTTL
	}
	if !p.lastAt.IsZero() && p.timing.now().Sub(p.lastAt) < ttl {
		err := p.lastErr
		p.mu.Unlock()
		return err
	}
	p.mu.Unlock()
	return p.refresh(ctx)
}

// refresh calls Status and, when the key ID changed (or there is no write
// key yet), makes a new seed.
func (p *kmsProvider) refresh(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	err := p.statusAndRotate(ctx)
	p.lastErr, p.lastAt = err, p.timing.now()
	return err
}

func (p *kmsProvider) statusAndRotate(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	st, err := p.client.Status(cctx, &kmsapi.StatusRequest{})
	if err != nil {
		return fmt.Errorf("failed to perform status section of the healthz check for KMS Provider %s, error: %w: %w", p.name, ErrKMSPlugin, err)
	}
	var errs []error
	if st.Healthz != "ok" {
		errs = append(errs, fmt.Errorf("got unexpected healthz status: %s", st.Healthz))
	}
	if st.Version != kmsAPIVersionV2 && st.Version != "v2beta1" {
		errs = append(errs, fmt.Errorf("expected KMSv2 API version %s, got %s", kmsAPIVersionV2, st.Version))
	} else {
		if p.version == "" {
			p.version = st.Version
		}
		if p.version != st.Version {
			errs = append(errs, fmt.Errorf("KMSv2 API version should not change after the initial status response version %s, got %s", p.version, st.Version))
		}
	}
	if err := validateKeyID(st.KeyId); err != nil {
		errs = append(errs, fmt.Errorf("got invalid KMSv2 KeyID hash %q: %w", keyIDHash(st.KeyId), err))
	} else if len(errs) == 0 {
		errs = append(errs, p.rotateOnKeyIDChange(ctx, st.KeyId))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kmsv2 Provider %s is not healthy, error: %w", p.name, err)
	}
	return nil
}

// rotateOnKeyIDChange extends the write key's life when the plugin still
// reports its key ID, and otherwise has the plugin encrypt a new seed. On
// failure the old key stays, usable until it expires.
func (p *kmsProvider) rotateOnKeyIDChange(ctx context.Context, keyID string) error {
	// The TTL counts from before the calls: it bounds how long writes may
	// use a key the plugin has not confirmed.
	expires := p.timing.now().Add(p.timing.writeTTL)
	cur := p.state.Load()
	if cur != nil && cur.obj.KeyID == keyID {
		next := *cur
		next.expires = expires
		p.state.Store(&next)
		return nil
	}
	seed := make([]byte, seedSize)
	if _, err := rand.Read(seed); err != nil {
		return fmt.Errorf("generate seed: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	resp, err := p.client.Encrypt(cctx, &kmsapi.EncryptRequest{Plaintext: seed, Uid: newUID()})
	if err != nil {
		return fmt.Errorf("failed to rotate DEK: failed to encrypt DEK, error: %w: %w", ErrKMSPlugin, err)
	}
	obj := encryptedObject{KeyID: resp.KeyId, EncryptedDEKSource: resp.Ciphertext, Annotations: resp.Annotations, SourceType: dekSourceHKDFSeed}
	if obj.KeyID != keyID {
		return fmt.Errorf("failed to rotate DEK: Encrypt answered key ID hash %q, Status %q", keyIDHash(obj.KeyID), keyIDHash(keyID))
	}
	check := obj
	check.EncryptedData = []byte{0} // validated as a stored value would be
	if err := check.validate(); err != nil {
		return fmt.Errorf("failed to rotate DEK: %w", err)
	}
	sk := seedKey(seed)
	// Values written with the new key are read without a Decrypt call.
	p.cache.put(dekCacheKey(&obj), sk, p.timing.now())
	p.state.Store(&kmsWriteState{seed: sk, obj: obj, expires: expires})
	old := ""
	if cur != nil {
		old = keyIDHash(cur.obj.KeyID)
	}
	slog.Info("kms: new data encryption key", "provider", p.name, "keyIDHash", keyIDHash(keyID), "oldKeyIDHash", old)
	return nil
}

// seal encrypts a value with the write key (cipherKey).
func (p *kmsProvider) seal(key string, plain []byte) ([]byte, error) {
	st := p.state.Load()
	if st == nil {
		return nil, fmt.Errorf("%w: the plugin has not answered Status and Encrypt (last error: %v)", ErrKMSNoWriteKey, p.lastHealth())
	}
	if now := p.timing.now(); now.After(st.expires) {
		return nil, fmt.Errorf("%w: encryptedDEKSource with keyID hash %q expired at %s (current time is %s; last error: %v)",
			ErrKMSNoWriteKey, keyIDHash(st.obj.KeyID), st.expires.Format(time.RFC3339), now.Format(time.RFC3339), p.lastHealth())
	}
	data, err := st.seed.seal(key, plain)
	if err != nil {
		return nil, err
	}
	obj := st.obj
	obj.EncryptedData = data
	return obj.marshal(), nil
}

func (p *kmsProvider) open(key string, payload []byte) ([]byte, error) {
	out, _, err := p.openStale(key, payload)
	return out, err
}

// openStale decrypts a stored EncryptedObject. stale: it was not written
// with the current write key's key ID and scheme.
func (p *kmsProvider) openStale(key string, payload []byte) ([]byte, bool, error) {
	o, err := unmarshalEncryptedObject(payload)
	if err != nil {
		return nil, false, err
	}
	if err := o.validate(); err != nil {
		return nil, false, err
	}
	ck := dekCacheKey(o)
	now := p.timing.now()
	dek := p.cache.get(ck, now)
	if dek == nil {
		ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
		defer cancel()
		resp, err := p.client.Decrypt(ctx, &kmsapi.DecryptRequest{
			Ciphertext: o.EncryptedDEKSource, Uid: newUID(), KeyId: o.KeyID, Annotations: o.Annotations,
		})
		if err != nil {
			return nil, false, fmt.Errorf("failed to decrypt DEK, error: %w: %w", ErrKMSPlugin, err)
		}
		if dek, err = newDEKReader(o.SourceType, resp.Plaintext); err != nil {
			return nil, false, err
		}
		p.cache.put(ck, dek, now)
	}
	out, err := dek.open(key, o.EncryptedData)
	if err != nil {
		return nil, false, err
	}
	st := p.state.Load()
	stale := st == nil || st.obj.KeyID != o.KeyID || st.obj.SourceType != o.SourceType
	return out, stale, nil
}

func newDEKReader(t dekSourceType, plain []byte) (cipherKey, error) {
	switch t {
	case dekSourceHKDFSeed:
		if len(plain) < seedSize {
			return nil, fmt.Errorf("%w: invalid seed length %d used for key generation", ErrDecrypt, len(plain))
		}
		return seedKey(plain), nil
	default:
		block, err := aes.NewCipher(plain)
		if err != nil {
			return nil, fmt.Errorf("%w: DEK from plugin: %v", ErrDecrypt, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("%w: DEK from plugin: %v", ErrDecrypt, err)
		}
		return gcmKey{aead}, nil
	}
}

// seedKey derives a fresh AES-256-GCM key per value: HKDF-SHA256 expand of
// the seed with 32 random bytes as info. Layout: info, then the gcmKey
// layout (nonce, sealed value, the store key authenticated).
type seedKey []byte

func (s seedKey) derive(info []byte) (gcmKey, error) {
	k, err := hkdf.Expand(sha256.New, []byte(s), string(info), 32)
	if err != nil {
		return gcmKey{}, fmt.Errorf("derive key: %w", err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return gcmKey{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return gcmKey{}, err
	}
	return gcmKey{aead}, nil
}

func (s seedKey) seal(key string, plain []byte) ([]byte, error) {
	info := make([]byte, hkdfInfoSize)
	if _, err := rand.Read(info); err != nil {
		return nil, fmt.Errorf("info: %w", err)
	}
	g, err := s.derive(info)
	if err != nil {
		return nil, err
	}
	sealed, err := g.seal(key, plain)
	if err != nil {
		return nil, err
	}
	return append(info, sealed...), nil
}

func (s seedKey) open(key string, payload []byte) ([]byte, error) {
	if len(payload) < hkdfInfoSize {
		return nil, fmt.Errorf("%w: the stored data was shorter than the required size", ErrDecrypt)
	}
	g, err := s.derive(payload[:hkdfInfoSize])
	if err != nil {
		return nil, err
	}
	return g.open(key, payload[hkdfInfoSize:])
}

// dekCache holds decrypted DEK sources by upstream's cache key; an entry
// not used for dekCacheTTL goes (upstream's TTL).
type dekCache struct {
	mu      sync.Mutex
	entries map[string]*dekEntry
	puts    int
}

type dekEntry struct {
	dek  cipherKey
	used time.Time
}

func (c *dekCache) get(k string, now time.Time) cipherKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[k]
	if e == nil || now.Sub(e.used) > dekCacheTTL {
		return nil
	}
	e.used = now
	return e.dek
}

func (c *dekCache) put(k string, dek cipherKey, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]*dekEntry{}
	}
	c.entries[k] = &dekEntry{dek: dek, used: now}
	if c.puts++; c.puts%64 == 0 {
		for k, e := range c.entries {
			if now.Sub(e.used) > dekCacheTTL {
				delete(c.entries, k)
			}
		}
	}
}

func (c *dekCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// keyIDHash is how upstream names key IDs in messages.
func keyIDHash(id string) string {
	if id == "" {
		return ""
	}
	return fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(id)))
}

// newUID is a random UUID (version 4) for the plugin's logs.
func newUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// KMSStatus is a plugin's answer to Status.
type KMSStatus struct {
	Version, Healthz, KeyID string
}

// ProbeKMS asks a kms provider's plugin for its Status once (for `skiff
// secrets-encrypt status`; the server polls on its own).
func ProbeKMS(ctx context.Context, k *KMSConfiguration) (KMSStatus, error) {
	conn, err := grpc.NewClient(k.Endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return KMSStatus{}, fmt.Errorf("connect to %s: %w", k.Endpoint, err)
	}
	defer conn.Close()
	timeout := defaultKMSTimeout
	if k.Timeout != nil {
		timeout = k.Timeout.Duration
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st, err := kmsapi.NewKeyManagementServiceClient(conn).Status(ctx, &kmsapi.StatusRequest{})
	if err != nil {
		return KMSStatus{}, fmt.Errorf("%w: %w", ErrKMSPlugin, err)
	}
	return KMSStatus{Version: st.Version, Healthz: st.Healthz, KeyID: st.KeyId}, nil
}

// validateKMS checks a kms provider as upstream's validation does, and
// refuses KMSv1.
func validateKMS(k *KMSConfiguration) error {
	switch {
	case k.Name == "":
		return errors.New(".kms.name: Required value: name is required")
	case strings.Contains(k.Name, ":"):
		return fmt.Errorf(".kms.name: Invalid value: %q: should not contain ':'", k.Name)
	case k.Endpoint == "":
		return errors.New(".kms.endpoint: Required value: endpoint is required")
	case !strings.HasPrefix(k.Endpoint, "unix://"):
		return fmt.Errorf(".kms.endpoint: Invalid value: %q: unsupported scheme for KMS provider, only unix is supported", k.Endpoint)
	case k.APIVersion == "" || k.APIVersion == kmsAPIVersionV1:
		return fmt.Errorf(".kms.apiVersion: Invalid value: %q: %s", kmsAPIVersionV1, kmsV1Deprecated)
	case k.APIVersion != kmsAPIVersionV2:
		return fmt.Errorf(".kms.apiVersion: Unsupported value: %q: supported values: \"v2\"", k.APIVersion)
	case k.CacheSize != nil:
		return errors.New(".kms.cachesize: Invalid value: cachesize is not supported in v2")
	case k.Timeout != nil && k.Timeout.Duration <= 0:
		return fmt.Errorf(".kms.timeout: Invalid value: %s: timeout should be a positive value", k.Timeout.Duration)
	}
	return nil
}
