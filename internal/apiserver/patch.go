package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

func (s *Server) servePatch(ctx context.Context, w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	opts, err := writeOpts(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		s.writeError(w, r, errUnsupportedMediaType(r.Header.Get("Content-Type")))
		return
	}
	switch mt {
	case mediaJSONPatch, mediaMergePatch, mediaStrategicPatch, mediaApplyPatch:
	default:
		s.writeError(w, r, errUnsupportedMediaType(mt))
		return
	}
	fv, err := parseFieldValidation(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		s.writeError(w, r, errBadRequest("the request body is empty: a patch is required"))
		return
	}
	q := r.URL.Query()
	force := isTrue(q.Get("force"))
	if force && mt != mediaApplyPatch {
		s.writeError(w, r, apierrors.NewInvalid(metav1.SchemeGroupVersion.WithKind("PatchOptions").GroupKind(), "",
			field.ErrorList{field.Forbidden(field.NewPath("force"), "may not be specified for non-apply patch")}))
		return
	}
	if mt == mediaApplyPatch && q.Get("fieldManager") == "" {
		s.writeError(w, r, apierrors.NewInvalid(metav1.SchemeGroupVersion.WithKind("PatchOptions").GroupKind(), "",
			field.ErrorList{field.Required(field.NewPath("fieldManager"), "is required for apply patch")}))
		return
	}
	var warnings []string
	compute := func(ctx context.Context, cur runtime.Object) (runtime.Object, bool, error) {
		if mt == mediaApplyPatch {
			return s.applyPatch(res, info, cur, body, opts.fieldManager, force)
		}
		if cur == nil {
			return nil, false, apierrors.NewNotFound(res.gr, info.Name)
		}
		obj, w, err := s.mergePatch(r, res, mt, cur, body, fv)
		warnings = w
		return obj, false, err
	}
	u := updateRequest{
		res: res, namespace: info.Namespace, name: info.Name, subresource: info.Subresource,
		allowCreate: mt == mediaApplyPatch && info.Subresource == "", opts: opts, compute: compute,
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

// mergePatch applies a JSON, merge or strategic-merge patch to cur and
// decodes the result, enforcing fieldValidation on what the patch added.
func (s *Server) mergePatch(r *http.Request, res *resource, mt string, cur runtime.Object, patch []byte, fv fieldValidation) (runtime.Object, []string, error) {
	curJSON, err := runtime.Encode(s.codecs.json, cur)
	if err != nil {
		return nil, nil, err
	}
	var patched []byte
	switch mt {
	case mediaJSONPatch:
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, nil, errBadRequest("%v", err)
		}
		if patched, err = p.Apply(curJSON); err != nil {
			// Upstream's answer to a failed "test" or a missing path: 422
			// naming no resource (kubectl: "The request is invalid").
			return nil, nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", schema.GroupResource{}, "", err.Error(), 0, false)
		}
	case mediaMergePatch:
		if !json.Valid(patch) {
			return nil, nil, errBadRequest("error decoding patch: invalid JSON")
		}
		if patched, err = jsonpatch.MergePatch(curJSON, patch); err != nil {
			return nil, nil, patchFailed(res, objectMeta(cur).GetName(), err)
		}
	case mediaStrategicPatch:
		if !json.Valid(patch) {
			return nil, nil, errBadRequest("error decoding patch: invalid JSON")
		}
		if patched, err = strategicMergePatch(curJSON, patch, res.def.New()); err != nil {
			return nil, nil, patchFailed(res, objectMeta(cur).GetName(), err)
		}
	}
	dec := s.codecs.json
	if fv != validationIgnore {
		dec = s.codecs.jsonStrict
	}
	gvk := res.gvk
	obj, _, err := dec.Decode(patched, &gvk, res.def.New())
	var warnings []string
	if err != nil && runtime.IsStrictDecodingError(err) && obj != nil {
		if fv == validationStrict {
			return nil, nil, errBadRequest("%v", err)
		}
		var sde interface{ Errors() []error }
		if ok := asStrict(err, &sde); ok {
			for _, e := range sde.Errors() {
				warnings = append(warnings, e.Error())
			}
		}
		err = nil
	}
	if err != nil {
		return nil, nil, patchResultInvalid(mt, patch, patched, err)
	}
	obj.GetObjectKind().SetGroupVersionKind(res.gvk)
	return obj, warnings, nil
}

// strategicMergePatch is strategicpatch.StrategicMergePatch, with the
// library's panics on malformed directives (a $setElementOrder list of
// maps for a list without a merge key, of numbers for a list of maps)
// turned into errors: a bad patch is the client's error, not the server's.
func strategicMergePatch(cur, patch []byte, dataStruct any) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("invalid strategic merge patch: %v", r)
		}
	}()
	return strategicpatch.StrategicMergePatch(cur, patch, dataStruct)
}

