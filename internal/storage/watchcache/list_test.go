package watchcache

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/skiff/internal/storage/bolt"
)

// decodeName stores the key's value as a ConfigMap's name, enough to
// tell the listed objects apart.
func decodeName(data []byte, rev int64) (runtime.Object, error) {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: string(data)}}, nil
}

func names(objs []runtime.Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.(*corev1.ConfigMap).Name)
	}
	return out
}

// TestCacheListPrefixAndOrder: List returns exactly the keys under the
// prefix (a namespace is not a prefix of another that starts with the
// same letters), in key order, and sees creates and deletes made after an
// earlier List.
func TestCacheListPrefixAndOrder(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	hub := NewHub(st, "/registry/", 100)
	cms := hub.Register("/registry/core/configmaps/", decodeName)
	hub.Register("/registry/core/secrets/", decodeName)
	put := func(key string) int64 {
		t.Helper()
		rev, err := st.Create(ctx, key, []byte(key[len("/registry/core/"):]))
		if err != nil {
			t.Fatal(err)
		}
		return rev
	}
	put("/registry/core/configmaps/b/x")
	put("/registry/core/configmaps/a/z")
	if err := hub.Start(ctx); err != nil {
		t.Fatal(err)
	}
	put("/registry/core/configmaps/ab/y")
	put("/registry/core/configmaps/a/y")
	rev := put("/registry/core/secrets/a/s")
	if err := hub.WaitForRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}

	list := func(prefix string) []string {
		objs, got := cms.List(prefix, nil)
		if got < rev {
			t.Fatalf("List reflects revision %d, want at least %d", got, rev)
		}
		return names(objs)
	}
	want := func(prefix string, exp ...string) {
		t.Helper()
		if got := list(prefix); !slices.Equal(got, exp) {
			t.Fatalf("List(%q) = %q, want %q", prefix, got, exp)
		}
	}
	want("/registry/core/configmaps/", "configmaps/a/y", "configmaps/a/z", "configmaps/ab/y", "configmaps/b/x")
	want("/registry/core/configmaps/a/", "configmaps/a/y", "configmaps/a/z")
	want("/registry/core/configmaps/ab/", "configmaps/ab/y")
	want("/registry/core/configmaps/c/")
	want("/registry/core/configmaps/0/")

	// The key set changes after the lists above sorted it.
	put("/registry/core/configmaps/a/a")
	kv, err := st.Delete(ctx, "/registry/core/configmaps/a/z", 0)
	if err != nil {
		t.Fatal(err)
	}
	rev = kv.ModRevision
	if err := hub.WaitForRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	want("/registry/core/configmaps/a/", "configmaps/a/a", "configmaps/a/y")

	// Updates keep the key set and show the new object.
	if rev, err = st.Update(ctx, "/registry/core/configmaps/b/x", []byte("changed"), 0); err != nil {
		t.Fatal(err)
	}
	if err := hub.WaitForRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	want("/registry/core/configmaps/", "configmaps/a/a", "configmaps/a/y", "configmaps/ab/y", "changed")

	filtered, _ := cms.List("/registry/core/configmaps/", func(o runtime.Object) bool { return o.(*corev1.ConfigMap).Name != "changed" })
	if got := names(filtered); !slices.Equal(got, []string{"configmaps/a/a", "configmaps/a/y", "configmaps/ab/y"}) {
		t.Fatalf("filtered List = %q", got)
	}
}

// BenchmarkCacheList lists 10,000 cached objects in 100 namespaces: all
// of them, and one namespace.
//
//	go test -run '^$' -bench CacheList -benchmem ./internal/storage/watchcache/
func BenchmarkCacheList(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := bolt.Open(filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	for i := range 10000 {
		key := fmt.Sprintf("/registry/core/configmaps/ns-%02d/cm-%d", i%100, i)
		if _, err := st.Create(ctx, key, []byte(key)); err != nil {
			b.Fatal(err)
		}
	}
	hub := NewHub(st, "/registry/", 100)
	cms := hub.Register("/registry/core/configmaps/", decodeName)
	if err := hub.Start(ctx); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, prefix string }{
		{"all", "/registry/core/configmaps/"},
		{"namespace", "/registry/core/configmaps/ns-42/"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if objs, _ := cms.List(bc.prefix, nil); len(objs) == 0 {
					b.Fatal("empty list")
				}
			}
		})
	}
}
