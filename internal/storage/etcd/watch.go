package etcd

import (
	"context"
	"fmt"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"skiff.dev/skiff/internal/storage"
)

// Watch implements storage.Store. The contract's errors are checked before
// the etcd watch starts, because etcd reports them only later on the
// stream (compaction) or not at all (a future revision just waits):
//
//   - fromRevision above the current revision: ErrFutureRevision;
//   - fromRevision+1 compacted: a count-only range at fromRevision+1 fails
//     with ErrCompacted exactly when a watch from there would.
//
// A compaction that lands between the check and the watch closes the
// channel, and the consumer's re-watch then gets ErrCompacted.
func (s *Store) Watch(ctx context.Context, prefix string, fromRevision int64) (<-chan storage.Event, error) {
	if fromRevision < 0 {
		return nil, fmt.Errorf("etcd: watch %s: negative revision %d", prefix, fromRevision)
	}
	if s.isClosed() {
		return nil, ErrClosed
	}
	current, err := s.Revision(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case fromRevision > current:
		return nil, fmt.Errorf("etcd: watch %s from %d, current %d: %w", prefix, fromRevision, current, storage.ErrFutureRevision)
	case fromRevision == 0:
		// "From now on" is from the revision just read: etcd would start
		// from whenever its server gets the request, which may miss a
		// write the caller made after Watch returned.
		fromRevision = current
	case fromRevision < current:
		if _, err := s.client.Get(ctx, s.key("/"), clientv3.WithRev(fromRevision+1), clientv3.WithCountOnly()); err != nil {
			return nil, mapErr(fmt.Sprintf("watch %s from %d", prefix, fromRevision), err)
		}
	}

	start, end := s.rangeOf(prefix, "")
	// The watch ends with ctx, with Close, or when this store gives up on
	// a slow consumer; WithRequireLeader also ends it when the member
	// loses its leader, so that the consumer re-watches elsewhere instead
	// of waiting on a partitioned member.
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	wch := s.client.Watch(wctx, start, clientv3.WithRange(end), clientv3.WithRev(fromRevision+1), clientv3.WithPrevKV())
	out := make(chan storage.Event, s.watchBuffer)
	s.watchers.Add(1)
	go func() {
		defer s.watchers.Done()
		defer close(out)
		defer cancel()
		s.forward(wctx, wch, out, fromRevision)
	}()
	return out, nil
}

// forward converts etcd watch responses into events until the watch ends,
// fails (compaction, lost leader), or out is full.
func (s *Store) forward(ctx context.Context, wch clientv3.WatchChan, out chan<- storage.Event, last int64) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			return
		case resp, ok := <-wch:
			if !ok || resp.Err() != nil {
				return
			}
			for _, e := range resp.Events {
				ev, ok := s.event(e)
				if !ok || ev.KV.ModRevision <= last {
					continue
				}
				select {
				case out <- ev:
					last = ev.KV.ModRevision
				default:
					return // slow consumer: close, as the contract says
				}
			}
		}
	}
}

// event converts one etcd event. PrevKv is missing only when the previous
// version was compacted away (for the event at the compacted revision).
func (s *Store) event(e *clientv3.Event) (storage.Event, bool) {
	key, ok := strings.CutPrefix(string(e.Kv.Key), s.prefix)
	if !ok {
		return storage.Event{}, false
	}
	ev := storage.Event{KV: storage.KeyValue{Key: key, ModRevision: e.Kv.ModRevision}}
	if e.PrevKv != nil {
		ev.PrevValue = e.PrevKv.Value
	}
	switch {
	case e.Type == mvccpb.DELETE:
		ev.Type = storage.EventDelete
		ev.KV.Value = ev.PrevValue
		if e.PrevKv != nil {
			ev.KV.CreateRevision = e.PrevKv.CreateRevision
		}
	case e.IsCreate():
		ev.Type = storage.EventCreate
		ev.KV.Value, ev.KV.CreateRevision = e.Kv.Value, e.Kv.CreateRevision
		ev.PrevValue = nil
	default:
		ev.Type = storage.EventUpdate
		ev.KV.Value, ev.KV.CreateRevision = e.Kv.Value, e.Kv.CreateRevision
	}
	return ev, true
}
