package apiserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff.dev/skiff/internal/registry"
	"skiff.dev/skiff/internal/storage"
	"skiff.dev/skiff/internal/storage/watchcache"
)

// keyRoot is where every object lives in the store.
const keyRoot = "/registry/"

// resource is the server's runtime state for one registry.Resource.
type resource struct {
	def    *registry.Resource
	gvk    schema.GroupVersionKind
	gr     schema.GroupResource
	prefix string // keyRoot + group + "/" + resource + "/"
	cache  *watchcache.Cache
	codecs *codecs
	store  storage.Store

	managers fieldManagers
}

func newResource(r *registry.Resource, c *codecs, st storage.Store, hub *watchcache.Hub) *resource {
	group := r.GroupVersion.Group
	if group == "" {
		group = "core"
	}
	res := &resource{
		def:    r,
		gvk:    r.GroupVersionKind(),
		gr:     schema.GroupResource{Group: r.GroupVersion.Group, Resource: r.Resource},
		prefix: keyRoot + group + "/" + r.Resource + "/",
		codecs: c,
		store:  st,
	}
	res.cache = hub.Register(res.prefix, res.decode)
	return res
}

// key of an object; namespace is ignored for cluster-scoped resources.
func (r *resource) key(namespace, name string) string {
	if r.def.Namespaced {
		return r.prefix + namespace + "/" + name
	}
	return r.prefix + name
}

// listPrefix is the key prefix of a namespace ("" = all).
func (r *resource) listPrefix(namespace string) string {
	if r.def.Namespaced && namespace != "" {
		return r.prefix + namespace + "/"
	}
	return r.prefix
}

// encode serializes obj for the store: protobuf, without resourceVersion
// (the store's revision is the resourceVersion, as upstream).
func (r *resource) encode(obj runtime.Object) ([]byte, error) {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	rv := acc.GetResourceVersion()
	acc.SetResourceVersion("")
	obj.GetObjectKind().SetGroupVersionKind(r.gvk)
	var buf bytes.Buffer
	err = r.codecs.proto.Encode(obj, &buf)
	acc.SetResourceVersion(rv)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", r.gvk.Kind, err)
	}
	return buf.Bytes(), nil
}

// decode reads a stored value into a new object with its
// resourceVersion and TypeMeta set.
func (r *resource) decode(data []byte, rev int64) (runtime.Object, error) {
	obj, _, err := r.codecs.proto.Decode(data, nil, r.def.New())
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", r.gvk.Kind, err)
	}
	acc, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	acc.SetResourceVersion(fmt.Sprint(rev))
	obj.GetObjectKind().SetGroupVersionKind(r.gvk)
	return obj, nil
}

// get reads the current object from the store (not the cache: a GET
// without resourceVersion must be a consistent read).
func (r *resource) get(ctx context.Context, namespace, name string) (runtime.Object, error) {
	kv, err := r.store.Get(ctx, r.key(namespace, name))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, apierrors.NewNotFound(r.gr, name)
	}
	if err != nil {
		return nil, err
	}
	return r.decode(kv.Value, kv.ModRevision)
}

// copyObj returns a deep copy that is safe to mutate.
func copyObj(obj runtime.Object) runtime.Object { return obj.DeepCopyObject() }

func objectMeta(obj runtime.Object) metav1.Object {
	acc, err := meta.Accessor(obj)
	if err != nil {
		panic(fmt.Sprintf("object %T has no ObjectMeta", obj)) // every registered type has one
	}
	return acc
}

// qualifiedName is "pods \"web\"" style text used in messages.
func (r *resource) String() string {
	return strings.TrimSuffix(r.gr.String(), ".")
}
