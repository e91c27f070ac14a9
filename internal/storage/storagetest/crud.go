package storagetest

import (
	"context"
	"testing"

	"skiff.dev/skiff/internal/storage"
)

func crudTests() []conformanceTest {
	return []conformanceTest{
		{"CreateGet", testCreateGet},
		{"CreateExisting", testCreateExisting},
		{"Update", testUpdate},
		{"UpdateErrors", testUpdateErrors},
		{"Delete", testDelete},
		{"DeleteErrors", testDeleteErrors},
		{"Recreate", testRecreate},
		{"RevisionPerWrite", testRevisionPerWrite},
		{"GetMissing", testGetMissing},
		{"ValueOwnership", testValueOwnership},
		{"EmptyValue", testEmptyValue},
		{"CloseTwice", testCloseTwice},
	}
}

func testCreateGet(t *testing.T, s storage.Store) {
	start := currentRevision(t, s)
	if start < 1 {
		t.Fatalf("Revision = %d, want >= 1", start)
	}
	rev := mustCreate(t, s, "/registry/pods/default/a", "one")
	if rev != start+1 {
		t.Fatalf("Create revision = %d, want %d", rev, start+1)
	}
	checkKV(t, "Get", mustGet(t, s, "/registry/pods/default/a"), "/registry/pods/default/a", "one", rev, rev)
	if got := currentRevision(t, s); got != rev {
		t.Fatalf("Revision after create = %d, want %d", got, rev)
	}
}

func testCreateExisting(t *testing.T, s storage.Store) {
	rev := mustCreate(t, s, "/k", "first")
	_, err := s.Create(t.Context(), "/k", []byte("second"))
	wantErr(t, "second Create", err, storage.ErrKeyExists)
	if got := currentRevision(t, s); got != rev {
		t.Fatalf("a failed Create moved the revision from %d to %d", rev, got)
	}
	checkKV(t, "Get after failed create", mustGet(t, s, "/k"), "/k", "first", rev, rev)
}

func testUpdate(t *testing.T, s storage.Store) {
	created := mustCreate(t, s, "/k", "v1")
	r2 := mustUpdate(t, s, "/k", "v2", created)
	if r2 != created+1 {
		t.Fatalf("Update revision = %d, want %d", r2, created+1)
	}
	checkKV(t, "Get after update", mustGet(t, s, "/k"), "/k", "v2", created, r2)

	// expectedRevision 0 is unconditional.
	r3 := mustUpdate(t, s, "/k", "v3", 0)
	if r3 != r2+1 {
		t.Fatalf("unconditional Update revision = %d, want %d", r3, r2+1)
	}
	checkKV(t, "Get after unconditional update", mustGet(t, s, "/k"), "/k", "v3", created, r3)
}

func testUpdateErrors(t *testing.T, s storage.Store) {
	created := mustCreate(t, s, "/k", "v1")
	mustUpdate(t, s, "/k", "v2", created)
	before := currentRevision(t, s)

	tests := []struct {
		name     string
		key      string
		expected int64
		want     error
	}{
		{"stale revision", "/k", created, storage.ErrConflict},
		{"future revision", "/k", before + 100, storage.ErrConflict},
		{"absent key, unconditional", "/missing", 0, storage.ErrNotFound},
		{"absent key, with revision", "/missing", created, storage.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Update(t.Context(), tc.key, []byte("x"), tc.expected)
			wantErr(t, "Update", err, tc.want)
			if got := currentRevision(t, s); got != before {
				t.Fatalf("a failed Update moved the revision from %d to %d", before, got)
			}
		})
	}
	checkKV(t, "Get after failed updates", mustGet(t, s, "/k"), "/k", "v2", created, before)
	if _, err := s.Get(t.Context(), "/missing"); err == nil {
		t.Fatalf("a failed Update created /missing")
	}
}

func testDelete(t *testing.T, s storage.Store) {
	created := mustCreate(t, s, "/k", "v1")
	updated := mustUpdate(t, s, "/k", "last", created)
	kv := mustDelete(t, s, "/k", updated)
	checkKV(t, "deleted KeyValue", kv, "/k", "last", created, updated+1)
	if got := currentRevision(t, s); got != updated+1 {
		t.Fatalf("Revision after delete = %d, want %d", got, updated+1)
	}
	_, err := s.Get(t.Context(), "/k")
	wantErr(t, "Get after delete", err, storage.ErrNotFound)

	// expectedRevision 0 is unconditional.
	other := mustCreate(t, s, "/other", "o")
	kv = mustDelete(t, s, "/other", 0)
	checkKV(t, "unconditional delete", kv, "/other", "o", other, other+1)
}

