package apiserver

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/applyconfigurations"

	"skiff.dev/skiff/internal/registry/builtin"
)

// The field manager gives the same managedFields with the unvalidated
// conversion of typed objects as with upstream's validating converter:
// for creates and for updates of the main resource and of status,
// including duplicate keys and keys the schema defaults.
func TestTypedObjectsMatchValidatingConverter(t *testing.T) {
	d := newDirectServerWith(t, builtin.Resources())
	scheme := d.srv.codecs.scheme
	upstream := applyconfigurations.NewTypeConverter(scheme)
	ours := newTypedObjects(upstream, scheme)
	pods := schema.GroupVersion{Version: "v1"}
	cases := []struct {
		name     string
		gv       schema.GroupVersion
		resource string
		sub      string
		old, new string
	}{
		{"pod create", pods, "pods", "", `{}`, `{"metadata":{"name":"p","labels":{"app":"web"}},
			"spec":{"containers":[{"name":"c","image":"nginx","ports":[{"containerPort":80,"protocol":"TCP"}],"env":[{"name":"A","value":"1"}],
			"resources":{"requests":{"cpu":"1"}}}],"tolerations":[{"key":"k","operator":"Exists"}]}}`},
		{"pod duplicate env", pods, "pods", "", `{"spec":{"containers":[{"name":"c","image":"nginx"}]}}`,
			`{"spec":{"containers":[{"name":"c","image":"nginx","env":[{"name":"A","value":"1"},{"name":"A","value":"2"}]}]}}`},
		{"pod port keyed by the schema's default protocol", pods, "pods", "", `{"spec":{"containers":[{"name":"c","image":"nginx"}]}}`,
			`{"spec":{"containers":[{"name":"c","image":"nginx","ports":[{"name":"x"}]}]}}`},
		{"pod status", pods, "pods", "status",
			`{"metadata":{"name":"p","managedFields":[{"manager":"kubectl","operation":"Update","apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:containers":{"k:{\"name\":\"c\"}":{".":{},"f:image":{},"f:name":{}}}}}}]},
			  "spec":{"containers":[{"name":"c","image":"nginx"}]},"status":{"phase":"Pending"}}`,
			`{"metadata":{"name":"p","managedFields":[{"manager":"kubectl","operation":"Update","apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:containers":{"k:{\"name\":\"c\"}":{".":{},"f:image":{},"f:name":{}}}}}}]},
			  "spec":{"containers":[{"name":"c","image":"nginx"}]},"status":{"phase":"Pending","conditions":[{"type":"PodScheduled","status":"False","reason":"Unschedulable"}]}}`},
		{"deployment update", schema.GroupVersion{Group: "apps", Version: "v1"}, "deployments", "",
			`{"metadata":{"name":"d"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}}}`,
			`{"metadata":{"name":"d"},"spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"nginx:2"}]}}}}`},
		{"service create", pods, "services", "", `{}`, `{"metadata":{"name":"s"},"spec":{"selector":{"app":"web"},"ports":[{"port":80,"targetPort":8080,"protocol":"TCP"}]}}`},
		{"node status", pods, "nodes", "status", `{"metadata":{"name":"n"}}`, `{"metadata":{"name":"n"},"status":{"capacity":{"cpu":"2"},"conditions":[{"type":"Ready","status":"True"}]}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := d.srv.resources[tc.gv][tc.resource]
			if r == nil {
				t.Fatalf("no resource %s in %s", tc.resource, tc.gv)
			}
			track := func(tc2 managedfields.TypeConverter) string {
				fm, err := managedfields.NewDefaultFieldManager(tc2, scheme, strategyDefaulter{r}, scheme, r.gvk, r.gvk.GroupVersion(), tc.sub, nil)
				if err != nil {
					t.Fatal(err)
				}
				old, obj := r.newEmpty(), r.newEmpty()
				if err := json.Unmarshal([]byte(tc.old), old); err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal([]byte(tc.new), obj); err != nil {
					t.Fatal(err)
				}
				old.GetObjectKind().SetGroupVersionKind(r.gvk)
				obj.GetObjectKind().SetGroupVersionKind(r.gvk)
				out := fm.UpdateNoErrors(old, obj, "manager")
				acc, err := meta.Accessor(out)
				if err != nil {
					t.Fatal(err)
				}
				mf := acc.GetManagedFields()
				for i := range mf {
					mf[i].Time = nil
				}
				js, _ := json.Marshal(mf)
				return string(js)
			}
			if got, want := track(ours), track(upstream); got != want {
				t.Fatalf("managedFields:\n got %s\nwant %s", got, want)
			}
			if !ours.typeOf(r.gvk).ok {
				t.Fatalf("%s: the shortcut was not taken", r.gvk)
			}
		})
	}
}

// BenchmarkManagedFieldsPod is the managedFields tracking of the load
// tool's pod (as stored: defaulted, with the kube-api-access volume the
// ServiceAccount admission adds) for its create and for the scheduler's
// PodScheduled=False status write, with upstream's validating converter
// and with typedObjects.
func BenchmarkManagedFieldsPod(b *testing.B) {
	for _, conv := range []string{"validating", "typedObjects"} {
		d := newDirectServerWith(b, builtin.Resources())
		if conv == "validating" {
			// Before the first pod: the pods' trackers take the converter
			// on first use.
			d.srv.converter()
			d.srv.typeConverter = applyconfigurations.NewTypeConverter(d.srv.codecs.scheme)
		}
		rec := d.do("POST", "/api/v1/namespaces/default/pods", "application/json", []byte(benchPod))
		if rec.Code != 201 {
			b.Fatalf("create: %d %s", rec.Code, rec.Body.String())
		}
		r := d.srv.resources[schema.GroupVersion{Version: "v1"}]["pods"]
		stored := r.newEmpty()
		if err := json.Unmarshal(rec.Body.Bytes(), stored); err != nil {
			b.Fatal(err)
		}
		fresh := stored.DeepCopyObject()
		objectMeta(fresh).SetManagedFields(nil)
		patched := stored.DeepCopyObject().(*corev1.Pod)
		patched.Status.Conditions = append(patched.Status.Conditions, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Reason: "Unschedulable", Message: "0/0 nodes are available"})
		b.Run(conv+"/create", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.srv.trackCreate(r, fresh.DeepCopyObject(), "load"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(conv+"/status", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.srv.trackUpdate(r, "status", stored.DeepCopyObject(), patched.DeepCopyObject(), "scheduler"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchPod is the load tool's pod with the volume and mount the
// ServiceAccount admission plug-in adds.
const benchPod = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"app":"load"}},"spec":{
"containers":[{"name":"c","image":"registry.local/busybox:1.36","command":["sleep","3600"],
 "volumeMounts":[{"name":"kube-api-access-abcde","readOnly":true,"mountPath":"/var/run/secrets/kubernetes.io/serviceaccount"}]}],
"volumes":[{"name":"kube-api-access-abcde","projected":{"defaultMode":420,"sources":[
 {"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},
 {"configMap":{"name":"kube-root-ca.crt","items":[{"key":"ca.crt","path":"ca.crt"}]}},
 {"downwardAPI":{"items":[{"path":"namespace","fieldRef":{"apiVersion":"v1","fieldPath":"metadata.namespace"}}]}}]}}],
"serviceAccountName":"default","tolerations":[
 {"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},
 {"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}]}}`
