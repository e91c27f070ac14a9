package app

import (
	"context"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/auth/authz"
	"skiff.dev/skiff/internal/testserver"
)

type rbacServer struct {
	*testserver.Server
	admin      kubernetes.Interface
	authorizer authz.Authorizer
}

func (s *rbacServer) config(t testing.TB, user string, groups ...string) *rest.Config {
	t.Helper()
	return s.Config(t, user, groups...)
}

func (s *rbacServer) client(t *testing.T, user string, groups ...string) kubernetes.Interface {
	return kubernetes.NewForConfigOrDie(s.config(t, user, groups...))
}

// withRBAC wires RBAC into a test server as RunServer does.
func withRBAC(w *rbacWiring) testserver.Option {
	return func(_ testing.TB, s *testserver.Setup) {
		s.Config.Resources = w.resources(s.Config.Resources)
		s.Config.Authorizer = w.authorizer
		s.Started = append(s.Started, w.start)
	}
}

// startRBACServer runs the real API server wired as rbacWiring says.
func startRBACServer(t testing.TB) *rbacServer {
	t.Helper()
	w := newRBACWiring()
	srv := testserver.StartWith(t, withRBAC(w))
	return &rbacServer{Server: srv, admin: srv.Client, authorizer: w.authorizer}
}

// eventually polls f until it returns nil or the deadline passes.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRBACIntegration(t *testing.T) {
	s := startRBACServer(t)
	ctx := context.Background()
	if _, err := s.admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.admin.RbacV1().Roles("default").Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "pod-reader"},
		Rules: []rbacv1.PolicyRule{{Verbs: []string{"get", "list", "watch"}, APIGroups: []string{""}, Resources: []string{"pods", "pods/log"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.admin.RbacV1().RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "alice-pods"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "alice"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	alice := s.client(t, "alice")

	t.Run("role grants pods in its namespace", func(t *testing.T) {
		eventually(t, "alice lists pods", func() error {
			_, err := alice.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
			return err
		})
	})
	t.Run("forbidden messages", func(t *testing.T) {
		for _, tc := range []struct {
			call func() error
			want string
		}{
			{func() error { _, err := alice.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{}); return err },
				`secrets is forbidden: User "alice" cannot list resource "secrets" in API group "" in the namespace "default"`},
			{func() error { _, err := alice.CoreV1().Pods("team").List(ctx, metav1.ListOptions{}); return err },
				`pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "team"`},
			{func() error { _, err := alice.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{}); return err },
				`nodes "n1" is forbidden: User "alice" cannot get resource "nodes" in API group "" at the cluster scope`},
		} {
			err := tc.call()
			if !apierrors.IsForbidden(err) || err.Error() != tc.want {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		}
	})
	t.Run("discovery for every user", func(t *testing.T) {
		if _, err := alice.Discovery().ServerVersion(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("can-i", func(t *testing.T) {
		ask := func(ra *authorizationv1.ResourceAttributes, nra *authorizationv1.NonResourceAttributes) bool {
			t.Helper()
			r, err := alice.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
				Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: ra, NonResourceAttributes: nra}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return r.Status.Allowed
		}
		if !ask(&authorizationv1.ResourceAttributes{Namespace: "default", Verb: "list", Resource: "pods"}, nil) {
			t.Error("alice may list pods in default")
		}
		if !ask(&authorizationv1.ResourceAttributes{Namespace: "default", Verb: "get", Resource: "pods", Subresource: "log"}, nil) {
			t.Error("alice may read pod logs in default")
		}
		if ask(&authorizationv1.ResourceAttributes{Namespace: "default", Verb: "get", Resource: "secrets"}, nil) {
			t.Error("alice may not get secrets")
		}
		if !ask(nil, &authorizationv1.NonResourceAttributes{Verb: "get", Path: "/version"}) {
			t.Error("alice may get /version")
		}
		rr, err := alice.AuthorizationV1().SelfSubjectRulesReviews().Create(ctx, &authorizationv1.SelfSubjectRulesReview{
			Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: "default"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, r := range rr.Status.ResourceRules {
			if len(r.Resources) > 0 && r.Resources[0] == "pods" {
				found = true
			}
		}
		if !found || len(rr.Status.NonResourceRules) == 0 {
			t.Errorf("rules review: %+v", rr.Status)
		}
		who, err := alice.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if who.Status.UserInfo.Username != "alice" || !strings.Contains(strings.Join(who.Status.UserInfo.Groups, ","), "system:authenticated") {
			t.Errorf("whoami: %+v", who.Status.UserInfo)
		}
	})
	t.Run("escalation refused", func(t *testing.T) {
		// alice may manage roles in default, but not grant what she lacks.
		if _, err := s.admin.RbacV1().RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "alice-admin"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:aggregate-to-admin"},
			Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "alice"}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		var err error
		eventually(t, "alice creates a role within her rules", func() error {
			_, err = alice.RbacV1().Roles("default").Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "small"},
				Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}}}, metav1.CreateOptions{})
			return err
		})
		_, err = alice.RbacV1().Roles("default").Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "big"},
			Rules: []rbacv1.PolicyRule{{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"secrets"}}}}, metav1.CreateOptions{})
		want := `roles.rbac.authorization.k8s.io "big" is forbidden: user "alice" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:` +
			"\n" + `{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list"]}`
		if !apierrors.IsForbidden(err) || err.Error() != want {
			t.Errorf("got %v\nwant %s", err, want)
		}
		_, err = alice.RbacV1().RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "eve-edit"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
			Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "eve"}}}, metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "is attempting to grant RBAC permissions not currently held") {
			t.Errorf("binding cluster-admin: %v", err)
		}
		if _, err := alice.RbacV1().RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "eve-pods"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"},
			Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "eve"}}}, metav1.CreateOptions{}); err != nil {
			t.Errorf("binding a role alice holds: %v", err)
		}
	})
	t.Run("impersonation", func(t *testing.T) {
		cfg := s.config(t, "alice")
		cfg.Impersonate = rest.ImpersonationConfig{UserName: "bob"}
		_, err := kubernetes.NewForConfigOrDie(cfg).CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		want := `users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope`
		if !apierrors.IsForbidden(err) || err.Error() != want {
			t.Errorf("got %v, want %q", err, want)
		}
		adminCfg := s.config(t, "admin", authn.GroupMasters)
		adminCfg.Impersonate = rest.ImpersonationConfig{UserName: "alice", Groups: []string{"devs"}}
		as := kubernetes.NewForConfigOrDie(adminCfg)
		if _, err := as.CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); err != nil {
			t.Errorf("admin as alice lists pods: %v", err)
		}
		if _, err := as.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("admin as alice lists secrets: %v", err)
		}
		who, err := as.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil || who.Status.UserInfo.Username != "alice" || strings.Join(who.Status.UserInfo.Groups, ",") != "devs,system:authenticated" {
			t.Errorf("whoami as alice: %+v %v", who, err)
		}
	})
	t.Run("aggregation fills view", func(t *testing.T) {
		eventually(t, "view aggregated", func() error {
			v, err := s.admin.RbacV1().ClusterRoles().Get(ctx, "admin", metav1.GetOptions{})
			if err != nil {
				return err
			}
			for _, r := range v.Rules {
				for _, res := range r.Resources {
					if res == "pods/log" {
						return nil
					}
				}
			}
			return apierrors.NewNotFound(rbacv1.Resource("rule"), "pods/log")
		})
	})
}

// BenchmarkRBACAuthorize measures one RBAC decision over the bootstrap
// policy in the server's watch cache (a denied request visits every
// binding that applies).
func BenchmarkRBACAuthorize(b *testing.B) {
	s := startRBACServer(b)
	a := authz.Attributes{User: &authn.User{Name: "alice", Groups: []string{authn.GroupAuthenticated}},
		Verb: "list", IsResourceRequest: true, Namespace: "default", Resource: "secrets"}
	b.ReportAllocs()
	for b.Loop() {
		if d, _, err := s.authorizer.Authorize(context.Background(), a); err != nil || d == authz.Allow {
			b.Fatal(d, err)
		}
	}
}