func asStrict(err error, target *interface{ Errors() []error }) bool {
	se, ok := err.(interface{ Errors() []error })
	if ok {
		*target = se
	}
	return ok
}

// patchFailed is upstream's answer to a patch that cannot be applied or
// whose result does not decode: 422 with the reason.
func patchFailed(res *resource, name string, err error) error {
	return apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "patch", res.gr, name, err.Error(), 0, false)
}

// patchResultInvalid is upstream's answer to a patch whose result does
// not decode into the resource's type (a string where a number belongs):
// 422 with the decoder's reason on the field "patch", so kubectl says
// why ("The request is invalid: patch: Invalid value: …"). The value is
// the patch itself for a strategic merge patch and the patched object
// otherwise, as upstream.
func patchResultInvalid(mt string, patch, patched []byte, err error) error {
	value := string(patched)
	if mt == mediaStrategicPatch {
		var m map[string]any
		if json.Unmarshal(patch, &m) == nil {
			value = fmt.Sprintf("%+v", m)
		}
	}
	return apierrors.NewInvalid(schema.GroupKind{}, "", field.ErrorList{field.Invalid(field.NewPath("patch"), value, err.Error())})
}

// applyPatch runs server-side apply of body (YAML or JSON) onto cur (nil:
// the object is created).
func (s *Server) applyPatch(res *resource, info requestInfo, cur runtime.Object, body []byte, manager string, force bool) (runtime.Object, bool, error) {
	js, err := yaml.YAMLToJSON(body)
	if err != nil {
		return nil, false, errBadRequest("error decoding YAML: %v", err)
	}
	patchObj := &unstructured.Unstructured{}
	if err := patchObj.UnmarshalJSON(js); err != nil {
		return nil, false, errBadRequest("%v", err)
	}
	if patchObj.GetAPIVersion() != res.gvk.GroupVersion().String() || patchObj.GetKind() != res.gvk.Kind {
		return nil, false, errBadRequest("the API version in the data (%s) does not match the expected API version (%s)",
			patchObj.GetAPIVersion(), res.gvk.GroupVersion())
	}
	if patchObj.GetName() != "" && patchObj.GetName() != info.Name {
		return nil, false, errBadRequest("the name of the object (%s) does not match the name on the URL (%s)", patchObj.GetName(), info.Name)
	}
	if res.def.Namespaced && patchObj.GetNamespace() != "" && patchObj.GetNamespace() != info.Namespace {
		return nil, false, errBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	fm, err := s.fieldManager(res, info.Subresource)
	if err != nil {
		return nil, false, err
	}
	live := cur
	if live == nil {
		live = res.newEmpty()
		m := objectMeta(live)
		m.SetName(info.Name)
		m.SetNamespace(info.Namespace)
	}
	live.GetObjectKind().SetGroupVersionKind(res.gvk)
	out, err := fm.Apply(live, patchObj, manager, force)
	if err != nil {
		if _, ok := err.(apierrors.APIStatus); ok {
			return nil, false, err
		}
		return nil, false, errBadRequest("%v", err)
	}
	if cur == nil {
		// Identity comes from the URL when the applied config omits it.
		m := objectMeta(out)
		m.SetName(info.Name)
		if res.def.Namespaced {
			m.SetNamespace(info.Namespace)
		}
	}
	out.GetObjectKind().SetGroupVersionKind(res.gvk)
	return out, true, nil
}

var _ = fmt.Sprint
