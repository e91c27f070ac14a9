// Package kubernetesendpoints keeps the Endpoints and the EndpointSlice
// of the default/kubernetes service pointing at the API server, the job
// of upstream's apiserver endpoint reconciler: one address, port "https"
// over TCP. Upstream's API server does it itself; here it is a
// controller given the address and port, so the API server stays free of
// client-side loops. The service has no selector, so the Endpoints and
// EndpointSlice controllers leave these objects alone.
package kubernetesendpoints

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"

	"skiff.dev/skiff/internal/controller/reconcile"
)

// Upstream's names.
const (
	serviceName = "kubernetes"
	portName    = "https"
	// skipMirrorLabel keeps the EndpointSlice mirroring controller off
	// these Endpoints: the slice is written here.
	skipMirrorLabel = discoveryv1.LabelSkipMirror
	// resyncPeriod is upstream's --endpoint-reconciler interval.
	resyncPeriod = 10 * time.Second
)

// Controller writes the kubernetes service's endpoints.
type Controller struct {
	client    kubernetes.Interface
	ip        string
	port      int32
	endpoints corelisters.EndpointsLister
	slices    discoverylisters.EndpointSliceLister
	loop      *reconcile.Loop
}

// New builds the controller for an API server reachable at ip:port, on a
// factory not yet started. ip must be an address pods can reach: not
// loopback, unspecified or link-local.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, ip string, port int32, log *slog.Logger) (*Controller, error) {
	parsed := net.ParseIP(ip)
	if parsed == nil {
		return nil, fmt.Errorf("kubernetes service endpoints: %q is not an IP address", ip)
	}
	if parsed.IsLoopback() || parsed.IsUnspecified() || parsed.IsLinkLocalUnicast() {
		// Endpoints validation refuses these, as upstream refuses them
		// for --advertise-address: pods could not reach them.
		return nil, fmt.Errorf("kubernetes service endpoints: %s is not an address pods can reach", ip)
	}
	epInf := factory.Core().V1().Endpoints()
	sliceInf := factory.Discovery().V1().EndpointSlices()
	c := &Controller{client: client, ip: ip, port: port, endpoints: epInf.Lister(), slices: sliceInf.Lister()}
	c.loop = reconcile.NewLoop("kubernetes_endpoints", reconcile.ReconcileFunc(c.Reconcile), log)
	c.loop.WaitFor(epInf.Informer().HasSynced, sliceInf.Informer().HasSynced)
	h := cache.FilteringResourceEventHandler{
		FilterFunc: func(obj any) bool {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			m, err := meta(obj)
			return err == nil && m.GetNamespace() == metav1.NamespaceDefault && m.GetName() == serviceName
		},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { c.loop.Add(serviceName) },
			UpdateFunc: func(any, any) { c.loop.Add(serviceName) },
			DeleteFunc: func(any) { c.loop.Add(serviceName) },
		},
	}
	if _, err := epInf.Informer().AddEventHandler(h); err != nil {
		return nil, err
	}
	if _, err := sliceInf.Informer().AddEventHandler(h); err != nil {
		return nil, err
	}
	return c, nil
}

func meta(obj any) (metav1.Object, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no metadata", obj)
	}
	return m, nil
}

// Run keeps the objects right until ctx ends, looking again every ten
// seconds as upstream's reconciler does.
func (c *Controller) Run(ctx context.Context) error {
	c.loop.Add(serviceName)
	go func() {
		t := time.NewTicker(resyncPeriod)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				c.loop.Add(serviceName)
			}
		}
	}()
	return c.loop.Run(ctx, 1)
}

// Endpoints is the desired default/kubernetes Endpoints.
func (c *Controller) Endpoints() *corev1.Endpoints {
	return &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: serviceName, Namespace: metav1.NamespaceDefault, Labels: map[string]string{skipMirrorLabel: "true"}},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: c.ip}},
			Ports:     []corev1.EndpointPort{{Name: portName, Port: c.port, Protocol: corev1.ProtocolTCP}},
		}},
	}
}

// EndpointSlice is the desired default/kubernetes EndpointSlice.
func (c *Controller) EndpointSlice() *discoveryv1.EndpointSlice {
	at := discoveryv1.AddressTypeIPv4
	if net.ParseIP(c.ip).To4() == nil {
		at = discoveryv1.AddressTypeIPv6
	}
	ready := true
	name, proto, port := portName, corev1.ProtocolTCP, c.port
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: serviceName, Namespace: metav1.NamespaceDefault, Labels: map[string]string{discoveryv1.LabelServiceName: serviceName}},
		AddressType: at,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{c.ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port, Protocol: &proto}},
	}
}

// Reconcile writes both objects where they differ from the desired ones.
func (c *Controller) Reconcile(ctx context.Context, _ string) error {
	want := c.Endpoints()
	cur, err := c.endpoints.Endpoints(metav1.NamespaceDefault).Get(serviceName)
	switch {
	case apierrors.IsNotFound(err):
		if _, err := c.client.CoreV1().Endpoints(metav1.NamespaceDefault).Create(ctx, want, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create kubernetes endpoints: %w", err)
		}
	case err != nil:
		return err
	case !apiequality.Semantic.DeepEqual(cur.Subsets, want.Subsets) || cur.Labels[skipMirrorLabel] != "true":
		next := cur.DeepCopy()
		next.Subsets = want.Subsets
		if next.Labels == nil {
			next.Labels = map[string]string{}
		}
		next.Labels[skipMirrorLabel] = "true"
		if _, err := c.client.CoreV1().Endpoints(metav1.NamespaceDefault).Update(ctx, next, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("update kubernetes endpoints: %w", err)
		}
	}
	wantSlice := c.EndpointSlice()
	curSlice, err := c.slices.EndpointSlices(metav1.NamespaceDefault).Get(serviceName)
	switch {
	case apierrors.IsNotFound(err):
		if _, err := c.client.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault).Create(ctx, wantSlice, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create kubernetes endpoint slice: %w", err)
		}
	case err != nil:
		return err
	case curSlice.AddressType != wantSlice.AddressType:
		// The address type is immutable: replace the slice.
		if err := c.client.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault).Delete(ctx, serviceName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("replace kubernetes endpoint slice: %w", err)
		}
		c.loop.Add(serviceName)
	case !apiequality.Semantic.DeepEqual(curSlice.Endpoints, wantSlice.Endpoints) || !apiequality.Semantic.DeepEqual(curSlice.Ports, wantSlice.Ports) ||
		curSlice.Labels[discoveryv1.LabelServiceName] != serviceName:
		next := curSlice.DeepCopy()
		next.Endpoints, next.Ports = wantSlice.Endpoints, wantSlice.Ports
		if next.Labels == nil {
			next.Labels = map[string]string{}
		}
		next.Labels[discoveryv1.LabelServiceName] = serviceName
		if _, err := c.client.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault).Update(ctx, next, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("update kubernetes endpoint slice: %w", err)
		}
	}
	return nil
}
