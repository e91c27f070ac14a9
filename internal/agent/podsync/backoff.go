package podsync

import "time"

// Upstream's container restart back-off: 10 s, doubling, capped at 5 min;
// forgotten once a container has run clean for twice the cap.
const (
	InitialBackoff = 10 * time.Second
	MaxBackoff     = 5 * time.Minute
)

// Backoff is an exponential back-off per key, with time passed in (the
// semantics of client-go's flowcontrol.Backoff without its clock, so the
// planner stays pure). It is not safe for concurrent use: each pod worker
// owns one.
type Backoff struct {
	Initial, Max time.Duration
	entries      map[string]backoffEntry
}

type backoffEntry struct {
	backoff    time.Duration
	lastUpdate time.Time
}

// NewBackoff returns a back-off that starts at initial and doubles up to
// max.
func NewBackoff(initial, max time.Duration) *Backoff {
	return &Backoff{Initial: initial, Max: max, entries: map[string]backoffEntry{}}
}

// expired: an entry not updated for twice the cap since eventTime starts
// over.
func (b *Backoff) expired(e backoffEntry, eventTime time.Time) bool {
	return eventTime.Sub(e.lastUpdate) > 2*b.Max
}

// InBackoffSince reports whether key is still backing off from a failure
// at eventTime.
func (b *Backoff) InBackoffSince(key string, eventTime, now time.Time) bool {
	e, ok := b.entries[key]
	if !ok || b.expired(e, eventTime) {
		return false
	}
	return now.Sub(eventTime) < e.backoff
}

// Next records a failure at eventTime: the first (or the first after
// expiry) waits Initial, each further one twice the last, up to Max.
func (b *Backoff) Next(key string, eventTime, now time.Time) {
	e, ok := b.entries[key]
	if !ok || b.expired(e, eventTime) {
		e.backoff = b.Initial
	} else {
		e.backoff = min(2*e.backoff, b.Max)
	}
	e.lastUpdate = now
	b.entries[key] = e
}

// Get is key's current back-off (0 if none).
func (b *Backoff) Get(key string) time.Duration { return b.entries[key].backoff }

// Forget drops every entry whose key has prefix (a removed container).
func (b *Backoff) Forget(key string) { delete(b.entries, key) }

// LastUpdate is when key's back-off was last recorded (zero if never).
func (b *Backoff) LastUpdate(key string) time.Time { return b.entries[key].lastUpdate }
