package app

import (
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"

	"skiff.dev/skiff/internal/apiserver"
	"skiff.dev/skiff/internal/auth/bootstrap"
)

// cachedSecrets is bootstrap.SecretSource over the API server's watch
// cache of kube-system Secrets; it finds nothing until bound (after
// srv.Start), so no token authenticates before the cache serves.
type cachedSecrets struct {
	c atomic.Pointer[apiserver.CachedObjects]
}

var _ bootstrap.SecretSource = (*cachedSecrets)(nil)

func (s *cachedSecrets) bind(srv *apiserver.Server) error {
	c, err := srv.Cached(corev1.SchemeGroupVersion.WithResource("secrets"))
	if err != nil {
		return err
	}
	s.c.Store(&c)
	return nil
}

func (s *cachedSecrets) Secret(name string) (*corev1.Secret, bool) {
	c := s.c.Load()
	if c == nil {
		return nil, false
	}
	o, ok := c.Get(bootstrap.Namespace, name)
	sec, isSecret := o.(*corev1.Secret)
	return sec, ok && isSecret
}
