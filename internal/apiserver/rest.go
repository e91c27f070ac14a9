package apiserver

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// serveResource runs one verb on one resource.
func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	ctx := r.Context()
	if res.deprecated != "" {
		addWarnings(w, []string{res.deprecated})
	}
	if res.def.Namespaced && info.Namespace == "" && info.Verb != "list" && info.Verb != "watch" {
		s.writeError(w, r, errNotFoundPath())
		return
	}
	if !res.def.Namespaced && info.Namespace != "" && res.gr.Resource != "namespaces" {
		s.writeError(w, r, errNotFoundPath())
		return
	}
	if !res.def.Namespaced {
		info.Namespace = ""
	}
	switch info.Subresource {
	case "":
	case "status":
		if !res.def.HasStatus {
			s.writeError(w, r, errNotFoundPath())
			return
		}
	case "scale":
		if res.def.Scale == nil {
			s.writeError(w, r, errNotFoundPath())
			return
		}
		s.serveScale(w, r, res, info)
		return
	case "finalize":
		if res.gr.Group != "" || res.gr.Resource != "namespaces" || info.Verb != "update" {
			s.writeError(w, r, errNotFoundPath())
			return
		}
		s.serveFinalize(w, r, res, info)
		return
	case "log", "exec", "attach", "portforward":
		if res.gr.Group != "" || res.gr.Resource != "pods" {
			s.writeError(w, r, errNotFoundPath())
			return
		}
		s.servePodStream(w, r, res, info)
		return
	case "binding", "eviction":
		if res.gr.Group != "" || res.gr.Resource != "pods" || info.Verb != "create" {
			s.writeError(w, r, errNotFoundPath())
			return
		}
		if info.Subresource == "binding" {
			s.serveBinding(w, r, res, info)
		} else {
			s.serveEviction(w, r, res, info)
		}
		return
	default:
		if sub := createSubresource(res.def, info.Subresource); sub != nil {
			s.serveCreateSubresource(w, r, res, sub, info)
			return
		}
		if !res.def.HasStatus || !slices.Contains(res.def.StatusSubresources, info.Subresource) {
			s.writeError(w, r, errNotFoundPath())
			return
		}
	}
	if info.Subresource != "" && info.Verb != "get" && info.Verb != "update" && info.Verb != "patch" {
		s.writeError(w, r, errMethodNotSupported(res.gr, info.Verb))
		return
	}
	if !s.verbAllowed(res, info.Verb) {
		s.writeError(w, r, errMethodNotSupported(res.gr, info.Verb))
		return
	}
	switch info.Verb {
	case "get":
		s.serveGet(ctx, w, r, res, info)
	case "list":
		s.serveList(ctx, w, r, res, info)
	case "watch":
		s.serveWatch(ctx, w, r, res, info)
	case "create":
		s.serveCreate(ctx, w, r, res, info)
	case "update":
		s.serveUpdate(ctx, w, r, res, info)
	case "patch":
		s.servePatch(ctx, w, r, res, info)
	case "delete":
		s.serveDelete(ctx, w, r, res, info)
	case "deletecollection":
		s.serveDeleteCollection(ctx, w, r, res, info)
	default:
		s.writeError(w, r, errMethodNotSupported(res.gr, info.Verb))
	}
}

func (s *Server) verbAllowed(res *resource, verb string) bool {
	for _, v := range defaultVerbs(res.def) {
		if v == verb {
			return true
		}
	}
	return false
}

func parseDryRun(q url.Values) (bool, error) {
	for _, v := range q["dryRun"] {
		if v != "All" {
			return false, errBadRequest("Invalid dry run value %q: only 'All' is supported", v)
		}
		return true, nil
	}
	return false, nil
}

// writeOpts reads dryRun and fieldManager from the query.
func writeOpts(r *http.Request) (writeOptions, error) {
	q := r.URL.Query()
	dry, err := parseDryRun(q)
	if err != nil {
		return writeOptions{}, err
	}
	fm := q.Get("fieldManager")
	if len(fm) > 128 {
		return writeOptions{}, errBadRequest("fieldManager: Too long: may not be more than 128 bytes")
	}
	if fm == "" {
		fm = managerFromUserAgent(r.UserAgent())
	}
	return writeOptions{dryRun: dry, fieldManager: fm}, nil
}

