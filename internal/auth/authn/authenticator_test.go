package authn

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

func fixed(u *User, ok bool, err error) Authenticator {
	return AuthenticatorFunc(func(*http.Request) (*User, bool, error) { return u, ok, err })
}

func TestUserContext(t *testing.T) {
	if u := UserFrom(context.Background()); u != nil {
		t.Fatalf("UserFrom(empty) = %+v, want nil", u)
	}
	want := &User{Name: "alice"}
	if got := UserFrom(WithUser(context.Background(), want)); got != want {
		t.Fatalf("UserFrom = %+v, want %+v", got, want)
	}
	var nilUser *User
	if nilUser.InGroup(GroupAuthenticated) {
		t.Fatal("nil user is in a group")
	}
}

func TestUnion(t *testing.T) {
	alice := &User{Name: "alice"}
	bob := &User{Name: "bob"}
	errBad := errors.New("bad token")
	tests := []struct {
		name     string
		union    Union
		wantUser *User
		wantOK   bool
		wantErr  error
	}{
		{"empty", nil, nil, false, nil},
		{"none recognizes", Union{fixed(nil, false, nil), fixed(nil, false, nil)}, nil, false, nil},
		{"first ok wins", Union{fixed(alice, true, nil), fixed(bob, true, nil)}, alice, true, nil},
		{"skips not recognized", Union{fixed(nil, false, nil), fixed(bob, true, nil)}, bob, true, nil},
		{"error does not stop the rest", Union{fixed(nil, false, errBad), fixed(bob, true, nil)}, bob, true, nil},
		{"error when none succeeds", Union{fixed(nil, false, errBad), fixed(nil, false, nil)}, nil, false, errBad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, ok, err := tt.union.Authenticate(httptest.NewRequest(http.MethodGet, "/", nil))
			if u != tt.wantUser || ok != tt.wantOK {
				t.Errorf("got (%v, %v), want (%v, %v)", u, ok, tt.wantUser, tt.wantOK)
			}
			if (tt.wantErr == nil) != (err == nil) || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestWithAuthentication(t *testing.T) {
	shared := &User{Name: "alice", Groups: []string{"dev"}}
	tests := []struct {
		name       string
		auth       Authenticator
		wantUser   string
		wantGroups []string
	}{
		{"authenticated", fixed(shared, true, nil), "alice", []string{"dev", GroupAuthenticated}},
		{"group not duplicated", fixed(&User{Name: "bob", Groups: []string{GroupAuthenticated}}, true, nil), "bob", []string{GroupAuthenticated}},
		{"no credentials", fixed(nil, false, nil), "", nil},
		{"invalid credentials", fixed(nil, false, errors.New("expired")), "", nil},
		{"ok without user", fixed(nil, true, nil), "", nil},
		{"nil authenticator", nil, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen *User
			var authHeader string
			next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = UserFrom(r.Context())
				authHeader = r.Header.Get("Authorization")
				w.WriteHeader(http.StatusOK)
			})
			failed := false
			h := WithAuthentication(next, tt.auth, func(w http.ResponseWriter, r *http.Request) {
				failed = true
				w.WriteHeader(http.StatusUnauthorized)
			})
			req := httptest.NewRequest(http.MethodGet, "/api", nil)
			req.Header.Set("Authorization", "Bearer secret")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			if tt.wantUser == "" {
				if !failed || seen != nil || rec.Code != http.StatusUnauthorized {
					t.Fatalf("failed=%v user=%v code=%d, want onFailure only", failed, seen, rec.Code)
				}
				return
			}
			if failed || seen == nil {
				t.Fatalf("failed=%v user=%v, want next called with a user", failed, seen)
			}
			if seen.Name != tt.wantUser || !slices.Equal(seen.Groups, tt.wantGroups) {
				t.Errorf("user = %+v, want %s %v", seen, tt.wantUser, tt.wantGroups)
			}
			if authHeader != "" {
				t.Errorf("Authorization header reached the handler: %q", authHeader)
			}
		})
	}
	if !slices.Equal(shared.Groups, []string{"dev"}) {
		t.Errorf("authenticator's user was modified: %v", shared.Groups)
	}
}
