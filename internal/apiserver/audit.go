package apiserver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/google/uuid"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"sigs.k8s.io/yaml"

	"skiff.dev/skiff/internal/audit"
	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/auth/authz"
)

// Auditor decides how much of a request to record and records it;
// internal/audit's Logger implements it. Decide must be fast and safe for
// concurrent use. Record must not keep ev (the filter changes it for the
// next stage) and must not wait long (it runs on the request's path).
type Auditor interface {
	Decide(a audit.Attributes) audit.Decision
	Record(ev *audit.Event)
}

// Upstream's annotations for the authorizer's answer.
const (
	auditDecisionKey = "authorization.k8s.io/decision"
	auditReasonKey   = "authorization.k8s.io/reason"
)

const (
	// maxAuditedResponse bounds a response body kept for the log; larger
	// ones are recorded without responseObject.
	maxAuditedResponse = 10 << 20
	// maxAuditedError bounds an error body kept for responseStatus.
	maxAuditedError = 64 << 10
)

type auditKey struct{}

// auditRecord is one request's event in progress. Stages may be reached
// from the handler's goroutine or a streaming one; mu serializes them.
type auditRecord struct {
	mu       sync.Mutex
	ev       audit.Event
	decision audit.Decision
	auditor  Auditor
	now      func() metav1.MicroTime
	// authenticated is the user authentication found, to tell an
	// impersonated user from it.
	authenticated *authn.User
}

func (a *auditRecord) emit(stage audit.Stage) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.decision.Omits(stage) {
		return
	}
	a.ev.Stage = stage
	a.ev.StageTimestamp = a.now()
	a.auditor.Record(&a.ev)
}

// withAudit is upstream's audit filter: between authentication and
// impersonation (so the event's user is who authenticated, and
// impersonatedUser who the request acts as), before authorization (which
// adds its decision with auditAuthorization). Every request gets an
// Audit-Id response header, whatever the policy says.
func (s *Server) withAudit(next http.Handler) http.Handler {
	if s.cfg.Audit == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := parseRequestInfo(r)
		rec := s.newAuditRecord(w, r, info, authn.UserFrom(r.Context()))
		if rec == nil {
			next.ServeHTTP(w, r)
			return
		}
		s.auditRequestBody(r, rec)
		rec.emit(audit.StageRequestReceived)

		aw := &auditWriter{ResponseWriter: w, rec: rec, fullBody: rec.decision.Level == audit.LevelRequestResponse}
		if isLongRunning(info) {
			aw.longRunning, aw.fullBody = true, false
		}
		defer func() {
			if p := recover(); p != nil {
				rec.mu.Lock()
				rec.ev.ResponseStatus = &metav1.Status{
					Code: http.StatusInternalServerError, Status: metav1.StatusFailure,
					Reason: metav1.StatusReasonInternalError, Message: fmt.Sprintf("APIServer panic'd: %v", p),
				}
				rec.mu.Unlock()
				rec.emit(audit.StagePanic)
				panic(p)
			}
		}()
		next.ServeHTTP(aw, r.WithContext(context.WithValue(r.Context(), auditKey{}, rec)))
		s.auditResponse(aw, rec)
		rec.emit(audit.StageResponseComplete)
	})
}

// newAuditRecord sets the request's Audit-Id header and starts its event,
// or returns nil if the policy records nothing of it. user is nil for a
// request that failed authentication.
func (s *Server) newAuditRecord(w http.ResponseWriter, r *http.Request, info requestInfo, user *authn.User) *auditRecord {
	received := metav1.NewMicroTime(s.now())
	id := r.Header.Get(audit.HeaderAuditID)
	if id == "" || len(id) > 128 {
		id = uuid.NewString()
	}
	w.Header().Set(audit.HeaderAuditID, id)

	attrs := audit.Attributes{
		Verb: info.Verb, IsResourceRequest: info.IsResourceRequest, Path: r.URL.Path,
		APIGroup: info.APIGroup, Namespace: info.Namespace, Resource: info.Resource,
		Subresource: info.Subresource, Name: info.Name,
	}
	if !info.IsResourceRequest {
		attrs.Verb = strings.ToLower(r.Method)
	}
	if user != nil {
		attrs.User, attrs.Groups = user.Name, user.Groups
	}
	d := s.cfg.Audit.Decide(attrs)
	if d.Level == audit.LevelNone {
		return nil
	}
	rec := &auditRecord{
		decision: d, auditor: s.cfg.Audit, authenticated: user,
		now: func() metav1.MicroTime { return metav1.NewMicroTime(s.now()) },
		ev: audit.Event{
			Level: d.Level, AuditID: types.UID(id), RequestURI: r.URL.RequestURI(), Verb: attrs.Verb,
			User: auditUserInfo(user), UserAgent: r.UserAgent(), RequestReceivedTimestamp: received,
		},
	}
	for _, ip := range utilnet.SourceIPs(r) {
		rec.ev.SourceIPs = append(rec.ev.SourceIPs, ip.String())
	}
	if info.IsResourceRequest {
		rec.ev.ObjectRef = &audit.ObjectReference{
			Resource: info.Resource, Namespace: info.Namespace, Name: info.Name,
			APIGroup: info.APIGroup, APIVersion: info.APIVersion, Subresource: info.Subresource,
		}
	}
	return rec
}

