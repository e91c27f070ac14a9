// Package certificates holds upstream's three admission plug-ins for
// CertificateSigningRequests, on by default:
//
//   - CertificateApproval: approving or denying a request (an update of
//     certificatesigningrequests/approval) needs the approve verb on the
//     request's signer;
//   - CertificateSigning: issuing it (a change of status.certificate or
//     status.conditions through certificatesigningrequests/status) needs
//     the sign verb on the signer;
//   - CertificateSubjectRestriction: no request for the
//     kubernetes.io/kube-apiserver-client signer may ask for the
//     system:masters group.
//
// A signer is the resource "signers" of the group certificates.k8s.io,
// named by the signerName: a role grants `approve` on
// resourceNames ["example.com/my-signer"], or on "example.com/*" for
// every signer of a domain, as upstream's certificates authorization
// helper checks.
package certificates

import (
	"context"
	"log/slog"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/auth/authz"
)

// csrResource is the resource the plug-ins look at.
var csrResource = schema.GroupResource{Group: "certificates.k8s.io", Resource: "certificatesigningrequests"}

// authorizedForSigner says whether user may verb ("approve", "sign") the
// signer signerName, either by name or through its domain's wildcard
// ("kubernetes.io/*"). A nil authorizer or an authorizer error is a
// refusal: these plug-ins guard what the cluster trusts.
func authorizedForSigner(ctx context.Context, az authz.Authorizer, user *authn.User, verb, signerName string) bool {
	if az == nil {
		return false
	}
	domain, _, _ := strings.Cut(signerName, "/")
	for _, name := range []string{signerName, domain + "/*"} {
		d, _, err := az.Authorize(ctx, authz.Attributes{
			User: user, Verb: verb, IsResourceRequest: true,
			APIGroup: csrResource.Group, APIVersion: "*", Resource: "signers", Name: name,
		})
		if err != nil {
			slog.Debug("cannot authorize signer", "verb", verb, "signer", name, "err", err)
			continue
		}
		if d == authz.Allow {
			return true
		}
	}
	return false
}
