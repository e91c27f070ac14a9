package impersonation

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/auth/authz"
	"skiff.dev/skiff/internal/auth/rbac"
)

func TestWithImpersonation(t *testing.T) {
	policy := &rbac.StaticPolicy{
		ClusterRolesList: []rbacv1.ClusterRole{{ObjectMeta: metav1.ObjectMeta{Name: "imp"}, Rules: []rbacv1.PolicyRule{
			{Verbs: []string{"impersonate"}, APIGroups: []string{""}, Resources: []string{"users"}, ResourceNames: []string{"bob"}},
			{Verbs: []string{"impersonate"}, APIGroups: []string{""}, Resources: []string{"groups"}, ResourceNames: []string{"devs"}},
			{Verbs: []string{"impersonate"}, APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"uids"}, ResourceNames: []string{"u-1"}},
			{Verbs: []string{"impersonate"}, APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"userextras/scopes"}},
		}}},
		ClusterRoleBindingsList: []rbacv1.ClusterRoleBinding{{ObjectMeta: metav1.ObjectMeta{Name: "imp"},
			RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "imp"}, Subjects: []rbacv1.Subject{{Kind: "User", Name: "alice"}}}},
		RolesList: []rbacv1.Role{{ObjectMeta: metav1.ObjectMeta{Namespace: "ci", Name: "imp-sa"}, Rules: []rbacv1.PolicyRule{
			{Verbs: []string{"impersonate"}, APIGroups: []string{""}, Resources: []string{"serviceaccounts"}}}}},
		RoleBindingsList: []rbacv1.RoleBinding{{ObjectMeta: metav1.ObjectMeta{Namespace: "ci", Name: "imp-sa"},
			RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "imp-sa"}, Subjects: []rbacv1.Subject{{Kind: "User", Name: "alice"}}}},
	}
	z := authz.Union{authz.Superusers{Group: authn.GroupMasters}, rbac.NewAuthorizer(policy)}
	var got *authn.User
	h := WithImpersonation(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if k := r.Header.Get("Impersonate-User"); k != "" {
			t.Errorf("Impersonate-User header left on the request: %q", k)
		}
		got = authn.UserFrom(r.Context())
	}), z)
	alice := &authn.User{Name: "alice", Groups: []string{authn.GroupAuthenticated}}
	tests := []struct {
		name       string
		headers    map[string][]string
		wantCode   int
		wantUser   string
		wantGroups string
		wantUID    string
		wantBody   string
	}{
		{"no headers", nil, 200, "alice", "system:authenticated", "", ""},
		{"user", map[string][]string{"Impersonate-User": {"bob"}}, 200, "bob", "system:authenticated", "", ""},
		{"user and group", map[string][]string{"Impersonate-User": {"bob"}, "Impersonate-Group": {"devs"}}, 200, "bob", "devs,system:authenticated", "", ""},
		{"uid", map[string][]string{"Impersonate-User": {"bob"}, "Impersonate-Uid": {"u-1"}}, 200, "bob", "system:authenticated", "u-1", ""},
		{"extra", map[string][]string{"Impersonate-User": {"bob"}, "Impersonate-Extra-Scopes": {"a"}}, 200, "bob", "system:authenticated", "", ""},
		{"service account", map[string][]string{"Impersonate-User": {"system:serviceaccount:ci:builder"}}, 200, "system:serviceaccount:ci:builder",
			"system:serviceaccounts,system:serviceaccounts:ci,system:authenticated", "", ""},
		{"user denied", map[string][]string{"Impersonate-User": {"carol"}}, 403, "", "", "",
			`users \"carol\" is forbidden: User \"alice\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope`},
		{"group denied", map[string][]string{"Impersonate-User": {"bob"}, "Impersonate-Group": {"system:masters"}}, 403, "", "", "",
			`groups \"system:masters\" is forbidden: User \"alice\" cannot impersonate resource \"groups\" in API group \"\" at the cluster scope`},
		{"service account elsewhere denied", map[string][]string{"Impersonate-User": {"system:serviceaccount:prod:x"}}, 403, "", "", "",
			`serviceaccounts \"x\" is forbidden: User \"alice\" cannot impersonate resource \"serviceaccounts\" in API group \"\" in the namespace \"prod\"`},
		{"uid denied", map[string][]string{"Impersonate-User": {"bob"}, "Impersonate-Uid": {"u-2"}}, 403, "", "", "",
			`uids.authentication.k8s.io \"u-2\" is forbidden`},
		{"group without user", map[string][]string{"Impersonate-Group": {"devs"}}, 400, "", "", "", `without impersonating a user`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			r := httptest.NewRequest("GET", "/api/v1/pods", nil)
			for k, vs := range tt.headers {
				for _, v := range vs {
					r.Header.Add(k, v)
				}
			}
			r = r.WithContext(authn.WithUser(r.Context(), alice))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.wantCode {
				t.Fatalf("code %d, want %d: %s", w.Code, tt.wantCode, w.Body)
			}
			if tt.wantCode != 200 {
				if !strings.Contains(w.Body.String(), tt.wantBody) || !strings.Contains(w.Body.String(), `"kind":"Status"`) {
					t.Errorf("body %s, want it to contain %s", w.Body, tt.wantBody)
				}
				return
			}
			if got == nil || got.Name != tt.wantUser || strings.Join(got.Groups, ",") != tt.wantGroups || got.UID != tt.wantUID {
				t.Errorf("user %+v, want %s %s %s", got, tt.wantUser, tt.wantGroups, tt.wantUID)
			}
		})
	}
}
