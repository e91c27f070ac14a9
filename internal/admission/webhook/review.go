package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"

	"skiff.dev/skiff/internal/admission"
)

var reviewGVK = admissionv1.SchemeGroupVersion.WithKind("AdmissionReview")

// reviewVersion is the first AdmissionReview version the webhook accepts
// that we send. v1beta1's JSON is v1's with another apiVersion, so both
// are built from the v1 types.
func reviewVersion(versions []string) (string, error) {
	for _, v := range versions {
		if v == "v1" || v == "v1beta1" {
			return v, nil
		}
	}
	return "", errors.New("webhook does not accept known AdmissionReview versions (v1, v1beta1)")
}

// newReview is the AdmissionReview v1 request upstream sends for a: the
// objects in JSON with their apiVersion and kind, and the request's
// options (CreateOptions, UpdateOptions, DeleteOptions or the connect
// options).
func newReview(a *admission.Attributes, version string) (*admissionv1.AdmissionReview, error) {
	kind := metav1.GroupVersionKind(a.Kind)
	resource := metav1.GroupVersionResource(a.Resource)
	dryRun := a.DryRun
	req := &admissionv1.AdmissionRequest{
		UID:                types.UID(uuid.NewUUID()),
		Kind:               kind,
		Resource:           resource,
		SubResource:        a.Subresource,
		RequestKind:        &kind,
		RequestResource:    &resource,
		RequestSubResource: a.Subresource,
		Name:               a.Name,
		Namespace:          a.Namespace,
		Operation:          admissionv1.Operation(a.Operation),
		DryRun:             &dryRun,
	}
	if u := a.User; u != nil {
		req.UserInfo = authenticationv1.UserInfo{Username: u.Name, UID: u.UID, Groups: u.Groups}
		if len(u.Extra) > 0 {
			req.UserInfo.Extra = map[string]authenticationv1.ExtraValue{}
			for k, v := range u.Extra {
				req.UserInfo.Extra[k] = v
			}
		}
	}
	var err error
	if req.Object, err = rawObject(a.Object, a.Kind); err != nil {
		return nil, err
	}
	if req.OldObject, err = rawObject(a.OldObject, a.Kind); err != nil {
		return nil, err
	}
	if req.Options, err = rawOptions(a); err != nil {
		return nil, err
	}
	r := &admissionv1.AdmissionReview{Request: req}
	r.SetGroupVersionKind(admissionv1.SchemeGroupVersion.WithKind("AdmissionReview"))
	if version == "v1beta1" {
		r.APIVersion = "admission.k8s.io/v1beta1"
	}
	return r, nil
}

// rawObject encodes obj with its apiVersion and kind set (objects in the
// API server carry no TypeMeta).
func rawObject(obj runtime.Object, gvk schema.GroupVersionKind) (runtime.RawExtension, error) {
	if obj == nil {
		return runtime.RawExtension{}, nil
	}
	c := obj.DeepCopyObject()
	if c.GetObjectKind().GroupVersionKind().Empty() {
		c.GetObjectKind().SetGroupVersionKind(gvk)
	}
	data, err := json.Marshal(c)
	if err != nil {
		return runtime.RawExtension{}, fmt.Errorf("encode %s: %w", gvk.Kind, err)
	}
	return runtime.RawExtension{Raw: data}, nil
}

func rawOptions(a *admission.Attributes) (runtime.RawExtension, error) {
	opts := a.Options
	var dryRun []string
	if a.DryRun {
		dryRun = []string{metav1.DryRunAll}
	}
	if opts == nil {
		switch a.Operation {
		case admission.Create:
			opts = &metav1.CreateOptions{DryRun: dryRun}
		case admission.Update:
			opts = &metav1.UpdateOptions{DryRun: dryRun}
		case admission.Delete:
			opts = &metav1.DeleteOptions{DryRun: dryRun}
		default:
			return runtime.RawExtension{}, nil
		}
	}
	gvk := opts.GetObjectKind().GroupVersionKind()
	if gvk.Empty() {
		switch opts.(type) {
		case *metav1.CreateOptions:
			gvk = metav1.SchemeGroupVersion.WithKind("CreateOptions")
		case *metav1.UpdateOptions:
			gvk = metav1.SchemeGroupVersion.WithKind("UpdateOptions")
		case *metav1.DeleteOptions:
			gvk = metav1.SchemeGroupVersion.WithKind("DeleteOptions")
		}
	}
	return rawObject(opts, gvk)
}

