package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"

	bbolt "go.etcd.io/bbolt"
)

// On-disk layout. All integers are big-endian so that byte order is
// numeric order.
//
//	meta:  "rev" → current revision, "compact" → compacted revision,
//	       "physical" → revision up to which history has been pruned
//	index: user key → createRevision(8) modRevision(8) of the live key
//	hist:  histKey(key, rev) → version record (one per write of the key)
//	log:   rev(8) → user key (one per revision, for watch replay)
//
// The index answers Get, CAS checks and latest lists without touching old
// versions; hist answers lists at past revisions and holds every value;
// log lets a watcher replay revisions in order.
var (
	bucketMeta  = []byte("meta")
	bucketIndex = []byte("index")
	bucketHist  = []byte("hist")
	bucketLog   = []byte("log")

	metaRev      = []byte("rev")
	metaCompact  = []byte("compact")
	metaPhysical = []byte("physical")
)

// errCorrupt marks data that does not decode: the file was damaged or
// written by something else.
var errCorrupt = errors.New("bolt: corrupt record")

// maxKeyLen bounds user keys so that a hist key (the escaped key, which
// escaping can double, plus 10 bytes) stays within bbolt's key limit. A key
// over it is rejected before it reaches a transaction, where it would fail
// every write of the batch.
const maxKeyLen = (bbolt.MaxKeySize - 10) / 2

// checkKey validates a user key.
func checkKey(key string) error {
	switch {
	case key == "":
		return errors.New("bolt: empty key")
	case len(key) > maxKeyLen:
		return fmt.Errorf("bolt: key of %d bytes exceeds %d", len(key), maxKeyLen)
	}
	return nil
}

func encodeRev(rev int64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, uint64(rev))
	return b
}

func decodeRev(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: revision of %d bytes", errCorrupt, len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

// Hist keys are escape(key) 0x00 0x00 rev(8). The escape maps 0x00 to
// 0x00 0xFF and leaves every other byte alone; that keeps byte order
// between keys, makes the terminator sort before any longer key with the
// same start ("a" < "a\x00" < "a/"), and makes escape(p) a prefix of
// escape(k) exactly when p is a prefix of k. So all versions of one key are
// adjacent, in revision order, and keys are in the same order as in index.

// appendEscaped appends the escaped form of s to dst.
func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		dst = append(dst, s[i])
		if s[i] == 0 {
			dst = append(dst, 0xFF)
		}
	}
	return dst
}

// histPrefix returns the hist key prefix shared by every key that has the
// user prefix p.
func histPrefix(p string) []byte {
	return appendEscaped(make([]byte, 0, len(p)+2), p)
}

// histKey returns the hist key of key's version at rev.
func histKey(key string, rev int64) []byte {
	b := appendEscaped(make([]byte, 0, len(key)+10), key)
	b = append(b, 0, 0)
	return binary.BigEndian.AppendUint64(b, uint64(rev))
}

// histKeyAfter returns a hist key that sorts after every version of key
// and before every version of any greater key.
func histKeyAfter(key string) []byte {
	b := appendEscaped(make([]byte, 0, len(key)+2), key)
	return append(b, 0, 1)
}

// parseHistKey splits a hist key into the user key and revision.
func parseHistKey(b []byte) (string, int64, error) {
	key := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != 0 {
			key = append(key, b[i])
			continue
		}
		if i+1 >= len(b) {
			break
		}
		switch b[i+1] {
		case 0xFF:
			key = append(key, 0)
			i++
		case 0:
			rest := b[i+2:]
			if len(rest) != 8 {
				return "", 0, fmt.Errorf("%w: hist key %q", errCorrupt, b)
			}
			return string(key), int64(binary.BigEndian.Uint64(rest)), nil
		default:
			return "", 0, fmt.Errorf("%w: hist key %q", errCorrupt, b)
		}
	}
	return "", 0, fmt.Errorf("%w: hist key %q", errCorrupt, b)
}

// version is one hist record: a key's value as of one revision, or its
// deletion (a tombstone, whose value is empty).
type version struct {
	tombstone bool
	createRev int64
	value     []byte
}

const flagTombstone = 1

// encodeVersion returns flags(1) createRevision(8) value.
func encodeVersion(v version) []byte {
	b := make([]byte, 9, 9+len(v.value))
	if v.tombstone {
		b[0] = flagTombstone
	}
	binary.BigEndian.PutUint64(b[1:], uint64(v.createRev))
	return append(b, v.value...)
}

// decodeVersion decodes a hist record. The value is copied out of b,
// which bbolt owns.
func decodeVersion(b []byte) (version, error) {
	if len(b) < 9 {
		return version{}, fmt.Errorf("%w: version of %d bytes", errCorrupt, len(b))
	}
	return version{
		tombstone: b[0]&flagTombstone != 0,
		createRev: int64(binary.BigEndian.Uint64(b[1:9])),
		value:     append([]byte{}, b[9:]...),
	}, nil
}

// isTombstone reads only the flag of a hist record.
func isTombstone(b []byte) bool { return len(b) > 0 && b[0]&flagTombstone != 0 }

// indexEntry is the index record of a live key.
type indexEntry struct{ createRev, modRev int64 }

func encodeIndex(e indexEntry) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, uint64(e.createRev))
	binary.BigEndian.PutUint64(b[8:], uint64(e.modRev))
	return b
}

func decodeIndex(b []byte) (indexEntry, error) {
	if len(b) != 16 {
		return indexEntry{}, fmt.Errorf("%w: index entry of %d bytes", errCorrupt, len(b))
	}
	return indexEntry{
		createRev: int64(binary.BigEndian.Uint64(b)),
		modRev:    int64(binary.BigEndian.Uint64(b[8:])),
	}, nil
}
