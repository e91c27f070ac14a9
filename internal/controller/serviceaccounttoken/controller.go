// Package serviceaccounttoken is upstream's token controller: a Secret of
// type kubernetes.io/service-account-token naming a service account (the
// kubernetes.io/service-account.name annotation) gets a never-expiring
// legacy token in data.token, the cluster CA in data["ca.crt"], its
// namespace in data.namespace, and the account's UID in the
// kubernetes.io/service-account.uid annotation. A token secret whose
// account is gone (or was replaced: another UID) is deleted, which
// revokes its token.
//
// The token is signed in-process with the API server's key: the
// controller gets an Issuer rather than reaching for the key itself.
package serviceaccounttoken

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"skiff.dev/skiff/internal/controller/reconcile"
)

// Issuer signs a secret's legacy token (serviceaccount.Issuer).
type Issuer interface {
	IssueLegacy(sa *corev1.ServiceAccount, secret *corev1.Secret) (string, error)
}

// Controller fills in and cleans up token secrets.
type Controller struct {
	client   kubernetes.Interface
	accounts corelisters.ServiceAccountLister
	secrets  corelisters.SecretLister
	issuer   Issuer
	rootCA   []byte
	loop     *reconcile.Loop
}

// New builds the controller on a factory not yet started; rootCA is the
// cluster CA certificate (PEM) put into every token secret.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, issuer Issuer, rootCA []byte, log *slog.Logger) (*Controller, error) {
	saInf := factory.Core().V1().ServiceAccounts()
	secInf := factory.Core().V1().Secrets()
	c := &Controller{client: client, accounts: saInf.Lister(), secrets: secInf.Lister(), issuer: issuer, rootCA: rootCA}
	// Keys are token secrets' namespace/name.
	c.loop = reconcile.NewLoop("serviceaccount-token", reconcile.ReconcileFunc(c.Reconcile), log)
	c.loop.WaitFor(saInf.Informer().HasSynced, secInf.Informer().HasSynced)
	enqueueSecret := func(obj any) {
		if s, ok := obj.(*corev1.Secret); ok && s.Type == corev1.SecretTypeServiceAccountToken {
			c.loop.Enqueue(s)
		}
	}
	if _, err := secInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueueSecret,
		UpdateFunc: func(_, cur any) { enqueueSecret(cur) },
	}); err != nil {
		return nil, err
	}
	// An account that goes (or is replaced) takes its token secrets
	// with it.
	enqueueTokens := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		sa, ok := obj.(*corev1.ServiceAccount)
		if !ok {
			return
		}
		secrets, err := c.secrets.Secrets(sa.Namespace).List(everything)
		if err != nil {
			return
		}
		for _, s := range secrets {
			if s.Type == corev1.SecretTypeServiceAccountToken && s.Annotations[corev1.ServiceAccountNameKey] == sa.Name {
				c.loop.Enqueue(s)
			}
		}
	}
	if _, err := saInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueueTokens,
		UpdateFunc: func(_, cur any) { enqueueTokens(cur) },
		DeleteFunc: enqueueTokens,
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// Run reconciles with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) error { return c.loop.Run(ctx, workers) }

// Reconcile brings one token secret ("namespace/name") in line with its
// service account.
func (c *Controller) Reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	secret, err := c.secrets.Secrets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if secret.Type != corev1.SecretTypeServiceAccountToken || secret.DeletionTimestamp != nil {
		return nil
	}
	sa, err := c.account(ctx, secret)
	if err != nil {
		return err
	}
	if sa == nil {
		return c.deleteSecret(ctx, secret)
	}
	return c.fill(ctx, secret, sa)
}

// account returns the secret's service account, or nil if there is none
// with the annotated name (and UID, if annotated). The informer may not
// have seen an account created just before its secret, so a miss is
// confirmed with the API server before the secret is deleted, as
// upstream does.
func (c *Controller) account(ctx context.Context, secret *corev1.Secret) (*corev1.ServiceAccount, error) {
	saName := secret.Annotations[corev1.ServiceAccountNameKey]
	wantUID := secret.Annotations[corev1.ServiceAccountUIDKey]
	if saName == "" {
		return nil, nil
	}
	matches := func(sa *corev1.ServiceAccount) bool {
		return wantUID == "" || string(sa.UID) == wantUID
	}
	if sa, err := c.accounts.ServiceAccounts(secret.Namespace).Get(saName); err == nil && matches(sa) {
		return sa, nil
	}
	sa, err := c.client.CoreV1().ServiceAccounts(secret.Namespace).Get(ctx, saName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get service account %s/%s: %w", secret.Namespace, saName, err)
	}
	if !matches(sa) {
		return nil, nil
	}
	return sa, nil
}

func (c *Controller) deleteSecret(ctx context.Context, secret *corev1.Secret) error {
	uid := secret.UID
	err := c.client.CoreV1().Secrets(secret.Namespace).Delete(ctx, secret.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete token secret %s/%s: %w", secret.Namespace, secret.Name, err)
	}
	return nil
}

// fill writes what the secret lacks: the CA, the namespace, the token
// (kept if it has one) and the account's UID annotation.
func (c *Controller) fill(ctx context.Context, secret *corev1.Secret, sa *corev1.ServiceAccount) error {
	needsCA := len(c.rootCA) > 0 && !bytes.Equal(secret.Data[corev1.ServiceAccountRootCAKey], c.rootCA)
	needsNamespace := string(secret.Data[corev1.ServiceAccountNamespaceKey]) != secret.Namespace
	needsToken := len(secret.Data[corev1.ServiceAccountTokenKey]) == 0
	needsUID := secret.Annotations[corev1.ServiceAccountUIDKey] != string(sa.UID)
	if !needsCA && !needsNamespace && !needsToken && !needsUID {
		return nil
	}
	s := secret.DeepCopy()
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	if needsCA {
		s.Data[corev1.ServiceAccountRootCAKey] = c.rootCA
	}
	if needsNamespace {
		s.Data[corev1.ServiceAccountNamespaceKey] = []byte(s.Namespace)
	}
	if needsToken {
		tok, err := c.issuer.IssueLegacy(sa, s)
		if err != nil {
			return fmt.Errorf("generate token for %s/%s: %w", s.Namespace, s.Name, err)
		}
		s.Data[corev1.ServiceAccountTokenKey] = []byte(tok)
	}
	s.Annotations[corev1.ServiceAccountNameKey] = sa.Name
	s.Annotations[corev1.ServiceAccountUIDKey] = string(sa.UID)
	_, err := c.client.CoreV1().Secrets(s.Namespace).Update(ctx, s, metav1.UpdateOptions{})
	switch {
	case err == nil, apierrors.IsNotFound(err):
		return nil
	case apierrors.IsConflict(err):
		// A newer version is queued by the informer.
		return nil
	default:
		return fmt.Errorf("update token secret %s/%s: %w", s.Namespace, s.Name, err)
	}
}

var everything = labels.Everything()
