package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"

	corev1 "k8s.io/api/core/v1"

	"skiff.dev/skiff/internal/agent/logs"
	"skiff.dev/skiff/internal/agent/runtime"
)

// serveLogs streams a container's log.
func (s *Server) serveLogs(w http.ResponseWriter, r *http.Request) {
	ns, pod, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	query := r.URL.Query()
	// Older clients say tail=N, and tail=all for everything.
	if tail := query.Get("tail"); tail != "" {
		query.Set("tailLines", tail)
		if tail == "all" {
			query.Del("tailLines")
		}
	}
	opts, err := logs.ParseQuery(query)
	if err != nil {
		writeText(w, `{"message": "Unable to decode query."}`, http.StatusBadRequest)
		return
	}
	if !validLogOptions(opts) {
		writeText(w, `{"message": "Invalid request."}`, http.StatusUnprocessableEntity)
		return
	}
	if opts.Stream != nil && *opts.Stream != corev1.LogStreamAll {
		writeText(w, fmt.Sprintf("unable to return the given log stream: %q. Please enable PodLogsQuerySplitStreams feature gate in kubelet", *opts.Stream), http.StatusBadRequest)
		return
	}
	c, err := s.cfg.Lookup.Container(r.Context(), ns, pod, container, opts.Previous)
	if err != nil {
		writeLookupError(w, err)
		return
	}
	if _, err := os.Stat(c.LogPath); err != nil {
		writeText(w, fmt.Sprintf("failed to open log file %q: %v", c.LogPath, err), http.StatusBadRequest)
		return
	}
	// Headers go out now, before the first line: a follower of a quiet
	// container must not leave the API server waiting for a response.
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	fw := &flushWriter{w: w, rc: http.NewResponseController(w)}
	_ = fw.rc.Flush()
	running := func(ctx context.Context) (bool, error) {
		st, err := s.cfg.Runtime.ContainerStatus(ctx, c.ID)
		if errors.Is(err, runtime.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return st.State == runtime.ContainerRunning, nil
	}
	if err := logs.Read(r.Context(), c.LogPath, logs.FromPodLogOptions(opts, s.cfg.Now()), running, fw); err != nil && r.Context().Err() == nil {
		s.cfg.Log.Warn("container log read ended", "pod", ns+"/"+pod, "container", container, "err", err)
	}
}

// validLogOptions is upstream's ValidatePodLogOptions; the kubelet answers
// only "Invalid request." (the API server has validated with messages).
func validLogOptions(o *corev1.PodLogOptions) bool {
	switch {
	case o.TailLines != nil && *o.TailLines < 0,
		o.LimitBytes != nil && *o.LimitBytes < 1,
		o.SinceSeconds != nil && o.SinceTime != nil,
		o.SinceSeconds != nil && *o.SinceSeconds < 1:
		return false
	}
	return true
}

// flushWriter sends every write at once: log lines are streamed.
type flushWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (f *flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err != nil {
		return n, err
	}
	return n, f.rc.Flush()
}
