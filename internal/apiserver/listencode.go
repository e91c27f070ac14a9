package apiserver

import (
	"bufio"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// listPage is one list response before encoding: the cache's or the
// store's objects, shared and never mutated, and the list's metadata.
type listPage struct {
	items     []runtime.Object
	rev       int64
	cont      string
	remaining *int64
}

// objectList is a list response's envelope around the objects themselves.
// The streaming collection encoders of k8s.io/apimachinery (upstream's
// KEP-5116) write its TypeMeta and ListMeta and then one item at a time
// to the connection, so a list of 10,000 pods is neither copied into a
// typed PodList (10,000 Pod structs) nor encoded into one 20-30 MB buffer.
// The field order and tags are the ones those encoders require of a list
// type, and the ones every built-in list type has: the bytes on the wire
// are the typed list's.
type objectList struct {
	metav1.TypeMeta `json:",inline"`
	// ListMeta is not embedded: its generated protobuf methods would
	// become the envelope's.
	ListMeta metav1.ListMeta  `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`
	Items    []runtime.Object `json:"items" protobuf:"bytes,2,rep,name=items"`
}

// DeepCopyObject copies the envelope; the items are shared, as everywhere
// the cache's objects go.
func (l *objectList) DeepCopyObject() runtime.Object {
	out := *l
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	out.Items = append([]runtime.Object(nil), l.Items...)
	return &out
}

// protoMarshaler is what the protobuf list encoder needs of each item.
type protoMarshaler interface {
	Size() int
	MarshalToSizedBuffer([]byte) (int, error)
}

// streamingList reports whether a list of res in out can be streamed:
// JSON or protobuf, the objects themselves (not a Table or metadata
// only), and for protobuf a type with generated protobuf code.
func streamingList(r *http.Request, res *resource, out outputFormat) bool {
	if out.as != "" || r.Method == http.MethodHead {
		return false
	}
	switch out.mediaType {
	case mediaJSON:
		return true
	case mediaProtobuf:
		_, ok := res.newEmpty().(protoMarshaler)
		return ok
	}
	return false
}

// listWriteBuffer is how much of a streamed list is handed to the
// connection at once. The HTTP/2 server moves every Write of a handler to
// its connection goroutine and frames it separately (and wraps what it
// gets in 4 KB chunks); one write per item would cost a hand-off, a frame,
// a TLS record and a system call per ~3 KB.
const listWriteBuffer = 256 << 10

var listWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, listWriteBuffer) }}

// headerOnWrite sends the response header with the first byte of the
// body, so that an encoding error found before the first buffer is full
// is still answered with a Status.
type headerOnWrite struct {
	w           http.ResponseWriter
	contentType string
	started     bool
}

func (h *headerOnWrite) Write(p []byte) (int, error) {
	if !h.started {
		h.started = true
		h.w.Header().Set("Content-Type", h.contentType)
		h.w.WriteHeader(http.StatusOK)
	}
	return h.w.Write(p)
}

// writeListStream encodes page as a res list straight to w.
func (s *Server) writeListStream(w http.ResponseWriter, r *http.Request, res *resource, out outputFormat, page listPage) {
	items := page.items
	if items == nil {
		items = []runtime.Object{} // "items":[], as a typed list built from nothing
	}
	list := &objectList{
		TypeMeta: metav1.TypeMeta{APIVersion: res.gvk.GroupVersion().String(), Kind: res.def.Kind + "List"},
		ListMeta: metav1.ListMeta{ResourceVersion: strconv.FormatInt(page.rev, 10), Continue: page.cont, RemainingItemCount: page.remaining},
		Items:    items,
	}
	hw := &headerOnWrite{w: w, contentType: out.mediaType}
	bw := listWriters.Get().(*bufio.Writer)
	bw.Reset(hw)
	defer func() {
		bw.Reset(nil)
		listWriters.Put(bw)
	}()
	err := s.codecs.encodeList(out.mediaType, list, bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		return
	}
	if !hw.started {
		s.writeError(w, r, err)
		return
	}
	// The header and part of the body are out. The body ends short of
	// what its envelope declares, so the client fails to decode it rather
	// than taking it for the whole list; a write error means it is gone.
	slog.Debug("list response cut short", "path", r.URL.Path, "err", err)
}

// encodeList writes list in mediaType (JSON or protobuf) one item at a
// time.
func (c *codecs) encodeList(mediaType string, list *objectList, w io.Writer) error {
	if mediaType == mediaProtobuf {
		// One buffer reused for every item instead of one per item.
		return c.protoStream.EncodeWithAllocator(list, w, &runtime.Allocator{})
	}
	return c.jsonStream.Encode(list, w)
}
