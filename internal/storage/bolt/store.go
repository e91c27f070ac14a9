// Package bolt is Skiff's embedded storage backend: storage.Store on a
// single bbolt file, fsync'd on every commit.
//
//	s, err := bolt.Open(filepath.Join(dataDir, "state.db"), bolt.WithAutoCompaction(bolt.AutoCompaction{Interval: 5 * time.Minute}))
//	defer s.Close()
//
// Writes from all goroutines go through one writer goroutine that commits
// whatever has queued up in a single transaction (group commit): a batch of
// N writes costs one fsync, so throughput grows with the number of
// concurrent writers while each write is still durable before it is
// acknowledged. Every write is recorded in a history bucket keyed by key
// and revision, which serves lists at past revisions and watch replay until
// Compact prunes it. Watchers are fed in-process; see docs/storage-watch.md.
package bolt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"

	"skiff.dev/skiff/internal/storage"
)

// ErrClosed is returned by every method called after Close.
var ErrClosed = errors.New("bolt: store closed")

var _ storage.Store = (*Store)(nil)

// Store implements storage.Store on bbolt. Create it with Open.
type Store struct {
	db  *bbolt.DB
	cfg config

	writes chan *writeOp  // to the writer goroutine
	done   chan struct{}  // closed by Close
	writer chan struct{}  // closed when the writer goroutine has exited
	bg     sync.WaitGroup // writer and auto-compaction goroutines

	hub     *hub
	watchWG sync.WaitGroup // watcher goroutines

	compactMu sync.Mutex // one compaction at a time
	closeOnce sync.Once
	closeErr  error
}

type config struct {
	watchBuffer    int
	maxBatch       int
	autoCompaction AutoCompaction
	logger         *slog.Logger
	openTimeout    time.Duration
	mmapSize       int
}

// Option configures Open.
type Option func(*config)

// WithWatchBuffer sets how many events a watcher may fall behind before it
// is closed as a slow consumer (default 8192).
func WithWatchBuffer(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.watchBuffer = n
		}
	}
}

// WithMaxBatch caps how many writes one transaction commits (default
// 1000). Larger batches amortize the fsync further but make each commit,
// and so each write in it, slower.
func WithMaxBatch(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxBatch = n
		}
	}
}

// AutoCompaction is a background compaction policy.
type AutoCompaction struct {
	// Interval between compactions; 0 disables auto compaction.
	Interval time.Duration
	// Retain, when positive, compacts to Retain revisions before the
	// current one at each tick. When 0, each tick compacts to the revision
	// the store had at the previous tick, so between one and two intervals
	// of history stay available: kube-apiserver's policy with its default
	// --etcd-compaction-interval of 5 minutes.
	Retain int64
}

// WithAutoCompaction enables background compaction.
func WithAutoCompaction(ac AutoCompaction) Option {
	return func(c *config) { c.autoCompaction = ac }
}

// WithLogger sets where background errors (auto compaction) are logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithOpenTimeout bounds the wait for the file lock held by another
// process (default 5s).
func WithOpenTimeout(d time.Duration) Option {
	return func(c *config) { c.openTimeout = d }
}

