package webhook_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff.dev/skiff/internal/admission"
	"skiff.dev/skiff/internal/admission/webhook"
	"skiff.dev/skiff/internal/apiserver"
	"skiff.dev/skiff/internal/auth/pki"
	"skiff.dev/skiff/internal/registry"
	"skiff.dev/skiff/internal/registry/builtin"
	"skiff.dev/skiff/internal/testserver"
)

// lazy is one watch cache, bound once the API server exists.
type lazy struct {
	c atomic.Pointer[apiserver.CachedObjects]
}

func (l *lazy) List(ns string) []runtime.Object {
	if c := l.c.Load(); c != nil {
		return c.List(ns)
	}
	return nil
}

func (l *lazy) Get(ns, name string) (runtime.Object, bool) {
	if c := l.c.Load(); c != nil {
		return c.Get(ns, name)
	}
	return nil, false
}

type server struct {
	cs     kubernetes.Interface
	warn   *testserver.Warnings
	srv    *apiserver.Server
	caches map[schema.GroupVersionResource]*lazy
	admin  *rest.Config
}

// start runs the real API server with both webhook plug-ins reading its
// watch caches.
func start(t *testing.T) *server {
	t.Helper()
	return startWith(t, nil)
}

// servedDefaults applies the served resources' defaults, as skiff
// server's wiring gives the mutating plug-in.
func servedDefaults() webhook.Defaulter {
	strategies := map[schema.GroupVersionResource]registry.Strategy{}
	for _, r := range builtin.Resources() {
		strategies[r.GroupVersionResource()] = r.Strategy
	}
	return func(gvr schema.GroupVersionResource, obj runtime.Object) {
		if s := strategies[gvr]; s != nil {
			s.Default(obj)
		}
	}
}

