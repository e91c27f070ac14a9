package tokens

import (
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/utils/ptr"
)

func TestValidateTokenRequest(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec authenticationv1.TokenRequestSpec
		want string // "" valid
	}{
		{"an hour", authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}, ""},
		{"ten minutes", authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}, ""},
		{"2^32", authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](1 << 32)}, ""},
		{"under ten minutes", authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](599)},
			"spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes"},
		{"over 2^32", authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](1<<32 + 1)},
			"spec.expirationSeconds: Invalid value: 4294967297: may not specify a duration larger than 2^32 seconds"},
		{"attestations", authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600),
			Attestations: map[string]authenticationv1.AttestationValue{"admissionReviewAPIGroups": {"x"}}},
			"spec.attestations: Invalid value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := ValidateTokenRequest(&authenticationv1.TokenRequest{Spec: tc.spec})
			switch {
			case tc.want == "" && len(errs) > 0:
				t.Fatalf("errors %v, want none", errs)
			case tc.want != "" && (len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.want)):
				t.Fatalf("errors %v, want %q", errs, tc.want)
			}
		})
	}
}

func TestSubset(t *testing.T) {
	api := []string{"https://kubernetes.default.svc.cluster.local", "k3s"}
	for _, tc := range []struct {
		auds []string
		want bool
	}{
		{[]string{"k3s"}, true},
		{api, true},
		{[]string{"vault"}, false},
		{[]string{"k3s", "vault"}, false},
	} {
		if got := subset(tc.auds, api); got != tc.want {
			t.Errorf("subset(%v) = %v", tc.auds, got)
		}
	}
}
