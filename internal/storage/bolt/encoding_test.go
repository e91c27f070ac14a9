package bolt

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestHistKeyRoundTrip(t *testing.T) {
	tests := []struct {
		key string
		rev int64
	}{
		{"/registry/pods/default/web-0", 42},
		{"a", 1},
		{"a\x00", 7},
		{"\x00\x00", 1 << 40},
		{"a\xff\x00b", 3},
		{"x\x00\xff", 9},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			key, rev, err := parseHistKey(histKey(tc.key, tc.rev))
			if err != nil || key != tc.key || rev != tc.rev {
				t.Fatalf("parseHistKey(histKey(%q, %d)) = %q, %d, %v", tc.key, tc.rev, key, rev, err)
			}
		})
	}
}

// TestHistKeyOrder checks the property the history scan relies on: hist
// keys sort by user key (in byte order) and then by revision, and
// histKeyAfter(k) falls between k's versions and the next key's.
func TestHistKeyOrder(t *testing.T) {
	keys := []string{"a", "a\x00", "a\x00\x00", "a\x00b", "a\x01", "a/", "a/b", "ab", "a\xff", "b", "\x00", "\xff\xff"}
	slices.Sort(keys)
	var hist [][]byte
	for _, k := range keys {
		for _, rev := range []int64{1, 255, 256, 1 << 33} {
			hist = append(hist, histKey(k, rev))
		}
	}
	if !slices.IsSortedFunc(hist, bytes.Compare) {
		t.Fatalf("hist keys are not in (key, revision) order")
	}
	for i, k := range keys {
		after := histKeyAfter(k)
		if bytes.Compare(after, histKey(k, 1<<62)) <= 0 {
			t.Errorf("histKeyAfter(%q) does not sort after its versions", k)
		}
		if i+1 < len(keys) && bytes.Compare(after, histKey(keys[i+1], 0)) >= 0 {
			t.Errorf("histKeyAfter(%q) sorts after the next key %q", k, keys[i+1])
		}
	}
	// histPrefix(p) is a prefix of histKey(k) exactly when p is a prefix of k.
	for _, p := range append(keys, "") {
		for _, k := range keys {
			got := bytes.HasPrefix(histKey(k, 5), histPrefix(p))
			if want := strings.HasPrefix(k, p); got != want {
				t.Errorf("histPrefix(%q) prefix of histKey(%q) = %v, want %v", p, k, got, want)
			}
		}
	}
}

func TestParseHistKeyCorrupt(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("abc"), []byte("a\x00"), []byte("a\x00\x01xxxxxxxx"), []byte("a\x00\x00short")} {
		if _, _, err := parseHistKey(b); !errors.Is(err, errCorrupt) {
			t.Errorf("parseHistKey(%q) error = %v, want errCorrupt", b, err)
		}
	}
}

func TestVersionRoundTrip(t *testing.T) {
	for _, v := range []version{
		{createRev: 5, value: []byte("hello")},
		{createRev: 1 << 40, value: nil},
		{tombstone: true, createRev: 3},
	} {
		got, err := decodeVersion(encodeVersion(v))
		if err != nil || got.tombstone != v.tombstone || got.createRev != v.createRev || !bytes.Equal(got.value, v.value) {
			t.Errorf("round trip of %+v = %+v, %v", v, got, err)
		}
		if isTombstone(encodeVersion(v)) != v.tombstone {
			t.Errorf("isTombstone of %+v wrong", v)
		}
	}
	if _, err := decodeVersion([]byte{1, 2}); !errors.Is(err, errCorrupt) {
		t.Errorf("short version decoded without errCorrupt: %v", err)
	}
	if _, err := decodeIndex([]byte{1}); !errors.Is(err, errCorrupt) {
		t.Errorf("short index entry decoded without errCorrupt: %v", err)
	}
}
