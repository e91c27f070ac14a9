package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/skiff/internal/testserver"
)

// TestCertificateAdmission: through the real API server with RBAC and the
// default admission chain, a user allowed to update
// certificatesigningrequests/approval still cannot approve without the
// approve verb on the signer (upstream's 403), can once granted it; the
// certificate controller's identity may approve kubelet client requests;
// and a client request for system:masters is refused at creation.
func TestCertificateAdmission(t *testing.T) {
	w := newRBACWiring()
	srv := testserver.StartWith(t, withRBAC(w), withAdmission(&admissionCaches{authorizer: w.authorizer}))
	ctx := context.Background()
	admin := srv.Client

	csrs := admin.CertificatesV1().CertificateSigningRequests()
	if _, err := csrs.Create(ctx, newTestCSR(t, "masters", certificatesv1.KubeAPIServerClientSignerName, "eve", "system:masters"), metav1.CreateOptions{}); !apierrors.IsForbidden(err) ||
		err.Error() != `certificatesigningrequests.certificates.k8s.io "masters" is forbidden: use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed` {
		t.Fatalf("system:masters client request: err = %v, want upstream's 403", err)
	}
	if _, err := csrs.Create(ctx, newTestCSR(t, "eve", certificatesv1.KubeAPIServerClientSignerName, "eve", "dev"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// carol may update the approval subresource, nothing more.
	grant := func(name string, rules ...rbacv1.PolicyRule) {
		t.Helper()
		if _, err := admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: "carol"}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	grant("csr-approval", rbacv1.PolicyRule{Verbs: []string{"get", "update"}, APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"certificatesigningrequests", "certificatesigningrequests/approval"}})
	carol := kubernetes.NewForConfigOrDie(srv.Config(t, "carol"))
	approve := func(c kubernetes.Interface) error {
		csr, err := c.CertificatesV1().CertificateSigningRequests().Get(ctx, "eve", metav1.GetOptions{})
		if err != nil {
			return err
		}
		csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
			Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "Test",
		})
		_, err = c.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, "eve", csr, metav1.UpdateOptions{})
		return err
	}
	eventually(t, "carol's approval reaches admission", func() error {
		err := approve(carol)
		if apierrors.IsForbidden(err) && err.Error() == `certificatesigningrequests.certificates.k8s.io "eve" is forbidden: user not permitted to approve requests with signerName "kubernetes.io/kube-apiserver-client"` {
			return nil
		}
		return fmt.Errorf("approval without the approve verb: err = %v, want upstream's 403", err)
	})
	grant("csr-approver", rbacv1.PolicyRule{Verbs: []string{"approve"}, APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"signers"}, ResourceNames: []string{"kubernetes.io/*"}})
	eventually(t, "carol approves with the approve verb", func() error { return approve(carol) })

	// The CSR approver's own identity, as upstream's
	// system:controller:certificate-controller role grants it.
	if _, err := csrs.Create(ctx, newTestCSR(t, "node", certificatesv1.KubeAPIServerClientKubeletSignerName, "system:node:n1", "system:nodes"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrl := kubernetes.NewForConfigOrDie(srv.Config(t, "system:serviceaccount:kube-system:certificate-controller", "system:serviceaccounts", "system:serviceaccounts:kube-system"))
	eventually(t, "the certificate controller approves a kubelet client request", func() error {
		csr, err := ctrl.CertificatesV1().CertificateSigningRequests().Get(ctx, "node", metav1.GetOptions{})
		if err != nil {
			return err
		}
		csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
			Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "AutoApproved",
		})
		_, err = ctrl.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, "node", csr, metav1.UpdateOptions{})
		return err
	})
}

// newTestCSR is a request named name for signer, cn in orgs.
func newTestCSR(t *testing.T, name, signer, cn string, orgs ...string) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn, Organization: orgs}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName: signer,
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
		},
	}
}
