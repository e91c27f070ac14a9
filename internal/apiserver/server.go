// Package apiserver serves the Kubernetes API: discovery, OpenAPI, and the
// REST verbs of every registry.Resource over one generic handler, behind the
// filter chain authentication → authorization → (admission, in the verbs).
// Lists and watches are served from the in-memory watch cache; writes go to
// the store, whose revision is every object's resourceVersion.
package apiserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"

	"skiff.dev/skiff/internal/admission"
	"skiff.dev/skiff/internal/apiserver/openapi"
	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/auth/authz"
	"skiff.dev/skiff/internal/auth/impersonation"
	"skiff.dev/skiff/internal/registry"
	"skiff.dev/skiff/internal/storage"
	"skiff.dev/skiff/internal/storage/watchcache"
)

// maxRequestBytes is upstream's limit on request bodies (3 MiB); larger
// bodies get 413 RequestEntityTooLarge.
const maxRequestBytes = 3 << 20

// Config wires a Server.
type Config struct {
	Store     storage.Store
	Resources []registry.Resource
	// Authenticator identifies the client; requests without valid
	// credentials get 401. Required: there is no anonymous access.
	Authenticator authn.Authenticator
	// Authorizer decides; NoOpinion means deny.
	Authorizer authz.Authorizer
	// Audit records requests in the audit log (see audit.go); nil records
	// nothing.
	Audit Auditor
	// Admission is the chain of admission plug-ins every user's write
	// passes (see package admission); nil admits everything.
	Admission *admission.Chain
	// Now is the clock (creationTimestamp, deletionTimestamp).
	Now func() time.Time
	// SecurePort is the port the server listens on (the target port of
	// the in-cluster kubernetes service).
	SecurePort int
	// WatchHistory is the number of events kept per resource for
	// watches that resume from a resourceVersion.
	WatchHistory int
	// EventTTL is how long an event lives after it was last recorded
	// (upstream's --event-ttl); 0 means an hour.
	EventTTL time.Duration
	// KubeletClientTLS is the client TLS for node agents (pods/log, exec,
	// attach, portforward): the cluster CA as roots and the API server's
	// client certificate. Nil: those subresources answer 503.
	KubeletClientTLS *tls.Config
	// NonResourceHandlers serve further non-resource paths (exact
	// match), after authentication and authorization: the service
	// account issuer's OIDC discovery documents.
	NonResourceHandlers map[string]http.Handler
	// HealthChecks are named checks of /healthz, /livez and /readyz
	// (upstream's healthz.HealthChecker): /<endpoint>/<name> runs one, and
	// the endpoint fails when any fails.
	HealthChecks []HealthCheck
}

// HealthCheck is one named health check; Check must be safe for
// concurrent use and bounded in time.
type HealthCheck struct {
	Name  string
	Check func(*http.Request) error
}

// Server is the API server's HTTP handler.
type Server struct {
	cfg     Config
	codecs  *codecs
	hub     *watchcache.Hub
	now     func() time.Time
	handler http.Handler

	// resources by group/version and plural name.
	resources map[schema.GroupVersion]map[string]*resource
	// byKind finds the resource of a kind (for owner checks and apply).
	byKind map[schema.GroupVersionKind]*resource
	// groups in discovery order.
	groups []discoveryGroup

	typeConverter managedfields.TypeConverter
	paramCodec    runtime.ParameterCodec
	tcOnce        sync.Once
	services      serviceAllocator
	kubelet       kubeletTransport
	openapi       *openapi.Service
	ready         chan struct{}
}

// New builds a Server; Start must be called before it serves resources.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Authenticator == nil || cfg.Authorizer == nil {
		return nil, fmt.Errorf("apiserver: store, authenticator and authorizer are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	scheme := newScheme()
	s := &Server{
		cfg:       cfg,
		codecs:    newCodecs(scheme),
		hub:       watchcache.NewHub(cfg.Store, keyRoot, cfg.WatchHistory),
		now:       cfg.Now,
		resources: map[schema.GroupVersion]map[string]*resource{},
		byKind:    map[schema.GroupVersionKind]*resource{},
		ready:     make(chan struct{}),
	}
	// Stored resources first: views need their storage's cache.
	order := make([]*registry.Resource, 0, len(cfg.Resources))
	for i := range cfg.Resources {
		if cfg.Resources[i].StoredAs == nil {
			order = append(order, &cfg.Resources[i])
		}
	}
	for i := range cfg.Resources {
		if cfg.Resources[i].StoredAs != nil {
			order = append(order, &cfg.Resources[i])
		}
	}
	for _, def := range order {
		var stored *resource
		if v := def.StoredAs; v != nil {
			if stored = s.resources[v.Resource.GroupVersion()][v.Resource.Resource]; stored == nil {
				return nil, fmt.Errorf("apiserver: %s is stored as %s, which is not served", def.GroupVersionResource(), v.Resource)
			}
		}
		r := newResource(def, s.codecs, cfg.Store, s.hub, stored)
		gv := def.GroupVersion
		if s.resources[gv] == nil {
			s.resources[gv] = map[string]*resource{}
		}
		s.resources[gv][def.Resource] = r
		s.byKind[r.gvk] = r
	}
	s.paramCodec = runtime.NewParameterCodec(scheme)
	s.groups = buildDiscoveryGroups(cfg.Resources)
	s.openapi = openapi.NewService(s.openAPIKinds(), slog.Default())
	s.handler = s.buildChain()
	return s, nil
}

