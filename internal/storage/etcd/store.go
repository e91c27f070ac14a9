// Package etcd implements storage.Store on an etcd v3 cluster, for users
// who need more than one API server. etcd already is a revisioned
// key-value store, so each method is one etcd request:
//
//	Create       Txn(CreateRevision(key) == 0).Then(Put)
//	Update       Txn(ModRevision(key) == expected).Then(Put).Else(Get)
//	Delete       Txn(ModRevision(key) == expected).Then(Delete+PrevKV).Else(Get)
//	Get, List    Range, with WithRev / WithLimit / WithRange
//	Watch        Watch with WithRev(from+1) and WithPrevKV
//	Compact      Compact
//
// Store revisions are etcd's revisions, shared by every key of the
// cluster; all keys are stored under Config.Prefix so that several
// clusters, or tests, can share one etcd.
package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"skiff.dev/skiff/internal/storage"
)

// ErrClosed is returned by every method called after Close.
var ErrClosed = errors.New("etcd: store closed")

var _ storage.Store = (*Store)(nil)

// Config says how to reach etcd.
type Config struct {
	// Endpoints are the client URLs of the etcd members.
	Endpoints []string
	// TLS, when set, is used for client connections (mutual TLS with a
	// client certificate, as kube-apiserver's --etcd-certfile does).
	TLS *tls.Config
	// Prefix is prepended to every key, e.g. "/skiff"; keys are returned
	// without it. Empty means the keys are used as they are.
	Prefix string
	// DialTimeout bounds the first connection (default 5s).
	DialTimeout time.Duration
	// WatchBuffer is how many events a watcher may fall behind before it
	// is closed as a slow consumer (default 8192).
	WatchBuffer int
}

// Store implements storage.Store on etcd. Create it with New.
type Store struct {
	client      *clientv3.Client
	prefix      string
	watchBuffer int

	done      chan struct{}
	mu        sync.Mutex // guards closed and watchers.Add against Close
	closed    bool
	watchers  sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// New connects to etcd. It does not wait for the cluster to answer: the
// first request does.
func New(cfg Config) (*Store, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("etcd: no endpoints")
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.WatchBuffer <= 0 {
		cfg.WatchBuffer = 8192
	}
	client, err := clientv3.New(clientv3.Config{
		Endpoints:   cfg.Endpoints,
		TLS:         cfg.TLS,
		DialTimeout: cfg.DialTimeout,
		// Errors come back to the caller; the client's own retry
		// chatter is not worth a second log format.
		Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd: connect to %v: %w", cfg.Endpoints, err)
	}
	return &Store{client: client, prefix: cfg.Prefix, watchBuffer: cfg.WatchBuffer, done: make(chan struct{})}, nil
}

// Close stops the watchers and closes the client. It is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.done)
		s.watchers.Wait()
		s.closeErr = s.client.Close()
	})
	return s.closeErr
}

// isClosed is checked first by every method: the etcd client, once
// closed, can take its dial timeout to fail a call.
func (s *Store) isClosed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// key returns the etcd key of a store key.
func (s *Store) key(k string) string { return s.prefix + k }

// rangeOf returns the etcd range [start, end) of the store keys with the
// given prefix, starting at startKey when that is greater.
func (s *Store) rangeOf(prefix, startKey string) (start, end string) {
	start = prefix
	if startKey > prefix {
		start = startKey
	}
	full := s.key(prefix)
	start = s.key(start)
	if full == "" {
		// The whole keyspace: etcd spells "every key" as [\x00, \x00).
		if start == "" {
			start = "\x00"
		}
		return start, "\x00"
	}
	return start, clientv3.GetPrefixRangeEnd(full)
}

// mapErr turns etcd's revision errors into the contract's.
func mapErr(op string, err error) error {
	switch {
	case errors.Is(err, rpctypes.ErrCompacted):
		return fmt.Errorf("etcd: %s: %w", op, storage.ErrCompacted)
	case errors.Is(err, rpctypes.ErrFutureRev):
		return fmt.Errorf("etcd: %s: %w", op, storage.ErrFutureRevision)
	}
	return fmt.Errorf("etcd: %s: %w", op, err)
}

// keyExists is a comparison that holds when the key is present.
func keyExists(key string) clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(key), ">", 0)
}

// casCondition is the Txn condition of Update and Delete.
func casCondition(key string, expected int64) clientv3.Cmp {
	if expected == 0 {
		return keyExists(key)
	}
	return clientv3.Compare(clientv3.ModRevision(key), "=", expected)
}

// casFailure explains a failed Update or Delete from its Else(Get).
func casFailure(resp *clientv3.TxnResponse) error {
	if len(resp.Responses) == 1 {
		if r := resp.Responses[0].GetResponseRange(); r != nil && len(r.Kvs) == 0 {
			return storage.ErrNotFound
		}
	}
	return storage.ErrConflict
}

// Create implements storage.Store.
func (s *Store) Create(ctx context.Context, key string, value []byte) (int64, error) {
	if s.isClosed() {
		return 0, ErrClosed
	}
	k := s.key(key)
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, string(value))).
		Commit()
	if err != nil {
		return 0, mapErr("create "+key, err)
	}
	if !resp.Succeeded {
		return 0, storage.ErrKeyExists
	}
	return resp.Header.Revision, nil
}

