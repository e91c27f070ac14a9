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
	// createFields serves trackCreateDirect.
	createFields createFields
	// deprecated is the warning every request to this API carries, or "".
	deprecated string

	// stored and view are set for a resource kept in another one's
	// storage (registry.StorageView).
	stored *resource
	view   *registry.StorageView
}

func newResource(r *registry.Resource, c *codecs, st storage.Store, hub *watchcache.Hub, stored *resource) *resource {
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
	if stored != nil {
		// A view shares the stored resource's keys and cache.
		res.stored, res.view = stored, r.StoredAs
		res.prefix, res.cache = stored.prefix, stored.cache
		return res
	}
	res.cache = hub.Register(res.prefix, res.decode)
	res.deprecated = deprecationWarning(res.gvk, r.New())
	return res
}

// fromStored converts a stored (or cached) object to this resource's
// type; for resources that are not views it returns obj itself.
func (r *resource) fromStored(obj runtime.Object) (runtime.Object, error) {
	if r.view == nil || obj == nil {
		return obj, nil
	}
	out, err := r.view.FromStored(obj)
	if err != nil {
		return nil, fmt.Errorf("convert %s to %s: %w", r.stored.gvk.Kind, r.gvk, err)
	}
	out.GetObjectKind().SetGroupVersionKind(r.gvk)
	return out, nil
}

// cacheGet reads one object from the watch cache.
func (r *resource) cacheGet(key string) (runtime.Object, bool) {
	o, ok := r.cache.Get(key)
	if !ok {
		return nil, false
	}
	o, err := r.fromStored(o)
	return o, err == nil
}

// cacheList lists the watch cache under keyPrefix, in this resource's type.
func (r *resource) cacheList(keyPrefix string, filter func(runtime.Object) bool) ([]runtime.Object, int64) {
	if r.view == nil {
		return r.cache.List(keyPrefix, filter)
	}
	items, rev := r.cache.List(keyPrefix, nil)
	out := make([]runtime.Object, 0, len(items))
	for _, it := range items {
		o, err := r.fromStored(it)
		if err != nil {
			continue
		}
		if filter == nil || filter(o) {
			out = append(out, o)
		}
	}
	return out, rev
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
	if r.view != nil {
		so, err := r.view.ToStored(obj)
		if err != nil {
			return nil, fmt.Errorf("convert %s to %s: %w", r.gvk, r.stored.gvk.Kind, err)
		}
		return r.stored.encode(so)
	}
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
	if r.view != nil {
		so, err := r.stored.decode(data, rev)
		if err != nil {
			return nil, err
		}
		return r.fromStored(so)
	}
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