// auditFailedAuthentication is upstream's WithFailedAuthenticationAudit:
// a request authentication rejects is recorded (no user; the credentials
// tried in responseStatus.message) at stage ResponseStarted, as upstream,
// and gets an Audit-Id too.
func (s *Server) auditFailedAuthentication(onFailure func(http.ResponseWriter, *http.Request)) func(http.ResponseWriter, *http.Request) {
	if s.cfg.Audit == nil {
		return onFailure
	}
	return func(w http.ResponseWriter, r *http.Request) {
		rec := s.newAuditRecord(w, r, parseRequestInfo(r), nil)
		if rec == nil {
			onFailure(w, r)
			return
		}
		aw := &auditWriter{ResponseWriter: w, rec: rec}
		onFailure(aw, r)
		code := aw.code
		if !aw.wroteHeader {
			code = http.StatusOK
		}
		rec.ev.ResponseStatus = &metav1.Status{Code: int32(code), Message: attemptedAuthentication(r)}
		rec.emit(audit.StageResponseStarted)
	}
}

// attemptedAuthentication is upstream's message naming the credentials a
// rejected request carried.
func attemptedAuthentication(r *http.Request) string {
	var tried []string
	if _, _, ok := r.BasicAuth(); ok {
		tried = append(tried, "basic")
	}
	if scheme, _, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " "); ok && strings.EqualFold(scheme, "bearer") {
		tried = append(tried, "bearer")
	}
	if strings.TrimSpace(r.URL.Query().Get("access_token")) != "" {
		tried = append(tried, "access_token")
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		tried = append(tried, "x509")
	}
	if len(tried) == 0 {
		return "Authentication failed, no credentials provided"
	}
	return "Authentication failed, attempted: " + strings.Join(tried, ", ")
}

// isLongRunning is upstream's BasicLongRunningRequestCheck: watches and
// the streaming subresources, which get a ResponseStarted event.
func isLongRunning(info requestInfo) bool {
	if info.Verb == "watch" {
		return true
	}
	switch info.Subresource {
	case "attach", "exec", "proxy", "log", "portforward":
		return true
	}
	return false
}

