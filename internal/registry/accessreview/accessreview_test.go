package accessreview

import (
	"context"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"

	"skiff.dev/skiff/internal/auth/authn"
)

func TestValidate(t *testing.T) {
	ra := &authorizationv1.ResourceAttributes{Verb: "get", Resource: "pods", Namespace: "a"}
	nra := &authorizationv1.NonResourceAttributes{Verb: "get", Path: "/x"}
	cases := []struct {
		name string
		v    func() []string
		want []string
	}{
		{"self: one of", func() []string {
			return msgs(selfSARStrategy{}.Validate(context.Background(), &authorizationv1.SelfSubjectAccessReview{}))
		}, []string{`spec.resourceAttributes: Invalid value: null: exactly one of nonResourceAttributes or resourceAttributes must be specified`}},
		{"self: both", func() []string {
			return msgs(selfSARStrategy{}.Validate(context.Background(), &authorizationv1.SelfSubjectAccessReview{
				Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: ra, NonResourceAttributes: nra}}))
		}, []string{`spec.nonResourceAttributes: Invalid value: {"path":"/x","verb":"get"}: cannot be specified in combination with resourceAttributes`}},
		{"sar: needs a subject", func() []string {
			return msgs(sarStrategy{}.Validate(context.Background(), &authorizationv1.SubjectAccessReview{
				Spec: authorizationv1.SubjectAccessReviewSpec{ResourceAttributes: ra}}))
		}, []string{`spec.user: Invalid value: "": at least one of user or group must be specified`}},
		{"local: namespace must match", func() []string {
			return msgs(localSARStrategy{}.Validate(context.Background(), &authorizationv1.LocalSubjectAccessReview{
				ObjectMeta: metav1.ObjectMeta{Namespace: "b"},
				Spec:       authorizationv1.SubjectAccessReviewSpec{User: "u", ResourceAttributes: ra}}))
		}, []string{`spec.resourceAttributes.namespace: Invalid value: "a": must match metadata.namespace`}},
		{"local: ok", func() []string {
			return msgs(localSARStrategy{}.Validate(context.Background(), &authorizationv1.LocalSubjectAccessReview{
				ObjectMeta: metav1.ObjectMeta{Namespace: "a"},
				Spec:       authorizationv1.SubjectAccessReviewSpec{User: "u", ResourceAttributes: ra}}))
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.v()
			if len(got) != len(tc.want) {
				t.Fatalf("errors %q, want %q", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("error %q, want %q", got[i], tc.want[i])
				}
			}
		})
	}
}

func msgs(errs interface{ ToAggregate() utilerrors.Aggregate }) []string {
	var out []string
	if agg := errs.ToAggregate(); agg != nil {
		for _, e := range agg.Errors() {
			out = append(out, e.Error())
		}
	}
	return out
}

// rulesFor is a RulesResolver answering the same rules for everyone.
type rulesFor []rbacv1.PolicyRule

func (r rulesFor) RulesFor(*authn.User, string) ([]rbacv1.PolicyRule, []error) { return r, nil }

// A superuser's rules review lists "everything" once, whether or not RBAC
// also grants it (upstream's cluster-admin binding to system:masters), as
// kubectl auth can-i --list shows upstream.
func TestRulesReviewSuperuserOnce(t *testing.T) {
	all := rbacv1.PolicyRule{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}
	allURLs := rbacv1.PolicyRule{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}}
	version := rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/version"}}
	cases := []struct {
		name                    string
		groups                  []string
		rbac                    rulesFor
		wantRules, wantURLRules int
	}{
		{"superuser, RBAC grants everything too", []string{"system:masters"}, rulesFor{all, allURLs, version}, 1, 2},
		{"superuser, RBAC grants little", []string{"system:masters"}, rulesFor{version}, 1, 2},
		{"ordinary user", []string{"dev"}, rulesFor{version}, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := rulesReviewStrategy{cfg: Config{Rules: tc.rbac, SuperuserGroup: "system:masters"}}
			ctx := authn.WithUser(context.Background(), &authn.User{Name: "u", Groups: tc.groups})
			out, err := s.CreateVirtual(ctx, &authorizationv1.SelfSubjectRulesReview{Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: "default"}})
			if err != nil {
				t.Fatal(err)
			}
			st := out.(*authorizationv1.SelfSubjectRulesReview).Status
			if len(st.ResourceRules) != tc.wantRules || len(st.NonResourceRules) != tc.wantURLRules {
				t.Errorf("rules %+v, non-resource rules %+v; want %d and %d", st.ResourceRules, st.NonResourceRules, tc.wantRules, tc.wantURLRules)
			}
		})
	}
}
