package apiserver

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"skiff.dev/skiff/internal/storage/watchcache"
)

const (
	// bookmarkInterval: how often a watch that allows bookmarks gets one
	// (upstream sends them about once a minute).
	bookmarkInterval = time.Minute
	// watchBuffer: events a watcher may fall behind before it is closed
	// and its client must resume from the last resourceVersion it saw.
	watchBuffer = 1024
	// initialEventsEndAnnotation marks the bookmark that ends the initial
	// events of a watch-list (sendInitialEvents=true).
	initialEventsEndAnnotation = "k8s.io/initial-events-end"
)

// watchEncoder frames watch events in the client's format.
type watchEncoder struct {
	s           *Server
	r           *http.Request
	res         *resource
	out         outputFormat
	sentColumns bool
}

func (e *watchEncoder) contentType() string {
	if e.out.mediaType == mediaProtobuf {
		return mediaProtobuf + ";stream=watch"
	}
	return mediaJSON // JSON and YAML requests both stream JSON, as upstream
}

// encodeObject serializes the event's object, sharing the result between
// watchers when no per-watcher conversion applies.
func (e *watchEncoder) encodeObject(ev *watchcache.Event, obj runtime.Object) ([]byte, error) {
	enc := func(o runtime.Object) ([]byte, error) {
		var buf bytes.Buffer
		var err error
		if e.out.mediaType == mediaProtobuf {
			err = e.s.codecs.proto.Encode(o, &buf)
		} else {
			err = e.s.codecs.json.Encode(o, &buf)
		}
		return bytes.TrimRight(buf.Bytes(), "\n"), err
	}
	if e.out.as != "" {
		conv, err := e.s.convertAs(e.r, e.res, e.out, obj, !e.sentColumns)
		if err != nil {
			return nil, err
		}
		if _, ok := conv.(*metav1.Table); ok {
			e.sentColumns = true
		}
		return enc(conv)
	}
	if ev != nil && ev.Object == obj {
		return ev.Encoded(e.out.mediaType, func() ([]byte, error) { return enc(obj) })
	}
	return enc(obj)
}

func (e *watchEncoder) frame(w *bytes.Buffer, typ watch.EventType, objBytes []byte) error {
	if e.out.mediaType == mediaProtobuf {
		we := &metav1.WatchEvent{Type: string(typ), Object: runtime.RawExtension{Raw: objBytes}}
		var inner bytes.Buffer
		if err := e.s.codecs.protoRaw.Encode(we, &inner); err != nil {
			return err
		}
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(inner.Len()))
		w.Write(n[:])
		w.Write(inner.Bytes())
		return nil
	}
	w.WriteString(`{"type":"`)
	w.WriteString(string(typ))
	w.WriteString(`","object":`)
	w.Write(objBytes)
	w.WriteString("}\n")
	return nil
}