// Open opens or creates the store file at path. The file is locked: a
// second Open of the same path, in this or another process, waits for the
// lock up to the open timeout.
func Open(path string, opts ...Option) (*Store, error) {
	cfg := config{
		watchBuffer: 8192,
		maxBatch:    1000,
		logger:      slog.Default(),
		openTimeout: 5 * time.Second,
		// Address space only: a large initial mmap spares writers the
		// remap that would wait for every open read transaction.
		mmapSize: 1 << 30,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("bolt: create directory for %s: %w", path, err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:         cfg.openTimeout,
		InitialMmapSize: cfg.mmapSize,
		// The freelist is rebuilt from the file on open instead of being
		// written on every commit, as etcd does: less to sync per write.
		NoFreelistSync: true,
		FreelistType:   bbolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	var current int64
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketIndex, bucketHist, bucketLog} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if meta.Get(metaRev) == nil {
			// A store starts at revision 1, like etcd: 0 means "latest"
			// or "unconditional" in the contract.
			if err := meta.Put(metaRev, encodeRev(1)); err != nil {
				return err
			}
		}
		current, err = decodeRev(meta.Get(metaRev))
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("bolt: initialize %s: %w", path, err)
	}
	s := &Store{
		db:     db,
		cfg:    cfg,
		writes: make(chan *writeOp, cfg.maxBatch),
		done:   make(chan struct{}),
		writer: make(chan struct{}),
		hub:    newHub(current),
	}
	// Finish a physical compaction that a crash interrupted.
	if err := s.prune(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("bolt: resume compaction of %s: %w", path, err)
	}
	s.bg.Add(1)
	go s.runWriter()
	if cfg.autoCompaction.Interval > 0 {
		s.bg.Add(1)
		go s.runAutoCompaction(current)
	}
	return s, nil
}

// Close stops the writer, closes every watch channel and closes the file.
// Writes queued but not yet committed fail with ErrClosed. Close is
// idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		s.bg.Wait()
		s.compactMu.Lock() // wait for a Compact in progress
		defer s.compactMu.Unlock()
		s.hub.close()
		s.watchWG.Wait()
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

