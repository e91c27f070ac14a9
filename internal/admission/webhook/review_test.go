package webhook

import (
	"encoding/json"
	"net/http"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/admission"
	"skiff.dev/skiff/internal/auth/authn"
)

// TestReviewShape: the JSON a webhook receives for a dry-run update of
// pods/status has upstream's field names and values.
func TestReviewShape(t *testing.T) {
	a := &admission.Attributes{
		Operation: admission.Update, Kind: corev1.SchemeGroupVersion.WithKind("Pod"),
		Resource: pods, Subresource: "status", Namespace: "ns", Name: "p", DryRun: true,
		Object:    &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Labels: map[string]string{"v": "2"}}},
		OldObject: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Labels: map[string]string{"v": "1"}}},
		User:      &authn.User{Name: "alice", UID: "u-1", Groups: []string{"devs", "system:authenticated"}, Extra: map[string][]string{"scopes": {"a"}}},
	}
	r, err := newReview(a, "v1")
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if got["apiVersion"] != "admission.k8s.io/v1" || got["kind"] != "AdmissionReview" {
		t.Fatalf("type: %v %v", got["apiVersion"], got["kind"])
	}
	req := got["request"].(map[string]any)
	if req["uid"] == "" {
		t.Error("no uid")
	}
	want := map[string]any{
		"kind":               map[string]any{"group": "", "version": "v1", "kind": "Pod"},
		"resource":           map[string]any{"group": "", "version": "v1", "resource": "pods"},
		"requestKind":        map[string]any{"group": "", "version": "v1", "kind": "Pod"},
		"requestResource":    map[string]any{"group": "", "version": "v1", "resource": "pods"},
		"subResource":        "status",
		"requestSubResource": "status",
		"name":               "p",
		"namespace":          "ns",
		"operation":          "UPDATE",
		"dryRun":             true,
		"userInfo":           map[string]any{"username": "alice", "uid": "u-1", "groups": []any{"devs", "system:authenticated"}, "extra": map[string]any{"scopes": []any{"a"}}},
	}
	for k, v := range want {
		if b1, b2 := mustJSON(t, req[k]), mustJSON(t, v); b1 != b2 {
			t.Errorf("request.%s = %s, want %s", k, b1, b2)
		}
	}
	obj := req["object"].(map[string]any)
	old := req["oldObject"].(map[string]any)
	if obj["apiVersion"] != "v1" || obj["kind"] != "Pod" || mustJSON(t, obj["metadata"].(map[string]any)["labels"]) != `{"v":"2"}` {
		t.Errorf("object = %v", obj)
	}
	if mustJSON(t, old["metadata"].(map[string]any)["labels"]) != `{"v":"1"}` {
		t.Errorf("oldObject = %v", old)
	}
	if mustJSON(t, req["options"]) != `{"apiVersion":"meta.k8s.io/v1","dryRun":["All"],"kind":"UpdateOptions"}` {
		t.Errorf("options = %s", mustJSON(t, req["options"]))
	}
	// The API server's own object is left as it was.
	if !a.Object.GetObjectKind().GroupVersionKind().Empty() {
		t.Error("newReview set the TypeMeta of the admitted object")
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDenied(t *testing.T) {
	cms := corev1.SchemeGroupVersion.WithResource("configmaps")
	cases := []struct {
		name   string
		result *metav1.Status
		a      *admission.Attributes
		code   int32
		msg    string
	}{
		{"no status", nil, attrs(admission.Create, cms, "", "ns", "c"), http.StatusForbidden,
			`configmaps "c" is forbidden: admission webhook "w.example.com" denied the request without explanation`},
		{"message and code", &metav1.Status{Message: "no thanks", Code: 422}, attrs(admission.Create, deploys, "", "ns", "d"), 422,
			`deployments.apps "d" is forbidden: admission webhook "w.example.com" denied the request: no thanks`},
		{"reason only, no name", &metav1.Status{Reason: "Conflict"}, attrs(admission.Create, cms, "", "ns", ""), http.StatusForbidden,
			`configmaps "Unknown" is forbidden: admission webhook "w.example.com" denied the request: Conflict`},
		{"500", &metav1.Status{Message: "boom", Code: 500}, attrs(admission.Create, cms, "", "ns", "c"), 500,
			`Internal error occurred: admission webhook "w.example.com" denied the request: boom`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := denied(tc.a, "w.example.com", tc.result)
			se, ok := err.(apierrors.APIStatus)
			if !ok || se.Status().Code != tc.code || se.Status().Message != tc.msg || se.Status().Status != metav1.StatusFailure {
				t.Fatalf("err = %#v", err)
			}
		})
	}
}

