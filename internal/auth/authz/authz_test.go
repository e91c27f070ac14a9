package authz

import (
	"context"
	"testing"

	"skiff.dev/skiff/internal/auth/authn"
)

func TestSuperusersAndUnion(t *testing.T) {
	z := Union{Superusers{Group: "system:masters"}}
	tests := []struct {
		name string
		user *authn.User
		want Decision
	}{
		{"master", &authn.User{Name: "admin", Groups: []string{"system:authenticated", "system:masters"}}, Allow},
		{"other user", &authn.User{Name: "alice", Groups: []string{"system:authenticated"}}, NoOpinion},
		{"no user", nil, NoOpinion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _, err := z.Authorize(context.Background(), Attributes{User: tt.user, Verb: "get", Resource: "pods"})
			if err != nil || d != tt.want {
				t.Fatalf("got %v, %v; want %v", d, err, tt.want)
			}
		})
	}
}