// Start loads the watch cache and creates what every cluster has (the
// default namespaces). It returns when the server is ready to serve.
func (s *Server) Start(ctx context.Context) error {
	if err := s.hub.Start(ctx); err != nil {
		return fmt.Errorf("apiserver: start watch cache: %w", err)
	}
	if err := s.bootstrap(ctx); err != nil {
		return fmt.Errorf("apiserver: bootstrap: %w", err)
	}
	ttl := s.cfg.EventTTL
	if ttl <= 0 {
		ttl = defaultEventTTL
	}
	go s.expireEvents(ctx, ttl, min(ttl/4, time.Minute))
	close(s.ready)
	return nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

func (s *Server) buildChain() http.Handler {
	var h http.Handler = http.HandlerFunc(s.route)
	h = s.withAuthorization(h)
	// kubectl --as: the authenticated user acts as another, if allowed.
	h = impersonation.WithImpersonation(h, s.cfg.Authorizer)
	h = s.withAudit(h)
	h = authn.WithAuthentication(h, s.cfg.Authenticator, s.auditFailedAuthentication(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, apierrors.NewUnauthorized("Unauthorized"))
	}))
	h = s.withLimits(h)
	h = s.withRecovery(h)
	return h
}

// withRecovery turns a panic into a 500 Status instead of a dropped
// connection, and logs the stack: a panic is always a bug.
func (s *Server) withRecovery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				slog.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				s.writeError(w, r, apierrors.NewInternalError(fmt.Errorf("%v", p)))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func (s *Server) withLimits(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > maxRequestBytes {
			s.writeError(w, r, errTooLarge())
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxRequestBytes)
		}
		next.ServeHTTP(w, r)
	})
}

func errTooLarge() error {
	return apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", maxRequestBytes))
}

func (s *Server) withAuthorization(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := parseRequestInfo(r)
		user := authn.UserFrom(r.Context())
		attrs := authz.Attributes{
			User: user, Verb: info.Verb, IsResourceRequest: info.IsResourceRequest, Path: r.URL.Path,
			APIGroup: info.APIGroup, APIVersion: info.APIVersion, Namespace: info.Namespace,
			Resource: info.Resource, Subresource: info.Subresource, Name: info.Name,
		}
		if !info.IsResourceRequest {
			attrs.Verb = strings.ToLower(r.Method)
		}
		d, reason, err := s.cfg.Authorizer.Authorize(r.Context(), attrs)
		auditAuthorization(r.Context(), user, d, reason, err)
		if err != nil {
			s.writeError(w, r, apierrors.NewInternalError(fmt.Errorf("authorize: %w", err)))
			return
		}
		if d != authz.Allow {
			s.writeError(w, r, forbidden(attrs, reason))
			return
		}
		next.ServeHTTP(w, r.WithContext(registry.WithUser(r.Context(), user.Name)))
	})
}

// forbidden builds upstream's 403 message, e.g.
// `pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"`.
func forbidden(a authz.Attributes, reason string) error {
	name := "<unknown>"
	if a.User != nil {
		name = a.User.Name
	}
	var msg string
	gr := schema.GroupResource{Group: a.APIGroup, Resource: a.Resource}
	if a.IsResourceRequest {
		res := a.Resource
		if a.Subresource != "" {
			res += "/" + a.Subresource
		}
		msg = fmt.Sprintf("User %q cannot %s resource %q in API group %q", name, a.Verb, res, a.APIGroup)
		if a.Namespace != "" {
			msg += fmt.Sprintf(" in the namespace %q", a.Namespace)
		} else {
			msg += " at the cluster scope"
		}
	} else {
		msg = fmt.Sprintf("User %q cannot %s path %q", name, a.Verb, a.Path)
	}
	if reason != "" {
		msg += ": " + reason
	}
	err := apierrors.NewForbidden(gr, a.Name, fmt.Errorf("%s", msg))
	if !a.IsResourceRequest {
		err.ErrStatus.Message = "forbidden: " + msg
		err.ErrStatus.Details = nil
	}
	return err
}

