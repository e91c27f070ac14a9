package apiserver

import (
	"context"
	"fmt"
	"net/http"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// VirtualCreater is optional on a registry Strategy: a resource whose
// create computes an answer and stores nothing, as upstream's access
// reviews (SubjectAccessReview and friends) and SelfSubjectReview. The
// handler decodes the body, sets metadata.namespace from the URL, runs
// Default and Validate (422 on errors), and answers 201 with what
// CreateVirtual returns; the requesting user is on ctx (authn.UserFrom).
// Such a resource should serve only the create verb.
type VirtualCreater interface {
	CreateVirtual(ctx context.Context, obj runtime.Object) (runtime.Object, error)
}

// WriteAdmitter is optional on a registry Strategy: a last check of a
// create (old is nil) or update of the main resource, after validation,
// with the requesting user on ctx — the RBAC registries' escalation
// checks. Its error is returned to the client as is (a Forbidden Status).
type WriteAdmitter interface {
	AdmitWrite(ctx context.Context, obj, old runtime.Object) error
}

func admitWrite(ctx context.Context, res *resource, obj, old runtime.Object) error {
	if wa, ok := res.def.Strategy.(WriteAdmitter); ok {
		return wa.AdmitWrite(ctx, obj, old)
	}
	return nil
}

func (s *Server) serveVirtualCreate(ctx context.Context, w http.ResponseWriter, r *http.Request, res *resource, vc VirtualCreater, obj runtime.Object, info requestInfo) {
	m := objectMeta(obj)
	if res.def.Namespaced {
		if m.GetNamespace() == "" {
			m.SetNamespace(info.Namespace)
		} else if m.GetNamespace() != info.Namespace {
			s.writeError(w, r, errBadRequest("the namespace of the provided object does not match the namespace sent on the request"))
			return
		}
	}
	res.def.Strategy.Default(obj)
	if errs := res.def.Strategy.Validate(ctx, obj); len(errs) > 0 {
		s.writeError(w, r, errInvalid(res.gvk.GroupKind(), m.GetName(), errs))
		return
	}
	out, err := vc.CreateVirtual(ctx, obj)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out.GetObjectKind().SetGroupVersionKind(res.gvk)
	s.respond(w, r, res, http.StatusCreated, out)
}

// CachedObjects reads one served resource from the API server's watch
// cache, for in-process consumers (the RBAC authorizer) that would
// otherwise need an informer over HTTP. Objects are shared with the cache
// and must not be modified. Before Start the cache is empty.
type CachedObjects struct{ res *resource }

// Cached returns the cache of a served resource.
func (s *Server) Cached(gvr schema.GroupVersionResource) (CachedObjects, error) {
	res := s.resources[gvr.GroupVersion()][gvr.Resource]
	if res == nil {
		return CachedObjects{}, fmt.Errorf("apiserver: %s is not served", gvr)
	}
	return CachedObjects{res: res}, nil
}

// List returns the objects of a namespace ("" = all, or cluster-scoped),
// in key order.
func (c CachedObjects) List(namespace string) []runtime.Object {
	items, _ := c.res.cacheList(c.res.listPrefix(namespace), nil)
	return items
}

// Generation changes whenever the resource's cached objects change; see
// watchcache.Cache.Generation.
func (c CachedObjects) Generation() uint64 {
	return c.res.cache.Generation()
}

// Get returns one object.
func (c CachedObjects) Get(namespace, name string) (runtime.Object, bool) {
	return c.res.cacheGet(c.res.key(namespace, name))
}
