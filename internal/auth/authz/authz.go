// Package authz decides whether an authenticated request may proceed. The
// API server asks an Authorizer once per request, after authentication and
// before admission; RBAC and the node authorizer are Authorizers too and
// are chained with Union.
package authz

import (
	"context"

	"skiff.dev/skiff/internal/auth/authn"
)

// Decision of one authorizer.
type Decision int

const (
	// NoOpinion lets the next authorizer in a Union decide; if none
	// does, the request is denied.
	NoOpinion Decision = iota
	Allow
	Deny
)

// Attributes describe a request in the terms policies are written in
// (upstream's authorizer.Attributes).
type Attributes struct {
	User *authn.User
	// Verb is the API verb for resource requests (get, list, watch,
	// create, update, patch, delete, deletecollection, and special ones
	// such as impersonate) or the lower-case HTTP method otherwise.
	Verb              string
	IsResourceRequest bool
	Path              string
	APIGroup          string
	APIVersion        string
	Namespace         string
	Resource          string
	Subresource       string
	Name              string
}

// Authorizer decides on one request. reason is shown to the client when
// the request is denied.
type Authorizer interface {
	Authorize(ctx context.Context, a Attributes) (d Decision, reason string, err error)
}

// Union asks each authorizer in turn; the first Allow or Deny wins.
type Union []Authorizer

var _ Authorizer = Union(nil)

// Authorize implements Authorizer.
func (u Union) Authorize(ctx context.Context, a Attributes) (Decision, string, error) {
	var reasons string
	for _, z := range u {
		d, reason, err := z.Authorize(ctx, a)
		if err != nil {
			return Deny, "", err
		}
		if d != NoOpinion {
			return d, reason, nil
		}
		if reason != "" {
			reasons = reason
		}
	}
	return NoOpinion, reasons, nil
}

// Superusers allows every request of members of a group (upstream's
// system:masters, which not even RBAC can restrict).
type Superusers struct{ Group string }

var _ Authorizer = Superusers{}

// Authorize implements Authorizer.
func (s Superusers) Authorize(_ context.Context, a Attributes) (Decision, string, error) {
	if a.User == nil {
		return NoOpinion, "", nil
	}
	for _, g := range a.User.Groups {
		if g == s.Group {
			return Allow, "", nil
		}
	}
	return NoOpinion, "", nil
}
