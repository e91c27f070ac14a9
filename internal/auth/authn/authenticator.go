package authn

import (
	"errors"
	"log/slog"
	"net/http"
)

// Authenticator recognizes one kind of credential.
//
// Authenticate returns:
//   - (user, true, nil) when the request carries valid credentials of its kind;
//   - (nil, false, nil) when it carries none of its kind, so another
//     authenticator may try;
//   - (nil, false, err) when it carries credentials of its kind that are
//     invalid (bad signature, expired, unknown issuer).
//
// Implementations must be safe for concurrent use and must not read the
// request body.
type Authenticator interface {
	Authenticate(r *http.Request) (*User, bool, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(r *http.Request) (*User, bool, error)

var _ Authenticator = AuthenticatorFunc(nil)

// Authenticate implements Authenticator.
func (f AuthenticatorFunc) Authenticate(r *http.Request) (*User, bool, error) {
	return f(r)
}

// Union tries each authenticator in order; the first that recognizes the
// request wins. An error from one does not stop the others (a request may
// carry a stale client certificate and a valid token); if none succeeds, the
// errors are returned joined.
type Union []Authenticator

var _ Authenticator = Union(nil)

// Authenticate implements Authenticator.
func (u Union) Authenticate(r *http.Request) (*User, bool, error) {
	var errs []error
	for _, a := range u {
		user, ok, err := a.Authenticate(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			return user, true, nil
		}
	}
	return nil, false, errors.Join(errs...)
}

// WithAuthentication returns a handler that authenticates each request with a
// and passes it to next with the User in its context (see UserFrom). The user
// always gets GroupAuthenticated. A request that a does not recognize, or
// whose credentials are invalid, goes to onFailure instead, which is expected
// to answer 401; there is no anonymous fallback. A nil a rejects everything.
//
// The Authorization header is removed once it has served its purpose, so that
// it cannot leak to anything the request is proxied to.
func WithAuthentication(next http.Handler, a Authenticator, onFailure func(w http.ResponseWriter, r *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var (
			user *User
			ok   bool
			err  error
		)
		if a != nil {
			user, ok, err = a.Authenticate(r)
		}
		if !ok || user == nil {
			if err != nil {
				slog.Warn("unable to authenticate the request",
					"method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
			}
			onFailure(w, r)
			return
		}
		r.Header.Del("Authorization")
		next.ServeHTTP(w, r.WithContext(WithUser(r.Context(), withAuthenticatedGroup(user))))
	})
}

// withAuthenticatedGroup returns u with GroupAuthenticated added, copying
// rather than modifying u, which may be shared (a cached token's user).
func withAuthenticatedGroup(u *User) *User {
	if u.InGroup(GroupAuthenticated) {
		return u
	}
	c := *u
	c.Groups = append(append(make([]string, 0, len(u.Groups)+1), u.Groups...), GroupAuthenticated)
	return &c
}