func testDeleteErrors(t *testing.T, s storage.Store) {
	created := mustCreate(t, s, "/k", "v1")
	updated := mustUpdate(t, s, "/k", "v2", created)
	tests := []struct {
		name     string
		key      string
		expected int64
		want     error
	}{
		{"stale revision", "/k", created, storage.ErrConflict},
		{"absent key, unconditional", "/missing", 0, storage.ErrNotFound},
		{"absent key, with revision", "/missing", updated, storage.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Delete(t.Context(), tc.key, tc.expected)
			wantErr(t, "Delete", err, tc.want)
			if got := currentRevision(t, s); got != updated {
				t.Fatalf("a failed Delete moved the revision from %d to %d", updated, got)
			}
		})
	}
	checkKV(t, "Get after failed deletes", mustGet(t, s, "/k"), "/k", "v2", created, updated)
}

func testRecreate(t *testing.T, s storage.Store) {
	first := mustCreate(t, s, "/k", "old")
	mustDelete(t, s, "/k", first)
	second := mustCreate(t, s, "/k", "new")
	if second != first+2 {
		t.Fatalf("re-create revision = %d, want %d", second, first+2)
	}
	checkKV(t, "Get after re-create", mustGet(t, s, "/k"), "/k", "new", second, second)
	// The old incarnation's revision must not satisfy a CAS on the new one.
	_, err := s.Update(t.Context(), "/k", []byte("x"), first)
	wantErr(t, "Update with the old incarnation's revision", err, storage.ErrConflict)
}

// testRevisionPerWrite mixes every kind of write and checks that each
// advances the revision by exactly one.
func testRevisionPerWrite(t *testing.T, s storage.Store) {
	rev := currentRevision(t, s)
	step := func(what string, got int64) {
		t.Helper()
		if got != rev+1 {
			t.Fatalf("%s: revision %d, want %d", what, got, rev+1)
		}
		rev = got
	}
	for i := range 5 {
		key := "/rev/" + string(rune('a'+i))
		step("create "+key, mustCreate(t, s, key, "v"))
		step("update "+key, mustUpdate(t, s, key, "w", rev))
	}
	step("delete", mustDelete(t, s, "/rev/a", 0).ModRevision)
	step("create again", mustCreate(t, s, "/rev/a", "again"))
	if got := currentRevision(t, s); got != rev {
		t.Fatalf("Revision = %d, want %d", got, rev)
	}
}

func testGetMissing(t *testing.T, s storage.Store) {
	mustCreate(t, s, "/a/b", "v")
	for _, key := range []string{"/a", "/a/", "/a/bc", "/a/b/", "/zzz"} {
		_, err := s.Get(t.Context(), key)
		wantErr(t, "Get("+key+")", err, storage.ErrNotFound)
	}
}

// testValueOwnership checks that the store neither keeps the caller's
// slice nor hands out memory it will reuse.
func testValueOwnership(t *testing.T, s storage.Store) {
	in := []byte("original")
	if _, err := s.Create(t.Context(), "/k", in); err != nil {
		t.Fatalf("Create: %v", err)
	}
	copy(in, "XXXXXXXX")
	got := mustGet(t, s, "/k")
	if string(got.Value) != "original" {
		t.Fatalf("store kept the caller's slice: Get = %q", got.Value)
	}
	copy(got.Value, "YYYYYYYY")
	if again := mustGet(t, s, "/k"); string(again.Value) != "original" {
		t.Fatalf("mutating a returned value changed the store: Get = %q", again.Value)
	}
	list := mustList(t, s, "/", storage.ListOptions{})
	copy(list.Items[0].Value, "ZZZZZZZZ")
	if again := mustGet(t, s, "/k"); string(again.Value) != "original" {
		t.Fatalf("mutating a listed value changed the store: Get = %q", again.Value)
	}

	// The value Delete returns is the caller's too, not the watchers'.
	ch, err := s.Watch(t.Context(), "/", 0)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	deleted := mustDelete(t, s, "/k", 0)
	copy(deleted.Value, "WWWWWWWW")
	if ev := recvEvent(t, ch); string(ev.KV.Value) != "original" || string(ev.PrevValue) != "original" {
		t.Fatalf("mutating Delete's result changed the watch event: %s", describeEvent(ev))
	}
}

func testEmptyValue(t *testing.T, s storage.Store) {
	rev := mustCreate(t, s, "/empty", "")
	checkKV(t, "Get", mustGet(t, s, "/empty"), "/empty", "", rev, rev)
	res := mustList(t, s, "/", storage.ListOptions{})
	if len(res.Items) != 1 || res.Items[0].Key != "/empty" || len(res.Items[0].Value) != 0 {
		t.Fatalf("List = %+v, want one empty /empty", res.Items)
	}
}

func testCloseTwice(t *testing.T, s storage.Store) {
	mustCreate(t, s, "/k", "v")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_ = s.Close() // must not panic; the error, if any, is the backend's
	ctx := context.Background()
	if _, err := s.Create(ctx, "/k2", []byte("v")); err == nil {
		t.Errorf("Create after Close succeeded")
	}
	if _, err := s.Get(ctx, "/k"); err == nil {
		t.Errorf("Get after Close succeeded")
	}
	if _, err := s.Watch(ctx, "/", 0); err == nil {
		t.Errorf("Watch after Close succeeded")
	}
}
