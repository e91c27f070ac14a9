// Package audit records what happened in the API server, in upstream's
// audit.k8s.io/v1 Event format, one JSON object per line, as kube-apiserver's
// log backend writes it: tools that read upstream's audit logs read ours.
//
// A Policy (upstream's file format, or DefaultPolicy) decides per request how
// much to record (None, Metadata, Request, RequestResponse) and which stages
// to leave out; a Backend writes the events without making requests wait on
// the disk. The HTTP filter that builds the events lives in the API server
// (internal/apiserver/audit.go), which owns the request's parsing; this
// package is the format, the policy evaluation (pure) and the log file.
package audit

import (
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// GroupName and Version are the audit API's; Event and Policy carry them
// as apiVersion "audit.k8s.io/v1".
const (
	GroupName  = "audit.k8s.io"
	Version    = "v1"
	APIVersion = GroupName + "/" + Version
)

// HeaderAuditID is the response header carrying the request's audit ID
// (upstream's "Audit-ID"; net/http canonicalizes it to Audit-Id). A client
// may send one to have its own ID used.
const HeaderAuditID = "Audit-ID"

// Level is how much of a request is recorded.
type Level string

// Levels, from least to most.
const (
	// LevelNone records nothing.
	LevelNone Level = "None"
	// LevelMetadata records who did what to which object, and the outcome,
	// but no bodies.
	LevelMetadata Level = "Metadata"
	// LevelRequest adds the request body.
	LevelRequest Level = "Request"
	// LevelRequestResponse adds the response body.
	LevelRequestResponse Level = "RequestResponse"
)

func (l Level) ordinal() int {
	switch l {
	case LevelMetadata:
		return 1
	case LevelRequest:
		return 2
	case LevelRequestResponse:
		return 3
	}
	return 0
}

// Less reports whether l records less than o.
func (l Level) Less(o Level) bool { return l.ordinal() < o.ordinal() }

// GreaterOrEqual reports whether l records at least as much as o.
func (l Level) GreaterOrEqual(o Level) bool { return l.ordinal() >= o.ordinal() }

// Stage is the point of a request's life at which an event is recorded.
type Stage string

// Stages, in the order a request passes them.
const (
	// StageRequestReceived: as soon as the audit filter sees the request.
	StageRequestReceived Stage = "RequestReceived"
	// StageResponseStarted: once the response headers are sent, only for
	// long-running requests (watch, exec, attach, port-forward, log, proxy).
	StageResponseStarted Stage = "ResponseStarted"
	// StageResponseComplete: once the response is finished.
	StageResponseComplete Stage = "ResponseComplete"
	// StagePanic: the handler panicked.
	StagePanic Stage = "Panic"
)

// Event is audit.k8s.io/v1 Event: what the server knew about one request at
// one stage. Field names and JSON tags are upstream's.
type Event struct {
	metav1.TypeMeta `json:",inline"`

	// Level at which the event was generated.
	Level Level `json:"level"`
	// AuditID is unique per request; every stage's event shares it.
	AuditID types.UID `json:"auditID"`
	// Stage at which the event was generated.
	Stage Stage `json:"stage"`
	// RequestURI is the request's path and query, as the client sent it.
	RequestURI string `json:"requestURI"`
	// Verb is the Kubernetes verb (get, list, watch, create, ...) for
	// resource requests, the lowercased HTTP method otherwise.
	Verb string `json:"verb"`
	// User is the authenticated user.
	User authenticationv1.UserInfo `json:"user"`
	// ImpersonatedUser is who the request acted as, if it impersonated.
	ImpersonatedUser *authenticationv1.UserInfo `json:"impersonatedUser,omitempty"`
	// SourceIPs: X-Forwarded-For, X-Real-Ip, then the connection's address.
	SourceIPs []string `json:"sourceIPs,omitempty"`
	// UserAgent is the client's User-Agent header.
	UserAgent string `json:"userAgent,omitempty"`
	// ObjectRef is the object the request is about; nil for non-resource
	// requests.
	ObjectRef *ObjectReference `json:"objectRef,omitempty"`
	// ResponseStatus: the code always, and for errors the Status's
	// status, message and reason. Nil before the response starts.
	ResponseStatus *metav1.Status `json:"responseStatus,omitempty"`
	// RequestObject is the request body (JSON only), at Request level and
	// above.
	RequestObject RawObject `json:"requestObject,omitempty"`
	// ResponseObject is the response body (JSON only), at RequestResponse
	// level.
	ResponseObject RawObject `json:"responseObject,omitempty"`
	// RequestReceivedTimestamp is when the request reached the filter.
	RequestReceivedTimestamp metav1.MicroTime `json:"requestReceivedTimestamp"`
	// StageTimestamp is when this stage was reached.
	StageTimestamp metav1.MicroTime `json:"stageTimestamp"`
	// Annotations from the filters, e.g. authorization.k8s.io/decision.
	Annotations map[string]string `json:"annotations,omitempty"`
}

// EventList is audit.k8s.io/v1 EventList.
type EventList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Event `json:"items"`
}

