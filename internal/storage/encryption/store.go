package encryption

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"skiff.dev/skiff/internal/storage"
)

// Transformers is a loaded configuration: for each store key, the chain of
// the first rule whose resources cover it. Its rules are immutable; its kms
// providers poll their plugins until Close.
type Transformers struct {
	rules []rule
	kms   []*kmsProvider
	// Hash identifies the configuration it was built from (hex SHA-256 of
	// the file), so a reload of identical bytes is recognised.
	Hash   string
	loaded time.Time
}

type rule struct {
	prefix   string
	resource string
	chain    *chain
}

// NewTransformers builds the ciphers of a validated configuration and
// connects its kms providers (a plugin that does not answer yet is not an
// error: writes through it fail until it does). It fails on bad keys.
// Close releases the kms providers.
func NewTransformers(cfg *Configuration, raw []byte) (*Transformers, error) {
	return newTransformers(cfg, raw, defaultKMSTiming)
}

func newTransformers(cfg *Configuration, raw []byte, timing kmsTiming) (*Transformers, error) {
	t := &Transformers{loaded: time.Now().UTC().Truncate(time.Second)}
	t.Hash = HashOf(raw)
	newKMS := func(k *KMSConfiguration) (*kmsProvider, error) {
		p, err := newKMSProvider(k, timing)
		if err == nil {
			t.kms = append(t.kms, p)
		}
		return p, err
	}
	for i, rc := range cfg.Resources {
		ch, err := newChain(rc.Providers, newKMS)
		if err != nil {
			t.Close()
			return nil, fmt.Errorf("resources[%d]: %w", i, err)
		}
		for _, r := range rc.Resources {
			t.rules = append(t.rules, rule{prefix: keyPrefix(r), resource: r, chain: ch})
		}
	}
	return t, nil
}

// LoadTransformers reads, validates and builds a configuration file.
func LoadTransformers(path string) (*Transformers, error) {
	cfg, raw, err := LoadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := NewTransformers(cfg, raw)
	if err != nil {
		return nil, fmt.Errorf("encryption provider config %s: %w", path, err)
	}
	return t, nil
}

// Close stops the kms providers' polls and connections. The rules stay
// usable for everything but kms values.
func (t *Transformers) Close() {
	for _, p := range t.kms {
		if err := p.Close(); err != nil {
			slog.Error("close kms provider", "name", p.name, "err", err)
		}
	}
}

// KMSProviders names the configured kms providers, in order.
func (t *Transformers) KMSProviders() []string {
	var out []string
	for _, p := range t.kms {
		out = append(out, p.name)
	}
	return out
}