// route dispatches an authorized request.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/healthz" || p == "/livez" || p == "/readyz" ||
		strings.HasPrefix(p, "/healthz/") || strings.HasPrefix(p, "/livez/") || strings.HasPrefix(p, "/readyz/"):
		s.serveHealth(w, r)
		return
	case p == "/version" || p == "/version/":
		s.serveVersion(w, r)
		return
	case strings.HasPrefix(p, "/openapi/"):
		s.openapi.ServeHTTP(w, r)
		return
	case p == "/api" || p == "/api/":
		s.serveLegacyVersions(w, r)
		return
	case p == "/apis" || p == "/apis/":
		s.serveGroups(w, r)
		return
	case s.cfg.NonResourceHandlers[p] != nil:
		s.cfg.NonResourceHandlers[p].ServeHTTP(w, r)
		return
	}
	info := parseRequestInfo(r)
	if info.APIPrefix == "" {
		s.writeError(w, r, errNotFoundPath())
		return
	}
	gv := schema.GroupVersion{Group: info.APIGroup, Version: info.APIVersion}
	if info.APIPrefix == "apis" && info.APIVersion == "" {
		s.serveGroup(w, r, info.APIGroup)
		return
	}
	if !info.IsResourceRequest {
		s.serveResourceList(w, r, gv)
		return
	}
	res := s.resources[gv][info.Resource]
	if res == nil {
		s.writeError(w, r, errNotFoundPath())
		return
	}
	select {
	case <-s.ready:
	default:
		s.writeError(w, r, apierrors.NewServiceUnavailable("the server is starting"))
		return
	}
	s.serveResource(w, r, res, info)
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	endpoint, name, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	checks := s.healthChecks(endpoint)
	if name == "ping" {
		// The check every listing starts with answers on its own too,
		// as upstream's (kubectl get --raw /livez/ping).
		writeRaw(w, http.StatusOK, "text/plain; charset=utf-8", []byte("ok"))
		return
	}
	if name != "" {
		for _, c := range checks {
			if c.Name == name {
				if err := c.Check(r); err != nil {
					writeRaw(w, http.StatusInternalServerError, "text/plain; charset=utf-8", fmt.Appendf(nil, "internal server error: %v\n", err))
					return
				}
				writeRaw(w, http.StatusOK, "text/plain; charset=utf-8", []byte("ok"))
				return
			}
		}
		s.writeError(w, r, errNotFoundPath())
		return
	}
	// Upstream's listing: every check's result, reasons withheld; the
	// list is written on failure or when asked for with ?verbose.
	var b strings.Builder
	failed := false
	b.WriteString("[+]ping ok\n")
	for _, c := range checks {
		if err := c.Check(r); err != nil {
			failed = true
			fmt.Fprintf(&b, "[-]%s failed: reason withheld\n", c.Name)
		} else {
			fmt.Fprintf(&b, "[+]%s ok\n", c.Name)
		}
	}
	if failed {
		fmt.Fprintf(&b, "%s check failed\n", endpoint)
		// A server still starting is unavailable rather than broken.
		code := http.StatusInternalServerError
		if !s.isReady() {
			code = http.StatusServiceUnavailable
		}
		writeRaw(w, code, "text/plain; charset=utf-8", []byte(b.String()))
		return
	}
	if _, verbose := r.URL.Query()["verbose"]; verbose {
		fmt.Fprintf(&b, "%s check passed\n", endpoint)
		writeRaw(w, http.StatusOK, "text/plain; charset=utf-8", []byte(b.String()))
		return
	}
	writeRaw(w, http.StatusOK, "text/plain; charset=utf-8", []byte("ok"))
}

// healthChecks are the named checks of endpoint (healthz, livez or
// readyz): the configured ones, and for readyz whether the caches are
// loaded (upstream's informer-sync).
func (s *Server) healthChecks(endpoint string) []HealthCheck {
	if endpoint != "readyz" {
		return s.cfg.HealthChecks
	}
	sync := HealthCheck{Name: "informer-sync", Check: func(*http.Request) error {
		if !s.isReady() {
			return errors.New("not ready")
		}
		return nil
	}}
	return append([]HealthCheck{sync}, s.cfg.HealthChecks...)
}

func (s *Server) isReady() bool {
	select {
	case <-s.ready:
		return true
	default:
		return false
	}
}

// sortedGroupVersions lists served group/versions in a stable order.
func (s *Server) sortedGroupVersions() []schema.GroupVersion {
	var out []schema.GroupVersion
	for gv := range s.resources {
		out = append(out, gv)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

var _ = metav1.Now
