// Package certificates holds the registry strategy of
// certificates.k8s.io/v1 CertificateSigningRequests: upstream's
// validation, the requester's identity stamped on create, an immutable
// spec, the /status subresource (the signer's certificate) and the
// /approval subresource (the Approved and Denied conditions), and
// `kubectl get csr`'s columns.
package certificates

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/registry"
)

// ApprovalSubresource is where approvers write Approved and Denied.
const ApprovalSubresource = "approval"

// Resources returns the certificates.k8s.io/v1 resources.
func Resources() []registry.Resource {
	return resources(time.Now)
}

func resources(now func() time.Time) []registry.Resource {
	return []registry.Resource{{
		GroupVersion: certificatesv1.SchemeGroupVersion, Resource: "certificatesigningrequests",
		Kind: "CertificateSigningRequest", SingularName: "certificatesigningrequest", ShortNames: []string{"csr"},
		New:                func() runtime.Object { return &certificatesv1.CertificateSigningRequest{} },
		NewList:            func() runtime.Object { return &certificatesv1.CertificateSigningRequestList{} },
		Strategy:           csrStrategy{now: now},
		HasStatus:          true,
		StatusSubresources: []string{ApprovalSubresource},
	}}
}

type csrStrategy struct{ now func() time.Time }

var (
	_ registry.Strategy            = csrStrategy{}
	_ registry.StatusStrategy      = csrStrategy{}
	_ registry.StatusPreparer      = csrStrategy{}
	_ registry.SubresourceStrategy = csrStrategy{}
	_ registry.MetaValidator       = csrStrategy{}
	_ registry.TableConvertor      = csrStrategy{}
)

func (csrStrategy) Default(obj runtime.Object) {}

// PrepareForCreate records who asked, from the authenticated user (never
// from the client), as upstream's strategy does; the approver and the
// signer decide on it.
func (s csrStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	csr, ok := obj.(*certificatesv1.CertificateSigningRequest)
	if !ok {
		return
	}
	csr.Spec.Username, csr.Spec.UID, csr.Spec.Groups, csr.Spec.Extra = "", "", nil, nil
	if u := authn.UserFrom(ctx); u != nil {
		csr.Spec.Username = u.Name
		csr.Spec.UID = u.UID
		csr.Spec.Groups = append([]string(nil), u.Groups...)
		if len(u.Extra) > 0 {
			csr.Spec.Extra = make(map[string]certificatesv1.ExtraValue, len(u.Extra))
			for k, v := range u.Extra {
				csr.Spec.Extra[k] = append(certificatesv1.ExtraValue(nil), v...)
			}
		}
	}
	csr.Status = certificatesv1.CertificateSigningRequestStatus{}
}

// PrepareForUpdate keeps the stored spec: a request never changes once
// made (the generic handler keeps the stored status).
func (csrStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	csr, ok1 := obj.(*certificatesv1.CertificateSigningRequest)
	o, ok2 := old.(*certificatesv1.CertificateSigningRequest)
	if ok1 && ok2 {
		csr.Spec = *o.Spec.DeepCopy()
	}
}

// PrepareForStatusUpdate keeps the stored Approved and Denied conditions:
// those are written through /approval only.
func (s csrStrategy) PrepareForStatusUpdate(obj, old runtime.Object) {
	csr, ok1 := obj.(*certificatesv1.CertificateSigningRequest)
	o, ok2 := old.(*certificatesv1.CertificateSigningRequest)
	if !ok1 || !ok2 {
		return
	}
	var conds []certificatesv1.CertificateSigningRequestCondition
	for _, c := range csr.Status.Conditions {
		if c.Type != certificatesv1.CertificateApproved && c.Type != certificatesv1.CertificateDenied {
			conds = append(conds, c)
		}
	}
	for _, c := range o.Status.Conditions {
		if c.Type == certificatesv1.CertificateApproved || c.Type == certificatesv1.CertificateDenied {
			conds = append(conds, c)
		}
	}
	csr.Status.Conditions = conds
	s.stampConditions(csr, o)
}

// PrepareForSubresourceUpdate: /approval changes the conditions only,
// never the certificate.
func (s csrStrategy) PrepareForSubresourceUpdate(subresource string, obj, old runtime.Object) {
	csr, ok1 := obj.(*certificatesv1.CertificateSigningRequest)
	o, ok2 := old.(*certificatesv1.CertificateSigningRequest)
	if !ok1 || !ok2 {
		return
	}
	csr.Status.Certificate = o.Status.Certificate
	s.stampConditions(csr, o)
}

