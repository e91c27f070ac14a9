package reconcile

import (
	"sync"
	"time"
)

// ExpectationsTimeout is how long expectations hold a controller back
// when the watch events it waits for never come (a dropped event, a
// failed write it could not account for): upstream's five minutes.
const ExpectationsTimeout = 5 * time.Minute

// Expectations records, per controller key, how many creations and which
// deletions a controller has asked for and not yet seen in its informer:
// upstream's UIDTrackingControllerExpectations. While some are
// outstanding the controller must not compute a new diff from its cache
// (it would create the same pods twice); it may still update status.
//
// The pattern: before issuing N creates, ExpectCreations(key, N); the
// informer's add handler calls CreationObserved(key); a create that
// failed calls CreationObserved too, since no event will come. Deletions
// are tracked by the deleted objects' keys so that a delete observed both
// as an update (deletionTimestamp set) and as a delete counts once.
//
// Safe for concurrent use.
type Expectations struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[string]*expectation
}

type expectation struct {
	adds      int64
	dels      map[string]struct{}
	timestamp time.Time
}

// NewExpectations returns an empty set of expectations on the real clock.
func NewExpectations() *Expectations {
	return &Expectations{now: time.Now, m: map[string]*expectation{}}
}

// Satisfied reports whether the controller for key may act: nothing is
// outstanding, nothing was ever recorded, or the record is older than
// ExpectationsTimeout.
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		return true
	}
	if x.adds <= 0 && len(x.dels) == 0 {
		return true
	}
	return e.now().Sub(x.timestamp) > ExpectationsTimeout
}

// ExpectCreations replaces key's expectations with n creations.
func (e *Expectations) ExpectCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[key] = &expectation{adds: int64(n), timestamp: e.now()}
}

// ExpectDeletions replaces key's expectations with the deletion of the
// objects named by objKeys.
func (e *Expectations) ExpectDeletions(key string, objKeys []string) {
	dels := make(map[string]struct{}, len(objKeys))
	for _, k := range objKeys {
		dels[k] = struct{}{}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[key] = &expectation{dels: dels, timestamp: e.now()}
}

// CreationObserved lowers key's outstanding creations by one.
func (e *Expectations) CreationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		x.adds--
	}
}

// DeletionObserved records that the object objKey is gone (or going) if
// key was waiting for it.
func (e *Expectations) DeletionObserved(key, objKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		delete(x.dels, objKey)
	}
}

// Delete forgets key's expectations (its controller object is gone).
func (e *Expectations) Delete(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}

// Pending returns key's outstanding creations and deletions.
func (e *Expectations) Pending(key string) (adds int64, dels int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		return x.adds, len(x.dels)
	}
	return 0, 0
}
