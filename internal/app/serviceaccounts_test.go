package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/auth/pki"
	"skiff.dev/skiff/internal/testserver"
)

type saServer struct {
	url   string
	ca    *pki.CA
	admin kubernetes.Interface
}

// startSAServer runs the real API server with RBAC and service-account
// tokens wired as RunServer wires them.
func startSAServer(t *testing.T) *saServer {
	t.Helper()
	srv := testserver.StartWith(t, withRBAC(newRBACWiring()), withServiceAccounts)
	return &saServer{url: srv.URL, ca: srv.CA, admin: srv.Client}
}

// withServiceAccounts wires service-account tokens into a test server as
// RunServer does: the TokenRequest and TokenReview APIs, the token
// authenticator next to client certificates, OIDC discovery.
func withServiceAccounts(t testing.TB, s *testserver.Setup) {
	saw, err := newSAWiring(s.Dir, ServiceAccountOptions{}, APIServerEndpoint{IP: "127.0.0.1"}, 6443)
	if err != nil {
		t.Fatal(err)
	}
	s.Config.Resources = saw.resources(s.Config.Resources)
	s.Config.Authenticator = authn.Union{s.Config.Authenticator, saw.authenticator}
	s.Config.NonResourceHandlers = saw.discovery
	s.Bound = append(s.Bound, saw.bind)
}

func (s *saServer) tokenConfig(token string) *rest.Config {
	return &rest.Config{Host: s.url, QPS: -1, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: s.ca.CertPEM}}
}

