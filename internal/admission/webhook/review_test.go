package webhook

import (
	"encoding/json"
	"net/http"
	"testing"

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
	r, err := newReview(a)
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