func startWith(t *testing.T, defaults webhook.Defaulter) *server {
	t.Helper()
	s := &server{warn: &testserver.Warnings{}, caches: map[schema.GroupVersionResource]*lazy{}}
	cache := func(gvr schema.GroupVersionResource) *lazy {
		if s.caches[gvr] == nil {
			s.caches[gvr] = &lazy{}
		}
		return s.caches[gvr]
	}
	src := func(configs string) webhook.Sources {
		return webhook.Sources{
			Configurations: cache(admissionregistrationv1.SchemeGroupVersion.WithResource(configs)),
			Namespaces:     cache(corev1.SchemeGroupVersion.WithResource("namespaces")),
			Services:       cache(corev1.SchemeGroupVersion.WithResource("services")),
			EndpointSlices: cache(schema.GroupVersionResource{Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"}),
		}
	}
	chain := admission.NewChain(
		webhook.NewMutating(src("mutatingwebhookconfigurations"), defaults),
		webhook.NewValidating(src("validatingwebhookconfigurations")),
	)
	ts := testserver.StartWith(t, func(_ testing.TB, setup *testserver.Setup) {
		setup.Config.Admission = chain
		setup.Bound = append(setup.Bound, func(srv *apiserver.Server) error {
			for gvr, l := range s.caches {
				c, err := srv.Cached(gvr)
				if err != nil {
					return err
				}
				l.c.Store(&c)
			}
			return nil
		})
	})
	s.srv = ts.API
	s.admin = rest.CopyConfig(ts.Admin)
	s.admin.WarningHandler = s.warn
	s.cs = kubernetes.NewForConfigOrDie(s.admin)
	return s
}

// waitCached polls until the plug-ins' cache holds the object.
func (s *server) waitCached(t *testing.T, gvr schema.GroupVersionResource, ns, name string) {
	t.Helper()
	c, err := s.srv.Cached(gvr)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := c.Get(ns, name); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s/%s never reached the watch cache", gvr.Resource, ns, name)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hookServer is a webhook over HTTPS with a certificate from its own CA.
type hookServer struct {
	url      string
	caBundle []byte
	mu       sync.Mutex
	reviews  []*admissionv1.AdmissionReview
}

func (h *hookServer) seen() []*admissionv1.AdmissionReview {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*admissionv1.AdmissionReview(nil), h.reviews...)
}

func startHook(t *testing.T) *hookServer {
	return startHookAt(t, "127.0.0.1:0", []string{"127.0.0.1"})
}

// startHookAt serves the webhook on addr with a certificate for hosts.
func startHookAt(t *testing.T, addr string, hosts []string) *hookServer {
	t.Helper()
	ca, err := pki.LoadOrCreateCA(filepath.Join(t.TempDir(), "webhook-ca"))
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.SignServing(hosts)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	h := &hookServer{caBundle: ca.CertPEM}
	respond := func(w http.ResponseWriter, req *admissionv1.AdmissionReview, resp *admissionv1.AdmissionResponse) {
		resp.UID = req.Request.UID
		out := admissionv1.AdmissionReview{TypeMeta: req.TypeMeta, Response: resp}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	}
	mux := http.NewServeMux()
	decode := func(w http.ResponseWriter, r *http.Request) *admissionv1.AdmissionReview {
		req := &admissionv1.AdmissionReview{}
		if err := json.NewDecoder(r.Body).Decode(req); err != nil || req.Request == nil {
			http.Error(w, "bad review", http.StatusBadRequest)
			return nil
		}
		h.mu.Lock()
		h.reviews = append(h.reviews, req)
		h.mu.Unlock()
		return req
	}
	// /mutate adds data.injected to a ConfigMap.
	mux.HandleFunc("/mutate", func(w http.ResponseWriter, r *http.Request) {
		if req := decode(w, r); req != nil {
			pt := admissionv1.PatchTypeJSONPatch
			respond(w, req, &admissionv1.AdmissionResponse{Allowed: true, PatchType: &pt,
				Patch: []byte(`[{"op":"add","path":"/data/injected","value":"by-webhook"}]`)})
		}
	})
	// /record-b records in data.a-saw-b whether data.b was there; /add-b
	// adds it: for reinvocation.
	mux.HandleFunc("/record-b", func(w http.ResponseWriter, r *http.Request) {
		if req := decode(w, r); req != nil {
			var cm corev1.ConfigMap
			_ = json.Unmarshal(req.Request.Object.Raw, &cm)
			saw := "no"
			if _, ok := cm.Data["b"]; ok {
				saw = "yes"
			}
			pt := admissionv1.PatchTypeJSONPatch
			respond(w, req, &admissionv1.AdmissionResponse{Allowed: true, PatchType: &pt,
				Patch: []byte(`[{"op":"add","path":"/data/a-saw-b","value":"` + saw + `"}]`)})
		}
	})
	mux.HandleFunc("/add-b", func(w http.ResponseWriter, r *http.Request) {
		if req := decode(w, r); req != nil {
			pt := admissionv1.PatchTypeJSONPatch
			respond(w, req, &admissionv1.AdmissionResponse{Allowed: true, PatchType: &pt,
				Patch: []byte(`[{"op":"add","path":"/data/b","value":"1"}]`)})
		}
	})
	// /sidecar adds a container to a pod, only with name and image, as
	// sidecar injectors do.
	mux.HandleFunc("/sidecar", func(w http.ResponseWriter, r *http.Request) {
		if req := decode(w, r); req != nil {
			pt := admissionv1.PatchTypeJSONPatch
			respond(w, req, &admissionv1.AdmissionResponse{Allowed: true, PatchType: &pt,
				Patch: []byte(`[{"op":"add","path":"/spec/containers/-","value":{"name":"sidecar","image":"busybox:1.36"}}]`)})
		}
	})
	// /validate refuses ConfigMaps named "forbidden", warns otherwise.
	mux.HandleFunc("/validate", func(w http.ResponseWriter, r *http.Request) {
		if req := decode(w, r); req != nil {
			if req.Request.Name == "forbidden" {
				respond(w, req, &admissionv1.AdmissionResponse{Result: &metav1.Status{Code: 403, Message: "no thanks"}})
				return
			}
			respond(w, req, &admissionv1.AdmissionResponse{Allowed: true, Warnings: []string{"be careful"}})
		}
	})
	// /slow answers only when the caller gives up (or the test ends).
	done := make(chan struct{})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		if decode(w, r) == nil {
			return
		}
		select {
		case <-r.Context().Done():
		case <-done:
		}
	})
	hs := httptest.NewUnstartedServer(mux)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	hs.Listener.Close()
	hs.Listener = ln
	hs.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	hs.StartTLS()
	t.Cleanup(hs.Close)
	t.Cleanup(func() { close(done) }) // runs first
	h.url = hs.URL
	return h
}

func ptrTo[T any](v T) *T { return &v }

func configMapRule() []admissionregistrationv1.RuleWithOperations {
	return []admissionregistrationv1.RuleWithOperations{{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
		Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
	}}
}

func inNamespace(label string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{"webhook": label}}
}

func validatingHook(name, url string, ca []byte, ns string, fp admissionregistrationv1.FailurePolicyType, timeout int32) admissionregistrationv1.ValidatingWebhook {
	return admissionregistrationv1.ValidatingWebhook{
		Name: name, ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: ca},
		Rules: configMapRule(), NamespaceSelector: inNamespace(ns), FailurePolicy: &fp, TimeoutSeconds: &timeout,
		SideEffects: ptrTo(admissionregistrationv1.SideEffectClassNone), AdmissionReviewVersions: []string{"v1"},
	}
}

