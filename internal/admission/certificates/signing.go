package certificates

import (
	"bytes"
	"context"
	"fmt"

	certificatesv1 "k8s.io/api/certificates/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"

	"skiff.dev/skiff/internal/admission"
	"skiff.dev/skiff/internal/auth/authz"
)

// SigningName is the CertificateSigning plug-in's upstream name.
const SigningName = "CertificateSigning"

// Signing is the CertificateSigning plug-in.
type Signing struct{ Authorizer authz.Authorizer }

var _ admission.Validator = Signing{}

// Name implements admission.Plugin.
func (Signing) Name() string { return SigningName }

// Validate refuses an update of certificatesigningrequests/status that
// changes status.certificate or status.conditions (a signer's Failed
// condition) by a user without the sign verb on the stored request's
// signer. A status update that changes neither passes.
func (p Signing) Validate(ctx context.Context, a *admission.Attributes) error {
	if a.Operation != admission.Update || a.Subresource != "status" || a.GroupResource() != csrResource {
		return nil
	}
	old, ok := a.OldObject.(*certificatesv1.CertificateSigningRequest)
	if !ok {
		return admission.Forbidden(a, fmt.Errorf("expected type CertificateSigningRequest, got: %T", a.OldObject))
	}
	csr, ok := a.Object.(*certificatesv1.CertificateSigningRequest)
	if !ok {
		return admission.Forbidden(a, fmt.Errorf("expected type CertificateSigningRequest, got: %T", a.Object))
	}
	if bytes.Equal(old.Status.Certificate, csr.Status.Certificate) && apiequality.Semantic.DeepEqual(old.Status.Conditions, csr.Status.Conditions) {
		return nil
	}
	if !authorizedForSigner(ctx, p.Authorizer, a.User, "sign", old.Spec.SignerName) {
		return admission.Forbidden(a, fmt.Errorf("user not permitted to sign requests with signerName %q", old.Spec.SignerName))
	}
	return nil
}
