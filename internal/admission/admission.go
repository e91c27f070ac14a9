// Package admission is the API server's admission chain: the plug-ins that
// see every write after authentication and authorization and may change it
// (mutating) or refuse it (validating), as upstream's admission controllers.
//
// The API server calls the chain for each write of a user's request:
//
//	create: defaults → PrepareForCreate → Admit → validation → Validate → store
//	update: defaults → PrepareForUpdate → Admit → validation → Validate → store
//	delete:                                              Validate → store
//	connect (pods/exec, attach, portforward, proxy):     Validate
//
// An update is admitted again when its compare-and-swap loses a race and is
// retried, as upstream does, so plug-ins must not assume one call per
// request. Writes the API server makes on its own behalf (its start-up
// namespaces) carry no user and are not admitted.
//
// Plug-ins are explicitly listed by the wiring (internal/app), in order;
// each is a small type in its own file or package. A plug-in that needs
// other objects (namespaces, limit ranges, quotas) declares its own small
// interface for them and is handed an implementation.
package admission

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff.dev/skiff/internal/auth/authn"
)

// Operation is what a request does to an object, named as upstream's
// admission.Operation (and AdmissionReview's request.operation).
type Operation string

// The operations.
const (
	Create  Operation = "CREATE"
	Update  Operation = "UPDATE"
	Delete  Operation = "DELETE"
	Connect Operation = "CONNECT"
)

// Attributes describe one admitted write.
type Attributes struct {
	Operation Operation
	// Kind is the kind of Object (for a subresource, the main resource's
	// kind unless the subresource has its own, such as Eviction).
	Kind schema.GroupVersionKind
	// Resource is the resource the request addressed; Subresource is ""
	// or e.g. "status", "binding", "eviction", "exec".
	Resource    schema.GroupVersionResource
	Subresource string
	Namespace   string
	Name        string
	// Object is the object as it will be stored (create, update); nil for
	// delete and connect. Mutating plug-ins change it in place.
	Object runtime.Object
	// OldObject is the stored object (update, delete); nil on create.
	OldObject runtime.Object
	// Options is the request's options object when the API server has it
	// decoded (e.g. the DeleteOptions of a delete), else nil.
	Options runtime.Object
	DryRun  bool
	// User is the requesting user (after impersonation). Never nil.
	User *authn.User

	// Warn adds a warning to the response (a Warning header, as upstream's
	// PodSecurity warn mode). Nil-safe: use AddWarning.
	Warn func(msg string)
	// Annotate records an annotation on the request's audit event (for
	// example pod-security.kubernetes.io/audit-violations). Nil-safe: use
	// AddAnnotation.
	Annotate func(key, value string)
}

// GroupResource is the addressed resource without its version.
func (a *Attributes) GroupResource() schema.GroupResource {
	return a.Resource.GroupResource()
}

// AddWarning adds a warning to the response, if the caller collects them.
func (a *Attributes) AddWarning(msg string) {
	if a.Warn != nil && msg != "" {
		a.Warn(msg)
	}
}

// AddAnnotation records an audit annotation, if the caller collects them.
func (a *Attributes) AddAnnotation(key, value string) {
	if a.Annotate != nil {
		a.Annotate(key, value)
	}
}

// Plugin is an admission plug-in. It must also be a Mutator, a Validator or
// both.
type Plugin interface {
	// Name is the plug-in's upstream name, e.g. "LimitRanger"; it appears
	// in errors and in `skiff audit`.
	Name() string
}

// Mutator may change a.Object before it is validated.
type Mutator interface {
	Plugin
	Admit(ctx context.Context, a *Attributes) error
}

// Validator may refuse a write after validation, without changing it.
type Validator interface {
	Plugin
	Validate(ctx context.Context, a *Attributes) error
}

// Chain runs plug-ins in order: all mutators on Admit, then all validators
// on Validate. The zero Chain admits everything.
type Chain struct {
	plugins []Plugin
}

// NewChain returns a chain of plugins, in the given order. It panics on a
// plug-in that is neither a Mutator nor a Validator: that is a wiring bug.
func NewChain(plugins ...Plugin) *Chain {
	for _, p := range plugins {
		_, m := p.(Mutator)
		_, v := p.(Validator)
		if !m && !v {
			panic(fmt.Sprintf("admission: plug-in %s neither mutates nor validates", p.Name()))
		}
	}
	return &Chain{plugins: plugins}
}

// Names lists the plug-ins' names in order (for `skiff audit` and logs).
func (c *Chain) Names() []string {
	if c == nil {
		return nil
	}
	names := make([]string, len(c.plugins))
	for i, p := range c.plugins {
		names[i] = p.Name()
	}
	return names
}

// Admit runs the mutating plug-ins. The first error stops the chain.
func (c *Chain) Admit(ctx context.Context, a *Attributes) error {
	if c == nil {
		return nil
	}
	for _, p := range c.plugins {
		if m, ok := p.(Mutator); ok {
			if err := m.Admit(ctx, a); err != nil {
				return wrap(p, a, err)
			}
		}
	}
	return nil
}

// Validate runs the validating plug-ins. The first error stops the chain.
func (c *Chain) Validate(ctx context.Context, a *Attributes) error {
	if c == nil {
		return nil
	}
	for _, p := range c.plugins {
		if v, ok := p.(Validator); ok {
			if err := v.Validate(ctx, a); err != nil {
				return wrap(p, a, err)
			}
		}
	}
	return nil
}

// wrap makes sure what reaches the client is a Kubernetes Status: a plug-in
// that returns a plain error refuses with 403 Forbidden, as upstream's
// admission chain does.
func wrap(p Plugin, a *Attributes, err error) error {
	if _, ok := err.(apierrors.APIStatus); ok {
		return err
	}
	return Forbidden(a, fmt.Errorf("%s: %w", p.Name(), err))
}

// Forbidden is the 403 a plug-in returns to refuse a write:
// `<resource> "<name>" is forbidden: <err>`, as upstream's
// admission.NewForbidden (the main resource, without the subresource).
func Forbidden(a *Attributes, err error) error {
	return apierrors.NewForbidden(a.GroupResource(), a.Name, err)
}
