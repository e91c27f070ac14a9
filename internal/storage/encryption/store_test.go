package encryption

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"skiff.dev/skiff/internal/storage"
	"skiff.dev/skiff/internal/storage/bolt"
	"skiff.dev/skiff/internal/storage/storagetest"
)

// everything covers every key with one provider, so the conformance
// suite's keys ("/a/...") are all encrypted.
func everything(t testing.TB, p ProviderConfiguration) *Transformers {
	t.Helper()
	c, err := newChain([]ProviderConfiguration{p}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Transformers{rules: []rule{{prefix: "/", resource: "*.*", chain: c}}}
}

func openBolt(t testing.TB) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// The decorated store keeps every promise of storage.Store.
func TestConformance(t *testing.T) {
	for _, p := range []string{"secretbox", "aesgcm", "aescbc"} {
		t.Run(p, func(t *testing.T) {
			tr := everything(t, providerWith(p, Key{Name: "k", Secret: b64(32, 3)}))
			storagetest.RunTests(t, func(t *testing.T) storage.Store { return NewStore(openBolt(t), tr) })
		})
	}
}

// Values reach the inner store encrypted, on every path that writes, and
// come back decrypted on every path that reads, watch included.
func TestStoreEncryptsAtRest(t *testing.T) {
	ctx := context.Background()
	inner := openBolt(t)
	cfg, err := Parse([]byte(`apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - secretbox: {keys: [{name: key1, secret: ` + b64(32, 5) + `}]}
  - identity: {}
`))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTransformers(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := NewStore(inner, tr)
	const secretKey = "/registry/core/secrets/default/db"
	const cmKey = "/registry/core/configmaps/default/cm"

	ch, err := s.Watch(ctx, "/registry/", 0)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := s.Create(ctx, secretKey, []byte("v1-plaintext"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, secretKey, []byte("v2-plaintext"), rev); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, cmKey, []byte("cm-plaintext")); err != nil {
		t.Fatal(err)
	}

	raw, err := inner.Get(ctx, secretKey)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(raw.Value, []byte("k8s:enc:secretbox:v1:key1:")) || bytes.Contains(raw.Value, []byte("plaintext")) {
		t.Fatalf("secret stored as %q", raw.Value)
	}
	if raw, _ := inner.Get(ctx, cmKey); string(raw.Value) != "cm-plaintext" {
		t.Fatalf("configmap (not configured) stored as %q", raw.Value)
	}
	if kv, err := s.Get(ctx, secretKey); err != nil || string(kv.Value) != "v2-plaintext" {
		t.Fatalf("Get: %q %v", kv.Value, err)
	}
	list, err := s.List(ctx, "/registry/", storage.ListOptions{})
	if err != nil || len(list.Items) != 2 || string(list.Items[1].Value) != "v2-plaintext" {
		t.Fatalf("List: %+v %v", list.Items, err)
	}
	for _, want := range []struct{ value, prev string }{{"v1-plaintext", ""}, {"v2-plaintext", "v1-plaintext"}, {"cm-plaintext", ""}} {
		ev := <-ch
		if string(ev.KV.Value) != want.value || string(ev.PrevValue) != want.prev {
			t.Fatalf("watch: %v value=%q prev=%q, want %q %q", ev.Type, ev.KV.Value, ev.PrevValue, want.value, want.prev)
		}
	}
	kv, err := s.Delete(ctx, secretKey, 0)
	if err != nil || string(kv.Value) != "v2-plaintext" {
		t.Fatalf("Delete: %q %v", kv.Value, err)
	}
	if ev := <-ch; ev.Type != storage.EventDelete || string(ev.KV.Value) != "v2-plaintext" {
		t.Fatalf("delete event: %v %q", ev.Type, ev.KV.Value)
	}

	// A value written before encryption was on is still readable.
	if _, err := inner.Create(ctx, "/registry/core/secrets/default/old", []byte("old-plain")); err != nil {
		t.Fatal(err)
	}
	if kv, err := s.Get(ctx, "/registry/core/secrets/default/old"); err != nil || string(kv.Value) != "old-plain" {
		t.Fatalf("plain value through identity: %q %v", kv.Value, err)
	}
	// A value whose key is gone is an error naming the key.
	if _, err := inner.Create(ctx, "/registry/core/secrets/default/lost", []byte("k8s:enc:secretbox:v1:gone:xxxxxxxx")); err != nil {
		t.Fatal(err)
	}
	_, err = s.Get(ctx, "/registry/core/secrets/default/lost")
	if err == nil || !strings.Contains(err.Error(), `"/registry/core/secrets/default/lost"`) {
		t.Fatalf("unreadable value: %v", err)
	}
	if _, err := s.List(ctx, "/registry/core/secrets/", storage.ListOptions{}); err == nil {
		t.Fatal("List of an unreadable value succeeded")
	}
}

func BenchmarkStoreCreate(b *testing.B) {
	value := bytes.Repeat([]byte("s"), 1024)
	for _, name := range []string{"identity", "secretbox"} {
		b.Run(name, func(b *testing.B) {
			tr := everything(b, providerWith(name, Key{Name: "k", Secret: b64(32, 3)}))
			s := NewStore(openBolt(b), tr)
			i := 0
			for b.Loop() {
				i++
				if _, err := s.Create(context.Background(), fmt.Sprintf("/registry/core/secrets/default/s%d", i), value); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