func (s *Server) serveWatch(ctx context.Context, w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	q := r.URL.Query()
	sel, err := parseSelectors(q, res)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out, ok := negotiateOutput(r.Header.Get("Accept"), true)
	if !ok {
		s.writeError(w, r, errNotAcceptable())
		return
	}
	rv := q.Get("resourceVersion")
	var rev int64
	if rv != "" {
		if rev, err = strconv.ParseInt(rv, 10, 64); err != nil || rev < 0 {
			s.writeError(w, r, errBadRequest("invalid resource version %q", rv))
			return
		}
	}
	bookmarks := isTrue(q.Get("allowWatchBookmarks"))
	sendInitial := false
	if v := q.Get("sendInitialEvents"); v != "" {
		sendInitial = isTrue(v)
		if q.Get("resourceVersionMatch") != string(metav1.ResourceVersionMatchNotOlderThan) {
			s.writeError(w, r, listOptionsInvalid("sendInitialEvents", v, "sendInitialEvents is forbidden for watch unless resourceVersionMatch is set to \"NotOlderThan\""))
			return
		}
		if sendInitial && !bookmarks {
			s.writeError(w, r, listOptionsInvalid("allowWatchBookmarks", false, "allowWatchBookmarks must be set to true when sendInitialEvents is true"))
			return
		}
	} else if rv == "" || rv == "0" {
		// Legacy semantics: a watch without a resourceVersion starts with
		// the current state as Added events.
		sendInitial = true
	}
	timeout := time.Duration(1800+rand.IntN(1800)) * time.Second
	if ts := q.Get("timeoutSeconds"); ts != "" {
		n, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || n < 0 {
			s.writeError(w, r, errBadRequest("invalid timeoutSeconds %q", ts))
			return
		}
		if n > 0 {
			timeout = time.Duration(n) * time.Second
		}
	}
	if err := s.waitCache(ctx, rv, rev); err != nil {
		s.writeError(w, r, err)
		return
	}
	watcher, err := res.cache.Watch(watchcache.WatchOptions{
		KeyPrefix: res.listPrefix(info.Namespace), FromRevision: rev, InitialState: sendInitial, Buffer: watchBuffer,
	})
	if errors.Is(err, watchcache.ErrTooOld) {
		s.writeError(w, r, apierrors.NewResourceExpired("too old resource version: "+rv+" ("+strconv.FormatInt(res.cache.OldestRevision(), 10)+")"))
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer watcher.Stop()

	enc := &watchEncoder{s: s, r: r, res: res, out: out}
	w.Header().Set("Content-Type", enc.contentType())
	w.Header().Set("Transfer-Encoding", "chunked")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	flush := func() {
		if flusher != nil {
			flusher.Flush()
		}
	}
	flush()

	prefix := res.listPrefix(info.Namespace)
	lastRev := watcher.StartRevision
	var buf bytes.Buffer
	send := func(ev *watchcache.Event) bool {
		if len(ev.Key) < len(prefix) || ev.Key[:len(prefix)] != prefix {
			return true
		}
		if ev.Revision > lastRev {
			lastRev = ev.Revision
		}
		typ := ev.Type
		obj, err := res.fromStored(ev.Object)
		if err != nil {
			return true
		}
		if !sel.empty() {
			prev, err := res.fromStored(ev.PrevObject)
			if err != nil {
				prev = nil
			}
			now := sel.matches(obj)
			before := prev != nil && sel.matches(prev)
			switch {
			case ev.Type == watch.Deleted && !now:
				return true
			case ev.Type == watch.Modified && now && !before:
				typ = watch.Added
			case ev.Type == watch.Modified && !now && before:
				typ = watch.Deleted
			case !now:
				return true
			}
		}
		data, err := enc.encodeObject(ev, obj)
		if err != nil {
			return false
		}
		buf.Reset()
		if err := enc.frame(&buf, typ, data); err != nil {
			return false
		}
		_, err = w.Write(buf.Bytes())
		return err == nil
	}
	sendBookmark := func(initialEnd bool) bool {
		bm := res.newEmpty()
		m := objectMeta(bm)
		m.SetResourceVersion(strconv.FormatInt(max(lastRev, s.hub.Revision()), 10))
		if initialEnd {
			m.SetAnnotations(map[string]string{initialEventsEndAnnotation: "true"})
		}
		data, err := enc.encodeObject(nil, bm)
		if err != nil {
			return false
		}
		buf.Reset()
		if err := enc.frame(&buf, watch.Bookmark, data); err != nil {
			return false
		}
		_, err = w.Write(buf.Bytes())
		flush()
		return err == nil
	}

	for _, ev := range watcher.Backlog() {
		if !send(ev) {
			return
		}
	}
	if sendInitial && bookmarks {
		if !sendBookmark(true) {
			return
		}
	}
	flush()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var tick <-chan time.Time
	if bookmarks {
		t := time.NewTicker(bookmarkInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			return
		case <-tick:
			if !sendBookmark(false) {
				return
			}
		case ev, ok := <-watcher.C():
			if !ok {
				return
			}
			if !send(ev) {
				return
			}
			// Send whatever else is already queued before flushing.
			for more := true; more; {
				select {
				case ev, ok := <-watcher.C():
					if !ok {
						flush()
						return
					}
					if !send(ev) {
						return
					}
				default:
					more = false
				}
			}
			flush()
		}
	}
}
