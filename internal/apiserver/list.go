package apiserver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry"
	"skiff.dev/skiff/internal/storage"
)

// waitForRVTimeout bounds how long a read waits for the cache to reach a
// requested resourceVersion before answering 504, as upstream (3 s).
const waitForRVTimeout = 3 * time.Second

// selectors are a request's label and field selectors.
type selectors struct {
	label labels.Selector
	field fields.Selector
	res   *resource
}

func (s selectors) empty() bool { return s.label.Empty() && s.field.Empty() }

func (s selectors) matches(obj runtime.Object) bool {
	m := objectMeta(obj)
	if !s.label.Empty() && !s.label.Matches(labels.Set(m.GetLabels())) {
		return false
	}
	if s.field.Empty() {
		return true
	}
	return s.field.Matches(objectFields(s.res, obj))
}

func objectFields(res *resource, obj runtime.Object) fields.Set {
	m := objectMeta(obj)
	set := fields.Set{"metadata.name": m.GetName()}
	if res.def.Namespaced {
		set["metadata.namespace"] = m.GetNamespace()
	}
	if ff, ok := res.def.Strategy.(registry.FieldsFunc); ok {
		for k, v := range ff.SelectableFields(obj) {
			set[k] = v
		}
	}
	return set
}

func parseSelectors(q url.Values, res *resource) (selectors, error) {
	sel := selectors{label: labels.Everything(), field: fields.Everything(), res: res}
	if ls := q.Get("labelSelector"); ls != "" {
		parsed, err := labels.Parse(ls)
		if err != nil {
			return sel, errBadRequest("unable to parse requirement: %v", err)
		}
		sel.label = parsed
	}
	if fs := q.Get("fieldSelector"); fs != "" {
		parsed, err := fields.ParseSelector(fs)
		if err != nil {
			return sel, errBadRequest("%v", err)
		}
		allowed := objectFields(res, res.newEmpty())
		for _, req := range parsed.Requirements() {
			if _, ok := allowed[req.Field]; !ok {
				return sel, errBadRequest("field label not supported: %s", req.Field)
			}
		}
		sel.field = parsed
	}
	return sel, nil
}

// continueToken is upstream's opaque continue value: the revision of the
// first page and the key to start the next one at.
type continueToken struct {
	APIVersion string `json:"v"`
	Revision   int64  `json:"rv"`
	StartKey   string `json:"start"`
}

func encodeContinue(rev int64, key string) string {
	b, _ := json.Marshal(continueToken{APIVersion: "meta.k8s.io/v1", Revision: rev, StartKey: key})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeContinue(s string) (continueToken, error) {
	var t continueToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &t)
	}
	if err != nil || t.APIVersion != "meta.k8s.io/v1" || t.Revision <= 0 {
		return t, errBadRequest("continue key is not valid: %s", "the continue parameter is malformed")
	}
	return t, nil
}

func fieldInvalid(path string, value interface{}, msg string) field.ErrorList {
	return field.ErrorList{field.Invalid(field.NewPath(path), value, msg)}
}

func listOptionsInvalid(path string, value interface{}, msg string) error {
	return apierrors.NewInvalid(metav1.SchemeGroupVersion.WithKind("ListOptions").GroupKind(), "", fieldInvalid(path, value, msg))
}

func (s *Server) serveList(ctx context.Context, w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	q := r.URL.Query()
	sel, err := parseSelectors(q, res)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rv, match, cont := q.Get("resourceVersion"), q.Get("resourceVersionMatch"), q.Get("continue")
	var limit int64
	if l := q.Get("limit"); l != "" {
		if limit, err = strconv.ParseInt(l, 10, 64); err != nil || limit < 0 {
			s.writeError(w, r, errBadRequest("limit must be a non-negative integer, not %q", l))
			return
		}
	}
	switch match {
	case "", string(metav1.ResourceVersionMatchNotOlderThan), string(metav1.ResourceVersionMatchExact):
	default:
		s.writeError(w, r, listOptionsInvalid("resourceVersionMatch", match, "must be one of NotOlderThan, Exact"))
		return
	}
	if match != "" && rv == "" {
		s.writeError(w, r, listOptionsInvalid("resourceVersionMatch", match, "resourceVersionMatch is forbidden unless resourceVersion is provided"))
		return
	}
	if cont != "" && rv != "" && rv != "0" {
		s.writeError(w, r, listOptionsInvalid("resourceVersion", rv, "specifying resource version is not allowed when using continue"))
		return
	}
	if match == string(metav1.ResourceVersionMatchExact) && rv == "0" {
		s.writeError(w, r, listOptionsInvalid("resourceVersionMatch", match, "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\""))
		return
	}
	var wantRev int64
	if rv != "" {
		if wantRev, err = strconv.ParseInt(rv, 10, 64); err != nil || wantRev < 0 {
			s.writeError(w, r, errBadRequest("invalid resource version %q", rv))
			return
		}
	}

	var page listPage
	switch {
	case cont != "" || match == string(metav1.ResourceVersionMatchExact) || (limit > 0 && rv != "0"):
		page, err = s.listFromStore(ctx, res, info.Namespace, sel, limit, cont, wantRev, match)
	default:
		page, err = s.listFromCache(ctx, res, info.Namespace, sel, rv, wantRev)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.respondList(w, r, res, page)
}

// respondList streams a list in JSON and protobuf; a Table, metadata only
// or YAML is built as one typed list and converted as any response.
func (s *Server) respondList(w http.ResponseWriter, r *http.Request, res *resource, page listPage) {
	out, ok := negotiateOutput(r.Header.Get("Accept"), true)
	if !ok {
		s.writeError(w, r, errNotAcceptable())
		return
	}
	if streamingList(r, res, out) {
		s.writeListStream(w, r, res, out, page)
		return
	}
	list, err := s.buildList(res, page.items, page.rev, page.cont, page.remaining)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.respond(w, r, res, http.StatusOK, list)
}

// waitCache makes the cache at least as new as the request needs: every
// acknowledged write for rv "" (a consistent read), rev for a number, and
// anything for "0".
func (s *Server) waitCache(ctx context.Context, rv string, rev int64) error {
	wctx, cancel := context.WithTimeout(ctx, waitForRVTimeout)
	defer cancel()
	var err error
	switch {
	case rv == "":
		err = s.hub.WaitFresh(wctx)
	case rev > 0:
		err = s.hub.WaitForRevision(wctx, rev)
	}
	if err != nil && ctx.Err() == nil {
		if rev > 0 {
			return tooLargeRV(rev, s.hub.Revision())
		}
		return apierrors.NewTimeoutError("the watch cache did not catch up with the store in time", 1)
	}
	return err
}

// tooLargeRV is upstream's 504 for a resourceVersion the server has not
// reached (the client retries).
func tooLargeRV(want, have int64) error {
	err := apierrors.NewTimeoutError(fmt.Sprintf("Too large resource version: %d, current: %d", want, have), 1)
	err.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: metav1.CauseTypeResourceVersionTooLarge, Message: "Too large resource version"}}
	return err
}

