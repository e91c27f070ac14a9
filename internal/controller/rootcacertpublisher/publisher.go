// Package rootcacertpublisher is upstream's root CA certificate publisher:
// every namespace has a ConfigMap kube-root-ca.crt whose ca.crt is the
// cluster CA (PEM), so that pods can verify the API server at
// kubernetes.default.svc (the ServiceAccount admission plug-in projects it
// into every pod's kube-api-access volume). The config map is created with
// the namespace, recreated when deleted and rewritten when changed.
package rootcacertpublisher

import (
	"context"
	"fmt"
	"log/slog"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"skiff.dev/skiff/internal/controller/reconcile"
)

// Upstream's names and texts.
const (
	// ConfigMapName is the config map in every namespace, Key its key.
	ConfigMapName = "kube-root-ca.crt"
	Key           = "ca.crt"
	// DescriptionAnnotation tells readers what the config map is for.
	DescriptionAnnotation = "kubernetes.io/description"
	Description           = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."
)

// Publisher keeps the config maps.
type Publisher struct {
	client     kubernetes.Interface
	rootCA     string
	namespaces corelisters.NamespaceLister
	configMaps corelisters.ConfigMapLister
	loop       *reconcile.Loop
}

// New builds the publisher of rootCA (PEM) on a factory not yet started.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, rootCA []byte, log *slog.Logger) (*Publisher, error) {
	if len(rootCA) == 0 {
		return nil, fmt.Errorf("root CA publisher: no CA certificate")
	}
	nsInf := factory.Core().V1().Namespaces()
	cmInf := factory.Core().V1().ConfigMaps()
	p := &Publisher{client: client, rootCA: string(rootCA), namespaces: nsInf.Lister(), configMaps: cmInf.Lister()}
	// Keys are namespace names.
	p.loop = reconcile.NewLoop("root_ca_cert_publisher", reconcile.ReconcileFunc(p.Reconcile), log)
	p.loop.WaitFor(nsInf.Informer().HasSynced, cmInf.Informer().HasSynced)
	if _, err := nsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: p.loop.Enqueue,
		UpdateFunc: func(_, cur any) {
			if ns, ok := cur.(*corev1.Namespace); ok && ns.Status.Phase == corev1.NamespaceActive {
				p.loop.Add(ns.Name)
			}
		},
	}); err != nil {
		return nil, err
	}
	ours := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		if cm, ok := obj.(*corev1.ConfigMap); ok && cm.Name == ConfigMapName {
			p.loop.Add(cm.Namespace)
		}
	}
	if _, err := cmInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, cur any) { ours(cur) },
		DeleteFunc: ours,
	}); err != nil {
		return nil, err
	}
	return p, nil
}

// Run reconciles with workers goroutines until ctx ends (upstream runs 1).
func (p *Publisher) Run(ctx context.Context, workers int) error { return p.loop.Run(ctx, workers) }

// Reconcile creates or corrects the config map of namespace ns.
func (p *Publisher) Reconcile(ctx context.Context, ns string) error {
	if n, err := p.namespaces.Get(ns); apierrors.IsNotFound(err) || err == nil && n.DeletionTimestamp != nil {
		return nil
	}
	want := map[string]string{Key: p.rootCA}
	cm, err := p.configMaps.ConfigMaps(ns).Get(ConfigMapName)
	switch {
	case apierrors.IsNotFound(err):
		_, err = p.client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName, Annotations: map[string]string{DescriptionAnnotation: Description}},
			Data:       want,
		}, metav1.CreateOptions{})
		// A namespace gone or terminating is no reason to retry.
		if err == nil || apierrors.IsAlreadyExists(err) || apierrors.IsNotFound(err) || apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil
		}
		return fmt.Errorf("create %s/%s: %w", ns, ConfigMapName, err)
	case err != nil:
		return err
	}
	if maps.Equal(cm.Data, want) && cm.Annotations[DescriptionAnnotation] != "" {
		return nil
	}
	cm = cm.DeepCopy()
	cm.Data = want
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Annotations[DescriptionAnnotation] = Description
	if _, err := p.client.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil // deleted meanwhile: its delete event requeues ns
		}
		return fmt.Errorf("update %s/%s: %w", ns, ConfigMapName, err)
	}
	return nil
}
