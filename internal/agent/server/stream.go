package server

import (
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"

	"skiff.dev/skiff/internal/agent/runtime"
)

// streamOptions are exec's and attach's query parameters, as the API
// server sends them.
type streamOptions struct {
	stdin, stdout, stderr, tty bool
}

func parseStreamOptions(r *http.Request) (streamOptions, error) {
	q := r.URL.Query()
	on := func(k string) bool { v := q.Get(k); return v == "1" || v == "true" }
	o := streamOptions{stdin: on("input"), stdout: on("output"), stderr: on("error"), tty: on("tty")}
	// A terminal merges stderr into stdout, as upstream's kubelet says.
	if o.tty {
		o.stderr = false
	}
	if !o.stdin && !o.stdout && !o.stderr {
		return o, fmt.Errorf("you must specify at least 1 of stdin, stdout, stderr")
	}
	return o, nil
}

// isUpgrade reports a request asking to switch protocols (SPDY or
// WebSocket).
func isUpgrade(r *http.Request) bool {
	for _, v := range r.Header.Values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return r.Header.Get("Upgrade") != ""
			}
		}
	}
	return false
}

func (s *Server) serveExec(w http.ResponseWriter, r *http.Request) {
	opts, ok := s.streamPreamble(w, r)
	if !ok {
		return
	}
	cmd := r.URL.Query()["command"]
	if len(cmd) == 0 {
		writeText(w, "you must specify at least one command for the container", http.StatusBadRequest)
		return
	}
	c, err := s.cfg.Lookup.Container(r.Context(), r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container"), false)
	if err != nil {
		writeLookupError(w, err)
		return
	}
	u, err := s.cfg.Runtime.Exec(r.Context(), &runtime.ExecRequest{
		ContainerID: c.ID, Cmd: cmd, Stdin: opts.stdin, Stdout: opts.stdout, Stderr: opts.stderr, TTY: opts.tty,
	})
	s.proxyStream(w, r, u, err)
}

func (s *Server) serveAttach(w http.ResponseWriter, r *http.Request) {
	opts, ok := s.streamPreamble(w, r)
	if !ok {
		return
	}
	c, err := s.cfg.Lookup.Container(r.Context(), r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container"), false)
	if err != nil {
		writeLookupError(w, err)
		return
	}
	u, err := s.cfg.Runtime.Attach(r.Context(), &runtime.AttachRequest{
		ContainerID: c.ID, Stdin: opts.stdin, Stdout: opts.stdout, Stderr: opts.stderr, TTY: opts.tty,
	})
	s.proxyStream(w, r, u, err)
}

// streamPreamble checks what exec and attach share.
func (s *Server) streamPreamble(w http.ResponseWriter, r *http.Request) (streamOptions, bool) {
	if !isUpgrade(r) {
		writeText(w, "Upgrade request required", http.StatusBadRequest)
		return streamOptions{}, false
	}
	opts, err := parseStreamOptions(r)
	if err != nil {
		writeText(w, err.Error(), http.StatusBadRequest)
		return opts, false
	}
	return opts, true
}

func (s *Server) servePortForward(w http.ResponseWriter, r *http.Request) {
	if !isUpgrade(r) {
		writeText(w, "Upgrade request required", http.StatusBadRequest)
		return
	}
	// With SPDY the client names ports per stream; the older WebSocket
	// protocol names them here, comma-separated or repeated.
	var ports []int32
	for _, v := range r.URL.Query()["port"] {
		for _, p := range strings.Split(v, ",") {
			n, err := strconv.ParseUint(p, 10, 16)
			if err != nil || n < 1 {
				writeText(w, fmt.Sprintf("unable to parse %q as a port: must be 1-65535", p), http.StatusBadRequest)
				return
			}
			ports = append(ports, int32(n))
		}
	}
	id, err := s.cfg.Lookup.Sandbox(r.Context(), r.PathValue("namespace"), r.PathValue("pod"))
	if err != nil {
		writeLookupError(w, err)
		return
	}
	u, err := s.cfg.Runtime.PortForward(r.Context(), id, ports)
	s.proxyStream(w, r, u, err)
}

// proxyStream hands the upgrade request to the runtime's streaming
// server at rawURL (the session's address: its path holds a one-time
// token, the session's options are already there, so the client's query
// is dropped) and copies the upgraded connection both ways until either
// side closes. A runtime that refuses is answered with its own response.
func (s *Server) proxyStream(w http.ResponseWriter, r *http.Request, rawURL string, err error) {
	if err != nil {
		writeText(w, fmt.Sprintf("runtime: %v", err), http.StatusInternalServerError)
		return
	}
	target, err := url.Parse(rawURL)
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") {
		writeText(w, fmt.Sprintf("runtime returned a bad streaming URL %q", rawURL), http.StatusInternalServerError)
		return
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			u := *target
			pr.Out.URL = &u
			pr.Out.Host = ""
		},
		Transport: s.streaming,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.cfg.Log.Warn("proxy to the runtime's streaming server failed", "path", r.URL.Path, "err", err)
			writeText(w, fmt.Sprintf("error proxying to the container runtime: %v", err), http.StatusBadGateway)
		},
		ErrorLog: nil,
	}
	rp.ServeHTTP(w, r)
}
