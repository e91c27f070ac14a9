package apiserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

// TestStreamedListMatchesTypedList: a streamed list is byte for byte what
// encoding the typed list (PodList, ...) in one piece gives, in JSON and
// protobuf, whatever its metadata and items.
func TestStreamedListMatchesTypedList(t *testing.T) {
	c := newCodecs(newScheme())
	pod := func(i int) runtime.Object {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p-%d", i), Namespace: "ns", ResourceVersion: fmt.Sprint(10 + i),
				Labels: map[string]string{"app": "x<&>"}, Annotations: map[string]string{"note": "ünïcode \u2028"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"sleep", "1"}}},
				TerminationGracePeriodSeconds: ptr.To(int64(i))},
			Status: corev1.PodStatus{Phase: corev1.PodPending},
		}
	}
	var pods []runtime.Object
	for i := range 300 { // several of the writer's buffers
		pods = append(pods, pod(i))
	}
	cases := []struct {
		name  string
		gvk   schema.GroupVersionKind
		list  runtime.Object
		items []runtime.Object
		cont  string
		rem   *int64
	}{
		{"pods", corev1.SchemeGroupVersion.WithKind("PodList"), &corev1.PodList{}, pods, "", nil},
		{"one page", corev1.SchemeGroupVersion.WithKind("PodList"), &corev1.PodList{}, pods[:2], "dG9rZW4", ptr.To(int64(298))},
		{"none left", corev1.SchemeGroupVersion.WithKind("PodList"), &corev1.PodList{}, pods[:1], "dG9rZW4", ptr.To(int64(0))},
		{"empty", corev1.SchemeGroupVersion.WithKind("PodList"), &corev1.PodList{}, nil, "", nil},
		{"configmaps", corev1.SchemeGroupVersion.WithKind("ConfigMapList"), &corev1.ConfigMapList{},
			[]runtime.Object{&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Data: map[string]string{"k": "v"}, BinaryData: map[string][]byte{"b": {0, 1}}}}, "", nil},
		{"group", rbacv1.SchemeGroupVersion.WithKind("RoleList"), &rbacv1.RoleList{},
			[]runtime.Object{&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "r"}, Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}}}}}, "", nil},
	}
	for _, tc := range cases {
		for _, mt := range []string{mediaJSON, mediaProtobuf} {
			t.Run(tc.name+"/"+mt, func(t *testing.T) {
				typed := tc.list.DeepCopyObject()
				typed.GetObjectKind().SetGroupVersionKind(tc.gvk)
				items := tc.items
				if items == nil {
					items = []runtime.Object{}
				}
				if err := meta.SetList(typed, items); err != nil {
					t.Fatal(err)
				}
				lm, _ := meta.ListAccessor(typed)
				lm.SetResourceVersion("42")
				lm.SetContinue(tc.cont)
				lm.SetRemainingItemCount(tc.rem)
				var want bytes.Buffer
				if err := (outputFormat{mediaType: mt}).encoder(c).Encode(typed, &want); err != nil {
					t.Fatal(err)
				}

				list := &objectList{TypeMeta: metav1.TypeMeta{APIVersion: tc.gvk.GroupVersion().String(), Kind: tc.gvk.Kind},
					ListMeta: metav1.ListMeta{ResourceVersion: "42", Continue: tc.cont, RemainingItemCount: tc.rem}, Items: items}
				var got countingWriter
				if err := c.encodeList(mt, list, &got); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got.buf.Bytes(), want.Bytes()) {
					t.Fatalf("streamed list differs from the typed list:\n got %q\nwant %q", trunc(got.buf.Bytes()), trunc(want.Bytes()))
				}
				if len(tc.items) > 100 && got.writes < len(tc.items) {
					t.Errorf("%d writes for %d items: the list was not streamed", got.writes, len(tc.items))
				}
			})
		}
	}
}

type countingWriter struct {
	buf    bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.buf.Write(p)
}

func trunc(b []byte) []byte {
	if len(b) > 300 {
		return b[:300]
	}
	return b
}

// TestListResponseStreamed: a list of many objects reaches the client in
// several writes, decodes as the typed list in JSON and protobuf, and a
// Table is still served.
func TestListResponseStreamed(t *testing.T) {
	d := newDirectServer(t)
	const n = 400
	for i := range n {
		body := fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm-%03d"},"data":{"key":"%0512d"}}`, i, i)
		if rec := d.do("POST", "/api/v1/namespaces/default/configmaps", "application/json", []byte(body)); rec.Code != http.StatusCreated {
			t.Fatalf("create: %d %s", rec.Code, rec.Body.String())
		}
	}
	for _, tc := range []struct{ accept, contentType string }{
		{"", mediaJSON},
		{mediaJSON, mediaJSON},
		{mediaProtobuf + ", " + mediaJSON, mediaProtobuf},
		{mediaYAML, mediaYAML},
	} {
		t.Run(tc.contentType, func(t *testing.T) {
			w := &writeCounter{}
			d.serve(w, "GET", "/api/v1/namespaces/default/configmaps", tc.accept)
			if w.code != http.StatusOK || w.h.Get("Content-Type") != tc.contentType {
				t.Fatalf("list: %d %q: %.300s", w.code, w.h.Get("Content-Type"), w.body.String())
			}
			dec, _, ok := d.srv.codecs.decoderFor(tc.contentType, false)
			if !ok {
				t.Fatal("no decoder")
			}
			obj, _, err := dec.Decode(w.body.Bytes(), nil, &corev1.ConfigMapList{})
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			list := obj.(*corev1.ConfigMapList)
			if len(list.Items) != n || list.Items[7].Name != "cm-007" || list.ResourceVersion == "" {
				t.Fatalf("decoded %d items, rv %q", len(list.Items), list.ResourceVersion)
			}
			if tc.contentType != mediaYAML && w.writes < 2 {
				t.Errorf("%d bytes in %d write: not streamed", w.body.Len(), w.writes)
			}
		})
	}
	t.Run("table", func(t *testing.T) {
		w := &writeCounter{}
		d.serve(w, "GET", "/api/v1/namespaces/default/configmaps", "application/json;as=Table;g=meta.k8s.io;v=v1")
		var table metav1.Table
		if err := json.Unmarshal(w.body.Bytes(), &table); err != nil || w.code != http.StatusOK {
			t.Fatalf("table: %d %v", w.code, err)
		}
		if table.Kind != "Table" || len(table.Rows) != n {
			t.Fatalf("table: kind %q, %d rows", table.Kind, len(table.Rows))
		}
	})
}

// writeCounter keeps the body and counts the handler's writes.
type writeCounter struct {
	discardResponse
	body   bytes.Buffer
	writes int
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.writes++
	w.body.Write(p)
	return w.discardResponse.Write(p)
}
