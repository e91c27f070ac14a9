// Package authn finds out who sent a request to the API server.
//
// An Authenticator looks at one kind of credential (client certificates now;
// service-account tokens and bootstrap tokens later) and either recognizes
// it, rejects it, or says the request carries none of its kind. Union chains
// authenticators, and WithAuthentication is the http.Handler filter that runs
// them and stores the resulting User in the request context for
// authorization, audit and admission.
//
// There is no anonymous user: a request without valid credentials never gets
// past WithAuthentication.
package authn

import "context"

// Groups every authenticator's users may end up in.
const (
	// GroupAuthenticated is added to every authenticated user, as upstream
	// does, so that RBAC can grant something to "anyone who logged in".
	GroupAuthenticated = "system:authenticated"
	// GroupMasters is the superuser group: upstream's authorizer allows it
	// everything without consulting RBAC.
	GroupMasters = "system:masters"
)

// User is the identity a request was authenticated as; the fields mean what
// they mean in upstream's user.Info and in SubjectAccessReview/TokenReview.
type User struct {
	Name   string
	UID    string
	Groups []string
	// Extra holds authenticator-specific attributes (for example the
	// service-account token's pod name) that authorizers and webhooks may use.
	Extra map[string][]string
}

// InGroup reports whether u is a member of group.
func (u *User) InGroup(group string) bool {
	if u == nil {
		return false
	}
	for _, g := range u.Groups {
		if g == group {
			return true
		}
	}
	return false
}

type userKey struct{}

// WithUser returns a copy of ctx carrying u.
func WithUser(ctx context.Context, u *User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom returns the user stored by WithUser, or nil if there is none.
func UserFrom(ctx context.Context) *User {
	u, _ := ctx.Value(userKey{}).(*User)
	return u
}
