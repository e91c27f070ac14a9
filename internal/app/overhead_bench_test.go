package app

import (
	"context"
	"slices"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff.dev/skiff/internal/testserver"
)

// withSecurity wires a test server as skiff server is wired: RBAC,
// service-account tokens next to client certificates, and the default
// admission chain.
func withSecurity() []testserver.Option {
	return []testserver.Option{withRBAC(newRBACWiring()), withServiceAccounts, withAdmission(&admissionCaches{})}
}

// BenchmarkRequestOverhead is issue 5's second figure: what
// authentication, authorization and admission add to a request. The same
// requests (a get and a create of a ConfigMap, one client over HTTPS with
// keep-alive) go to a server with everything on and to one with only
// client certificates, the superuser authorizer and no admission; the
// difference of the p50 latencies is the overhead. Run:
//
//	go test -run '^$' -bench RequestOverhead -benchtime 2000x ./internal/app/
func BenchmarkRequestOverhead(b *testing.B) {
	ctx := context.Background()
	plain := testserver.Start(b)
	secured := testserver.StartWith(b, withSecurity()...)

	// On the secured server: a user bound to edit in default, and a
	// service account bound the same way, with a token.
	bind := func(kind, name string) {
		sub := rbacv1.Subject{Kind: kind, Name: name}
		if kind == rbacv1.ServiceAccountKind {
			sub.Namespace = "default"
		}
		_, err := secured.Client.RbacV1().RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"},
			Subjects:   []rbacv1.Subject{sub},
		}, metav1.CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
	}
	bind(rbacv1.UserKind, "bench")
	if _, err := secured.Client.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	bind(rbacv1.ServiceAccountKind, "bench")
	tr, err := secured.Client.CoreV1().ServiceAccounts("default").CreateToken(ctx, "bench", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	tokenCfg := &rest.Config{Host: secured.URL, QPS: -1, BearerToken: tr.Status.Token,
		TLSClientConfig: rest.TLSClientConfig{CAData: secured.CA.CertPEM}}

	clients := []struct {
		name string
		cfg  *rest.Config
	}{
		{"baseline", plain.Admin},
		{"secured/x509-masters", secured.Admin},
		{"secured/x509-rbac", secured.Config(b, "bench")},
		{"secured/token-rbac", tokenCfg},
	}
	for _, c := range clients {
		cs := kubernetes.NewForConfigOrDie(c.cfg)
		cms := cs.CoreV1().ConfigMaps("default")
		// Wait until the cache has the bindings (RBAC reads it).
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "target-" + slug(c.name)}}, metav1.CreateOptions{}); err == nil {
				break
			} else if time.Now().After(deadline) {
				b.Fatalf("%s: %v", c.name, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		b.Run(c.name+"/get", func(b *testing.B) {
			latencies(b, func() error {
				_, err := cms.Get(ctx, "target-"+slug(c.name), metav1.GetOptions{})
				return err
			})
		})
		b.Run(c.name+"/create", func(b *testing.B) {
			latencies(b, func() error {
				_, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-"}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{})
				return err
			})
		})
	}
}

func slug(s string) string {
	out := []byte(s)
	for i, c := range out {
		if c == '/' {
			out[i] = '-'
		}
	}
	return string(out)
}

// latencies runs op b.N times and reports the p50 and p99 latency.
func latencies(b *testing.B, op func() error) {
	var d []time.Duration
	for b.Loop() {
		start := time.Now()
		if err := op(); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(start))
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds()), "p99-µs")
}
