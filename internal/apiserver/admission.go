package apiserver

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff.dev/skiff/internal/admission"
	"skiff.dev/skiff/internal/auth/authn"
)

// admissionFor describes a write for the admission chain, or returns nil
// when the write is not admitted: no chain is configured, or the API
// server writes on its own behalf (no user on ctx).
func (s *Server) admissionFor(ctx context.Context, res *resource, op admission.Operation, subresource string, obj, old runtime.Object, dryRun bool) *admission.Attributes {
	user := authn.UserFrom(ctx)
	if s.cfg.Admission == nil || user == nil {
		return nil
	}
	a := &admission.Attributes{
		Operation:   op,
		Kind:        res.gvk,
		Resource:    res.def.GroupVersionResource(),
		Subresource: subresource,
		Object:      obj,
		OldObject:   old,
		DryRun:      dryRun,
		User:        user,
		Warn:        func(msg string) { addContextWarnings(ctx, msg) },
		Annotate:    func(key, value string) { auditAnnotate(ctx, key, value) },
	}
	for _, o := range []runtime.Object{obj, old} {
		if o != nil {
			m := objectMeta(o)
			a.Namespace, a.Name = m.GetNamespace(), m.GetName()
			break
		}
	}
	return a
}

// admit runs the mutating plug-ins on a create or update.
func (s *Server) admit(ctx context.Context, a *admission.Attributes) error {
	if a == nil {
		return nil
	}
	return s.cfg.Admission.Admit(ctx, a)
}

// admitValidate runs the validating plug-ins.
func (s *Server) admitValidate(ctx context.Context, a *admission.Attributes) error {
	if a == nil {
		return nil
	}
	return s.cfg.Admission.Validate(ctx, a)
}

// admitSubresourceCreate admits a create of a subresource whose body is a
// kind of its own (serviceaccounts/token with a TokenRequest, pods/eviction
// with an Eviction), as upstream: the object is the request's, the name
// the parent's. Mutating plug-ins may change obj.
func (s *Server) admitSubresourceCreate(ctx context.Context, res *resource, subresource, namespace, name string, obj runtime.Object, kind schema.GroupVersionKind, dryRun bool) error {
	a := s.admissionFor(ctx, res, admission.Create, subresource, obj, nil, dryRun)
	if a == nil {
		return nil
	}
	a.Kind, a.Namespace, a.Name = kind, namespace, name
	if err := s.admit(ctx, a); err != nil {
		return err
	}
	return s.admitValidate(ctx, a)
}