// CheckKMS is upstream's kms-providers health check: every kms
// provider's plugin answers Status healthy with a valid key ID, and a
// write key could be made with it. Without kms providers it passes.
func (t *Transformers) CheckKMS(ctx context.Context) error {
	var errs []error
	for i, p := range t.kms {
		if err := p.check(ctx); err != nil {
			errs = append(errs, fmt.Errorf("kms-provider-%d: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// HashOf is the hash a Status records for a configuration file's bytes.
func HashOf(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// chainFor is the first rule covering key, as upstream (earlier rules win).
func (t *Transformers) chainFor(key string) *chain {
	for _, r := range t.rules {
		if strings.HasPrefix(key, r.prefix) {
			return r.chain
		}
	}
	return nil
}

// WriteKeys lists, per configured resource, the provider and key that new
// values are written with ("identity" for plain text). It holds no key
// material.
func (t *Transformers) WriteKeys() map[string]string {
	out := map[string]string{}
	for _, r := range t.rules {
		out[r.resource] = r.chain.writeKey()
	}
	return out
}

// Encrypt seals value for key; keys no rule covers pass unchanged.
func (t *Transformers) Encrypt(key string, value []byte) ([]byte, error) {
	c := t.chainFor(key)
	if c == nil {
		return value, nil
	}
	out, err := c.encrypt(key, value)
	if err != nil {
		return nil, fmt.Errorf("unable to transform key %q: %w", key, err)
	}
	return out, nil
}

// Decrypt opens a stored value of key. The error names the key, as
// upstream's "unable to transform key". stale is true when the value was
// not written with the current write key.
func (t *Transformers) Decrypt(key string, value []byte) (plain []byte, stale bool, err error) {
	c := t.chainFor(key)
	if c == nil {
		return value, false, nil
	}
	out, stale, err := c.decrypt(key, value)
	if err != nil {
		return nil, false, fmt.Errorf("unable to transform key %q: %w", key, err)
	}
	return out, stale, nil
}

// Store encrypts values on their way into a storage.Store and decrypts
// them on the way out (Get, List, Watch events with their previous values,
// Delete's returned value). Revisions, keys and errors are the inner
// store's. The configuration can be swapped while in use (Set); each call
// uses one configuration from start to end.
type Store struct {
	inner storage.Store
	t     atomic.Pointer[Transformers]
}

var _ storage.Store = (*Store)(nil)

// NewStore wraps inner with t.
func NewStore(inner storage.Store, t *Transformers) *Store {
	s := &Store{inner: inner}
	s.t.Store(t)
	return s
}

var _ storage.StaleChecker = (*Store)(nil)

// Stale reports whether key's stored value was not written with the
// current write key (storage.StaleChecker). Keys outside the configured
// resources are never stale and cost no read.
func (s *Store) Stale(ctx context.Context, key string) (bool, error) {
	t := s.t.Load()
	if t.chainFor(key) == nil {
		return false, nil
	}
	kv, err := s.inner.Get(ctx, key)
	if err != nil {
		return false, err
	}
	_, stale, err := t.Decrypt(key, kv.Value)
	return stale, err
}

// Set replaces the configuration; writes after it returns use the new one.
func (s *Store) Set(t *Transformers) { s.t.Store(t) }

// Transformers is the configuration in use.
func (s *Store) Transformers() *Transformers { return s.t.Load() }

func (s *Store) Create(ctx context.Context, key string, value []byte) (int64, error) {
	enc, err := s.t.Load().Encrypt(key, value)
	if err != nil {
		return 0, err
	}
	return s.inner.Create(ctx, key, enc)
}

func (s *Store) Update(ctx context.Context, key string, value []byte, expectedRevision int64) (int64, error) {
	enc, err := s.t.Load().Encrypt(key, value)
	if err != nil {
		return 0, err
	}
	return s.inner.Update(ctx, key, enc, expectedRevision)
}

func (s *Store) Delete(ctx context.Context, key string, expectedRevision int64) (storage.KeyValue, error) {
	kv, err := s.inner.Delete(ctx, key, expectedRevision)
	if err != nil {
		return kv, err
	}
	kv.Value, _, err = s.t.Load().Decrypt(key, kv.Value)
	return kv, err
}

func (s *Store) Get(ctx context.Context, key string) (storage.KeyValue, error) {
	kv, err := s.inner.Get(ctx, key)
	if err != nil {
		return kv, err
	}
	kv.Value, _, err = s.t.Load().Decrypt(key, kv.Value)
	return kv, err
}

func (s *Store) List(ctx context.Context, prefix string, opts storage.ListOptions) (storage.ListResult, error) {
	res, err := s.inner.List(ctx, prefix, opts)
	if err != nil {
		return res, err
	}
	t := s.t.Load()
	for i := range res.Items {
		kv := &res.Items[i]
		if kv.Value, _, err = t.Decrypt(kv.Key, kv.Value); err != nil {
			return storage.ListResult{}, err
		}
	}
	return res, nil
}

// Watch decrypts every event into a new Event (the inner store's events
// are shared between watchers and read-only). A value that does not
// decrypt is logged with its key and passed on with a nil value, which the
// watch cache skips as it skips any undecodable value; closing the watch
// instead would only make the consumer resume at the same event.
func (s *Store) Watch(ctx context.Context, prefix string, fromRevision int64) (<-chan storage.Event, error) {
	in, err := s.inner.Watch(ctx, prefix, fromRevision)
	if err != nil {
		return nil, err
	}
	out := make(chan storage.Event)
	go func() {
		defer close(out)
		for ev := range in {
			t := s.t.Load()
			dec := ev
			var err error
			if dec.KV.Value, _, err = t.Decrypt(ev.KV.Key, ev.KV.Value); err != nil {
				slog.Error("watch: stored value does not decrypt", "err", err)
			}
			if ev.PrevValue != nil {
				if dec.PrevValue, _, err = t.Decrypt(ev.KV.Key, ev.PrevValue); err != nil {
					slog.Error("watch: previous stored value does not decrypt", "err", err)
				}
			}
			select {
			case out <- dec:
			case <-ctx.Done():
				// Drain so the inner store's sender is not blocked
				// until it notices ctx itself.
				go func() {
					for range in {
					}
				}()
				return
			}
		}
	}()
	return out, nil
}

func (s *Store) Compact(ctx context.Context, revision int64) error {
	return s.inner.Compact(ctx, revision)
}

func (s *Store) Revision(ctx context.Context) (int64, error) { return s.inner.Revision(ctx) }

func (s *Store) Close() error { return s.inner.Close() }
