package storagetest

import (
	"fmt"
	"testing"

	"skiff.dev/skiff/internal/storage"
)

func listTests() []conformanceTest {
	return []conformanceTest{
		{"ListOrderAndPrefix", testListOrderAndPrefix},
		{"ListAtRevision", testListAtRevision},
		{"ListPaging", testListPaging},
		{"ListFutureRevision", testListFutureRevision},
	}
}

// testListOrderAndPrefix checks that prefixes are plain byte prefixes and
// that items come back in byte order, including keys with 0x00 and 0xff.
func testListOrderAndPrefix(t *testing.T, s storage.Store) {
	keys := []string{"/a/bc/1", "/a/b/2", "/a/b", "/a/b\xff", "/a/b/1", "/a/b\x00x", "/b/1", "/a/c"}
	for _, k := range keys {
		mustCreate(t, s, k, "value of "+k)
	}
	rev := currentRevision(t, s)
	tests := []struct {
		prefix string
		want   []string
	}{
		{"/a/b/", []string{"/a/b/1", "/a/b/2"}},
		{"/a/b", []string{"/a/b", "/a/b\x00x", "/a/b/1", "/a/b/2", "/a/bc/1", "/a/b\xff"}},
		{"/a/", []string{"/a/b", "/a/b\x00x", "/a/b/1", "/a/b/2", "/a/bc/1", "/a/b\xff", "/a/c"}},
		{"/a/bc", []string{"/a/bc/1"}},
		{"/a/b\x00", []string{"/a/b\x00x"}},
		{"/zzz/", nil},
		{"", []string{"/a/b", "/a/b\x00x", "/a/b/1", "/a/b/2", "/a/bc/1", "/a/b\xff", "/a/c", "/b/1"}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("prefix=%q", tc.prefix), func(t *testing.T) {
			res := mustList(t, s, tc.prefix, storage.ListOptions{})
			if got := keysOf(res.Items); !equalStrings(got, tc.want) {
				t.Fatalf("keys = %q, want %q", got, tc.want)
			}
			if res.Revision != rev {
				t.Fatalf("Revision = %d, want %d", res.Revision, rev)
			}
			if res.More || res.RemainingCount != 0 {
				t.Fatalf("More=%v RemainingCount=%d on an unlimited list", res.More, res.RemainingCount)
			}
			for _, kv := range res.Items {
				want := mustGet(t, s, kv.Key)
				checkKV(t, "listed "+kv.Key, kv, want.Key, string(want.Value), want.CreateRevision, want.ModRevision)
			}
		})
	}
}

// testListAtRevision reads a past revision after updates, deletes and
// creates, and checks it sees exactly the old state.
func testListAtRevision(t *testing.T, s storage.Store) {
	ra := mustCreate(t, s, "/l/a", "a1")
	rb := mustCreate(t, s, "/l/b", "b1")
	rc := mustCreate(t, s, "/l/c", "c1")
	mustCreate(t, s, "/other/x", "x")
	past := currentRevision(t, s)

	ra2 := mustUpdate(t, s, "/l/a", "a2", ra)
	mustDelete(t, s, "/l/b", rb)
	rd := mustCreate(t, s, "/l/d", "d1")
	mustDelete(t, s, "/l/c", rc)
	rc2 := mustCreate(t, s, "/l/c", "c2")

	old := mustList(t, s, "/l/", storage.ListOptions{Revision: past})
	if old.Revision != past {
		t.Fatalf("past list Revision = %d, want %d", old.Revision, past)
	}
	if got, want := keysOf(old.Items), []string{"/l/a", "/l/b", "/l/c"}; !equalStrings(got, want) {
		t.Fatalf("past keys = %q, want %q", got, want)
	}
	checkKV(t, "past /l/a", old.Items[0], "/l/a", "a1", ra, ra)
	checkKV(t, "past /l/b", old.Items[1], "/l/b", "b1", rb, rb)
	checkKV(t, "past /l/c", old.Items[2], "/l/c", "c1", rc, rc)

	// A revision in the middle: /l/a updated, /l/b deleted, /l/d not yet.
	mid := mustList(t, s, "/l/", storage.ListOptions{Revision: ra2 + 1})
	if got, want := keysOf(mid.Items), []string{"/l/a", "/l/c"}; !equalStrings(got, want) {
		t.Fatalf("mid keys = %q, want %q", got, want)
	}
	checkKV(t, "mid /l/a", mid.Items[0], "/l/a", "a2", ra, ra2)

	now := mustList(t, s, "/l/", storage.ListOptions{})
	if got, want := keysOf(now.Items), []string{"/l/a", "/l/c", "/l/d"}; !equalStrings(got, want) {
		t.Fatalf("latest keys = %q, want %q", got, want)
	}
	checkKV(t, "latest /l/a", now.Items[0], "/l/a", "a2", ra, ra2)
	checkKV(t, "latest /l/c", now.Items[1], "/l/c", "c2", rc2, rc2)
	checkKV(t, "latest /l/d", now.Items[2], "/l/d", "d1", rd, rd)

	// Asking for the current revision explicitly is the same as 0.
	cur := currentRevision(t, s)
	exact := mustList(t, s, "/l/", storage.ListOptions{Revision: cur})
	if exact.Revision != cur || !equalStrings(keysOf(exact.Items), keysOf(now.Items)) {
		t.Fatalf("list at current revision %d = %q at %d, want %q", cur, keysOf(exact.Items), exact.Revision, keysOf(now.Items))
	}
}

