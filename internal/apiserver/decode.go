package apiserver

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
)

// readBody reads a request body within the size limit.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(r.Body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, errTooLarge()
	}
	if err != nil {
		return nil, errBadRequest("read request body: %v", err)
	}
	return b, nil
}

// fieldValidation is the request's fieldValidation directive.
type fieldValidation string

const (
	validationIgnore fieldValidation = "Ignore"
	validationWarn   fieldValidation = "Warn"
	validationStrict fieldValidation = "Strict"
)

func parseFieldValidation(r *http.Request) (fieldValidation, error) {
	v := r.URL.Query().Get("fieldValidation")
	switch strings.ToLower(v) {
	case "":
		return validationWarn, nil
	case "ignore":
		return validationIgnore, nil
	case "warn":
		return validationWarn, nil
	case "strict":
		return validationStrict, nil
	}
	return "", errBadRequest("fieldValidation must be one of Ignore, Warn, Strict, not %q", v)
}

// decodeObject decodes a create/update body into a new object of res's
// kind, enforcing the fieldValidation directive. Returned warnings go to
// the client's Warning header.
func (s *Server) decodeObject(r *http.Request, res *resource, body []byte) (runtime.Object, []string, error) {
	fv, err := parseFieldValidation(r)
	if err != nil {
		return nil, nil, err
	}
	dec, mt, ok := s.codecs.decoderFor(r.Header.Get("Content-Type"), fv != validationIgnore)
	if !ok {
		return nil, nil, errUnsupportedMediaType(mt)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil, nil, errBadRequest("the request body is empty: an object of kind %s is required", res.def.Kind)
	}
	gvk := res.gvk
	obj, got, err := dec.Decode(body, &gvk, res.def.New())
	var warnings []string
	if err != nil && runtime.IsStrictDecodingError(err) && obj != nil {
		var sde interface{ Errors() []error }
		if errors.As(err, &sde) {
			if fv == validationStrict {
				return nil, nil, decodeError(err, res, got, body)
			}
			for _, e := range sde.Errors() {
				warnings = append(warnings, e.Error())
			}
		}
		err = nil
	}
	if err != nil {
		return nil, nil, decodeError(err, res, got, body)
	}
	if got != nil && (got.Group != res.gvk.Group || got.Version != res.gvk.Version) {
		return nil, nil, errBadRequest("the API version in the data (%s) does not match the expected API version (%s)", got.GroupVersion(), res.gvk.GroupVersion())
	}
	if got != nil && got.Kind != res.gvk.Kind {
		return nil, nil, errBadRequest("the kind in the data (%s) does not match the expected kind (%s)", got.Kind, res.gvk.Kind)
	}
	if fmt.Sprintf("%T", obj) != fmt.Sprintf("%T", res.def.New()) {
		return nil, nil, errBadRequest("the body is a %T, not a %s", obj, res.gvk.Kind)
	}
	obj.GetObjectKind().SetGroupVersionKind(res.gvk)
	return obj, warnings, nil
}

// decodeError is upstream's 400 for a body that does not decode: it names
// the kind the body claimed and the kind expected or, when the body named
// none, summarizes the body.
func decodeError(err error, res *resource, got *schema.GroupVersionKind, body []byte) error {
	if got != nil && got.Kind != "" {
		return errBadRequest("%s in version %q cannot be handled as a %s: %v", got.Kind, got.Version, res.gvk.Kind, err)
	}
	return errBadRequest("the object provided is unrecognized (must be of type %s): %v (%s)", res.gvk.Kind, err, summarizeBody(body, 30))
}

// summarizeBody shows the start of a body in an error: as text when it
// looks like JSON, hex otherwise.
func summarizeBody(data []byte, max int) string {
	more := ""
	if len(data) > max {
		data, more = data[:max], " ..."
	}
	switch {
	case len(data) == 0:
		return "<empty>"
	case data[0] == '{':
		return string(data) + more
	}
	return hex.EncodeToString(data) + more
}

func addWarnings(w http.ResponseWriter, warnings []string) {
	for _, msg := range warnings {
		w.Header().Add("Warning", fmt.Sprintf("299 - %q", msg))
	}
}

func jsonUnmarshal(data []byte, v interface{}) error {
	return json.Unmarshal(data, v)
}

// decodeInto decodes an options or subresource body (DeleteOptions, Scale,
// Binding, Eviction) in whatever format the client sent it.
func (s *Server) decodeInto(r *http.Request, body []byte, into runtime.Object, gvk schema.GroupVersionKind) error {
	dec, mt, ok := s.codecs.decoderFor(r.Header.Get("Content-Type"), false)
	if !ok {
		return errUnsupportedMediaType(mt)
	}
	if _, _, err := dec.Decode(body, &gvk, into); err != nil {
		return errBadRequest("%v", err)
	}
	return nil
}
