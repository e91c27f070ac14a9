package apiserver

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
)

// Read returns one object from the store rather than the cache, for a
// caller that must see a write that just succeeded (the watch cache lags
// the store by a moment) or that falls back to the store when the cache
// misses. A missing object is an apierrors NotFound.
func (c CachedObjects) Read(ctx context.Context, namespace, name string) (runtime.Object, error) {
	return c.res.get(ctx, namespace, name)
}