// testListPaging pages through a prefix at one revision while the prefix
// keeps changing, as a client following continue tokens does.
func testListPaging(t *testing.T, s storage.Store) {
	var all []string
	for i := range 10 {
		key := fmt.Sprintf("/p/%02d", i)
		all = append(all, key)
		mustCreate(t, s, key, "v")
	}
	mustCreate(t, s, "/p", "not under /p/")
	mustCreate(t, s, "/q/00", "other prefix")

	first := mustList(t, s, "/p/", storage.ListOptions{Limit: 3})
	rev := first.Revision
	// Changes after the first page must not show in the following ones.
	mustUpdate(t, s, "/p/05", "changed", 0)
	mustDelete(t, s, "/p/07", 0)
	mustCreate(t, s, "/p/055", "new")

	type page struct {
		keys      []string
		more      bool
		remaining int64
	}
	want := []page{
		{all[0:3], true, 7},
		{all[3:6], true, 4},
		{all[6:9], true, 1},
		{all[9:10], false, 0},
	}
	res := first
	for i, w := range want {
		if i > 0 {
			last := res.Items[len(res.Items)-1].Key
			res = mustList(t, s, "/p/", storage.ListOptions{Revision: rev, Limit: 3, StartKey: last + "\x00"})
		}
		if got := keysOf(res.Items); !equalStrings(got, w.keys) {
			t.Fatalf("page %d keys = %q, want %q", i, got, w.keys)
		}
		if res.More != w.more || res.RemainingCount != w.remaining {
			t.Fatalf("page %d More=%v RemainingCount=%d, want More=%v RemainingCount=%d", i, res.More, res.RemainingCount, w.more, w.remaining)
		}
		if res.Revision != rev {
			t.Fatalf("page %d Revision = %d, want %d", i, res.Revision, rev)
		}
		for _, kv := range res.Items {
			if string(kv.Value) != "v" {
				t.Fatalf("page %d: %s = %q, want the value at revision %d", i, kv.Key, kv.Value, rev)
			}
		}
	}

	tests := []struct {
		name      string
		opts      storage.ListOptions
		keys      []string
		more      bool
		remaining int64
	}{
		{"limit equals count", storage.ListOptions{Revision: rev, Limit: 10}, all, false, 0},
		{"limit above count", storage.ListOptions{Revision: rev, Limit: 50}, all, false, 0},
		{"start key inside prefix", storage.ListOptions{Revision: rev, StartKey: "/p/08"}, all[8:], false, 0},
		{"start key between keys", storage.ListOptions{Revision: rev, StartKey: "/p/085", Limit: 1}, all[9:], false, 0},
		{"start key past the end", storage.ListOptions{Revision: rev, StartKey: "/p/99"}, nil, false, 0},
		{"latest with limit", storage.ListOptions{Limit: 6}, []string{"/p/00", "/p/01", "/p/02", "/p/03", "/p/04", "/p/05"}, true, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := mustList(t, s, "/p/", tc.opts)
			if got := keysOf(res.Items); !equalStrings(got, tc.keys) {
				t.Fatalf("keys = %q, want %q", got, tc.keys)
			}
			if res.More != tc.more || res.RemainingCount != tc.remaining {
				t.Fatalf("More=%v RemainingCount=%d, want More=%v RemainingCount=%d", res.More, res.RemainingCount, tc.more, tc.remaining)
			}
		})
	}
}

func testListFutureRevision(t *testing.T, s storage.Store) {
	mustCreate(t, s, "/k", "v")
	cur := currentRevision(t, s)
	for _, rev := range []int64{cur + 1, cur + 1000} {
		_, err := s.List(t.Context(), "/", storage.ListOptions{Revision: rev})
		wantErr(t, fmt.Sprintf("List at revision %d (current %d)", rev, cur), err, storage.ErrFutureRevision)
	}
}
