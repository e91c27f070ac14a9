package apiserver

import (
	"bytes"
	"encoding/json"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"skiff.dev/skiff/internal/registry/builtin"
)

// A create's managedFields computed directly are what the field manager's
// whole chain computes from the empty object.
func TestTrackCreateDirectMatchesFieldManager(t *testing.T) {
	d := newDirectServerWith(t, builtin.Resources())
	cases := []struct {
		gv       schema.GroupVersion
		resource string
		body     string
	}{
		{schema.GroupVersion{Version: "v1"}, "pods", `{"metadata":{"name":"p","namespace":"default","labels":{"app":"web"},"annotations":{"a":"b"},"creationTimestamp":"2026-01-01T00:00:00Z"},
			"spec":{"containers":[{"name":"c","image":"nginx","command":["sleep","1"],"ports":[{"containerPort":80,"protocol":"TCP"}],
			"env":[{"name":"A","value":"1"}],"resources":{"requests":{"cpu":"1"}},"volumeMounts":[{"name":"v","mountPath":"/v"}]}],
			"volumes":[{"name":"v","emptyDir":{}}],"restartPolicy":"Always","tolerations":[{"key":"k","operator":"Exists"}]},
			"status":{"phase":"Pending"}}`},
		{schema.GroupVersion{Group: "apps", Version: "v1"}, "deployments", `{"metadata":{"name":"d","namespace":"default"},
			"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{},
			"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}}}`},
		{schema.GroupVersion{Version: "v1"}, "services", `{"metadata":{"name":"s","namespace":"default"},
			"spec":{"selector":{"app":"web"},"ports":[{"port":80,"targetPort":8080,"protocol":"TCP"}],"type":"ClusterIP"}}`},
		{schema.GroupVersion{Version: "v1"}, "configmaps", `{"metadata":{"name":"c","namespace":"default"},"data":{"k":"v","e":""}}`},
		{schema.GroupVersion{Version: "v1"}, "nodes", `{"metadata":{"name":"n","labels":{"x":"y"}},"spec":{"podCIDR":"10.0.0.0/24","taints":[{"key":"k","effect":"NoSchedule"}]},
			"status":{"capacity":{"cpu":"2"}}}`},
		{schema.GroupVersion{Group: "rbac.authorization.k8s.io", Version: "v1"}, "clusterroles", `{"metadata":{"name":"r"},
			"rules":[{"apiGroups":[""],"resources":["pods"],"verbs":["get","list"]}]}`},
	}
	for _, tc := range cases {
		t.Run(tc.resource, func(t *testing.T) {
			r := d.srv.resources[tc.gv][tc.resource]
			if r == nil {
				t.Fatalf("no resource %s in %s", tc.resource, tc.gv)
			}
			obj := r.newEmpty()
			if err := json.Unmarshal([]byte(tc.body), obj); err != nil {
				t.Fatal(err)
			}
			direct := obj.DeepCopyObject()
			if !d.srv.trackCreateDirect(r, direct, "kubectl-create") {
				t.Fatal("direct tracking declined a plain create")
			}
			full, err := d.srv.trackUpdate(r, "", r.newEmpty(), obj.DeepCopyObject(), "kubectl-create")
			if err != nil {
				t.Fatal(err)
			}
			got, want := onlyEntry(t, direct), onlyEntry(t, full)
			if got.Manager != want.Manager || got.Operation != want.Operation || got.APIVersion != want.APIVersion ||
				got.FieldsType != want.FieldsType || got.Subresource != want.Subresource {
				t.Fatalf("entry = %+v\nwant %+v", got, want)
			}
			var gs, ws fieldpath.Set
			if err := gs.FromJSON(bytes.NewReader(got.FieldsV1.Raw)); err != nil {
				t.Fatal(err)
			}
			if err := ws.FromJSON(bytes.NewReader(want.FieldsV1.Raw)); err != nil {
				t.Fatal(err)
			}
			if !gs.Equals(&ws) {
				t.Fatalf("fields:\n got %s\nwant %s", got.FieldsV1.Raw, want.FieldsV1.Raw)
			}
		})
	}

	// Managed fields sent with the create are the general path's to read.
	r := d.srv.resources[schema.GroupVersion{Version: "v1"}]["configmaps"]
	obj := r.newEmpty()
	_ = json.Unmarshal([]byte(`{"metadata":{"name":"c","managedFields":[{"manager":"m","operation":"Update","apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:data":{}}}]},"data":{"k":"v"}}`), obj)
	if d.srv.trackCreateDirect(r, obj, "kubectl-create") {
		t.Fatal("direct tracking took a create that carries managedFields")
	}
}

func onlyEntry(t *testing.T, obj runtime.Object) metav1.ManagedFieldsEntry {
	t.Helper()
	acc, err := meta.Accessor(obj)
	if err != nil {
		t.Fatal(err)
	}
	mf := acc.GetManagedFields()
	if len(mf) != 1 || mf[0].FieldsV1 == nil || mf[0].Time == nil {
		t.Fatalf("managedFields = %+v, want one entry with fields and a time", mf)
	}
	return mf[0]
}