func TestCheckResponse(t *testing.T) {
	jsonPatch := admissionv1.PatchTypeJSONPatch
	req := &admissionv1.AdmissionReview{Request: &admissionv1.AdmissionRequest{UID: "123"}}
	v1 := metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}
	v1beta1 := metav1.TypeMeta{APIVersion: "admission.k8s.io/v1beta1", Kind: "AdmissionReview"}
	patch := []byte(`[{"op":"add","path":"/a","value":"b"}]`)
	cases := []struct {
		name     string
		resp     admissionv1.AdmissionReview
		version  string
		mutating bool
		err      string
	}{
		{"v1 ok", admissionv1.AdmissionReview{TypeMeta: v1, Response: &admissionv1.AdmissionResponse{UID: "123", Allowed: true}}, "v1", false, ""},
		{"absent", admissionv1.AdmissionReview{TypeMeta: v1}, "v1", false, "received invalid webhook response: webhook response was absent"},
		{"uid", admissionv1.AdmissionReview{TypeMeta: v1, Response: &admissionv1.AdmissionResponse{UID: "456"}}, "v1", false,
			`received invalid webhook response: expected response.uid="123", got "456"`},
		{"kind", admissionv1.AdmissionReview{TypeMeta: v1beta1, Response: &admissionv1.AdmissionResponse{UID: "123"}}, "v1", false,
			"received invalid webhook response: expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got admission.k8s.io/v1beta1, Kind=AdmissionReview"},
		{"patch without type", admissionv1.AdmissionReview{TypeMeta: v1, Response: &admissionv1.AdmissionResponse{UID: "123", Patch: patch}}, "v1", true,
			"received invalid webhook response: webhook returned response.patch but not response.patchType"},
		{"patch from validating", admissionv1.AdmissionReview{TypeMeta: v1, Response: &admissionv1.AdmissionResponse{UID: "123", Patch: patch, PatchType: &jsonPatch}}, "v1", false,
			"received invalid webhook response: validating webhook may not return response.patch"},
		{"v1beta1 unchecked", admissionv1.AdmissionReview{Response: &admissionv1.AdmissionResponse{UID: "other", Allowed: true, Patch: patch}}, "v1beta1", true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := checkResponse(req, &tc.resp, tc.version, tc.mutating)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.version == "v1beta1" && (r.PatchType == nil || *r.PatchType != jsonPatch) {
				t.Fatalf("v1beta1 patch type = %v", r.PatchType)
			}
		})
	}
	if v, err := reviewVersion([]string{"v2", "v1beta1", "v1"}); v != "v1beta1" || err != nil {
		t.Errorf("reviewVersion = %q, %v", v, err)
	}
	if _, err := reviewVersion([]string{"v2"}); err == nil || err.Error() != "webhook does not accept known AdmissionReview versions (v1, v1beta1)" {
		t.Errorf("reviewVersion err = %v", err)
	}
	r, err := newReview(attrs(admission.Create, pods, "", "ns", "p"), "v1beta1")
	if err != nil || r.APIVersion != "admission.k8s.io/v1beta1" || r.Kind != "AdmissionReview" {
		t.Errorf("v1beta1 review = %v, %v", r.TypeMeta, err)
	}
}
