// Package csr holds the controllers that act on CertificateSigningRequests,
// as upstream's kube-controller-manager: the approver, which approves a
// kubelet's client certificate request once a SubjectAccessReview says
// its requester may ask for one (a bootstrap token for a new node, the
// node itself for a renewal), and the signer, which issues the
// certificates of approved requests for the built-in kubernetes.io
// signers with the cluster CA.
//
// rules.go is pure: which requests are kubelet client or serving
// requests, and what a signer would issue.
package csr

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
)

// The identities kubelets use.
const (
	nodeUserPrefix = "system:node:"
	nodesGroup     = "system:nodes"
	mastersGroup   = "system:masters"
)

// Reasons a request is not the kind a rule recognizes.
var (
	errOrganizationNotSystemNodes = errors.New("subject organization is not system:nodes")
	errCommonNameNotSystemNode    = errors.New("subject common name does not begin with system:node:")
	errDNSSANNotAllowed           = errors.New("DNS subjectAltNames are not allowed")
	errEmailSANNotAllowed         = errors.New("Email subjectAltNames are not allowed")
	errIPSANNotAllowed            = errors.New("IP subjectAltNames are not allowed")
	errURISANNotAllowed           = errors.New("URI subjectAltNames are not allowed")
	errDNSOrIPSANRequired         = errors.New("DNS or IP subjectAltName is required")
	errMastersNotAllowed          = errors.New("use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed")
)

func usagesAre(have []certificatesv1.KeyUsage, want ...certificatesv1.KeyUsage) bool {
	if len(have) != len(want) {
		return false
	}
	for _, u := range want {
		if !slices.Contains(have, u) {
			return false
		}
	}
	return true
}

// ValidateKubeletClient is upstream's kubelet client request check: a
// system:node:<name> in system:nodes, no subjectAltNames, usages
// digital signature and client auth (key encipherment allowed, for RSA).
func ValidateKubeletClient(req *x509.CertificateRequest, usages []certificatesv1.KeyUsage) error {
	if !slices.Equal(req.Subject.Organization, []string{nodesGroup}) {
		return errOrganizationNotSystemNodes
	}
	if len(req.DNSNames) > 0 {
		return errDNSSANNotAllowed
	}
	if len(req.EmailAddresses) > 0 {
		return errEmailSANNotAllowed
	}
	if len(req.IPAddresses) > 0 {
		return errIPSANNotAllowed
	}
	if len(req.URIs) > 0 {
		return errURISANNotAllowed
	}
	if !strings.HasPrefix(req.Subject.CommonName, nodeUserPrefix) || len(req.Subject.CommonName) == len(nodeUserPrefix) {
		return errCommonNameNotSystemNode
	}
	if !usagesAre(usages, certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth) &&
		!usagesAre(usages, certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageClientAuth) {
		return fmt.Errorf("usages did not match %v", []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth})
	}
	return nil
}

// ValidateKubeletServing is upstream's kubelet serving request check: a
// system:node:<name> in system:nodes with at least one DNS name or IP,
// usages digital signature and server auth (key encipherment allowed).
func ValidateKubeletServing(req *x509.CertificateRequest, usages []certificatesv1.KeyUsage) error {
	if !usagesAre(usages, certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth) &&
		!usagesAre(usages, certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageServerAuth) {
		return fmt.Errorf("usages did not match %v", []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth})
	}
	if !slices.Equal(req.Subject.Organization, []string{nodesGroup}) {
		return errOrganizationNotSystemNodes
	}
	if len(req.DNSNames) == 0 && len(req.IPAddresses) == 0 {
		return errDNSOrIPSANRequired
	}
	if len(req.EmailAddresses) > 0 {
		return errEmailSANNotAllowed
	}
	if len(req.URIs) > 0 {
		return errURISANNotAllowed
	}
	if !strings.HasPrefix(req.Subject.CommonName, nodeUserPrefix) || len(req.Subject.CommonName) == len(nodeUserPrefix) {
		return errCommonNameNotSystemNode
	}
	return nil
}

// validateAPIServerClient: client usages only, and never system:masters
// (upstream's CertificateSubjectRestriction admission).
func validateAPIServerClient(req *x509.CertificateRequest, usages []certificatesv1.KeyUsage) error {
	if slices.Contains(req.Subject.Organization, mastersGroup) {
		return errMastersNotAllowed
	}
	for _, u := range usages {
		switch u {
		case certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageClientAuth:
		default:
			return fmt.Errorf("invalid usage for client certificate: %s", u)
		}
	}
	if !slices.Contains(usages, certificatesv1.UsageClientAuth) {
		return errors.New("missing required usage for client certificate: client auth")
	}
	return nil
}

// validateForSigner checks req against what signer issues; a signer we
// do not run returns ok=false.
func validateForSigner(signer string, req *x509.CertificateRequest, usages []certificatesv1.KeyUsage) (ok bool, err error) {
	switch signer {
	case certificatesv1.KubeAPIServerClientKubeletSignerName:
		return true, ValidateKubeletClient(req, usages)
	case certificatesv1.KubeletServingSignerName:
		return true, ValidateKubeletServing(req, usages)
	case certificatesv1.KubeAPIServerClientSignerName:
		return true, validateAPIServerClient(req, usages)
	}
	return false, nil
}

// hasCondition reports whether csr has a condition of type t with status True.
func hasCondition(csr *certificatesv1.CertificateSigningRequest, t certificatesv1.RequestConditionType) bool {
	for _, c := range csr.Status.Conditions {
		if c.Type == t && c.Status == "True" {
			return true
		}
	}
	return false
}

func approvedOrDenied(csr *certificatesv1.CertificateSigningRequest) (approved, denied bool) {
	return hasCondition(csr, certificatesv1.CertificateApproved), hasCondition(csr, certificatesv1.CertificateDenied)
}