// ObjectReference is audit.k8s.io/v1 ObjectReference: the object a request
// is about, as far as the URL and the request body say.
type ObjectReference struct {
	Resource        string    `json:"resource,omitempty"`
	Namespace       string    `json:"namespace,omitempty"`
	Name            string    `json:"name,omitempty"`
	UID             types.UID `json:"uid,omitempty"`
	APIGroup        string    `json:"apiGroup,omitempty"`
	APIVersion      string    `json:"apiVersion,omitempty"`
	ResourceVersion string    `json:"resourceVersion,omitempty"`
	Subresource     string    `json:"subresource,omitempty"`
}

// RawObject is a JSON body embedded as it is. Upstream's field is a
// runtime.Unknown, which serializes in JSON as the object itself.
type RawObject []byte

// MarshalJSON implements json.Marshaler.
func (o RawObject) MarshalJSON() ([]byte, error) {
	if len(o) == 0 {
		return []byte("null"), nil
	}
	return o, nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (o *RawObject) UnmarshalJSON(b []byte) error {
	*o = append((*o)[:0], b...)
	return nil
}

// Policy is audit.k8s.io/v1 Policy: the rules that set each request's
// level. The first rule that matches decides; a request no rule matches is
// not recorded (None).
type Policy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Rules, in order; the first match wins. At least one is required.
	Rules []PolicyRule `json:"rules"`
	// OmitStages are left out for every rule (added to each rule's own).
	OmitStages []Stage `json:"omitStages,omitempty"`
	// OmitManagedFields drops metadata.managedFields from recorded
	// bodies, unless a rule says otherwise.
	OmitManagedFields bool `json:"omitManagedFields,omitempty"`
}

// PolicyRule is audit.k8s.io/v1 PolicyRule. Every non-empty selector must
// match; an empty one matches everything.
type PolicyRule struct {
	// Level to record requests this rule matches at.
	Level Level `json:"level"`
	// Users (by name) the rule applies to.
	Users []string `json:"users,omitempty"`
	// UserGroups the rule applies to: a user in any of them matches.
	UserGroups []string `json:"userGroups,omitempty"`
	// Verbs the rule applies to.
	Verbs []string `json:"verbs,omitempty"`
	// Resources the rule applies to; with Namespaces, the rule matches
	// resource requests only.
	Resources []GroupResources `json:"resources,omitempty"`
	// Namespaces the rule applies to; "" is cluster-scoped resources.
	Namespaces []string `json:"namespaces,omitempty"`
	// NonResourceURLs the rule applies to: exact paths, or a prefix with
	// a trailing "*"; "*" is every non-resource path.
	NonResourceURLs []string `json:"nonResourceURLs,omitempty"`
	// OmitStages are not recorded for requests this rule matches.
	OmitStages []Stage `json:"omitStages,omitempty"`
	// OmitManagedFields overrides the policy's, if set.
	OmitManagedFields *bool `json:"omitManagedFields,omitempty"`
}

// GroupResources selects resources of one API group.
type GroupResources struct {
	// Group is the API group; "" is the core group.
	Group string `json:"group,omitempty"`
	// Resources: "pods", "pods/log" (a subresource), "pods/*" (the
	// resource and all its subresources), "*/scale" (that subresource of
	// any resource) or "*" (everything in the group). Empty is "*".
	Resources []string `json:"resources,omitempty"`
	// ResourceNames limits the rule to objects of these names.
	ResourceNames []string `json:"resourceNames,omitempty"`
}
