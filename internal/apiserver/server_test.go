package apiserver

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

var bg = context.Background()

func cm(name string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: data}
}

func TestCreateGetUpdateDelete(t *testing.T) {
	f := newFixture(t)
	cms := f.client.CoreV1().ConfigMaps("default")
	created, err := cms.Create(bg, cm("a", map[string]string{"k": "v"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.UID == "" || created.ResourceVersion == "" || created.CreationTimestamp.IsZero() {
		t.Fatalf("system metadata not set: %+v", created.ObjectMeta)
	}
	if len(created.ManagedFields) == 0 {
		t.Errorf("managedFields not tracked")
	}
	if _, err := cms.Create(bg, cm("a", nil), metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		t.Errorf("second create: want AlreadyExists, got %v", err)
	}
	got, err := cms.Get(bg, "a", metav1.GetOptions{})
	if err != nil || got.Data["k"] != "v" || got.ResourceVersion != created.ResourceVersion {
		t.Fatalf("get: %v %+v", err, got)
	}

	got.Data["k"] = "w"
	updated, err := cms.Update(bg, got, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if updated.ResourceVersion == got.ResourceVersion {
		t.Errorf("resourceVersion did not change on update")
	}
	// Updating from the stale copy conflicts.
	got.Data["k"] = "x"
	if _, err := cms.Update(bg, got, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Errorf("stale update: want Conflict, got %v", err)
	}
	// An update that changes nothing keeps the resourceVersion.
	same, err := cms.Update(bg, updated, metav1.UpdateOptions{})
	if err != nil || same.ResourceVersion != updated.ResourceVersion {
		t.Errorf("no-op update: %v, rv %s → %s", err, updated.ResourceVersion, same.ResourceVersion)
	}

	if err := cms.Delete(bg, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Get(bg, "a", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after delete: want NotFound, got %v", err)
	}
	if err := cms.Delete(bg, "a", metav1.DeleteOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("second delete: want NotFound, got %v", err)
	}
}

func TestGenerateNameAndNamespaces(t *testing.T) {
	f := newFixture(t)
	obj := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "gen-"}}
	got, err := f.client.CoreV1().ConfigMaps("default").Create(bg, obj, metav1.CreateOptions{})
	if err != nil || !strings.HasPrefix(got.Name, "gen-") || len(got.Name) != len("gen-")+5 {
		t.Fatalf("generateName: %v %q", err, got.Name)
	}
	_, err = f.client.CoreV1().ConfigMaps("missing").Create(bg, cm("a", nil), metav1.CreateOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("create in a missing namespace: want NotFound, got %v", err)
	}
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		if _, err := f.client.CoreV1().Namespaces().Get(bg, ns, metav1.GetOptions{}); err != nil {
			t.Errorf("default namespace %s: %v", ns, err)
		}
	}
	// A terminating namespace takes no new objects.
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "going", Finalizers: []string{"example.com/hold"}}}
	if _, err := f.client.CoreV1().Namespaces().Create(bg, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := f.client.CoreV1().Namespaces().Delete(bg, "going", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = f.client.CoreV1().ConfigMaps("going").Create(bg, cm("a", nil), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "being terminated") {
		t.Errorf("create in terminating namespace: got %v", err)
	}
}

func TestStatusSplitAndGeneration(t *testing.T) {
	f := newFixture(t)
	deps := f.client.AppsV1().Deployments("default")
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](1)},
		Status:     appsv1.DeploymentStatus{Replicas: 7},
	}
	got, err := deps.Create(bg, d, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Replicas != 0 || got.Generation != 1 {
		t.Errorf("create: status %+v generation %d", got.Status, got.Generation)
	}
	// A status write keeps the new status and metadata, never the spec,
	// as upstream's status strategies.
	got.Status.Replicas = 3
	got.Spec.Replicas = ptr.To[int32](9)
	got.Annotations = map[string]string{"revision": "1"}
	st, err := deps.UpdateStatus(bg, got, metav1.UpdateOptions{})
	if err != nil || st.Status.Replicas != 3 || st.Generation != 1 {
		t.Fatalf("status update: %v %+v gen %d", err, st.Status, st.Generation)
	}
	if *st.Spec.Replicas != 1 || st.Annotations["revision"] != "1" {
		t.Errorf("status update: spec.replicas %d (want the stored 1), annotations %v", *st.Spec.Replicas, st.Annotations)
	}
	// Writes to the main resource keep the stored status; spec changes
	// bump the generation, metadata changes do not.
	st.Status.Replicas = 99
	st.Labels = map[string]string{"a": "b"}
	lab, err := deps.Update(bg, st, metav1.UpdateOptions{})
	if err != nil || lab.Status.Replicas != 3 || lab.Generation != 1 {
		t.Fatalf("label update: %v status %+v gen %d", err, lab.Status, lab.Generation)
	}
	lab.Spec.Replicas = ptr.To[int32](2)
	spec, err := deps.Update(bg, lab, metav1.UpdateOptions{})
	if err != nil || spec.Generation != 2 {
		t.Fatalf("spec update: %v gen %d", err, spec.Generation)
	}
	// Scale subresource.
	sc, err := deps.GetScale(bg, "web", metav1.GetOptions{})
	if err != nil || sc.Spec.Replicas != 2 {
		t.Fatalf("get scale: %v %+v", err, sc)
	}
	sc.Spec.Replicas = 5
	if _, err := deps.UpdateScale(bg, "web", sc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	after, _ := deps.Get(bg, "web", metav1.GetOptions{})
	if *after.Spec.Replicas != 5 || after.Generation != 3 {
		t.Errorf("after scale: replicas %d gen %d", *after.Spec.Replicas, after.Generation)
	}
}

func TestPatchTypes(t *testing.T) {
	f := newFixture(t)
	cms := f.client.CoreV1().ConfigMaps("default")
	if _, err := cms.Create(bg, cm("p", map[string]string{"a": "1"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		typ   types.PatchType
		patch string
		want  map[string]string
	}{
		{"merge", types.MergePatchType, `{"data":{"b":"2"}}`, map[string]string{"a": "1", "b": "2"}},
		{"strategic", types.StrategicMergePatchType, `{"data":{"c":"3"}}`, map[string]string{"a": "1", "b": "2", "c": "3"}},
		{"json", types.JSONPatchType, `[{"op":"remove","path":"/data/a"}]`, map[string]string{"b": "2", "c": "3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cms.Patch(bg, "p", tt.typ, []byte(tt.patch), metav1.PatchOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got.Data) != fmt.Sprint(tt.want) {
				t.Errorf("data = %v, want %v", got.Data, tt.want)
			}
		})
	}
	// A failed JSON patch test is 422, a malformed patch 400.
	_, err := cms.Patch(bg, "p", types.JSONPatchType, []byte(`[{"op":"test","path":"/data/b","value":"nope"}]`), metav1.PatchOptions{})
	if apierrors.ReasonForError(err) != metav1.StatusReasonInvalid || !isCode(err, 422) {
		t.Errorf("failed test op: got %v", err)
	} else if d := err.(apierrors.APIStatus).Status().Details; d != nil && (d.Kind != "" || d.Name != "") {
		// upstream names no resource here: kubectl says "The request is invalid"
		t.Errorf("failed test op names %s %q", d.Kind, d.Name)
	}
	// A patch whose result does not decode is 422 saying why, on the
	// field "patch", for every patch type.
	for _, typ := range []types.PatchType{types.MergePatchType, types.StrategicMergePatchType, types.JSONPatchType} {
		body := `{"data":{"b":7}}`
		if typ == types.JSONPatchType {
			body = `[{"op":"replace","path":"/data/b","value":7}]`
		}
		_, err := cms.Patch(bg, "p", typ, []byte(body), metav1.PatchOptions{})
		var causes []metav1.StatusCause
		if s, ok := err.(apierrors.APIStatus); ok && s.Status().Details != nil {
			causes = s.Status().Details.Causes
		}
		if !apierrors.IsInvalid(err) || len(causes) != 1 || causes[0].Field != "patch" || !strings.Contains(causes[0].Message, "string") {
			t.Errorf("%s patch with a number for a string: got %v, causes %+v", typ, err, causes)
		}
	}
	_, err = cms.Patch(bg, "p", types.MergePatchType, []byte(`{"data":`), metav1.PatchOptions{})
	if !apierrors.IsBadRequest(err) {
		t.Errorf("malformed patch: got %v", err)
	}
	_, err = cms.Patch(bg, "missing", types.MergePatchType, []byte(`{}`), metav1.PatchOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("patch of a missing object: got %v", err)
	}

	// Directives the strategic merge patch library panics on are the
	// client's error: 422, never a 500.
	pods := f.client.CoreV1().Pods("default")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "smp"}, Spec: corev1.PodSpec{
		Containers:  []corev1.Container{{Name: "a", Image: "x", Args: []string{"1"}}},
		Tolerations: []corev1.Toleration{{Key: "a"}},
	}}
	if _, err := pods.Create(bg, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{
		`{"spec":{"$setElementOrder/tolerations":[{"key":"a"}],"tolerations":[{"key":"b"}]}}`,
		`{"spec":{"$setElementOrder/tolerations":[1,2]}}`,
		`{"spec":{"$setElementOrder/containers":[{"name":"a"}],"containers":[{"name":"a","$setElementOrder/args":[{"x":1}]}]}}`,
	} {
		_, err := pods.Patch(bg, "smp", types.StrategicMergePatchType, []byte(body), metav1.PatchOptions{})
		if !isCode(err, 422) {
			t.Errorf("strategic patch %s: got %v, want 422", body, err)
		}
	}
}

func isCode(err error, code int32) bool {
	var s apierrors.APIStatus
	if e, ok := err.(apierrors.APIStatus); ok {
		s = e
		return s.Status().Code == code
	}
	return false
}

func TestServerSideApply(t *testing.T) {
	f := newFixture(t)
	cms := f.client.CoreV1().ConfigMaps("default")
	body := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa"},"data":{"a":"1"}}`)
	got, err := cms.Patch(bg, "ssa", types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: "one"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Data["a"] != "1" || len(got.ManagedFields) != 1 || got.ManagedFields[0].Manager != "one" || got.ManagedFields[0].Operation != metav1.ManagedFieldsOperationApply {
		t.Fatalf("apply create: %+v", got)
	}
	other := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa"},"data":{"a":"2"}}`)
	_, err = cms.Patch(bg, "ssa", types.ApplyPatchType, other, metav1.PatchOptions{FieldManager: "two"})
	if !apierrors.IsConflict(err) {
		t.Fatalf("conflicting apply: got %v", err)
	}
	got, err = cms.Patch(bg, "ssa", types.ApplyPatchType, other, metav1.PatchOptions{FieldManager: "two", Force: ptr.To(true)})
	if err != nil || got.Data["a"] != "2" {
		t.Fatalf("forced apply: %v %+v", err, got)
	}
	_, err = cms.Patch(bg, "ssa", types.ApplyPatchType, body, metav1.PatchOptions{})
	if !apierrors.IsInvalid(err) {
		t.Errorf("apply without fieldManager: got %v", err)
	}
}

func TestListPagingAndSelectors(t *testing.T) {
	f := newFixture(t)
	cms := f.client.CoreV1().ConfigMaps("default")
	for i := 0; i < 25; i++ {
		c := cm(fmt.Sprintf("c%02d", i), nil)
		c.Labels = map[string]string{"parity": []string{"even", "odd"}[i%2]}
		if _, err := cms.Create(bg, c, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	opts := metav1.ListOptions{Limit: 10}
	pages := 0
	for {
		l, err := cms.List(bg, opts)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, it := range l.Items {
			names = append(names, it.Name)
		}
		if l.Continue == "" {
			break
		}
		if pages == 1 && (l.RemainingItemCount == nil || *l.RemainingItemCount != 15) {
			t.Errorf("remainingItemCount = %v, want 15", l.RemainingItemCount)
		}
		opts.Continue = l.Continue
	}
	if pages != 3 || len(names) != 25 || names[0] != "c00" || names[24] != "c24" {
		t.Errorf("paging: %d pages, %d names: %v", pages, len(names), names)
	}
	l, err := cms.List(bg, metav1.ListOptions{LabelSelector: "parity=odd"})
	if err != nil || len(l.Items) != 12 {
		t.Errorf("label selector: %v, %d items", err, len(l.Items))
	}
	l, err = cms.List(bg, metav1.ListOptions{FieldSelector: "metadata.name=c03"})
	if err != nil || len(l.Items) != 1 {
		t.Errorf("field selector: %v, %d items", err, len(l.Items))
	}
	_, err = cms.List(bg, metav1.ListOptions{FieldSelector: "spec.bogus=1"})
	if !apierrors.IsBadRequest(err) {
		t.Errorf("unsupported field selector: got %v", err)
	}
	_, err = cms.List(bg, metav1.ListOptions{LabelSelector: "a in (b"})
	if !apierrors.IsBadRequest(err) {
		t.Errorf("malformed label selector: got %v", err)
	}
}

func TestWatch(t *testing.T) {
	f := newFixture(t)
	cms := f.client.CoreV1().ConfigMaps("default")
	first, err := cms.Create(bg, cm("w", map[string]string{"a": "1"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Watch from the create's resourceVersion sees only what follows.
	w, err := cms.Watch(bg, metav1.ListOptions{ResourceVersion: first.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	first.Data["a"] = "2"
	if _, err := cms.Update(bg, first, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(bg, "w", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []watch.EventType{watch.Modified, watch.Deleted} {
		select {
		case ev := <-w.ResultChan():
			if ev.Type != want {
				t.Fatalf("event %s, want %s", ev.Type, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s event", want)
		}
	}

	// Watch-list: initial events, then a bookmark marking their end.
	w2, err := cms.Watch(bg, metav1.ListOptions{SendInitialEvents: ptr.To(true), AllowWatchBookmarks: true,
		ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Stop()
	if _, err := cms.Create(bg, cm("x", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sawBookmark := false
	for !sawBookmark {
		select {
		case ev := <-w2.ResultChan():
			if ev.Type == watch.Bookmark {
				m, _ := ev.Object.(*corev1.ConfigMap)
				sawBookmark = m != nil && m.Annotations[initialEventsEndAnnotation] == "true"
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no initial-events-end bookmark")
		}
	}
}

func TestWatchTooOldIsGone(t *testing.T) {
	f := newFixture(t)
	cms := f.client.CoreV1().ConfigMaps("default")
	c, err := cms.Create(bg, cm("a", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Push the first event out of the cache's history.
	for i := 0; i < 1100; i++ {
		c.Data = map[string]string{"i": fmt.Sprint(i)}
		if c, err = cms.Update(bg, c, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = cms.Watch(bg, metav1.ListOptions{ResourceVersion: "2"})
	if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
		t.Errorf("watch from a compacted revision: got %v", err)
	}
}

func rawRequest(t *testing.T, f *fixture, method, path, contentType string, body io.Reader) (int, string) {
	t.Helper()
	client, err := rest.HTTPClientFor(f.admin)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(method, f.http.URL+path, body)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestBadInputGetsStatus(t *testing.T) {
	f := newFixture(t)
	const cmPath = "/api/v1/namespaces/default/configmaps"
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		code        int
		reason      string
	}{
		{"truncated json", "POST", cmPath, "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":`, 400, "BadRequest"},
		{"not json", "POST", cmPath, "application/json", `hello`, 400, "BadRequest"},
		{"wrong field type", "POST", cmPath, "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":[1]}`, 400, "BadRequest"},
		{"wrong kind", "POST", cmPath, "application/json", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}`, 400, "BadRequest"},
		{"unknown field strict", "POST", cmPath + "?fieldValidation=Strict", "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"bogus":1}`, 400, "BadRequest"},
		{"empty body", "POST", cmPath, "application/json", ``, 400, "BadRequest"},
		{"unsupported media type", "POST", cmPath, "text/plain", `x`, 415, "UnsupportedMediaType"},
		{"unknown resource", "GET", "/api/v1/namespaces/default/widgets", "", ``, 404, "NotFound"},
		{"unknown group", "GET", "/apis/example.com/v1/widgets", "", ``, 404, "NotFound"},
		{"too large", "POST", cmPath, "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big"},"data":{"a":"` + strings.Repeat("x", 4<<20) + `"}}`, 413, "RequestEntityTooLarge"},
		{"bad dryRun", "POST", cmPath + "?dryRun=Some", "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}`, 400, "BadRequest"},
		{"invalid name", "POST", cmPath, "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Not_Valid"}}`, 422, "Invalid"},
		{"no name", "POST", cmPath, "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{}}`, 422, "Invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := rawRequest(t, f, tt.method, tt.path, tt.contentType, strings.NewReader(tt.body))
			if code != tt.code || !strings.Contains(body, `"kind":"Status"`) || !strings.Contains(body, `"reason":"`+tt.reason+`"`) {
				t.Errorf("got %d %s; want %d %s", code, body, tt.code, tt.reason)
			}
		})
	}
}

func TestAuthentication(t *testing.T) {
	f := newFixture(t)
	// No client certificate: 401.
	anon := &rest.Config{Host: f.http.URL, TLSClientConfig: rest.TLSClientConfig{CAData: f.ca.CertPEM}}
	cs := kubernetes.NewForConfigOrDie(anon)
	if _, err := cs.CoreV1().Namespaces().List(bg, metav1.ListOptions{}); !apierrors.IsUnauthorized(err) {
		t.Errorf("anonymous: want 401, got %v", err)
	}
	// Authenticated but not a superuser: 403 (until RBAC).
	alice := kubernetes.NewForConfigOrDie(f.config(t, "alice"))
	_, err := alice.CoreV1().ConfigMaps("default").List(bg, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `User "alice" cannot list resource "configmaps"`) {
		t.Errorf("alice: want 403, got %v", err)
	}
}

func TestFinalizersAndGracefulDeletion(t *testing.T) {
	f := newFixture(t)
	cms := f.client.CoreV1().ConfigMaps("default")
	c := cm("fin", nil)
	c.Finalizers = []string{"example.com/hold"}
	if _, err := cms.Create(bg, c, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(bg, "fin", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := cms.Get(bg, "fin", metav1.GetOptions{})
	if err != nil || got.DeletionTimestamp == nil {
		t.Fatalf("object with a finalizer: %v %+v", err, got)
	}
	got.Finalizers = nil
	if _, err := cms.Update(bg, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Get(bg, "fin", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("object should be gone once its finalizers are: %v", err)
	}

	pods := f.client.CoreV1().Pods("default")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if _, err := pods.Create(bg, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(bg, "p", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got2, err := pods.Get(bg, "p", metav1.GetOptions{})
	if err != nil || got2.DeletionTimestamp == nil || *got2.DeletionGracePeriodSeconds != 30 {
		t.Fatalf("bound pod should wait for its grace period: %v %+v", err, got2)
	}
	if err := pods.Delete(bg, "p", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(bg, "p", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("pod deleted with grace 0 should be gone: %v", err)
	}
}

func TestServicesGetClusterIPs(t *testing.T) {
	f := newFixture(t)
	svcs := f.client.CoreV1().Services("default")
	kube, err := svcs.Get(bg, "kubernetes", metav1.GetOptions{})
	if err != nil || kube.Spec.ClusterIP != "10.43.0.1" {
		t.Fatalf("kubernetes service: %v %+v", err, kube)
	}
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort,
		Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}}}
	got, err := svcs.Create(bg, s, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.ClusterIP == "" || got.Spec.ClusterIP == "10.43.0.1" || got.Spec.Ports[0].NodePort < 30000 {
		t.Errorf("allocation: %+v", got.Spec)
	}
	dup := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "dup"}, Spec: corev1.ServiceSpec{ClusterIP: got.Spec.ClusterIP,
		Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}}}
	if _, err := svcs.Create(bg, dup, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("duplicate clusterIP: want Invalid, got %v", err)
	}
}

func TestDryRun(t *testing.T) {
	f := newFixture(t)
	cms := f.client.CoreV1().ConfigMaps("default")
	got, err := cms.Create(bg, cm("dry", nil), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil || got.Name != "dry" {
		t.Fatalf("dry run create: %v", err)
	}
	if _, err := cms.Get(bg, "dry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("dry run persisted: %v", err)
	}
}

func TestDeleteCollection(t *testing.T) {
	f := newFixture(t)
	cms := f.client.CoreV1().ConfigMaps("default")
	for _, n := range []string{"a", "b", "c"} {
		c := cm(n, nil)
		c.Labels = map[string]string{"del": fmt.Sprint(n != "c")}
		if _, err := cms.Create(bg, c, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := cms.DeleteCollection(bg, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "del=true"}); err != nil {
		t.Fatal(err)
	}
	l, err := cms.List(bg, metav1.ListOptions{})
	if err != nil || len(l.Items) != 1 || l.Items[0].Name != "c" {
		t.Fatalf("after deletecollection: %v %+v", err, l)
	}
}
