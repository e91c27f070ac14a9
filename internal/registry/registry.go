// Package registry describes the REST resources Skiff serves. The API
// server has one generic handler for every verb; what differs per resource —
// upstream's defaults, validation, table columns, selectable fields — lives
// in a Strategy, one package per API group under internal/registry/.
//
// The generic handler owns everything that is the same for all resources:
// uid, creationTimestamp, generateName, resourceVersion, generation, the
// status/spec split (by the Go fields named Spec and Status), finalizers and
// deletion, managedFields. A Strategy only does what is specific to its kind.
package registry

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Resource is one REST resource of one group/version.
type Resource struct {
	// GroupVersion served, e.g. apps/v1 ("" group for core).
	GroupVersion schema.GroupVersion
	// Resource is the lower-case plural, e.g. "deployments".
	Resource string
	// Kind of a single object, e.g. "Deployment". The list kind is
	// Kind+"List".
	Kind string
	// SingularName, e.g. "deployment".
	SingularName string
	Namespaced   bool
	ShortNames   []string
	Categories   []string

	// New returns an empty object of Kind; NewList an empty list.
	New     func() runtime.Object
	NewList func() runtime.Object

	// Strategy holds the kind-specific behaviour. It may also implement
	// the optional interfaces below (StatusStrategy, TableConvertor,
	// FieldsFunc ...); the handler finds them by type assertion.
	Strategy Strategy

	// HasStatus: the resource has a /status subresource. Writes to the
	// main resource keep the stored status; writes to /status keep
	// everything but status.
	HasStatus bool
	// HasGeneration: metadata.generation starts at 1 and is bumped when
	// anything outside metadata and status changes.
	HasGeneration bool
	// StatusSubresources names further subresources written like
	// /status: the stored spec is kept, and the strategy (a
	// SubresourceStrategy) says what else may change — upstream's
	// certificatesigningrequests/approval. They need HasStatus.
	StatusSubresources []string
	// Scale, when set, gives the resource a /scale subresource.
	Scale *ScaleAccessor
	// CreateSubresources are create-only subresources answered from
	// the parent object, storing nothing (serviceaccounts/token).
	CreateSubresources []CreateSubresource
	// KeepStatusOnCreate: a create may set status (a kubelet registers
	// its Node with capacity, addresses and conditions); otherwise the
	// handler clears status on create.
	KeepStatusOnCreate bool
	// AllowCreateOnUpdate: a PUT of a missing object creates it (true
	// upstream for e.g. endpoints, leases, events and RBAC objects).
	AllowCreateOnUpdate bool
	// StoredAs, when set, makes this resource a view of another one: the
	// same objects under the same keys, stored once in the other's
	// version and converted on every read and write — as upstream
	// serves autoscaling/v1 HPAs from autoscaling/v2 storage, and
	// events.k8s.io events from core/v1 events.
	StoredAs *StorageView
	// Verbs overrides the default verb list (create, delete,
	// deletecollection, get, list, patch, update, watch). Nil: default.
	Verbs []string
	// StorageVersionHash for discovery; empty means computed from the
	// group, version and kind.
	StorageVersionHash string
	// GCPolicy is what a delete that names no propagation policy does
	// with the object's dependents (upstream's
	// DefaultGarbageCollectionPolicy): Background unless set.
	GCPolicy GCPolicy
	// DefaultPropagationWarning, if set, is sent with every delete that
	// leaves the propagation to GCPolicy (batch/v1 Jobs warn that their
	// pods are kept).
	DefaultPropagationWarning string
}

// GCPolicy is a resource's default delete propagation.
type GCPolicy int

const (
	// GCBackground deletes the object now; the garbage collector
	// deletes its dependents afterwards.
	GCBackground GCPolicy = iota
	// GCOrphan keeps the object (with the "orphan" finalizer) until the
	// garbage collector has removed it from its dependents' owners.
	GCOrphan
	// GCUnsupported: deletes never add the garbage collector's
	// finalizers (events).
	GCUnsupported
)

// GroupVersionResource of the resource.
func (r *Resource) GroupVersionResource() schema.GroupVersionResource {
	return r.GroupVersion.WithResource(r.Resource)
}

// GroupVersionKind of its objects.
func (r *Resource) GroupVersionKind() schema.GroupVersionKind {
	return r.GroupVersion.WithKind(r.Kind)
}

// Strategy is what every resource supplies. Objects passed in are of the
// resource's Go type (pointer), already decoded; methods may mutate obj but
// never old.
type Strategy interface {
	// Default fills in upstream's defaults (run on create and update, and
	// on every patch result, before validation).
	Default(obj runtime.Object)
	// PrepareForCreate resets fields a client may not set on create
	// beyond what the generic handler resets (status is reset by the
	// handler when HasStatus). Most strategies do nothing here.
	PrepareForCreate(ctx context.Context, obj runtime.Object)
	// PrepareForUpdate does the same for updates of the main resource.
	PrepareForUpdate(ctx context.Context, obj, old runtime.Object)
	// Validate checks a new object, with upstream's field paths and
	// messages. ObjectMeta is validated by the handler beforehand unless
	// the strategy implements MetaValidator.
	Validate(ctx context.Context, obj runtime.Object) field.ErrorList
	// ValidateUpdate checks an update, including immutable fields.
	ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList
}

