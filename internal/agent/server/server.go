// Package server is the agent's HTTPS API, the one upstream's kubelet
// serves on port 10250, which the API server calls for pods/log,
// pods/exec, pods/attach and pods/portforward:
//
//	GET      /containerLogs/{namespace}/{pod}/{container}?follow=&previous=&tailLines=&sinceSeconds=&sinceTime=&timestamps=&limitBytes=
//	GET|POST /exec/{namespace}/{pod}/{container}?command=...&input=1&output=1&error=1&tty=1
//	GET|POST /attach/{namespace}/{pod}/{container}?input=1&output=1&error=1&tty=1
//	GET|POST /portForward/{namespace}/{pod}?port=...
//	GET      /healthz
//
// Logs are read from the container's CRI log file (package logs). Exec,
// attach and port-forward ask the runtime for a session on its streaming
// server and reverse-proxy the upgraded connection (SPDY, or the older
// WebSocket protocols the runtime speaks) to it; the API server
// translates kubectl's newer WebSocket protocols to SPDY before they get
// here.
//
// Clients authenticate with a certificate of the cluster CA, verified in
// the TLS handshake (TLSConfig); only the API server's identity may call
// (Config.Authorized).
//
//	srv, err := server.New(server.Config{Lookup: server.StatusLookup{Pods: get, Runtime: rt}, Runtime: rt})
//	err = srv.Serve(ctx, ln, server.TLSConfig(servingCert, caPool))
package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"skiff.dev/skiff/internal/agent/runtime"
)

// Port is the port the agent serves on, upstream's kubelet port, which
// the Node reports as status.daemonEndpoints.kubeletEndpoint.port.
const Port = 10250

// APIServerUser is the user name of the API server's client certificate
// for the agent (upstream's kubeadm names it the same).
const APIServerUser = "kube-apiserver-kubelet-client"

// Runtime is what the server asks the container runtime.
type Runtime interface {
	// ContainerStatus tells whether a followed log's container still runs.
	ContainerStatus(ctx context.Context, id string) (*runtime.Container, error)
	Exec(ctx context.Context, req *runtime.ExecRequest) (url string, err error)
	Attach(ctx context.Context, req *runtime.AttachRequest) (url string, err error)
	PortForward(ctx context.Context, sandboxID string, ports []int32) (url string, err error)
}

// Config configures a Server.
type Config struct {
	Lookup  Lookup
	Runtime Runtime
	// Authorized decides whether a client whose certificate verified may
	// call; nil: APIServerOnly. /healthz is open to every verified
	// client.
	Authorized func(user string, groups []string) bool
	// Now resolves sinceSeconds; nil: time.Now.
	Now func() time.Time
	// Log receives request errors; nil: slog.Default().
	Log *slog.Logger
}

// APIServerOnly admits the API server's identity and cluster admins
// (group system:masters).
func APIServerOnly(user string, groups []string) bool {
	return user == APIServerUser || slices.Contains(groups, "system:masters")
}

// Server is the agent's API as an http.Handler.
type Server struct {
	cfg Config
	mux *http.ServeMux
	// streaming reaches the runtime's streaming server.
	streaming *http.Transport
}

// New checks cfg and returns the server.
func New(cfg Config) (*Server, error) {
	if cfg.Lookup == nil || cfg.Runtime == nil {
		return nil, errors.New("agent server: Lookup and Runtime are required")
	}
	if cfg.Authorized == nil {
		cfg.Authorized = APIServerOnly
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &Server{
		cfg: cfg,
		mux: http.NewServeMux(),
		// The runtime's streaming server is on this machine: no proxy
		// from the environment, HTTP/1.1 only (upgrades).
		streaming: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConns:        4,
			IdleConnTimeout:     90 * time.Second,
		},
	}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
	})
	s.mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", s.serveLogs)
	for _, m := range []string{"GET", "POST"} {
		s.mux.HandleFunc(m+" /exec/{namespace}/{pod}/{container}", s.serveExec)
		s.mux.HandleFunc(m+" /attach/{namespace}/{pod}/{container}", s.serveAttach)
		s.mux.HandleFunc(m+" /portForward/{namespace}/{pod}", s.servePortForward)
	}
	return s, nil
}

// ServeHTTP implements http.Handler: it authorizes, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		writeText(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	leaf := r.TLS.VerifiedChains[0][0]
	user, groups := leaf.Subject.CommonName, leaf.Subject.Organization
	if r.URL.Path != "/healthz" && !s.cfg.Authorized(user, groups) {
		// Upstream's kubelet message, for the subresource it checks.
		sub := "proxy"
		writeText(w, fmt.Sprintf("Forbidden (user=%s, verb=%s, resource=nodes, subresource=%s)", user, verbOf(r), sub), http.StatusForbidden)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func verbOf(r *http.Request) string {
	if r.Method == http.MethodPost {
		return "create"
	}
	return "get"
}

// TLSConfig is the agent's server TLS: the serving certificate, TLS 1.2
// or newer, and a client certificate of clientCAs required and verified in
// the handshake (unlike the API server, which answers bad certificates
// with a 401, the agent has no other way in). HTTP/1.1 only: every call
// is a stream or an upgrade.
func TLSConfig(serving tls.Certificate, clientCAs *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{serving},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientCAs,
		NextProtos:   []string{"http/1.1"},
	}
}

// Serve serves HTTPS on ln until ctx ends, then closes open streams.
func (s *Server) Serve(ctx context.Context, ln net.Listener, tlsConfig *tls.Config) error {
	hs := &http.Server{
		Handler:           s,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 30 * time.Second,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(s.cfg.Log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(tls.NewListener(ln, tlsConfig)) }()
	select {
	case err := <-errc:
		return fmt.Errorf("agent server: %w", err)
	case <-ctx.Done():
	}
	// Streams last as long as their sessions: close rather than wait.
	_ = hs.Close()
	<-errc
	s.streaming.CloseIdleConnections()
	return nil
}

// writeLookupError answers a Lookup error as upstream's kubelet does.
func writeLookupError(w http.ResponseWriter, err error) {
	code := http.StatusBadRequest
	if errors.Is(err, ErrPodNotFound) || errors.Is(err, ErrContainerNotFound) {
		code = http.StatusNotFound
	}
	writeText(w, lookupMessage(err), code)
}

// lookupMessage drops the sentinel's text from a wrapped lookup error:
// `pod "web" does not exist: pod not found` reads `pod "web" does not
// exist`.
func lookupMessage(err error) string {
	msg := err.Error()
	for _, s := range []error{ErrPodNotFound, ErrContainerNotFound} {
		if errors.Is(err, s) {
			if suffix := ": " + s.Error(); len(msg) > len(suffix) && msg[len(msg)-len(suffix):] == suffix {
				return msg[:len(msg)-len(suffix)]
			}
		}
	}
	return msg
}

// writeText answers an error as upstream's kubelet does: the message as
// plain text, no newline added (the API server makes it the Status
// message kubectl prints).
func writeText(w http.ResponseWriter, msg string, code int) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(msg))
}
