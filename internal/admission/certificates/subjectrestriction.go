package certificates

import (
	"context"
	"fmt"

	certificatesv1 "k8s.io/api/certificates/v1"

	"skiff.dev/skiff/internal/admission"
	"skiff.dev/skiff/internal/auth/authn"
	csrregistry "skiff.dev/skiff/internal/registry/certificates"
)

// SubjectRestrictionName is the CertificateSubjectRestriction plug-in's
// upstream name.
const SubjectRestrictionName = "CertificateSubjectRestriction"

// SubjectRestriction is the CertificateSubjectRestriction plug-in: a
// client certificate in system:masters is a superuser no RBAC rule can
// limit, so the built-in client signer must never be asked for one.
type SubjectRestriction struct{}

var _ admission.Validator = SubjectRestriction{}

// Name implements admission.Plugin.
func (SubjectRestriction) Name() string { return SubjectRestrictionName }

// Validate refuses the creation of a kubernetes.io/kube-apiserver-client
// request whose subject's organizations include system:masters.
func (SubjectRestriction) Validate(_ context.Context, a *admission.Attributes) error {
	if a.Operation != admission.Create || a.Subresource != "" || a.GroupResource() != csrResource {
		return nil
	}
	csr, ok := a.Object.(*certificatesv1.CertificateSigningRequest)
	if !ok {
		return admission.Forbidden(a, fmt.Errorf("expected type CertificateSigningRequest, got: %T", a.Object))
	}
	if csr.Spec.SignerName != certificatesv1.KubeAPIServerClientSignerName {
		return nil
	}
	req, err := csrregistry.ParseRequest(csr.Spec.Request)
	if err != nil {
		return admission.Forbidden(a, fmt.Errorf("failed to parse CSR: %v", err))
	}
	for _, org := range req.Subject.Organization {
		if org == authn.GroupMasters {
			return admission.Forbidden(a, fmt.Errorf("use of %s signer with %s group is not allowed", certificatesv1.KubeAPIServerClientSignerName, authn.GroupMasters))
		}
	}
	return nil
}
