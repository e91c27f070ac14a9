package certificates_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/skiff/internal/testserver"
)

// TestAPI goes through the real API server: the requester is stamped,
// only /approval approves, only /status issues.
func TestAPI(t *testing.T) {
	srv := testserver.Start(t)
	ctx := context.Background()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "alice"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	user := kubernetes.NewForConfigOrDie(srv.Config(t, "alice", "system:masters", "devs"))
	csrs := user.CertificatesV1().CertificateSigningRequests()
	csr, err := csrs.Create(ctx, &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "alice"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName: certificatesv1.KubeAPIServerClientSignerName, Username: "mallory",
			Usages: []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if csr.Spec.Username != "alice" || len(csr.Spec.Groups) == 0 {
		t.Fatalf("spec = %+v", csr.Spec)
	}
	// A status write cannot approve.
	c := csr.DeepCopy()
	c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "X"}}
	if got, err := csrs.UpdateStatus(ctx, c, metav1.UpdateOptions{}); err != nil || len(got.Status.Conditions) != 0 {
		t.Fatalf("status approve: %v, %+v", err, got)
	}
	c.ResourceVersion = ""
	got, err := csrs.UpdateApproval(ctx, "alice", c, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Status.Conditions) != 1 || got.Status.Conditions[0].Type != certificatesv1.CertificateApproved {
		t.Fatalf("conditions = %+v", got.Status.Conditions)
	}
	// A certificate through /approval is dropped; garbage through /status refused.
	got.Status.Certificate = []byte("junk")
	if _, err := csrs.UpdateStatus(ctx, got, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("junk certificate: %v", err)
	}
}
