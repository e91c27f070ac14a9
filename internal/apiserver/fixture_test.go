package apiserver

import (
	"context"
	"crypto/tls"
	"net/http/httptest"
	"path/filepath"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/auth/authz"
	"skiff.dev/skiff/internal/auth/pki"
	"skiff.dev/skiff/internal/registry"
	"skiff.dev/skiff/internal/storage/bolt"
)

// plainStrategy has no kind-specific rules: the tests here exercise the
// generic handler, not a resource's defaults or validation.
type plainStrategy struct{}

func (plainStrategy) Default(runtime.Object)                                           {}
func (plainStrategy) PrepareForCreate(context.Context, runtime.Object)                 {}
func (plainStrategy) PrepareForUpdate(context.Context, runtime.Object, runtime.Object) {}
func (plainStrategy) Validate(context.Context, runtime.Object) field.ErrorList         { return nil }
func (plainStrategy) ValidateUpdate(context.Context, runtime.Object, runtime.Object) field.ErrorList {
	return nil
}

// podGrace deletes pods gracefully when they are bound to a node.
type podGrace struct{ plainStrategy }

func (podGrace) GracePeriod(obj runtime.Object, requested *int64) int64 {
	if requested != nil {
		return *requested
	}
	if obj.(*corev1.Pod).Spec.NodeName == "" {
		return 0
	}
	return 30
}

func testResources() []registry.Resource {
	v1 := corev1.SchemeGroupVersion
	return []registry.Resource{
		{GroupVersion: v1, Resource: "namespaces", Kind: "Namespace", SingularName: "namespace", ShortNames: []string{"ns"},
			New: func() runtime.Object { return &corev1.Namespace{} }, NewList: func() runtime.Object { return &corev1.NamespaceList{} },
			Strategy: plainStrategy{}, HasStatus: true},
		{GroupVersion: v1, Resource: "configmaps", Kind: "ConfigMap", SingularName: "configmap", Namespaced: true, ShortNames: []string{"cm"},
			New: func() runtime.Object { return &corev1.ConfigMap{} }, NewList: func() runtime.Object { return &corev1.ConfigMapList{} },
			Strategy: plainStrategy{}},
		{GroupVersion: v1, Resource: "services", Kind: "Service", SingularName: "service", Namespaced: true,
			New: func() runtime.Object { return &corev1.Service{} }, NewList: func() runtime.Object { return &corev1.ServiceList{} },
			Strategy: plainStrategy{}, HasStatus: true},
		{GroupVersion: v1, Resource: "pods", Kind: "Pod", SingularName: "pod", Namespaced: true,
			New: func() runtime.Object { return &corev1.Pod{} }, NewList: func() runtime.Object { return &corev1.PodList{} },
			Strategy: podGrace{}, HasStatus: true, HasGeneration: true},
		{GroupVersion: appsv1.SchemeGroupVersion, Resource: "deployments", Kind: "Deployment", SingularName: "deployment", Namespaced: true,
			New: func() runtime.Object { return &appsv1.Deployment{} }, NewList: func() runtime.Object { return &appsv1.DeploymentList{} },
			Strategy: plainStrategy{}, HasStatus: true, HasGeneration: true,
			Scale: &registry.ScaleAccessor{
				Get: func(o runtime.Object) (int32, int32, string) {
					d := o.(*appsv1.Deployment)
					r := int32(1)
					if d.Spec.Replicas != nil {
						r = *d.Spec.Replicas
					}
					return r, d.Status.Replicas, ""
				},
				Set: func(o runtime.Object, n int32) { o.(*appsv1.Deployment).Spec.Replicas = &n },
			}},
	}
}

// fixture is an API server on a fresh bolt store behind real TLS, with an
// admin client.
type fixture struct {
	srv    *Server
	http   *httptest.Server
	admin  *rest.Config
	client *kubernetes.Clientset
	ca     *pki.CA
}

func newFixture(t *testing.T, opts ...func(*Config)) *fixture {
	t.Helper()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ca, err := pki.LoadOrCreateCA(filepath.Join(dir, "tls"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Store: st, Resources: testResources(), SecurePort: 6443,
		Authenticator: authn.NewX509Authenticator(ca.Pool()),
		Authorizer:    authz.Union{authz.Superusers{Group: "system:masters"}},
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.SignServing([]string{"127.0.0.1", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv)
	hs.TLS = authn.TLSConfig(cert, ca.Pool())
	hs.EnableHTTP2 = true
	hs.StartTLS()
	t.Cleanup(hs.Close)

	f := &fixture{srv: srv, http: hs, ca: ca}
	f.admin = f.config(t, "admin", "system:masters")
	f.client = kubernetes.NewForConfigOrDie(f.admin)
	return f
}

// config is a client config for user in groups.
func (f *fixture) config(t *testing.T, user string, groups ...string) *rest.Config {
	t.Helper()
	certPEM, keyPEM, err := f.ca.SignClient(user, groups)
	if err != nil {
		t.Fatal(err)
	}
	return &rest.Config{
		Host: f.http.URL, QPS: 1000, Burst: 1000,
		TLSClientConfig: rest.TLSClientConfig{CAData: f.ca.CertPEM, CertData: certPEM, KeyData: keyPEM},
	}
}