func (s *Server) serveGet(ctx context.Context, w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	var obj runtime.Object
	var err error
	if rv := r.URL.Query().Get("resourceVersion"); rv == "0" {
		// "Any" version: the cache is good enough.
		if o, ok := res.cacheGet(res.key(info.Namespace, info.Name)); ok {
			obj = o
		} else {
			err = apierrors.NewNotFound(res.gr, info.Name)
		}
	} else {
		obj, err = res.get(ctx, info.Namespace, info.Name)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.respond(w, r, res, http.StatusOK, obj)
}

func (s *Server) serveCreate(ctx context.Context, w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	if info.Name != "" && info.Subresource == "" {
		s.writeError(w, r, errMethodNotSupported(res.gr, "create"))
		return
	}
	opts, err := writeOpts(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	obj, warnings, err := s.decodeObject(r, res, body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if vc, ok := res.def.Strategy.(VirtualCreater); ok {
		s.serveVirtualCreate(ctx, w, r, res, vc, obj, info)
		return
	}
	ctx, sink := withWarnings(ctx)
	out, err := s.create(ctx, res, obj, info.Namespace, opts)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sink.writeTo(w, warnings)
	s.respond(w, r, res, http.StatusCreated, out)
}

func (s *Server) serveUpdate(ctx context.Context, w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	opts, err := writeOpts(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	obj, warnings, err := s.decodeObject(r, res, body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	u := updateRequest{
		res: res, namespace: info.Namespace, name: info.Name, subresource: info.Subresource,
		allowCreate: res.def.AllowCreateOnUpdate && info.Subresource == "", opts: opts,
		compute: func(_ context.Context, cur runtime.Object) (runtime.Object, bool, error) {
			return obj.DeepCopyObject(), false, nil
		},
	}
	if res.def.Namespaced && objectMeta(obj).GetNamespace() == "" {
		objectMeta(obj).SetNamespace(info.Namespace)
	}
	ctx, sink := withWarnings(ctx)
	out, created, err := s.update(ctx, u)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sink.writeTo(w, warnings)
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	s.respond(w, r, res, code, out)
}

// deleteOptions reads DeleteOptions from the body (if any) and the query.
func (s *Server) deleteOptions(r *http.Request) (*metav1.DeleteOptions, bool, error) {
	opts := &metav1.DeleteOptions{}
	body, err := readBody(r)
	if err != nil {
		return nil, false, err
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := s.decodeInto(r, body, opts, metav1.SchemeGroupVersion.WithKind("DeleteOptions")); err != nil {
			// Older clients send JSON without apiVersion and kind.
			if err2 := jsonUnmarshal(body, opts); err2 != nil {
				return nil, false, err
			}
		}
	}
	q := r.URL.Query()
	if err := s.paramCodec.DecodeParameters(q, schema.GroupVersion{Version: "v1"}, opts); err != nil {
		return nil, false, errBadRequest("%v", err)
	}
	dry := false
	for _, v := range opts.DryRun {
		if v != "All" {
			return nil, false, errBadRequest("Invalid dry run value %q: only 'All' is supported", v)
		}
		dry = true
	}
	if opts.PropagationPolicy != nil {
		switch *opts.PropagationPolicy {
		case metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan:
		default:
			return nil, false, apierrors.NewInvalid(metav1.SchemeGroupVersion.WithKind("DeleteOptions").GroupKind(), "",
				fieldInvalid("propagationPolicy", *opts.PropagationPolicy, "propagationPolicy must be one of Foreground, Background, Orphan"))
		}
	}
	return opts, dry, nil
}

func (s *Server) serveDelete(ctx context.Context, w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	opts, dry, err := s.deleteOptions(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	result, err := s.delete(ctx, res, info.Namespace, info.Name, opts, dry)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if res.gr == namespacesGR && !dry {
		// Creates check the namespace in the watch cache: once the client
		// hears the namespace is terminating, no create may slip in.
		s.waitWritten(ctx, result.obj)
	}
	if res.def.DefaultPropagationWarning != "" && opts.PropagationPolicy == nil && opts.OrphanDependents == nil { //nolint:staticcheck
		addWarnings(w, []string{res.def.DefaultPropagationWarning})
	}
	if !result.deleted {
		// Upstream answers 200 for an object left waiting on finalizers
		// or a grace period, and 202 only when the client explicitly
		// asked for its dependents to be deleted (orphanDependents=false).
		code := http.StatusOK
		if o := opts.OrphanDependents; o != nil && !*o { //nolint:staticcheck
			code = http.StatusAccepted
		}
		s.respond(w, r, res, code, result.obj)
		return
	}
	if _, ok := result.obj.(interface{ GetObjectMeta() metav1.Object }); ok && returnsDeletedObject(res) {
		s.respond(w, r, res, http.StatusOK, result.obj)
		return
	}
	s.respond(w, r, res, http.StatusOK, statusSuccess(res, result.obj))
}

// returnsDeletedObject: upstream returns the last state of a deleted object
// instead of a Status for these resources (their registries set
// ReturnDeletedObject).
func returnsDeletedObject(res *resource) bool {
	switch res.gr.Group {
	case "":
		switch res.gr.Resource {
		case "pods", "persistentvolumeclaims", "persistentvolumes", "podtemplates", "resourcequotas", "serviceaccounts", "services":
			return true
		}
	case "storage.k8s.io", "resource.k8s.io":
		return true
	}
	return false
}

func (s *Server) serveDeleteCollection(ctx context.Context, w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	opts, dry, err := s.deleteOptions(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sel, err := parseSelectors(r.URL.Query(), res)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.hub.WaitFresh(ctx); err != nil {
		s.writeError(w, r, err)
		return
	}
	if res.def.DefaultPropagationWarning != "" && opts.PropagationPolicy == nil && opts.OrphanDependents == nil { //nolint:staticcheck
		addWarnings(w, []string{res.def.DefaultPropagationWarning})
	}
	items, _ := res.cacheList(res.listPrefix(info.Namespace), sel.matches)
	// As upstream, the answer is the list of what was deleted (or marked
	// for deletion).
	done := make([]runtime.Object, 0, len(items))
	for _, it := range items {
		m := objectMeta(it)
		result, err := s.delete(ctx, res, m.GetNamespace(), m.GetName(), opts, dry)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		done = append(done, result.obj)
	}
	list, err := s.buildList(res, done, s.hub.Revision(), "", nil)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.respond(w, r, res, http.StatusOK, list)
}

var namespacesGR = schema.GroupResource{Resource: "namespaces"}

// waitWritten waits (briefly) until the watch cache has seen the write that
// produced obj, so later reads through the cache observe it.
func (s *Server) waitWritten(ctx context.Context, obj runtime.Object) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return
	}
	rev, err := strconv.ParseInt(m.GetResourceVersion(), 10, 64)
	if err != nil || rev <= 0 {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, waitForRVTimeout)
	defer cancel()
	_ = s.hub.WaitForRevision(wctx, rev) // best effort: the write itself succeeded
}
