// Package storage defines the revisioned key-value contract every Skiff
// backend implements (bbolt embedded, etcd v3 for HA) and the errors it
// returns. The API server keeps Kubernetes objects under keys such as
// "/registry/pods/default/web-0"; a key's ModRevision is the object's
// resourceVersion, exactly as in upstream Kubernetes on etcd.
//
// Revisions are a single, strictly increasing counter per store: every
// successful Create, Update or Delete advances it by one and the change is
// stamped with the new value. A store starts at revision 1 or later (never 0,
// which means "latest" or "unconditional" in the calls below).
package storage

import (
	"context"
	"errors"
)

// Errors returned by Store implementations. Callers test them with errors.Is.
var (
	// ErrKeyExists: Create found the key already present.
	ErrKeyExists = errors.New("storage: key exists")
	// ErrNotFound: the key is absent (Get, Update, Delete).
	ErrNotFound = errors.New("storage: key not found")
	// ErrConflict: Update or Delete were given an expected revision that
	// differs from the key's current ModRevision.
	ErrConflict = errors.New("storage: revision conflict")
	// ErrCompacted: the requested revision is older than the compacted
	// revision (List at a revision, Watch from a revision).
	ErrCompacted = errors.New("storage: revision compacted")
	// ErrFutureRevision: a List or Watch asked for a revision the store
	// has not reached yet.
	ErrFutureRevision = errors.New("storage: revision in the future")
)

// KeyValue is one stored value with its revisions. Value is owned by the
// caller once returned; implementations never retain or mutate it.
type KeyValue struct {
	Key   string
	Value []byte
	// CreateRevision is the revision at which the key was created (in its
	// current incarnation: deleting and re-creating gives a new one).
	CreateRevision int64
	// ModRevision is the revision of the last change to the key.
	ModRevision int64
}

// EventType says what happened to a key.
type EventType int

const (
	// EventCreate: the key did not exist before this revision.
	EventCreate EventType = iota
	// EventUpdate: an existing key got a new value.
	EventUpdate
	// EventDelete: the key was removed. KV.Value holds the last value
	// before deletion and KV.ModRevision is the deletion's revision.
	EventDelete
)

func (t EventType) String() string {
	switch t {
	case EventCreate:
		return "CREATE"
	case EventUpdate:
		return "UPDATE"
	case EventDelete:
		return "DELETE"
	}
	return "UNKNOWN"
}

// Event is one change seen by a watcher. A backend may hand the same
// Event (and Value slices) to every watcher whose prefix matches, so
// consumers must treat events as read-only.
type Event struct {
	Type EventType
	KV   KeyValue
	// PrevValue is the value before an update or delete (nil for create).
	// It may also be nil for the event at exactly the compacted revision,
	// whose previous version compaction may have removed (etcd does).
	PrevValue []byte
}

// StaleChecker is optional on a Store that transforms values on their way
// in (encryption at rest): Stale reports whether key's stored value was
// written under an older configuration, so that an update that changes
// nothing still rewrites it — upstream's GuaranteedUpdate does the same
// for values read with an old key, which is how `secrets-encrypt rotate`
// moves every Secret to the new key.
type StaleChecker interface {
	Stale(ctx context.Context, key string) (bool, error)
}

// ListOptions select a page of a prefix.
type ListOptions struct {
	// Revision to read at; 0 reads the latest. A revision older than the
	// compacted one gives ErrCompacted, a future one ErrFutureRevision.
	Revision int64
	// StartKey, when set, begins the page at this key (inclusive). Used
	// for continue tokens. It must have the listed prefix.
	StartKey string
	// Limit caps the number of items; 0 means no limit.
	Limit int64
}

// ListResult is one page of a List.
type ListResult struct {
	// Items in ascending key order.
	Items []KeyValue
	// Revision the page was read at (the store's current revision when
	// ListOptions.Revision was 0).
	Revision int64
	// More is true when items beyond the limit remain; the next page
	// starts at the key after the last item.
	More bool
	// Count is the number of keys under the prefix (at Revision) that
	// were not returned in this page, as far as the backend knows it.
	RemainingCount int64
}

// Store is the revisioned key-value contract. All methods are safe for
// concurrent use. A write method that returns nil error has made its change
// durable: it survives a crash or kill -9 of the process.
type Store interface {
	// Create stores value under key if the key is absent and returns the
	// new revision. ErrKeyExists if present.
	Create(ctx context.Context, key string, value []byte) (int64, error)

	// Update replaces the value of an existing key if its ModRevision
	// equals expectedRevision (0: any) and returns the new revision.
	// ErrNotFound if absent, ErrConflict on a revision mismatch.
	Update(ctx context.Context, key string, value []byte, expectedRevision int64) (int64, error)

	// Delete removes key if its ModRevision equals expectedRevision
	// (0: any) and returns the deleted KeyValue with ModRevision set to
	// the deletion's revision. ErrNotFound or ErrConflict as for Update.
	Delete(ctx context.Context, key string, expectedRevision int64) (KeyValue, error)

	// Get returns the current value of key, ErrNotFound if absent.
	Get(ctx context.Context, key string) (KeyValue, error)

	// List returns keys with the given prefix in ascending key order.
	// The prefix is a plain byte prefix: "/a/b" matches "/a/bc"; pass
	// "/a/b/" to get only the children of "/a/b". All pages read at one
	// Revision see the same snapshot, whatever was written since.
	List(ctx context.Context, prefix string, opts ListOptions) (ListResult, error)

	// Watch streams, in revision order, every change to keys with the
	// given prefix whose revision is greater than fromRevision (0: from
	// now on). Changes between fromRevision and now are replayed first.
	// ErrCompacted if fromRevision+1 is older than the compacted revision,
	// ErrFutureRevision if fromRevision is beyond the current revision.
	//
	// The channel is closed when ctx ends, when the store closes, or when
	// the watcher falls too far behind (a slow consumer); a consumer that
	// sees the channel close without its ctx ending must re-list or
	// re-watch from the last revision it saw.
	Watch(ctx context.Context, prefix string, fromRevision int64) (<-chan Event, error)

	// Compact discards history older than revision: afterwards List at a
	// revision below it and Watch from below it give ErrCompacted. The
	// latest value of every key is kept. Compacting at or below the
	// already compacted revision is a no-op (nil); beyond the current
	// revision it is ErrFutureRevision. On etcd it compacts the whole
	// cluster, not only the store's key prefix.
	Compact(ctx context.Context, revision int64) error

	// Revision returns the store's current revision.
	Revision(ctx context.Context) (int64, error)

	// Close releases the store. Watch channels are closed. Close may be
	// called more than once; calls after it return errors.
	Close() error
}