// Update implements storage.Store.
func (s *Store) Update(ctx context.Context, key string, value []byte, expectedRevision int64) (int64, error) {
	if expectedRevision < 0 {
		return 0, fmt.Errorf("etcd: update %s: negative expected revision %d", key, expectedRevision)
	}
	if s.isClosed() {
		return 0, ErrClosed
	}
	k := s.key(key)
	resp, err := s.client.Txn(ctx).
		If(casCondition(k, expectedRevision)).
		Then(clientv3.OpPut(k, string(value))).
		Else(clientv3.OpGet(k, clientv3.WithKeysOnly())).
		Commit()
	if err != nil {
		return 0, mapErr("update "+key, err)
	}
	if !resp.Succeeded {
		return 0, casFailure(resp)
	}
	return resp.Header.Revision, nil
}

// Delete implements storage.Store.
func (s *Store) Delete(ctx context.Context, key string, expectedRevision int64) (storage.KeyValue, error) {
	if expectedRevision < 0 {
		return storage.KeyValue{}, fmt.Errorf("etcd: delete %s: negative expected revision %d", key, expectedRevision)
	}
	if s.isClosed() {
		return storage.KeyValue{}, ErrClosed
	}
	k := s.key(key)
	resp, err := s.client.Txn(ctx).
		If(casCondition(k, expectedRevision)).
		Then(clientv3.OpDelete(k, clientv3.WithPrevKV())).
		Else(clientv3.OpGet(k, clientv3.WithKeysOnly())).
		Commit()
	if err != nil {
		return storage.KeyValue{}, mapErr("delete "+key, err)
	}
	if !resp.Succeeded {
		return storage.KeyValue{}, casFailure(resp)
	}
	var del *etcdserverpb.DeleteRangeResponse
	if len(resp.Responses) == 1 {
		del = resp.Responses[0].GetResponseDeleteRange()
	}
	if del == nil || len(del.PrevKvs) != 1 {
		return storage.KeyValue{}, fmt.Errorf("etcd: delete %s: response without the deleted value", key)
	}
	prev := del.PrevKvs[0]
	return storage.KeyValue{Key: key, Value: prev.Value, CreateRevision: prev.CreateRevision, ModRevision: resp.Header.Revision}, nil
}

// Get implements storage.Store.
func (s *Store) Get(ctx context.Context, key string) (storage.KeyValue, error) {
	if s.isClosed() {
		return storage.KeyValue{}, ErrClosed
	}
	resp, err := s.client.Get(ctx, s.key(key))
	if err != nil {
		return storage.KeyValue{}, mapErr("get "+key, err)
	}
	if len(resp.Kvs) == 0 {
		return storage.KeyValue{}, storage.ErrNotFound
	}
	kv := resp.Kvs[0]
	return storage.KeyValue{Key: key, Value: kv.Value, CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision}, nil
}

// List implements storage.Store.
func (s *Store) List(ctx context.Context, prefix string, opts storage.ListOptions) (storage.ListResult, error) {
	if opts.Revision < 0 {
		return storage.ListResult{}, fmt.Errorf("etcd: list %s: negative revision %d", prefix, opts.Revision)
	}
	if s.isClosed() {
		return storage.ListResult{}, ErrClosed
	}
	start, end := s.rangeOf(prefix, opts.StartKey)
	getOpts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithRev(opts.Revision)}
	if opts.Limit > 0 {
		getOpts = append(getOpts, clientv3.WithLimit(opts.Limit))
	}
	resp, err := s.client.Get(ctx, start, getOpts...)
	if err != nil {
		return storage.ListResult{}, mapErr("list "+prefix, err)
	}
	res := storage.ListResult{
		Items:    make([]storage.KeyValue, 0, len(resp.Kvs)),
		Revision: opts.Revision,
		More:     resp.More,
		// Count is the number of keys in [start, end), this page included.
		RemainingCount: resp.Count - int64(len(resp.Kvs)),
	}
	if res.Revision == 0 {
		res.Revision = resp.Header.Revision
	}
	for _, kv := range resp.Kvs {
		key, ok := strings.CutPrefix(string(kv.Key), s.prefix)
		if !ok {
			return storage.ListResult{}, fmt.Errorf("etcd: list %s: key %q outside prefix %q", prefix, kv.Key, s.prefix)
		}
		res.Items = append(res.Items, storage.KeyValue{Key: key, Value: kv.Value, CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision})
	}
	return res, nil
}

// Revision implements storage.Store. Every etcd response carries the
// cluster's revision; a count-only range is the cheapest request.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	if s.isClosed() {
		return 0, ErrClosed
	}
	resp, err := s.client.Get(ctx, s.key("/"), clientv3.WithCountOnly())
	if err != nil {
		return 0, mapErr("revision", err)
	}
	return resp.Header.Revision, nil
}

// Compact implements storage.Store. etcd compacts the whole cluster, not
// only this store's prefix. A revision at or below the compacted one is a
// no-op, as the contract says.
func (s *Store) Compact(ctx context.Context, revision int64) error {
	if s.isClosed() {
		return ErrClosed
	}
	if revision <= 0 {
		return nil
	}
	_, err := s.client.Compact(ctx, revision)
	if errors.Is(err, rpctypes.ErrCompacted) {
		return nil
	}
	if err != nil {
		return mapErr(fmt.Sprintf("compact at %d", revision), err)
	}
	return nil
}