// TestWebhooksThroughTheAPIServer: a real HTTPS webhook configured by URL
// mutates a ConfigMap with a JSONPatch, denies another with upstream's
// 403, passes a warning through, and a webhook that times out refuses
// under failurePolicy Fail and admits under Ignore.
func TestWebhooksThroughTheAPIServer(t *testing.T) {
	s := start(t)
	hook := startHook(t)
	ctx := context.Background()
	nsRes := corev1.SchemeGroupVersion.WithResource("namespaces")
	for _, ns := range []string{"mutate", "validate", "slow-fail", "slow-ignore"} {
		if _, err := s.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"webhook": ns}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		s.waitCached(t, nsRes, "", ns)
	}
	mutating := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "inject"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "inject.example.com", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: ptrTo(hook.url + "/mutate"), CABundle: hook.caBundle},
			Rules: configMapRule(), NamespaceSelector: inNamespace("mutate"),
			SideEffects: ptrTo(admissionregistrationv1.SideEffectClassNone), AdmissionReviewVersions: []string{"v1", "v1beta1"},
		}},
	}
	if _, err := s.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, mutating, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	validating := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "checks"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{
			validatingHook("deny.example.com", hook.url+"/validate", hook.caBundle, "validate", admissionregistrationv1.Fail, 10),
			validatingHook("slow-fail.example.com", hook.url+"/slow", hook.caBundle, "slow-fail", admissionregistrationv1.Fail, 1),
			validatingHook("slow-ignore.example.com", hook.url+"/slow", hook.caBundle, "slow-ignore", admissionregistrationv1.Ignore, 1),
		},
	}
	if _, err := s.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, validating, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.waitCached(t, admissionregistrationv1.SchemeGroupVersion.WithResource("mutatingwebhookconfigurations"), "", "inject")
	s.waitCached(t, admissionregistrationv1.SchemeGroupVersion.WithResource("validatingwebhookconfigurations"), "", "checks")

	newCM := func(name string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"a": "b"}}
	}

	t.Run("mutated", func(t *testing.T) {
		got, err := s.cs.CoreV1().ConfigMaps("mutate").Create(ctx, newCM("patched"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Data["injected"] != "by-webhook" || got.Data["a"] != "b" {
			t.Fatalf("data = %v", got.Data)
		}
		stored, err := s.cs.CoreV1().ConfigMaps("mutate").Get(ctx, "patched", metav1.GetOptions{})
		if err != nil || stored.Data["injected"] != "by-webhook" {
			t.Fatalf("stored = %v, %v", stored, err)
		}
		var req *admissionv1.AdmissionRequest
		for _, r := range hook.seen() {
			if r.Request.Name == "patched" {
				req = r.Request
			}
		}
		if req == nil {
			t.Fatal("the webhook never saw the request")
		}
		if req.Operation != admissionv1.Create || req.Namespace != "mutate" || req.Kind.Kind != "ConfigMap" ||
			req.Resource.Resource != "configmaps" || req.UserInfo.Username != "admin" || req.DryRun == nil || *req.DryRun {
			t.Fatalf("request = %+v", req)
		}
		if !strings.Contains(string(req.Object.Raw), `"kind":"ConfigMap"`) || !strings.Contains(string(req.Options.Raw), `"kind":"CreateOptions"`) {
			t.Fatalf("object %s options %s", req.Object.Raw, req.Options.Raw)
		}
		// Other namespaces are not the webhook's.
		other, err := s.cs.CoreV1().ConfigMaps("validate").Create(ctx, newCM("untouched"), metav1.CreateOptions{})
		if err != nil || other.Data["injected"] != "" {
			t.Fatalf("untouched = %v, %v", other, err)
		}
	})

	t.Run("denied with a message", func(t *testing.T) {
		_, err := s.cs.CoreV1().ConfigMaps("validate").Create(ctx, newCM("forbidden"), metav1.CreateOptions{})
		const want = `configmaps "forbidden" is forbidden: admission webhook "deny.example.com" denied the request: no thanks`
		if !apierrors.IsForbidden(err) || err.Error() != want {
			t.Fatalf("err = %v, want 403 %q", err, want)
		}
	})

	t.Run("warning passed through", func(t *testing.T) {
		s.warn.Take()
		if _, err := s.cs.CoreV1().ConfigMaps("validate").Create(ctx, newCM("warned"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if w := s.warn.Take(); len(w) != 1 || w[0] != "be careful" {
			t.Fatalf("warnings = %q", w)
		}
	})

	t.Run("timeout under Fail refuses", func(t *testing.T) {
		_, err := s.cs.CoreV1().ConfigMaps("slow-fail").Create(ctx, newCM("late"), metav1.CreateOptions{})
		if !apierrors.IsInternalError(err) ||
			!strings.HasPrefix(err.Error(), `Internal error occurred: failed calling webhook "slow-fail.example.com": failed to call webhook: Post "`+hook.url+`/slow?timeout=1s": `) {
			t.Fatalf("err = %v", err)
		}
		if _, err := s.cs.CoreV1().ConfigMaps("slow-fail").Get(ctx, "late", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("refused object stored: %v", err)
		}
	})

	t.Run("timeout under Ignore admits", func(t *testing.T) {
		if _, err := s.cs.CoreV1().ConfigMaps("slow-ignore").Create(ctx, newCM("late"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("configurations never go to webhooks", func(t *testing.T) {
		// A webhook on everything that can never answer does not lock
		// out its own removal.
		all := validatingHook("all.example.com", hook.url+"/slow", hook.caBundle, "x", admissionregistrationv1.Fail, 1)
		all.NamespaceSelector = nil
		all.Rules[0].Operations = []admissionregistrationv1.OperationType{"*"}
		all.Rules[0].APIGroups, all.Rules[0].APIVersions, all.Rules[0].Resources = []string{"*"}, []string{"*"}, []string{"*/*"}
		cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "all"}, Webhooks: []admissionregistrationv1.ValidatingWebhook{all}}
		if _, err := s.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, cfg, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		s.waitCached(t, admissionregistrationv1.SchemeGroupVersion.WithResource("validatingwebhookconfigurations"), "", "all")
		if err := s.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(ctx, "all", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	})
}

// hostIP is a non-loopback address of this machine: endpoint slices may
// not point at loopback.
func hostIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	t.Skip("no non-loopback IPv4 address to serve a webhook behind a service")
	return ""
}

// TestServiceReference: a webhook named by service is reached at a ready
// endpoint of the service (no kube-proxy), with TLS verifying
// <service>.<namespace>.svc; without endpoints the call fails per
// failurePolicy.
func TestServiceReference(t *testing.T) {
	s := start(t)
	ip := hostIP(t)
	// The certificate names only the service, not the address dialed.
	hook := startHookAt(t, net.JoinHostPort(ip, "0"), []string{"hook.webhooks.svc"})
	_, portStr, _ := net.SplitHostPort(strings.TrimPrefix(hook.url, "https://"))
	var port int32
	if _, err := fmt.Sscan(portStr, &port); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, ns := range []string{"webhooks", "guarded", "unreachable"} {
		if _, err := s.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"webhook": ns}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		s.waitCached(t, corev1.SchemeGroupVersion.WithResource("namespaces"), "", ns)
	}
	for _, name := range []string{"hook", "empty"} {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ServiceSpec{
			Ports: []corev1.ServicePort{{Name: "https", Port: 443, TargetPort: intstr.FromString("https")}},
		}}
		if _, err := s.cs.CoreV1().Services("webhooks").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		s.waitCached(t, corev1.SchemeGroupVersion.WithResource("services"), "webhooks", name)
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "hook-abc", Labels: map[string]string{discoveryv1.LabelServiceName: "hook"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptrTo(true)}},
			// A pod that is not ready is never picked.
			{Addresses: []string{"10.255.255.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ptrTo(false)}},
		},
		Ports: []discoveryv1.EndpointPort{{Name: ptrTo("https"), Port: &port}},
	}
	if _, err := s.cs.DiscoveryV1().EndpointSlices("webhooks").Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.waitCached(t, discoveryv1.SchemeGroupVersion.WithResource("endpointslices"), "webhooks", "hook-abc")

	byService := func(name, svc, ns string) admissionregistrationv1.ValidatingWebhook {
		w := validatingHook(name, "", hook.caBundle, ns, admissionregistrationv1.Fail, 10)
		w.ClientConfig.URL = nil
		w.ClientConfig.Service = &admissionregistrationv1.ServiceReference{Namespace: "webhooks", Name: svc, Path: ptrTo("/validate")}
		return w
	}
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "by-service"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{byService("svc.example.com", "hook", "guarded"), byService("empty.example.com", "empty", "unreachable")}}
	if _, err := s.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, cfg, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.waitCached(t, admissionregistrationv1.SchemeGroupVersion.WithResource("validatingwebhookconfigurations"), "", "by-service")

	cm := func(name string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}
	}
	_, err := s.cs.CoreV1().ConfigMaps("guarded").Create(ctx, cm("forbidden"), metav1.CreateOptions{})
	if want := `configmaps "forbidden" is forbidden: admission webhook "svc.example.com" denied the request: no thanks`; err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if _, err := s.cs.CoreV1().ConfigMaps("guarded").Create(ctx, cm("fine"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = s.cs.CoreV1().ConfigMaps("unreachable").Create(ctx, cm("any"), metav1.CreateOptions{})
	const want = `Internal error occurred: failed calling webhook "empty.example.com": failed to call webhook: Post "https://empty.webhooks.svc:443/validate?timeout=10s": no endpoints available for service "empty"`
	if !apierrors.IsInternalError(err) || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

// TestReinvocation: a mutating webhook with reinvocationPolicy IfNeeded is
// called again when a later webhook changed the object; with Never it is
// not.
func TestReinvocation(t *testing.T) {
	s := start(t)
	hook := startHook(t)
	ctx := context.Background()
	for _, policy := range []admissionregistrationv1.ReinvocationPolicyType{admissionregistrationv1.IfNeededReinvocationPolicy, admissionregistrationv1.NeverReinvocationPolicy} {
		ns := strings.ToLower(string(policy))
		if _, err := s.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"webhook": ns}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		s.waitCached(t, corev1.SchemeGroupVersion.WithResource("namespaces"), "", ns)
		mutating := func(name, path string) admissionregistrationv1.MutatingWebhook {
			return admissionregistrationv1.MutatingWebhook{
				Name: name, ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: ptrTo(hook.url + path), CABundle: hook.caBundle},
				Rules: configMapRule(), NamespaceSelector: inNamespace(ns), ReinvocationPolicy: ptrTo(policy),
				SideEffects: ptrTo(admissionregistrationv1.SideEffectClassNone), AdmissionReviewVersions: []string{"v1"},
			}
		}
		// Configurations run in name order: record-b before add-b.
		for _, c := range []struct{ config, hook, path string }{{"1-" + ns, "record.example.com", "/record-b"}, {"2-" + ns, "add.example.com", "/add-b"}} {
			cfg := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: c.config},
				Webhooks: []admissionregistrationv1.MutatingWebhook{mutating(c.hook, c.path)}}
			if _, err := s.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, cfg, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			s.waitCached(t, admissionregistrationv1.SchemeGroupVersion.WithResource("mutatingwebhookconfigurations"), "", c.config)
		}
	}
	for ns, want := range map[string]string{"ifneeded": "yes", "never": "no"} {
		got, err := s.cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Data: map[string]string{"x": "y"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Data["a-saw-b"] != want || got.Data["b"] != "1" {
			t.Errorf("%s: data = %v, want a-saw-b=%s", ns, got.Data, want)
		}
	}
}

// TestPatchedObjectDefaulted: a sidecar added by a mutating webhook with
// only a name and an image gets the container defaults (as upstream
// decodes the patched object with defaulting), so the pod validates.
func TestPatchedObjectDefaulted(t *testing.T) {
	s := startWith(t, servedDefaults())
	hook := startHook(t)
	ctx := context.Background()
	if _, err := s.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "mesh", Labels: map[string]string{"webhook": "mesh"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.waitCached(t, corev1.SchemeGroupVersion.WithResource("namespaces"), "", "mesh")
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "sidecar"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "sidecar.example.com", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: ptrTo(hook.url + "/sidecar"), CABundle: hook.caBundle},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
			}},
			NamespaceSelector: inNamespace("mesh"),
			SideEffects:       ptrTo(admissionregistrationv1.SideEffectClassNone), AdmissionReviewVersions: []string{"v1"},
		}},
	}
	if _, err := s.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, cfg, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.waitCached(t, admissionregistrationv1.SchemeGroupVersion.WithResource("mutatingwebhookconfigurations"), "", "sidecar")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1.27"}}}}
	got, err := s.cs.CoreV1().Pods("mesh").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Spec.Containers) != 2 {
		t.Fatalf("containers = %v", got.Spec.Containers)
	}
	sc := got.Spec.Containers[1]
	if sc.Name != "sidecar" || sc.TerminationMessagePath != corev1.TerminationMessagePathDefault ||
		sc.TerminationMessagePolicy != corev1.TerminationMessageReadFile || sc.ImagePullPolicy != corev1.PullIfNotPresent {
		t.Fatalf("sidecar not defaulted: %+v", sc)
	}
}
