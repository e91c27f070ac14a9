// Package tokencleaner is upstream's token cleaner: it deletes bootstrap
// token Secrets (kube-system, type bootstrap.kubernetes.io/token) once
// their expiration has passed, so an expired token cannot be revived by
// a clock change and does not linger.
package tokencleaner

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"skiff.dev/skiff/internal/auth/bootstrap"
	"skiff.dev/skiff/internal/controller/reconcile"
)

// Controller is the token cleaner.
type Controller struct {
	client  kubernetes.Interface
	secrets corelisters.SecretLister
	loop    *reconcile.Loop
	now     func() time.Time
}

// New builds the controller on an informer factory for kube-system
// secrets, not yet started; now is its clock.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger, now func() time.Time) (*Controller, error) {
	inf := factory.Core().V1().Secrets()
	c := &Controller{client: client, secrets: inf.Lister(), now: now}
	c.loop = reconcile.NewLoop("token_cleaner", reconcile.ReconcileFunc(c.Reconcile), log)
	c.loop.WaitFor(inf.Informer().HasSynced)
	enqueue := func(obj any) {
		if s, ok := obj.(*corev1.Secret); ok && s.Namespace == bootstrap.Namespace && s.Type == bootstrap.SecretType {
			c.loop.Enqueue(s)
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, cur any) { enqueue(cur) },
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// Run reconciles with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) error { return c.loop.Run(ctx, workers) }

// Reconcile deletes the token Secret named by key if it has expired, else
// comes back at its expiration.
func (c *Controller) Reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	s, err := c.secrets.Secrets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if s.Type != bootstrap.SecretType || s.DeletionTimestamp != nil {
		return nil
	}
	at, ok := bootstrap.Expiration(s)
	if !ok {
		return nil
	}
	if left := at.Sub(c.now()); left > 0 && !bootstrap.Expired(s, c.now()) {
		c.loop.AddAfter(key, left)
		return nil
	}
	err = c.client.CoreV1().Secrets(ns).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &s.UID}})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete expired bootstrap token %s: %w", key, err)
	}
	return nil
}