// stampConditions sets lastUpdateTime (and lastTransitionTime) of new or
// changed conditions, as upstream does when a client leaves them out.
func (s csrStrategy) stampConditions(csr, old *certificatesv1.CertificateSigningRequest) {
	now := metav1.NewTime(s.now().Truncate(time.Second))
	for i := range csr.Status.Conditions {
		c := &csr.Status.Conditions[i]
		if c.LastUpdateTime.IsZero() {
			c.LastUpdateTime = now
		}
		if !c.LastTransitionTime.IsZero() {
			continue
		}
		c.LastTransitionTime = now
		for _, oc := range old.Status.Conditions {
			if oc.Type == c.Type && oc.Status == c.Status && !oc.LastTransitionTime.IsZero() {
				c.LastTransitionTime = oc.LastTransitionTime
			}
		}
	}
}

// ValidateMeta: any name will do, as upstream ("We don't care what you
// call your certificate requests").
func (csrStrategy) ValidateMeta(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return nil
}

func (csrStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	csr, ok := obj.(*certificatesv1.CertificateSigningRequest)
	if !ok {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("expected *v1.CertificateSigningRequest, got %T", obj))}
	}
	return validateCSR(csr, options(csr, nil))
}

func (csrStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return validateUpdate(obj, old, func(*validationOptions) {})
}

func (csrStrategy) ValidateStatusUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return validateUpdate(obj, old, func(o *validationOptions) { o.settingCertificate = true })
}

func (csrStrategy) ValidateSubresourceUpdate(ctx context.Context, subresource string, obj, old runtime.Object) field.ErrorList {
	return validateUpdate(obj, old, func(o *validationOptions) { o.settingApproval = subresource == ApprovalSubresource })
}

func validateUpdate(obj, old runtime.Object, set func(*validationOptions)) field.ErrorList {
	csr, ok1 := obj.(*certificatesv1.CertificateSigningRequest)
	o, ok2 := old.(*certificatesv1.CertificateSigningRequest)
	if !ok1 || !ok2 {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("expected *v1.CertificateSigningRequest, got %T", obj))}
	}
	opts := options(csr, o)
	set(&opts)
	return validateCSRUpdate(csr, o, opts)
}

func (csrStrategy) ColumnDefinitions() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
		{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
		{Name: "SignerName", Type: "string", Description: certificatesv1.CertificateSigningRequestSpec{}.SwaggerDoc()["signerName"]},
		{Name: "Requestor", Type: "string", Description: "Name of the user which made this request."},
		{Name: "RequestedDuration", Type: "string", Description: certificatesv1.CertificateSigningRequestSpec{}.SwaggerDoc()["expirationSeconds"]},
		{Name: "Condition", Type: "string", Description: "Condition of the request."},
	}
}

func (s csrStrategy) Row(obj runtime.Object) []interface{} {
	csr, ok := obj.(*certificatesv1.CertificateSigningRequest)
	if !ok {
		return nil
	}
	age := "<unknown>"
	if !csr.CreationTimestamp.IsZero() {
		age = duration.HumanDuration(s.now().Sub(csr.CreationTimestamp.Time))
	}
	signer := "<none>"
	if csr.Spec.SignerName != "" {
		signer = csr.Spec.SignerName
	}
	requested := "<none>"
	if csr.Spec.ExpirationSeconds != nil {
		requested = duration.HumanDuration(time.Duration(*csr.Spec.ExpirationSeconds) * time.Second)
	}
	return []interface{}{csr.Name, age, signer, csr.Spec.Username, requested, Condition(csr)}
}

// Condition is kubectl's CONDITION column: Denied, Approved or Pending,
// then ",Failed" and ",Issued" when they apply.
func Condition(csr *certificatesv1.CertificateSigningRequest) string {
	var approved, denied, failed bool
	for _, c := range csr.Status.Conditions {
		switch c.Type {
		case certificatesv1.CertificateApproved:
			approved = true
		case certificatesv1.CertificateDenied:
			denied = true
		case certificatesv1.CertificateFailed:
			failed = true
		}
	}
	var b strings.Builder
	switch {
	case denied:
		b.WriteString("Denied")
	case approved:
		b.WriteString("Approved")
	default:
		b.WriteString("Pending")
	}
	if failed {
		b.WriteString(",Failed")
	}
	if len(csr.Status.Certificate) > 0 {
		b.WriteString(",Issued")
	}
	return b.String()
}

// ParseRequest decodes a CSR's spec.request: one PEM block of type
// CERTIFICATE REQUEST holding a PKCS#10 request.
func ParseRequest(pemBytes []byte) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("PEM block type must be CERTIFICATE REQUEST")
	}
	return x509.ParseCertificateRequest(block.Bytes)
}