func (s *Server) listFromCache(ctx context.Context, res *resource, namespace string, sel selectors, rv string, rev int64) (listPage, error) {
	if err := s.waitCache(ctx, rv, rev); err != nil {
		return listPage{}, err
	}
	filter := sel.matches
	if sel.empty() {
		filter = nil
	}
	items, cacheRev := res.cacheList(res.listPrefix(namespace), filter)
	return listPage{items: items, rev: cacheRev}, nil
}

func (s *Server) buildList(res *resource, items []runtime.Object, rev int64, cont string, remaining *int64) (runtime.Object, error) {
	list := res.def.NewList()
	list.GetObjectKind().SetGroupVersionKind(res.gvk.GroupVersion().WithKind(res.def.Kind + "List"))
	if err := meta.SetList(list, items); err != nil {
		return nil, fmt.Errorf("build %s list: %w", res, err)
	}
	lm, err := meta.ListAccessor(list)
	if err != nil {
		return nil, err
	}
	lm.SetResourceVersion(strconv.FormatInt(rev, 10))
	lm.SetContinue(cont)
	lm.SetRemainingItemCount(remaining)
	return list, nil
}

// listFromStore serves paged and exact-revision lists from the store,
// which keeps history, so every page of one list reads the same revision.
func (s *Server) listFromStore(ctx context.Context, res *resource, namespace string, sel selectors, limit int64, cont string, rev int64, match string) (listPage, error) {
	prefix := res.listPrefix(namespace)
	start := ""
	readRev := int64(0)
	if match == string(metav1.ResourceVersionMatchExact) {
		readRev = rev
	}
	if cont != "" {
		tok, err := decodeContinue(cont)
		if err != nil {
			return listPage{}, err
		}
		if len(tok.StartKey) < len(prefix) || tok.StartKey[:len(prefix)] != prefix {
			return listPage{}, errBadRequest("continue key is not valid: it does not belong to this list")
		}
		start, readRev = tok.StartKey, tok.Revision
	}
	var items []runtime.Object
	var more bool
	var remaining int64
	for {
		page, err := s.cfg.Store.List(ctx, prefix, storage.ListOptions{Revision: readRev, StartKey: start, Limit: limit})
		if errors.Is(err, storage.ErrCompacted) {
			if cont != "" {
				return listPage{}, apierrors.NewResourceExpired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.")
			}
			return listPage{}, apierrors.NewResourceExpired(fmt.Sprintf("The resourceVersion for the provided list is too old."))
		}
		if errors.Is(err, storage.ErrFutureRevision) {
			return listPage{}, tooLargeRV(readRev, s.hub.Revision())
		}
		if err != nil {
			return listPage{}, err
		}
		readRev = page.Revision
		for i, kv := range page.Items {
			obj, err := res.decode(kv.Value, kv.ModRevision)
			if err != nil {
				return listPage{}, err
			}
			if sel.matches(obj) {
				items = append(items, obj)
			}
			if limit > 0 && int64(len(items)) == limit {
				more = i < len(page.Items)-1 || page.More
				start = kv.Key + "\x00"
				remaining = page.RemainingCount + int64(len(page.Items)-1-i)
				break
			}
		}
		if limit > 0 && int64(len(items)) == limit {
			break
		}
		if !page.More || len(page.Items) == 0 {
			more = false
			break
		}
		start = page.Items[len(page.Items)-1].Key + "\x00"
	}
	var token string
	var rem *int64
	if more {
		token = encodeContinue(readRev, start)
		if sel.empty() {
			rem = &remaining
		}
	}
	return listPage{items: items, rev: readRev, cont: token, remaining: rem}, nil
}
