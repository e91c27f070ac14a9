package admission

import (
	"context"
	"errors"
	"slices"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff.dev/skiff/internal/auth/authn"
)

type step struct {
	name    string
	log     *[]string
	mutErr  error
	valErr  error
	mutates bool
}

func (s step) Name() string { return s.name }

type mutating struct{ step }

func (m mutating) Admit(_ context.Context, _ *Attributes) error {
	*m.log = append(*m.log, "admit "+m.name)
	return m.mutErr
}

type validating struct{ step }

func (v validating) Validate(_ context.Context, _ *Attributes) error {
	*v.log = append(*v.log, "validate "+v.name)
	return v.valErr
}

type both struct{ step }

func (b both) Admit(ctx context.Context, a *Attributes) error {
	return mutating(b).Admit(ctx, a)
}

func (b both) Validate(ctx context.Context, a *Attributes) error {
	return validating(b).Validate(ctx, a)
}

func attrs() *Attributes {
	return &Attributes{
		Operation: Create,
		Resource:  schema.GroupVersionResource{Version: "v1", Resource: "pods"},
		Namespace: "default", Name: "p",
		User: &authn.User{Name: "alice"},
	}
}

func TestChainOrderAndErrors(t *testing.T) {
	denied := errors.New("no")
	tests := []struct {
		name      string
		plugins   func(log *[]string) []Plugin
		admitErr  string
		validErr  string
		wantCalls []string
	}{
		{
			name: "mutators then validators, in order",
			plugins: func(log *[]string) []Plugin {
				return []Plugin{both{step{name: "A", log: log}}, validating{step{name: "B", log: log}}, mutating{step{name: "C", log: log}}}
			},
			wantCalls: []string{"admit A", "admit C", "validate A", "validate B"},
		},
		{
			name: "a plain error becomes Forbidden naming the plug-in and stops the chain",
			plugins: func(log *[]string) []Plugin {
				return []Plugin{validating{step{name: "B", log: log, valErr: denied}}, validating{step{name: "D", log: log}}}
			},
			validErr:  `pods "p" is forbidden: B: no`,
			wantCalls: []string{"validate B"},
		},
		{
			name: "a Status error passes as it is",
			plugins: func(log *[]string) []Plugin {
				return []Plugin{mutating{step{name: "A", log: log, mutErr: apierrors.NewBadRequest("bad")}}}
			},
			admitErr:  "bad",
			wantCalls: []string{"admit A"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log []string
			c := NewChain(tt.plugins(&log)...)
			a := attrs()
			check := func(what string, err error, want string) {
				if want == "" && err != nil || want != "" && (err == nil || err.Error() != want) {
					t.Errorf("%s: err = %v, want %q", what, err, want)
				}
				if err != nil {
					if _, ok := err.(apierrors.APIStatus); !ok {
						t.Errorf("%s: %T is not a Status", what, err)
					}
				}
			}
			check("Admit", c.Admit(context.Background(), a), tt.admitErr)
			if tt.admitErr == "" {
				check("Validate", c.Validate(context.Background(), a), tt.validErr)
			}
			if !slices.Equal(log, tt.wantCalls) {
				t.Errorf("calls = %q, want %q", log, tt.wantCalls)
			}
		})
	}
}

func TestNilChainAdmitsEverything(t *testing.T) {
	var c *Chain
	if err := c.Admit(context.Background(), attrs()); err != nil {
		t.Error(err)
	}
	if err := c.Validate(context.Background(), attrs()); err != nil {
		t.Error(err)
	}
}

func TestNewChainRefusesInertPlugin(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("NewChain accepted a plug-in that neither mutates nor validates")
		}
	}()
	NewChain(step{name: "inert"})
}

func TestAttributesHelpersAreNilSafe(t *testing.T) {
	a := attrs()
	a.AddWarning("w")
	a.AddAnnotation("k", "v")
	var got []string
	a.Warn = func(m string) { got = append(got, m) }
	a.AddWarning("w")
	a.AddWarning("")
	if !slices.Equal(got, []string{"w"}) {
		t.Errorf("warnings = %q", got)
	}
}