func TestServiceAccountTokens(t *testing.T) {
	s := startSAServer(t)
	ctx := context.Background()
	if _, err := s.admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sa, err := s.admin.CoreV1().ServiceAccounts("team").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "bot"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	createToken := func(name string, spec authenticationv1.TokenRequestSpec) (*authenticationv1.TokenRequest, error) {
		return s.admin.CoreV1().ServiceAccounts("team").CreateToken(ctx, name, &authenticationv1.TokenRequest{Spec: spec}, metav1.CreateOptions{})
	}

	t.Run("discovery lists serviceaccounts/token", func(t *testing.T) {
		list, err := s.admin.Discovery().ServerResourcesForGroupVersion("v1")
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, r := range list.APIResources {
			if r.Name == "serviceaccounts/token" {
				found = r.Kind == "TokenRequest" && r.Group == "authentication.k8s.io" && slices.Equal(r.Verbs, []string{"create"})
			}
		}
		if !found {
			t.Fatalf("serviceaccounts/token not listed as create of authentication.k8s.io TokenRequest")
		}
	})

	var token string
	t.Run("token request", func(t *testing.T) {
		before := time.Now().Truncate(time.Second)
		tr, err := createToken("bot", authenticationv1.TokenRequestSpec{})
		if err != nil {
			t.Fatal(err)
		}
		token = tr.Status.Token
		if token == "" || ptr.Deref(tr.Spec.ExpirationSeconds, 0) != 3600 || tr.UID != sa.UID ||
			!slices.Equal(tr.Spec.Audiences, []string{"https://kubernetes.default.svc.cluster.local"}) {
			t.Fatalf("token request = %+v", tr)
		}
		if exp := tr.Status.ExpirationTimestamp.Time; exp.Before(before.Add(time.Hour)) || exp.After(time.Now().Add(time.Hour+time.Second)) {
			t.Errorf("expirationTimestamp %v, want an hour from now", exp)
		}
	})

	t.Run("the token authenticates", func(t *testing.T) {
		c := kubernetes.NewForConfigOrDie(s.tokenConfig(token))
		r, err := c.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		u := r.Status.UserInfo
		if u.Username != "system:serviceaccount:team:bot" || u.UID != string(sa.UID) ||
			!slices.Equal(u.Groups, []string{"system:serviceaccounts", "system:serviceaccounts:team", "system:authenticated"}) ||
			len(u.Extra["authentication.kubernetes.io/credential-id"]) != 1 {
			t.Fatalf("user = %+v", u)
		}
		// Nothing granted yet: authenticated, then forbidden.
		if _, err := c.CoreV1().Pods("team").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Fatalf("list pods: %v, want forbidden", err)
		}
	})

	t.Run("validation", func(t *testing.T) {
		for _, tc := range []struct {
			name, sa string
			spec     authenticationv1.TokenRequestSpec
			check    func(error) bool
			msg      string
		}{
			{"too short", "bot", authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](300)}, apierrors.IsInvalid,
				"spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes"},
			{"too long", "bot", authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](1<<32 + 1)}, apierrors.IsInvalid,
				"may not specify a duration larger than 2^32 seconds"},
			{"missing account", "nobody", authenticationv1.TokenRequestSpec{}, apierrors.IsNotFound, `serviceaccounts "nobody" not found`},
			{"unsupported kind", "bot", authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "ConfigMap", APIVersion: "v1", Name: "x"}},
				apierrors.IsBadRequest, "cannot bind token to object of type /v1, Kind=ConfigMap"},
			{"missing pod", "bot", authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "gone"}},
				apierrors.IsNotFound, `pods "gone" not found`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := createToken(tc.sa, tc.spec)
				if !tc.check(err) || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("err = %v, want %q", err, tc.msg)
				}
			})
		}
	})

	t.Run("pod-bound token is revoked with its pod", func(t *testing.T) {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: corev1.PodSpec{ServiceAccountName: "bot", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
		pod, err := s.admin.CoreV1().Pods("team").Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ref := &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "web", UID: "wrong"}
		if _, err := createToken("bot", authenticationv1.TokenRequestSpec{BoundObjectRef: ref}); !apierrors.IsConflict(err) {
			t.Fatalf("wrong uid: %v, want a conflict", err)
		}
		ref.UID = pod.UID
		tr, err := createToken("bot", authenticationv1.TokenRequestSpec{BoundObjectRef: ref})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := createToken("default", authenticationv1.TokenRequestSpec{BoundObjectRef: ref}); err == nil {
			// "default" may not exist here (no controller): either
			// answer is an error.
			t.Fatal("token for another account's pod issued")
		}
		c := kubernetes.NewForConfigOrDie(s.tokenConfig(tr.Status.Token))
		r, err := c.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Status.UserInfo.Extra["authentication.kubernetes.io/pod-uid"]; len(got) != 1 || got[0] != string(pod.UID) {
			t.Fatalf("extra = %v", r.Status.UserInfo.Extra)
		}
		if err := s.admin.CoreV1().Pods("team").Delete(ctx, "web", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "token of a deleted pod rejected", func() error {
			_, err := c.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
			if !apierrors.IsUnauthorized(err) {
				return fmt.Errorf("got %v, want 401", err)
			}
			return nil
		})
	})

	t.Run("token review", func(t *testing.T) {
		for _, tc := range []struct {
			name, token string
			auds        []string
			want        bool
		}{
			{"valid", token, nil, true},
			{"forged", token[:len(token)-4] + "AAAA", nil, false},
			{"other audience", token, []string{"vault"}, false},
			{"not a JWT", "abcdef.0123456789abcdef", nil, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r, err := s.admin.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
					Spec: authenticationv1.TokenReviewSpec{Token: tc.token, Audiences: tc.auds}}, metav1.CreateOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if r.Status.Authenticated != tc.want {
					t.Fatalf("status = %+v", r.Status)
				}
				if tc.want && (r.Status.User.Username != "system:serviceaccount:team:bot" || len(r.Status.Audiences) != 1) {
					t.Fatalf("status = %+v", r.Status)
				}
			})
		}
	})

	t.Run("service account recreated revokes its tokens", func(t *testing.T) {
		if err := s.admin.CoreV1().ServiceAccounts("team").Delete(ctx, "bot", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.admin.CoreV1().ServiceAccounts("team").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "bot"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		c := kubernetes.NewForConfigOrDie(s.tokenConfig(token))
		eventually(t, "old account's token rejected", func() error {
			_, err := c.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
			if !apierrors.IsUnauthorized(err) {
				return fmt.Errorf("got %v, want 401", err)
			}
			return nil
		})
		if _, err := createToken("bot", authenticationv1.TokenRequestSpec{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("issuer discovery", func(t *testing.T) {
		// Bound to system:serviceaccounts by the bootstrap policy.
		tr, err := createToken("bot", authenticationv1.TokenRequestSpec{})
		if err != nil {
			t.Fatal(err)
		}
		c, err := rest.HTTPClientFor(s.tokenConfig(tr.Status.Token))
		if err != nil {
			t.Fatal(err)
		}
		var conf struct {
			Issuer  string   `json:"issuer"`
			JWKSURI string   `json:"jwks_uri"`
			Algs    []string `json:"id_token_signing_alg_values_supported"`
		}
		eventually(t, "openid-configuration", func() error { return getJSON(c, s.url+"/.well-known/openid-configuration", &conf) })
		if conf.Issuer != "https://kubernetes.default.svc.cluster.local" || conf.JWKSURI != "https://127.0.0.1:6443/openid/v1/jwks" || !slices.Equal(conf.Algs, []string{"ES256"}) {
			t.Fatalf("openid-configuration = %+v", conf)
		}
		var jwks struct {
			Keys []struct {
				Kty, Kid, Alg, Use, Crv string
			} `json:"keys"`
		}
		if err := getJSON(c, s.url+"/openid/v1/jwks", &jwks); err != nil {
			t.Fatal(err)
		}
		if len(jwks.Keys) != 1 || jwks.Keys[0].Kty != "EC" || jwks.Keys[0].Alg != "ES256" || jwks.Keys[0].Use != "sig" || jwks.Keys[0].Kid == "" {
			t.Fatalf("jwks = %+v", jwks)
		}
	})

	t.Run("role grants the account", func(t *testing.T) {
		if _, err := s.admin.RbacV1().Roles("team").Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "pod-reader"},
			Rules: []rbacv1.PolicyRule{{Verbs: []string{"get", "list", "watch"}, APIGroups: []string{""}, Resources: []string{"pods"}}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.admin.RbacV1().RoleBindings("team").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "bot-pods"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "bot", Namespace: "team"}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		tr, err := createToken("bot", authenticationv1.TokenRequestSpec{})
		if err != nil {
			t.Fatal(err)
		}
		c := kubernetes.NewForConfigOrDie(s.tokenConfig(tr.Status.Token))
		eventually(t, "the account lists pods", func() error {
			_, err := c.CoreV1().Pods("team").List(ctx, metav1.ListOptions{})
			return err
		})
		if _, err := c.CoreV1().Secrets("team").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Fatalf("list secrets: %v, want forbidden", err)
		}
	})
}

func getJSON(c *http.Client, url string, into any) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	return json.Unmarshal(body, into)
}
