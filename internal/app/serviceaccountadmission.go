package app

import (
	"context"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/skiff/internal/admission/serviceaccount"
	"skiff.dev/skiff/internal/apiserver"
)

// serviceAccountLookup is the ServiceAccount plug-in's Accounts: the API
// server's watch cache first, then a GET through the API (a service
// account created a moment ago may not have reached the cache yet), as
// upstream's plug-in reads its informer, then the API.
type serviceAccountLookup struct {
	cache lazyObjects
	cs    atomic.Pointer[kubernetes.Clientset]
}

var _ serviceaccount.Accounts = (*serviceAccountLookup)(nil)

func (l *serviceAccountLookup) ServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	if obj, ok := l.cache.Get(namespace, name); ok {
		if sa, ok := obj.(*corev1.ServiceAccount); ok {
			return sa, nil
		}
	}
	cs := l.cs.Load()
	if cs == nil {
		return nil, apierrors.NewNotFound(corev1.Resource("serviceaccount"), name)
	}
	return cs.CoreV1().ServiceAccounts(namespace).Get(ctx, name, metav1.GetOptions{})
}

// bind points the lookup at srv's service account cache.
func (l *serviceAccountLookup) bind(srv *apiserver.Server) error {
	cached, err := srv.Cached(corev1.SchemeGroupVersion.WithResource("serviceaccounts"))
	if err != nil {
		return err
	}
	l.cache.c.Store(&cached)
	return nil
}
