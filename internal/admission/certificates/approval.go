package certificates

import (
	"context"
	"fmt"

	certificatesv1 "k8s.io/api/certificates/v1"

	"skiff.dev/skiff/internal/admission"
	"skiff.dev/skiff/internal/auth/authz"
)

// ApprovalName is the CertificateApproval plug-in's upstream name.
const ApprovalName = "CertificateApproval"

// Approval is the CertificateApproval plug-in.
type Approval struct{ Authorizer authz.Authorizer }

var _ admission.Validator = Approval{}

// Name implements admission.Plugin.
func (Approval) Name() string { return ApprovalName }

// Validate refuses an update of certificatesigningrequests/approval by a
// user without the approve verb on the request's signer. The new object's
// signer is checked, as upstream does, so changing the signer in the same
// request cannot get around the check.
func (p Approval) Validate(ctx context.Context, a *admission.Attributes) error {
	if a.Operation != admission.Update || a.Subresource != "approval" || a.GroupResource() != csrResource {
		return nil
	}
	csr, ok := a.Object.(*certificatesv1.CertificateSigningRequest)
	if !ok {
		return admission.Forbidden(a, fmt.Errorf("expected type CertificateSigningRequest, got: %T", a.Object))
	}
	if !authorizedForSigner(ctx, p.Authorizer, a.User, "approve", csr.Spec.SignerName) {
		return admission.Forbidden(a, fmt.Errorf("user not permitted to approve requests with signerName %q", csr.Spec.SignerName))
	}
	return nil
}