// checkResponse validates a webhook's answer to req, as upstream's
// VerifyAdmissionResponse: for v1 a response for this request's uid, of
// kind admission.k8s.io/v1 AdmissionReview, with a patch and its type
// together and only from a mutating webhook; v1beta1 answers were never
// checked, and their patches are JSONPatch.
func checkResponse(req *admissionv1.AdmissionReview, resp *admissionv1.AdmissionReview, version string, mutating bool) (*admissionv1.AdmissionResponse, error) {
	r := resp.Response
	if r == nil {
		return nil, errors.New("received invalid webhook response: webhook response was absent")
	}
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("received invalid webhook response: "+format, args...)
	}
	if version == "v1beta1" {
		if !mutating || len(r.Patch) == 0 {
			r.Patch, r.PatchType = nil, nil
		} else {
			pt := admissionv1.PatchTypeJSONPatch
			r.PatchType = &pt
		}
		return r, nil
	}
	if r.UID != req.Request.UID {
		return nil, invalid("expected response.uid=%q, got %q", req.Request.UID, r.UID)
	}
	if gvk := resp.GroupVersionKind(); gvk != reviewGVK {
		return nil, invalid("expected webhook response of %v, got %v", reviewGVK.String(), gvk.String())
	}
	switch {
	case mutating && len(r.Patch) > 0 && r.PatchType == nil:
		return nil, invalid("webhook returned response.patch but not response.patchType")
	case mutating && len(r.Patch) == 0 && r.PatchType != nil:
		return nil, invalid("webhook returned response.patchType but not response.patch")
	case !mutating && len(r.Patch) > 0:
		return nil, invalid("validating webhook may not return response.patch")
	case !mutating && r.PatchType != nil:
		return nil, invalid("validating webhook may not return response.patchType")
	}
	return r, nil
}

// denied is upstream's ToStatusErr: the webhook's status, code 403 if it
// gave none, its message prefixed with who denied what.
func denied(a *admission.Attributes, hookName string, result *metav1.Status) error {
	s := metav1.Status{}
	if result != nil {
		s = *result.DeepCopy()
	}
	s.TypeMeta = metav1.TypeMeta{}
	if s.Code == 0 {
		s.Code = http.StatusForbidden
	}
	if s.Code < http.StatusBadRequest {
		s.Code = http.StatusBadRequest
	}
	if s.Status == "" || s.Status == metav1.StatusSuccess {
		s.Status = metav1.StatusFailure
	}
	deniedBy := fmt.Sprintf("admission webhook %q denied the request", hookName)
	switch {
	case s.Message != "":
		s.Message = deniedBy + ": " + s.Message
	case s.Reason != "":
		s.Message = deniedBy + ": " + string(s.Reason)
	default:
		s.Message = deniedBy + " without explanation"
	}
	name := errorName(a)
	if s.Details == nil {
		if s.Code == http.StatusInternalServerError {
			s.Details = &metav1.StatusDetails{Causes: []metav1.StatusCause{{Message: s.Message}}}
		} else {
			s.Details = &metav1.StatusDetails{Group: a.Resource.Group, Kind: a.Resource.Resource, Name: name}
		}
	}
	prefix := fmt.Sprintf("%s %q is forbidden", a.GroupResource(), name)
	if s.Code == http.StatusInternalServerError {
		prefix = "Internal error occurred"
	}
	s.Message = prefix + ": " + s.Message
	if s.Reason == "" {
		if s.Code == http.StatusInternalServerError {
			s.Reason = metav1.StatusReasonInternalError
		} else {
			s.Reason = metav1.StatusReasonForbidden
		}
	}
	return &apierrors.StatusError{ErrStatus: s}
}

// dryRunUnsupported refuses a dry run of a request a webhook with side
// effects would see, as upstream.
func dryRunUnsupported(hookName string) error {
	return apierrors.NewBadRequest(fmt.Sprintf("admission webhook %q does not support dry run", hookName))
}

func noSideEffectsOnDryRun(se admissionregistrationv1.SideEffectClass) bool {
	return se == admissionregistrationv1.SideEffectClassNone || se == admissionregistrationv1.SideEffectClassNoneOnDryRun
}
