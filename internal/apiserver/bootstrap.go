package apiserver

import (
	"context"
	"errors"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// defaultNamespaces exist in every cluster, as upstream creates them.
var defaultNamespaces = []string{metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease}

// bootstrap creates what every cluster has, if missing: the default
// namespaces and the "kubernetes" service.
func (s *Server) bootstrap(ctx context.Context) error {
	nsRes := s.resources[coreV1]["namespaces"]
	if nsRes == nil {
		return nil
	}
	opts := writeOptions{fieldManager: "skiff-apiserver"}
	// Created concurrently, so that a first start waits for one commit of
	// the store rather than one per namespace.
	errs := make([]error, len(defaultNamespaces))
	var wg sync.WaitGroup
	for i, name := range defaultNamespaces {
		if _, ok := nsRes.cacheGet(nsRes.key("", name)); ok {
			continue
		}
		wg.Go(func() {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
			if _, err := s.create(ctx, nsRes, ns, "", opts); err != nil && !apierrors.IsAlreadyExists(err) {
				errs[i] = err
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	svcRes := s.resources[coreV1]["services"]
	if svcRes == nil {
		return nil
	}
	if _, err := svcRes.get(ctx, metav1.NamespaceDefault, "kubernetes"); err == nil {
		return nil
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	first := ServiceCIDR.Masked().Addr().Next()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{
			ClusterIP: first.String(),
			Ports: []corev1.ServicePort{{Name: "https", Protocol: corev1.ProtocolTCP, Port: 443,
				TargetPort: intstr.FromInt32(int32(s.cfg.SecurePort))}},
		},
	}
	if _, err := s.create(ctx, svcRes, svc, metav1.NamespaceDefault, opts); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}
