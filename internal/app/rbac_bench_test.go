package app

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/auth/authz"
	"skiff.dev/skiff/internal/auth/rbac"
	"skiff.dev/skiff/internal/testserver"
)

// BenchmarkRBACAuthorize1000 is issue 5's figure: one authorization decision
// with 1,000 roles and 1,000 bindings stored (500 Roles and RoleBindings
// over 50 namespaces, 500 ClusterRoles and ClusterRoleBindings, each
// binding naming its own user, next to the bootstrap policy), read from
// the API server's watch cache as skiff server does. Run:
//
//	go test -run '^$' -bench RBACAuthorize1000 -benchtime 20000x ./internal/app/
func BenchmarkRBACAuthorize1000(b *testing.B) {
	w := newRBACWiring()
	srv := testserver.StartWith(b, withRBAC(w))
	ctx := context.Background()
	const perKind, namespaces = 500, 50
	rules := []rbacv1.PolicyRule{{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods", "configmaps"}}}
	for i := range namespaces {
		if _, err := srv.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("ns-%d", i)}}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for worker := range 8 {
		wg.Go(func() {
			rb := srv.Client.RbacV1()
			for i := worker; i < perKind; i += 8 {
				ns := fmt.Sprintf("ns-%d", i%namespaces)
				name := fmt.Sprintf("r-%d", i)
				user := rbacv1.Subject{Kind: "User", Name: fmt.Sprintf("user-%d", i)}
				if _, err := rb.Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{}); err != nil {
					errs <- err
					return
				}
				if _, err := rb.RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
					RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name}, Subjects: []rbacv1.Subject{user}}, metav1.CreateOptions{}); err != nil {
					errs <- err
					return
				}
				cuser := rbacv1.Subject{Kind: "User", Name: fmt.Sprintf("cluster-user-%d", i)}
				if _, err := rb.ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "bench-" + name}, Rules: rules}, metav1.CreateOptions{}); err != nil {
					errs <- err
					return
				}
				if _, err := rb.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "bench-" + name},
					RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "bench-" + name}, Subjects: []rbacv1.Subject{cuser}}, metav1.CreateOptions{}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	groups := []string{authn.GroupAuthenticated}
	cases := []struct {
		name string
		a    authz.Attributes
		want authz.Decision
	}{
		{"role binding allows", authz.Attributes{User: &authn.User{Name: "user-250", Groups: groups}, Verb: "get", IsResourceRequest: true,
			APIVersion: "v1", Namespace: "ns-0", Resource: "pods", Name: "p"}, authz.Allow},
		{"cluster role binding allows", authz.Attributes{User: &authn.User{Name: "cluster-user-499", Groups: groups}, Verb: "list", IsResourceRequest: true,
			APIVersion: "v1", Namespace: "ns-7", Resource: "configmaps"}, authz.Allow},
		{"denied", authz.Attributes{User: &authn.User{Name: "stranger", Groups: groups}, Verb: "delete", IsResourceRequest: true,
			APIVersion: "v1", Namespace: "ns-3", Resource: "pods", Name: "p"}, authz.NoOpinion},
	}
	for _, mode := range []struct {
		name string
		src  rbac.PolicySource
	}{{"indexed", newIndexedPolicy(w.source)}, {"full-scan", w.source}} {
		z := rbac.Authorizer{Resolver: rbac.Resolver{Source: mode.src}}
		for _, c := range cases {
			b.Run(mode.name+"/"+c.name, func(b *testing.B) {
				// Wait until the watch cache holds every binding.
				deadline := time.Now().Add(10 * time.Second)
				for {
					d, _, _ := z.Authorize(ctx, c.a)
					if d == c.want {
						break
					}
					if time.Now().After(deadline) {
						b.Fatalf("decision %v, want %v", d, c.want)
					}
					time.Sleep(10 * time.Millisecond)
				}
				b.ReportAllocs()
				for b.Loop() {
					z.Authorize(ctx, c.a)
				}
			})
		}
	}
}
