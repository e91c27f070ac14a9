package apiserver

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// toStatus converts any error into the metav1.Status a client gets. Errors
// that are not API errors are server faults (500) and are logged; bad input
// must never reach this path as a plain error.
func toStatus(err error) *metav1.Status {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		st := se.Status()
		st.Kind, st.APIVersion = "Status", "v1"
		return &st
	}
	slog.Error("internal error", "err", err)
	st := apierrors.NewInternalError(err).ErrStatus
	st.Kind, st.APIVersion = "Status", "v1"
	return &st
}

// writeError writes err as a Status in the client's format (JSON unless it
// asked for YAML or protobuf).
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	st := toStatus(err)
	out, ok := negotiateOutput(r.Header.Get("Accept"), false)
	if !ok {
		out = outputFormat{mediaType: mediaJSON}
	}
	s.writeObject(w, r, int(st.Code), out, st)
}

func errInvalid(gk schema.GroupKind, name string, errs field.ErrorList) error {
	return apierrors.NewInvalid(gk, name, errs)
}

func errBadRequest(format string, args ...interface{}) error {
	return apierrors.NewBadRequest(fmt.Sprintf(format, args...))
}

func errMethodNotSupported(gr schema.GroupResource, verb string) error {
	return apierrors.NewMethodNotSupported(gr, verb)
}

// errNotFoundPath is upstream's reply to a path that names nothing: a 404
// Status with reason NotFound and message "the server could not find the
// requested resource".
func errNotFoundPath() error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusNotFound,
		Reason:  metav1.StatusReasonNotFound,
		Message: "the server could not find the requested resource",
		Details: &metav1.StatusDetails{},
	}}
}

// errUnsupportedMediaType is the 415 for a body in a format we don't read.
func errUnsupportedMediaType(mt string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure,
		Code:   http.StatusUnsupportedMediaType,
		Reason: metav1.StatusReasonUnsupportedMediaType,
		Message: fmt.Sprintf("the body of the request was in an unknown format (%s) - accepted media types include: %s, %s, %s",
			mt, mediaJSON, mediaYAML, mediaProtobuf),
	}}
}

// errNotAcceptable is the 406 for an Accept header we can't satisfy.
func errNotAcceptable() error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusNotAcceptable,
		Reason:  metav1.StatusReasonNotAcceptable,
		Message: "only the following media types are accepted: " + mediaJSON + ", " + mediaYAML + ", " + mediaProtobuf,
	}}
}