// auditAuthorization adds the authorizer's answer to the request's event,
// as upstream's annotations, and the impersonated user if user is not the
// one that authenticated. No-op for requests that are not audited.
func auditAuthorization(ctx context.Context, user *authn.User, d authz.Decision, reason string, err error) {
	rec, _ := ctx.Value(auditKey{}).(*auditRecord)
	if rec == nil {
		return
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if user != nil && user != rec.authenticated {
		u := auditUserInfo(user)
		rec.ev.ImpersonatedUser = &u
	}
	if rec.ev.Annotations == nil {
		rec.ev.Annotations = map[string]string{}
	}
	switch {
	case err != nil:
		rec.ev.Annotations[auditReasonKey] = "internal error"
	case d == authz.Allow:
		rec.ev.Annotations[auditDecisionKey] = "allow"
		rec.ev.Annotations[auditReasonKey] = reason
	default:
		rec.ev.Annotations[auditDecisionKey] = "forbid"
		rec.ev.Annotations[auditReasonKey] = reason
	}
}

// auditAnnotate adds an annotation to the request's audit event, as
// upstream's audit.AddAuditAnnotation: for admission plug-ins
// (admission.Attributes.Annotate) and other filters. The first value of a
// key wins. No-op for requests that are not audited.
func auditAnnotate(ctx context.Context, key, value string) {
	rec, _ := ctx.Value(auditKey{}).(*auditRecord)
	if rec == nil {
		return
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if old, ok := rec.ev.Annotations[key]; ok {
		if old != value {
			slog.Warn("audit annotation already set", "auditID", rec.ev.AuditID, "key", key, "kept", old, "dropped", value)
		}
		return
	}
	if rec.ev.Annotations == nil {
		rec.ev.Annotations = map[string]string{}
	}
	rec.ev.Annotations[key] = value
}

func auditUserInfo(u *authn.User) authenticationv1.UserInfo {
	if u == nil {
		return authenticationv1.UserInfo{}
	}
	info := authenticationv1.UserInfo{Username: u.Name, UID: u.UID, Groups: u.Groups}
	if len(u.Extra) > 0 {
		info.Extra = make(map[string]authenticationv1.ExtraValue, len(u.Extra))
		for k, v := range u.Extra {
			info.Extra[k] = v
		}
	}
	return info
}

// auditRequestBody reads a write's body (already limited by withLimits),
// puts it back for the handler, completes objectRef from the object's
// metadata, and at Request level and above records it as requestObject.
func (s *Server) auditRequestBody(r *http.Request, rec *auditRecord) {
	// Upstream completes objectRef from created and updated objects only
	// (not from patches), so below Request level a patch or delete body
	// is not even read: node status patches are most of a big cluster's
	// writes.
	wholeObject := r.Method == http.MethodPost || r.Method == http.MethodPut
	switch {
	case rec.decision.Level.GreaterOrEqual(audit.LevelRequest):
		if !wholeObject && r.Method != http.MethodPatch && r.Method != http.MethodDelete {
			return
		}
	case !wholeObject || rec.ev.ObjectRef == nil:
		return
	}
	if r.Body == nil || r.Body == http.NoBody || isUpgradeRequest(r) {
		return
	}
	data, err := io.ReadAll(r.Body)
	// The handler reads the same bytes, then the same error (a too
	// large body stays a 413).
	r.Body = replayBody{Reader: io.MultiReader(bytes.NewReader(data), errReader{err}), Closer: r.Body}
	if err != nil || len(data) == 0 {
		return
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	js := s.auditJSON(ct, data)
	if js == nil {
		return
	}
	if ref := rec.ev.ObjectRef; ref != nil && wholeObject {
		completeObjectRef(ref, js)
	}
	if rec.decision.Level.GreaterOrEqual(audit.LevelRequest) {
		rec.ev.RequestObject = auditObject(js, rec.decision.OmitManagedFields)
	}
}

// auditJSON returns body as JSON, transcoding protobuf and YAML, or nil if
// it is neither valid JSON nor convertible.
func (s *Server) auditJSON(mediaType string, body []byte) []byte {
	switch mediaType {
	case mediaJSON, mediaMergePatch, mediaStrategicPatch, mediaJSONPatch:
		if json.Valid(body) {
			return body
		}
	case mediaYAML, mediaApplyPatch:
		if js, err := yaml.YAMLToJSON(body); err == nil {
			return js
		}
	case mediaProtobuf:
		obj, _, err := s.codecs.proto.Decode(body, nil, nil)
		if err != nil {
			return nil
		}
		if js, err := runtime.Encode(s.codecs.json, obj); err == nil {
			return js
		}
	}
	return nil
}

// auditObject is js as an event's request or response object.
func auditObject(js []byte, omitManagedFields bool) audit.RawObject {
	if omitManagedFields && bytes.Contains(js, []byte(`"managedFields"`)) {
		var m map[string]any
		if json.Unmarshal(js, &m) == nil {
			dropManagedFields(m)
			if items, ok := m["items"].([]any); ok {
				for _, it := range items {
					if o, ok := it.(map[string]any); ok {
						dropManagedFields(o)
					}
				}
			}
			if b, err := json.Marshal(m); err == nil {
				js = b
			}
		}
	}
	return audit.RawObject(bytes.Clone(js))
}

func dropManagedFields(obj map[string]any) {
	if md, ok := obj["metadata"].(map[string]any); ok {
		delete(md, "managedFields")
	}
}

// completeObjectRef fills what the URL did not say (a created object's
// name, its uid and resourceVersion) from the object's metadata.
func completeObjectRef(ref *audit.ObjectReference, js []byte) {
	if len(js) == 0 || js[0] != '{' {
		return
	}
	var obj struct {
		Metadata struct {
			Name            string    `json:"name"`
			Namespace       string    `json:"namespace"`
			UID             types.UID `json:"uid"`
			ResourceVersion string    `json:"resourceVersion"`
		} `json:"metadata"`
	}
	if json.Unmarshal(js, &obj) != nil {
		return
	}
	m := obj.Metadata
	if ref.Namespace == "" {
		ref.Namespace = m.Namespace
	}
	if ref.Name == "" {
		ref.Name = m.Name
	}
	if ref.UID == "" {
		ref.UID = m.UID
	}
	if ref.ResourceVersion == "" {
		ref.ResourceVersion = m.ResourceVersion
	}
}

// auditResponse records the response's status and, at RequestResponse,
// its body.
func (s *Server) auditResponse(aw *auditWriter, rec *auditRecord) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	code := aw.code
	if !aw.wroteHeader {
		code = http.StatusOK // as net/http answers a handler that wrote nothing
	}
	st := &metav1.Status{Code: int32(code)}
	rec.ev.ResponseStatus = st
	if aw.body == nil || aw.overflow || aw.body.Len() == 0 {
		return
	}
	ct, _, _ := mime.ParseMediaType(aw.Header().Get("Content-Type"))
	js := s.auditJSON(ct, aw.body.Bytes())
	if js == nil {
		return
	}
	if code >= 400 || bytes.Contains(js, []byte(`"Status"`)) {
		var got metav1.Status
		if json.Unmarshal(js, &got) == nil && got.Kind == "Status" {
			st.Status, st.Message, st.Reason, st.Details = got.Status, got.Message, got.Reason, got.Details
		}
	}
	if rec.decision.Level.GreaterOrEqual(audit.LevelRequestResponse) {
		if rec.ev.ObjectRef != nil && code < 300 {
			completeObjectRef(rec.ev.ObjectRef, js)
		}
		rec.ev.ResponseObject = auditObject(js, rec.decision.OmitManagedFields)
	}
}

// auditWriter sees the response's code and, when the record needs it,
// its body. It keeps the ResponseWriter's optional powers: Flush (watch
// streams), Hijack (exec, attach and port-forward upgrades) and Unwrap
// (http.ResponseController).
type auditWriter struct {
	http.ResponseWriter
	rec         *auditRecord
	longRunning bool // emit ResponseStarted
	fullBody    bool // keep the body (RequestResponse)

	wroteHeader bool
	code        int
	body        *bytes.Buffer // nil: not kept
	overflow    bool
}

var (
	_ http.Flusher  = (*auditWriter)(nil)
	_ http.Hijacker = (*auditWriter)(nil)
)

func (w *auditWriter) started(code int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader, w.code = true, code
	if w.fullBody || code >= 400 {
		w.body = &bytes.Buffer{}
	}
	if w.longRunning {
		w.rec.mu.Lock()
		w.rec.ev.ResponseStatus = &metav1.Status{Code: int32(code)}
		w.rec.mu.Unlock()
		w.rec.emit(audit.StageResponseStarted)
	}
}

// WriteHeader implements http.ResponseWriter.
func (w *auditWriter) WriteHeader(code int) {
	if code >= 200 || code == http.StatusSwitchingProtocols {
		w.started(code)
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (w *auditWriter) Write(b []byte) (int, error) {
	w.started(http.StatusOK)
	if w.body != nil && !w.overflow {
		limit := maxAuditedResponse
		if !w.fullBody {
			limit = maxAuditedError
		}
		if w.body.Len()+len(b) > limit {
			w.overflow, w.body = true, nil
		} else {
			w.body.Write(b)
		}
	}
	return w.ResponseWriter.Write(b)
}

// Flush implements http.Flusher.
func (w *auditWriter) Flush() {
	w.started(http.StatusOK)
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack implements http.Hijacker; the hijacked connection answers 101
// Switching Protocols.
func (w *auditWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.started(http.StatusSwitchingProtocols)
	}
	return conn, rw, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *auditWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// replayBody hands the handler a body the audit filter already read.
type replayBody struct {
	io.Reader
	io.Closer
}

// errReader returns err, or io.EOF if err is nil.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	return 0, io.EOF
}
