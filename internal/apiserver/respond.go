package apiserver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
)

// writeJSON writes a discovery or version document.
func writeJSON(w http.ResponseWriter, code int, v interface{}) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeRaw(w, code, mediaJSON, body)
}

// writeObject encodes obj in the negotiated media type.
func (s *Server) writeObject(w http.ResponseWriter, r *http.Request, code int, out outputFormat, obj runtime.Object) {
	var buf bytes.Buffer
	if err := out.encoder(s.codecs).Encode(obj, &buf); err != nil {
		st := toStatus(err)
		body, _ := runtime.Encode(s.codecs.json, st)
		writeRaw(w, int(st.Code), mediaJSON, body)
		return
	}
	ct := out.mediaType
	if out.mediaType == mediaJSON && strings.Contains(r.Header.Get("Accept"), "as=") && out.as != "" {
		ct = mediaJSON + ";as=" + out.as + ";g=meta.k8s.io;v=" + out.asVersion
	}
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(code)
		return
	}
	writeRaw(w, code, ct, buf.Bytes())
}

// respond writes a resource's object or list, converting it to a Table or
// PartialObjectMetadata when the client asked for one.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, res *resource, code int, obj runtime.Object) {
	out, ok := negotiateOutput(r.Header.Get("Accept"), true)
	if !ok {
		s.writeError(w, r, errNotAcceptable())
		return
	}
	if out.as != "" {
		conv, err := s.convertAs(r, res, out, obj, true)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		obj = conv
	}
	s.writeObject(w, r, code, out, obj)
}
