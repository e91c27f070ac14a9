// Package impersonation is upstream's impersonation filter: a request
// carrying Impersonate-User (and optionally Impersonate-Group,
// Impersonate-Uid, Impersonate-Extra-<key>) headers is served as that user,
// if the authenticated user may "impersonate" each of them (users, groups,
// serviceaccounts, uids, userextras), as `kubectl --as` does.
package impersonation

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/auth/authz"
)

const saPrefix = "system:serviceaccount:"

// WithImpersonation wraps next, which runs after authentication (the user
// is on the request context).
func WithImpersonation(next http.Handler, z authz.Authorizer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.Header.Get(authenticationv1.ImpersonateUserHeader)
		groups := r.Header.Values(authenticationv1.ImpersonateGroupHeader)
		uid := r.Header.Get(authenticationv1.ImpersonateUIDHeader)
		extra := map[string][]string{}
		for k, vs := range r.Header {
			if key, ok := strings.CutPrefix(k, authenticationv1.ImpersonateUserExtraHeaderPrefix); ok {
				if unescaped, err := url.PathUnescape(key); err == nil {
					key = unescaped
				}
				extra[strings.ToLower(key)] = vs
			}
		}
		if name == "" {
			if len(groups) > 0 || uid != "" || len(extra) > 0 {
				writeStatus(w, apierrors.NewBadRequest(fmt.Sprintf("requested %v without impersonating a user", describe(groups, uid, extra))))
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		real := authn.UserFrom(r.Context())
		checks := []authz.Attributes{userCheck(name)}
		for _, g := range groups {
			checks = append(checks, authz.Attributes{Verb: "impersonate", IsResourceRequest: true, Resource: "groups", Name: g})
		}
		if uid != "" {
			checks = append(checks, authz.Attributes{Verb: "impersonate", IsResourceRequest: true, APIGroup: "authentication.k8s.io", Resource: "uids", Name: uid})
		}
		for k, vs := range extra {
			for _, v := range vs {
				checks = append(checks, authz.Attributes{Verb: "impersonate", IsResourceRequest: true, APIGroup: "authentication.k8s.io", Resource: "userextras", Subresource: k, Name: v})
			}
		}
		for _, a := range checks {
			a.User = real
			d, reason, err := z.Authorize(r.Context(), a)
			if err != nil {
				writeStatus(w, apierrors.NewInternalError(fmt.Errorf("authorize impersonation: %w", err)))
				return
			}
			if d != authz.Allow {
				writeStatus(w, forbidden(a, reason))
				return
			}
		}
		u := &authn.User{Name: name, UID: uid, Groups: append([]string(nil), groups...)}
		if len(extra) > 0 {
			u.Extra = extra
		}
		if ns, sa, ok := serviceAccount(name); ok && sa != "" {
			u.Groups = appendMissing(u.Groups, "system:serviceaccounts", "system:serviceaccounts:"+ns)
		}
		if name != "system:anonymous" {
			u.Groups = appendMissing(u.Groups, authn.GroupAuthenticated)
		}
		for k := range r.Header {
			if strings.HasPrefix(k, "Impersonate-") {
				r.Header.Del(k)
			}
		}
		next.ServeHTTP(w, r.WithContext(authn.WithUser(r.Context(), u)))
	})
}

func userCheck(name string) authz.Attributes {
	if ns, sa, ok := serviceAccount(name); ok {
		return authz.Attributes{Verb: "impersonate", IsResourceRequest: true, Resource: "serviceaccounts", Namespace: ns, Name: sa}
	}
	return authz.Attributes{Verb: "impersonate", IsResourceRequest: true, Resource: "users", Name: name}
}

func serviceAccount(name string) (ns, sa string, ok bool) {
	rest, ok := strings.CutPrefix(name, saPrefix)
	if !ok {
		return "", "", false
	}
	ns, sa, ok = strings.Cut(rest, ":")
	return ns, sa, ok && ns != "" && sa != "" && !strings.Contains(sa, ":")
}

func appendMissing(groups []string, add ...string) []string {
	for _, a := range add {
		found := false
		for _, g := range groups {
			if g == a {
				found = true
				break
			}
		}
		if !found {
			groups = append(groups, a)
		}
	}
	return groups
}

func describe(groups []string, uid string, extra map[string][]string) string {
	var parts []string
	for _, g := range groups {
		parts = append(parts, authenticationv1.ImpersonateGroupHeader+"="+g)
	}
	if uid != "" {
		parts = append(parts, authenticationv1.ImpersonateUIDHeader+"="+uid)
	}
	for k, vs := range extra {
		for _, v := range vs {
			parts = append(parts, authenticationv1.ImpersonateUserExtraHeaderPrefix+k+"="+v)
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// forbidden is upstream's 403 for a denied impersonation, e.g.
// `users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope`.
func forbidden(a authz.Attributes, reason string) *apierrors.StatusError {
	name := "<unknown>"
	if a.User != nil {
		name = a.User.Name
	}
	res := a.Resource
	if a.Subresource != "" {
		res += "/" + a.Subresource
	}
	msg := fmt.Sprintf("User %q cannot %s resource %q in API group %q", name, a.Verb, res, a.APIGroup)
	if a.Namespace != "" {
		msg += fmt.Sprintf(" in the namespace %q", a.Namespace)
	} else {
		msg += " at the cluster scope"
	}
	if reason != "" {
		msg += ": " + reason
	}
	return apierrors.NewForbidden(schema.GroupResource{Group: a.APIGroup, Resource: a.Resource}, a.Name, fmt.Errorf("%s", msg))
}

func writeStatus(w http.ResponseWriter, err *apierrors.StatusError) {
	st := err.ErrStatus
	st.Kind, st.APIVersion = "Status", "v1"
	body, _ := json.Marshal(st)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(int(st.Code))
	_, _ = w.Write(body)
}