// StatusStrategy is optional: validation of writes to /status.
type StatusStrategy interface {
	ValidateStatusUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList
}

// StatusPreparer is optional: a write to /status keeps the new status and
// metadata and the stored spec; a resource whose status writes must also
// keep some stored metadata (a Deployment's labels, a pod's owner
// references) restores it here, as upstream's status strategies'
// PrepareForUpdate.
type StatusPreparer interface {
	PrepareForStatusUpdate(obj, old runtime.Object)
}

// SubresourceStrategy is optional: preparation and validation of writes to
// a resource's StatusSubresources. PrepareForSubresourceUpdate runs after
// the stored spec has been copied into obj.
type SubresourceStrategy interface {
	PrepareForSubresourceUpdate(subresource string, obj, old runtime.Object)
	ValidateSubresourceUpdate(ctx context.Context, subresource string, obj, old runtime.Object) field.ErrorList
}

// MetaValidator is optional: a resource whose names follow another rule
// than DNS-1123 subdomain (e.g. namespaces and services are DNS-1123
// labels, RBAC names are path segments) validates its own ObjectMeta.
type MetaValidator interface {
	ValidateMeta(ctx context.Context, obj runtime.Object, old runtime.Object) field.ErrorList
}

// TableConvertor is optional: upstream's `kubectl get` columns. Rows
// returns one cell per column definition, in order. Columns with Priority 1
// are shown only by -o wide. Resources without one get NAME and AGE
// (Created At).
type TableConvertor interface {
	ColumnDefinitions() []metav1.TableColumnDefinition
	Row(obj runtime.Object) []interface{}
}

// FieldsFunc is optional: the fields a field selector may use, beyond
// metadata.name and metadata.namespace which every resource supports.
type FieldsFunc interface {
	SelectableFields(obj runtime.Object) fields.Set
}

// WarningsFunc is optional: non-fatal warnings returned to the client
// (the Warning header), as upstream returns for deprecated fields.
type WarningsFunc interface {
	Warnings(ctx context.Context, obj, old runtime.Object) []string
}

// CreateSubresource is a subresource served by create only that computes
// an answer and stores nothing, as upstream's serviceaccounts/token
// (TokenRequest). The API server decodes the body into New() as Kind and
// answers 201 with what Create returns; the requesting user is on ctx.
// Create checks the body (its name against the URL's, validation) and
// returns API errors (apierrors) as they should reach the client, and
// warnings for the response's Warning headers.
type CreateSubresource struct {
	Name   string
	Kind   schema.GroupVersionKind
	New    func() runtime.Object
	Create func(ctx context.Context, namespace, name string, obj runtime.Object) (out runtime.Object, warnings []string, err error)
}

// ScaleAccessor maps a resource to autoscaling/v1 Scale.
type ScaleAccessor struct {
	// Get reads spec.replicas, status.replicas and the label selector
	// (as a string, as upstream's Scale.status.selector).
	Get func(obj runtime.Object) (specReplicas, statusReplicas int32, selector string)
	// Set writes spec.replicas.
	Set func(obj runtime.Object, replicas int32)
}

// Context key helpers let strategies know who is asking (for example the
// pod strategy's node restriction later on) without importing the API
// server.
type ctxKey int

const requestUserKey ctxKey = iota

// WithUser returns ctx carrying the requesting user's name.
func WithUser(ctx context.Context, user string) context.Context {
	return context.WithValue(ctx, requestUserKey, user)
}

// UserFrom returns the requesting user's name, if any.
func UserFrom(ctx context.Context) string {
	u, _ := ctx.Value(requestUserKey).(string)
	return u
}

// GracefulDeleter is optional: resources whose deletion waits for a grace
// period (pods, until the kubelet has stopped the containers). It returns
// the grace period in seconds for deleting obj; requested is the client's
// gracePeriodSeconds (nil if unset). 0 deletes at once.
type GracefulDeleter interface {
	GracePeriod(obj runtime.Object, requested *int64) int64
}

// DeletionHolder is optional: a resource whose deletion also waits on
// something other than metadata.finalizers — a namespace waits until its
// spec.finalizers are gone, which the namespace controller removes after
// deleting everything in it.
type DeletionHolder interface {
	// HoldsDeletion reports whether obj must stay after being marked
	// for deletion.
	HoldsDeletion(obj runtime.Object) bool
	// BeginDeletion updates an object being marked for deletion (a
	// namespace's status.phase becomes Terminating).
	BeginDeletion(obj runtime.Object)
}

// StorageView describes how a resource is kept in another resource's
// storage.
type StorageView struct {
	// Resource is the stored resource; it must be served too.
	Resource schema.GroupVersionResource
	// ToStored converts an object of this resource to the stored type;
	// FromStored converts back. Neither may mutate its argument.
	ToStored   func(obj runtime.Object) (runtime.Object, error)
	FromStored func(obj runtime.Object) (runtime.Object, error)
}
