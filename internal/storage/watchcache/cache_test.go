package watchcache

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"skiff.dev/skiff/internal/storage"
	"skiff.dev/skiff/internal/storage/bolt"
)

const testPrefix = "/registry/core/configmaps/"

// decodeConfigMap stores a config map's only data value as the raw value.
func decodeConfigMap(data []byte, rev int64) (runtime.Object, error) {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{ResourceVersion: strconv.FormatInt(rev, 10)},
		Data:       map[string]string{"v": string(data)},
	}, nil
}

func value(o runtime.Object) string { return o.(*corev1.ConfigMap).Data["v"] }

// startHub runs a hub with one config map cache over a real bolt store.
func startHub(t *testing.T, historySize int) (storage.Store, *Hub, *Cache) {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h := NewHub(st, "/registry/", historySize)
	c := h.Register(testPrefix, decodeConfigMap)
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return st, h, c
}

func waitFor(t *testing.T, h *Hub, rev int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.WaitForRevision(ctx, rev); err != nil {
		t.Fatalf("cache did not reach revision %d: %v", rev, err)
	}
}

// The current state keeps only current objects; an update's previous
// version reaches watchers through the history, and a watch older than
// the history is refused.
func TestCacheKeepsCurrentObjectsAndHistoryKeepsPrevious(t *testing.T) {
	st, h, c := startHub(t, 4)
	ctx := context.Background()
	key := testPrefix + "ns/a"
	rev1, err := st.Create(ctx, key, []byte("one"))
	if err != nil {
		t.Fatal(err)
	}
	rev2, err := st.Update(ctx, key, []byte("two"), rev1)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, h, rev2)

	obj, ok := c.Get(key)
	if !ok || value(obj) != "two" {
		t.Fatalf("Get = %v, %v; want the updated object", obj, ok)
	}
	w, err := c.Watch(WatchOptions{FromRevision: rev1})
	if err != nil {
		t.Fatal(err)
	}
	bl := w.Backlog()
	w.Stop()
	if len(bl) != 1 || bl[0].Type != watch.Modified || value(bl[0].Object) != "two" || bl[0].PrevObject == nil || value(bl[0].PrevObject) != "one" {
		t.Fatalf("backlog from %d = %+v; want the update with its previous object", rev1, bl)
	}
	w, err = c.Watch(WatchOptions{InitialState: true})
	if err != nil {
		t.Fatal(err)
	}
	bl = w.Backlog()
	w.Stop()
	if len(bl) != 1 || bl[0].Type != watch.Added || bl[0].Revision != rev2 || bl[0].PrevObject != nil {
		t.Fatalf("initial state = %+v; want one Added event at %d", bl, rev2)
	}

	// Push the first events out of the 4-event history.
	last := rev2
	for i := range 4 {
		if last, err = st.Create(ctx, fmt.Sprintf("%sns/b%d", testPrefix, i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, h, last)
	if _, err := c.Watch(WatchOptions{FromRevision: rev1}); !errors.Is(err, ErrTooOld) {
		t.Fatalf("watch from %d after the history moved on: err = %v, want ErrTooOld", rev1, err)
	}
	if got := c.OldestRevision(); got != last-4 {
		t.Fatalf("OldestRevision = %d, want %d", got, last-4)
	}
	w, err = c.Watch(WatchOptions{FromRevision: last - 4})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(w.Backlog()); n != 4 {
		t.Fatalf("backlog from the oldest revision held: %d events, want 4", n)
	}
	w.Stop()
}

// Only the latest events keep their encodings; an older event encodes
// again when asked.
func TestOldEventsDropTheirEncodings(t *testing.T) {
	st, h, c := startHub(t, 2*encodedKeep)
	ctx := context.Background()
	w, err := c.Watch(WatchOptions{Buffer: 4 * encodedKeep})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	calls := 0
	enc := func() ([]byte, error) { calls++; return []byte("enc"), nil }
	encode := func(e *Event) {
		t.Helper()
		if _, err := e.Encoded("json", enc); err != nil {
			t.Fatal(err)
		}
	}

	rev, err := st.Create(ctx, testPrefix+"ns/first", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, h, rev)
	first := <-w.C()
	encode(first)
	encode(first)
	if calls != 1 {
		t.Fatalf("a fresh event encoded %d times for two watchers, want once", calls)
	}
	for i := range encodedKeep - 1 {
		if rev, err = st.Create(ctx, fmt.Sprintf("%sns/c%d", testPrefix, i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, h, rev)
	encode(first)
	if calls != 1 {
		t.Fatalf("an event %d events old lost its encoding", encodedKeep-1)
	}
	if rev, err = st.Create(ctx, testPrefix+"ns/last", []byte("x")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, h, rev)
	encode(first)
	if calls != 2 {
		t.Fatalf("an event %d events old kept its encoding", encodedKeep)
	}
}

// A full history is trimmed to four fifths of its size at once, and never
// holds more than its size.
func TestHistoryTrimsInBatches(t *testing.T) {
	st, h, c := startHub(t, 10)
	ctx := context.Background()
	var revs []int64
	for i := range 11 {
		rev, err := st.Create(ctx, fmt.Sprintf("%sns/d%d", testPrefix, i), []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, rev)
		waitFor(t, h, rev)
		want := revs[0] - 1 // everything since the start
		if i == 10 {
			want = revs[2] // the eleventh event trimmed the history to 8
		}
		if got := c.OldestRevision(); got != want {
			t.Fatalf("after %d events: OldestRevision = %d, want %d", i+1, got, want)
		}
	}
}
