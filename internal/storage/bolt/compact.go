package bolt

import (
	"context"
	"errors"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"skiff.dev/skiff/internal/storage"
)

// pruneChunk is how many log entries one pruning transaction handles, so
// that a large compaction holds bbolt's write lock (and so delays the
// writer) only briefly at a time.
const pruneChunk = 2000

// Compact implements storage.Store. Compacting at or below the compacted
// revision is a no-op; beyond the current revision it is
// ErrFutureRevision.
//
// Compact first records the new compacted revision, so that reads below it
// fail from then on, then prunes the history in small transactions. The
// pruned history is what no read at or after the compacted revision needs:
// for every key, the versions before its last version at or below
// compacted-1, and that version too if it is a deletion. (Keeping the last
// version before the compacted revision lets the watch event at exactly the
// compacted revision carry its previous value.) The log entries below the
// compacted revision go as well. If the process dies midway, Open finishes
// the pruning.
func (s *Store) Compact(ctx context.Context, revision int64) error {
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	if s.closed() {
		return ErrClosed
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		current, compacted, err := revisions(tx)
		switch {
		case err != nil:
			return err
		case revision > current:
			return fmt.Errorf("compact at %d, current %d: %w", revision, current, storage.ErrFutureRevision)
		case revision <= compacted:
			return nil
		}
		return tx.Bucket(bucketMeta).Put(metaCompact, encodeRev(revision))
	})
	if err != nil {
		if errors.Is(err, bbolt.ErrDatabaseNotOpen) {
			return ErrClosed
		}
		return fmt.Errorf("bolt: compact: %w", err)
	}
	return s.prune(ctx)
}

// prune removes history up to the compacted revision, one chunk per
// transaction, until it has caught up.
func (s *Store) prune(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if s.closed() {
			return ErrClosed
		}
		var finished bool
		err := s.db.Update(func(tx *bbolt.Tx) error {
			var err error
			finished, err = pruneChunkTx(tx)
			return err
		})
		if err != nil {
			return fmt.Errorf("bolt: prune history: %w", err)
		}
		if finished {
			return nil
		}
	}
}

// pruneChunkTx prunes up to pruneChunk log entries and reports whether
// pruning has reached the compacted revision.
func pruneChunkTx(tx *bbolt.Tx) (bool, error) {
	meta := tx.Bucket(bucketMeta)
	_, compacted, err := revisions(tx)
	if err != nil {
		return false, err
	}
	var physical int64
	if v := meta.Get(metaPhysical); v != nil {
		if physical, err = decodeRev(v); err != nil {
			return false, err
		}
	}
	horizon := compacted - 1 // versions needed by reads at >= compacted
	if physical >= horizon {
		return true, nil
	}

	logBucket := tx.Bucket(bucketLog)
	var revs [][]byte
	keys := map[string]struct{}{}
	c := logBucket.Cursor()
	done := true
	for k, v := c.Seek(encodeRev(physical + 1)); k != nil; k, v = c.Next() {
		rev, err := decodeRev(k)
		if err != nil {
			return false, err
		}
		if rev > horizon {
			break
		}
		if len(revs) == pruneChunk {
			done = false
			break
		}
		revs = append(revs, append([]byte{}, k...))
		keys[string(v)] = struct{}{}
		physical = rev
	}
	if done {
		physical = horizon
	}

	hist := tx.Bucket(bucketHist)
	for key := range keys {
		if err := pruneKey(hist, key, horizon); err != nil {
			return false, err
		}
	}
	for _, k := range revs {
		if err := logBucket.Delete(k); err != nil {
			return false, err
		}
	}
	if err := meta.Put(metaPhysical, encodeRev(physical)); err != nil {
		return false, err
	}
	return done, nil
}

// pruneKey deletes the versions of key that no read at or after horizon+1
// needs: all before its last version at or below horizon, and that one too
// if it is a deletion.
func pruneKey(hist *bbolt.Bucket, key string, horizon int64) error {
	c := hist.Cursor()
	k, v := seekBefore(c, histKey(key, horizon+1))
	if k == nil {
		return nil
	}
	lastKey, lastRev, err := parseHistKey(k)
	if err != nil || lastKey != key {
		return err // nothing at or below horizon: nothing to prune
	}
	// Collect first: deleting under a bbolt cursor can skip entries.
	var doomed [][]byte
	if isTombstone(v) {
		doomed = append(doomed, append([]byte{}, k...))
	}
	for k, _ := c.Seek(histKey(key, 0)); k != nil; k, _ = c.Next() {
		_, rev, err := parseHistKey(k)
		if err != nil {
			return err
		}
		if rev >= lastRev {
			break
		}
		doomed = append(doomed, append([]byte{}, k...))
	}
	for _, k := range doomed {
		if err := hist.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// runAutoCompaction compacts on every tick as AutoCompaction describes.
func (s *Store) runAutoCompaction(startRev int64) {
	defer s.bg.Done()
	ac := s.cfg.autoCompaction
	ticker := time.NewTicker(ac.Interval)
	defer ticker.Stop()
	previous := startRev
	for {
		select {
		case <-s.done:
			return
		case <-ticker.C:
		}
		current, err := s.Revision(context.Background())
		if err != nil {
			s.cfg.logger.Error("auto compaction: read revision", "err", err)
			continue
		}
		target := previous
		if ac.Retain > 0 {
			target = current - ac.Retain
		}
		previous = current
		if target < 1 {
			continue
		}
		// Close interrupts the pruning between chunks.
		err = s.Compact(context.Background(), target)
		if err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, context.Canceled) {
			s.cfg.logger.Error("auto compaction", "revision", target, "err", err)
		}
	}
}