func (s *Store) closed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// view runs fn in a read transaction, failing fast after Close.
func (s *Store) view(fn func(tx *bbolt.Tx) error) error {
	if s.closed() {
		return ErrClosed
	}
	err := s.db.View(fn)
	if errors.Is(err, bbolt.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// revisions reads the current and compacted revisions in tx.
func revisions(tx *bbolt.Tx) (current, compacted int64, err error) {
	meta := tx.Bucket(bucketMeta)
	if current, err = decodeRev(meta.Get(metaRev)); err != nil {
		return 0, 0, err
	}
	if v := meta.Get(metaCompact); v != nil {
		if compacted, err = decodeRev(v); err != nil {
			return 0, 0, err
		}
	}
	return current, compacted, nil
}

// Revision implements storage.Store.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	var rev int64
	err := s.view(func(tx *bbolt.Tx) error {
		var err error
		rev, _, err = revisions(tx)
		return err
	})
	return rev, err
}

// CompactedRevision returns the revision of the last compaction (0 if the
// store was never compacted).
func (s *Store) CompactedRevision() (int64, error) {
	var rev int64
	err := s.view(func(tx *bbolt.Tx) error {
		var err error
		_, rev, err = revisions(tx)
		return err
	})
	return rev, err
}

// Get implements storage.Store.
func (s *Store) Get(ctx context.Context, key string) (storage.KeyValue, error) {
	var kv storage.KeyValue
	err := s.view(func(tx *bbolt.Tx) error {
		var err error
		kv, err = getLatest(tx, key)
		return err
	})
	return kv, err
}

// getLatest reads the live value of key, ErrNotFound if absent.
func getLatest(tx *bbolt.Tx, key string) (storage.KeyValue, error) {
	raw := tx.Bucket(bucketIndex).Get([]byte(key))
	if raw == nil {
		return storage.KeyValue{}, storage.ErrNotFound
	}
	e, err := decodeIndex(raw)
	if err != nil {
		return storage.KeyValue{}, err
	}
	return readVersion(tx.Bucket(bucketHist), key, e)
}

// readVersion reads the value of a live key's current version.
func readVersion(hist *bbolt.Bucket, key string, e indexEntry) (storage.KeyValue, error) {
	raw := hist.Get(histKey(key, e.modRev))
	if raw == nil {
		return storage.KeyValue{}, fmt.Errorf("%w: %q has no version at %d", errCorrupt, key, e.modRev)
	}
	v, err := decodeVersion(raw)
	if err != nil {
		return storage.KeyValue{}, err
	}
	return storage.KeyValue{Key: key, Value: v.value, CreateRevision: e.createRev, ModRevision: e.modRev}, nil
}

// List implements storage.Store. A list at the current revision (or 0)
// walks the index; a list at an older revision walks the history.
func (s *Store) List(ctx context.Context, prefix string, opts storage.ListOptions) (storage.ListResult, error) {
	if opts.Revision < 0 {
		return storage.ListResult{}, fmt.Errorf("bolt: list at negative revision %d", opts.Revision)
	}
	var res storage.ListResult
	err := s.view(func(tx *bbolt.Tx) error {
		current, compacted, err := revisions(tx)
		if err != nil {
			return err
		}
		rev := opts.Revision
		switch {
		case rev == 0 || rev == current:
			res, err = listLatest(tx, prefix, opts)
			res.Revision = current
			return err
		case rev > current:
			return fmt.Errorf("list at %d, current %d: %w", rev, current, storage.ErrFutureRevision)
		case rev < compacted:
			return fmt.Errorf("list at %d, compacted %d: %w", rev, compacted, storage.ErrCompacted)
		}
		res, err = listAt(tx, prefix, opts, rev)
		res.Revision = rev
		return err
	})
	return res, err
}

// listStart is where a list begins: the prefix or the start key,
// whichever is greater.
func listStart(prefix string, opts storage.ListOptions) string {
	if opts.StartKey > prefix {
		return opts.StartKey
	}
	return prefix
}

// pageFull reports whether a page with n items has reached the limit.
func pageFull(n int, limit int64) bool { return limit > 0 && int64(n) >= limit }

func listLatest(tx *bbolt.Tx, prefix string, opts storage.ListOptions) (storage.ListResult, error) {
	var res storage.ListResult
	hist := tx.Bucket(bucketHist)
	c := tx.Bucket(bucketIndex).Cursor()
	for k, v := c.Seek([]byte(listStart(prefix, opts))); k != nil && strings.HasPrefix(string(k), prefix); k, v = c.Next() {
		if pageFull(len(res.Items), opts.Limit) {
			res.RemainingCount++
			continue
		}
		e, err := decodeIndex(v)
		if err != nil {
			return res, err
		}
		kv, err := readVersion(hist, string(k), e)
		if err != nil {
			return res, err
		}
		res.Items = append(res.Items, kv)
	}
	res.More = res.RemainingCount > 0
	return res, nil
}

// listAt lists the keys that were live at rev by finding, for each key
// under the prefix, its last version at or before rev.
func listAt(tx *bbolt.Tx, prefix string, opts storage.ListOptions, rev int64) (storage.ListResult, error) {
	var res storage.ListResult
	c := tx.Bucket(bucketHist).Cursor()
	k, _ := c.Seek(histPrefix(listStart(prefix, opts)))
	for k != nil {
		key, _, err := parseHistKey(k)
		if err != nil {
			return res, err
		}
		if !strings.HasPrefix(key, prefix) {
			break
		}
		vk, vv := seekBefore(c, histKey(key, rev+1))
		if vk != nil {
			vkey, vrev, err := parseHistKey(vk)
			if err != nil {
				return res, err
			}
			if vkey == key && !isTombstone(vv) {
				if pageFull(len(res.Items), opts.Limit) {
					res.RemainingCount++
				} else {
					v, err := decodeVersion(vv)
					if err != nil {
						return res, err
					}
					res.Items = append(res.Items, storage.KeyValue{Key: key, Value: v.value, CreateRevision: v.createRev, ModRevision: vrev})
				}
			}
		}
		k, _ = c.Seek(histKeyAfter(key))
	}
	res.More = res.RemainingCount > 0
	return res, nil
}

// seekBefore positions c on the last entry whose key is below k.
func seekBefore(c *bbolt.Cursor, k []byte) ([]byte, []byte) {
	if found, _ := c.Seek(k); found == nil {
		return c.Last()
	}
	return c.Prev()
}
