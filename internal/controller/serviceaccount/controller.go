// Package serviceaccount is upstream's service account controller: every
// active namespace has a ServiceAccount named "default", created with
// the namespace and again whenever it is deleted.
package serviceaccount

import (
	"context"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"skiff.dev/skiff/internal/controller/reconcile"
)

// DefaultName is the service account every namespace gets.
const DefaultName = "default"

// Controller ensures the default service accounts.
type Controller struct {
	client     kubernetes.Interface
	namespaces corelisters.NamespaceLister
	accounts   corelisters.ServiceAccountLister
	loop       *reconcile.Loop
}

// New builds the controller on a factory not yet started.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) (*Controller, error) {
	nsInf := factory.Core().V1().Namespaces()
	saInf := factory.Core().V1().ServiceAccounts()
	c := &Controller{client: client, namespaces: nsInf.Lister(), accounts: saInf.Lister()}
	// Keys are namespace names.
	c.loop = reconcile.NewLoop("serviceaccount", reconcile.ReconcileFunc(c.Reconcile), log)
	c.loop.WaitFor(nsInf.Informer().HasSynced, saInf.Informer().HasSynced)
	if _, err := nsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.loop.Enqueue,
		UpdateFunc: func(_, cur any) { c.loop.Enqueue(cur) },
	}); err != nil {
		return nil, err
	}
	if _, err := saInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if sa, ok := obj.(*corev1.ServiceAccount); ok && sa.Name == DefaultName {
				c.loop.Add(sa.Namespace)
			}
		},
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// Run reconciles with workers goroutines until ctx ends (upstream runs 1).
func (c *Controller) Run(ctx context.Context, workers int) error { return c.loop.Run(ctx, workers) }

// Reconcile creates the default service account of namespace ns if it
// is missing and the namespace is active.
func (c *Controller) Reconcile(ctx context.Context, ns string) error {
	n, err := c.namespaces.Get(ns)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if n.Status.Phase != corev1.NamespaceActive && n.Status.Phase != "" || n.DeletionTimestamp != nil {
		return nil
	}
	if _, err := c.accounts.ServiceAccounts(ns).Get(DefaultName); err == nil {
		return nil
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: DefaultName, Namespace: ns}}
	_, err = c.client.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{})
	switch {
	case err == nil, apierrors.IsAlreadyExists(err):
		return nil
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause), apierrors.IsForbidden(err) && c.terminating(ns):
		return nil
	default:
		return fmt.Errorf("create default service account in %s: %w", ns, err)
	}
}

func (c *Controller) terminating(ns string) bool {
	n, err := c.namespaces.Get(ns)
	return err == nil && (n.DeletionTimestamp != nil || n.Status.Phase == corev1.NamespaceTerminating)
}
