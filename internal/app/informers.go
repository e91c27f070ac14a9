package app

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// informerResync is how often in-process informers replay their caches to
// their handlers.
const informerResync = 10 * time.Minute

// newInformerFactory is an in-process component's informer factory. As
// upstream's scheduler and controller manager do, it drops managedFields
// from what it caches: no controller reads them, they are about a third of
// a pod's decoded size, and every component keeps its own copy of every
// pod. An update sent with no managedFields keeps the stored ones.
func newInformerFactory(client kubernetes.Interface) informers.SharedInformerFactory {
	return informers.NewSharedInformerFactoryWithOptions(client, informerResync, informers.WithTransform(stripManagedFields))
}

func stripManagedFields(obj any) (any, error) {
	if a, err := meta.Accessor(obj); err == nil && a.GetManagedFields() != nil {
		a.SetManagedFields(nil)
	}
	return obj, nil
}

// withProtobuf makes a typed client speak protobuf, as upstream's
// components do by default: decoding it takes a fraction of JSON's CPU and
// garbage, which matters for informers that receive every pod. Dynamic and
// metadata clients built from cfg choose their own media types.
func withProtobuf(cfg *rest.Config) *rest.Config {
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	return cfg
}
