package certificates

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/registry/registrytest"
)

func testRequest(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "system:node:n1", Organization: []string{"system:nodes"}},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func ptrTo[T any](v T) *T { return &v }

func TestValidate(t *testing.T) {
	req := testRequest(t)
	valid := func() *certificatesv1.CertificateSigningRequest {
		return &certificatesv1.CertificateSigningRequest{
			ObjectMeta: metav1.ObjectMeta{Name: "csr-1"},
			Spec: certificatesv1.CertificateSigningRequestSpec{
				Request: req, SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
				Usages: []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
			},
		}
	}
	cases := []struct {
		name   string
		mutate func(*certificatesv1.CertificateSigningRequest)
		want   map[string]field.ErrorType
	}{
		{"valid", func(*certificatesv1.CertificateSigningRequest) {}, nil},
		{"not PEM", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Request = []byte("junk") },
			map[string]field.ErrorType{"spec.request": field.ErrorTypeInvalid}},
		{"no usages", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Usages = nil },
			map[string]field.ErrorType{"spec.usages": field.ErrorTypeRequired}},
		{"unknown usage", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Usages = []certificatesv1.KeyUsage{"flying"} },
			map[string]field.ErrorType{"spec.usages[0]": field.ErrorTypeNotSupported}},
		{"duplicate usage", func(c *certificatesv1.CertificateSigningRequest) {
			c.Spec.Usages = []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth, certificatesv1.UsageClientAuth}
		}, map[string]field.ErrorType{"spec.usages[1]": field.ErrorTypeDuplicate}},
		{"no signer", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "" },
			map[string]field.ErrorType{"spec.signerName": field.ErrorTypeRequired}},
		{"signer without path", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "example.com" },
			map[string]field.ErrorType{"spec.signerName": field.ErrorTypeInvalid}},
		{"signer with one-label domain", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "example/signer" },
			map[string]field.ErrorType{"spec.signerName": field.ErrorTypeInvalid}},
		{"legacy signer", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "kubernetes.io/legacy-unknown" },
			map[string]field.ErrorType{"spec.signerName": field.ErrorTypeInvalid}},
		{"short expiration", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.ExpirationSeconds = ptrTo[int32](599) },
			map[string]field.ErrorType{"spec.expirationSeconds": field.ErrorTypeInvalid}},
		{"ten minutes", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.ExpirationSeconds = ptrTo[int32](600) }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.mutate(c)
			errs := csrStrategy{now: time.Now}.Validate(context.Background(), c)
			got := map[string]field.ErrorType{}
			for _, e := range errs {
				got[e.Field] = e.Type
			}
			if len(got) != len(tc.want) {
				t.Fatalf("errors = %v, want %v", errs, tc.want)
			}
			for f, typ := range tc.want {
				if got[f] != typ {
					t.Fatalf("errors = %v, want %v", errs, tc.want)
				}
			}
		})
	}
}

func TestPrepareForCreateTakesTheRequester(t *testing.T) {
	ctx := authn.WithUser(context.Background(), &authn.User{
		Name: "system:bootstrap:abcdef", UID: "u1", Groups: []string{"system:bootstrappers"},
		Extra: map[string][]string{"k": {"v"}},
	})
	c := &certificatesv1.CertificateSigningRequest{Spec: certificatesv1.CertificateSigningRequestSpec{
		Username: "system:admin", Groups: []string{"system:masters"},
	}, Status: certificatesv1.CertificateSigningRequestStatus{Certificate: []byte("x")}}
	csrStrategy{now: time.Now}.PrepareForCreate(ctx, c)
	if c.Spec.Username != "system:bootstrap:abcdef" || c.Spec.UID != "u1" || len(c.Spec.Groups) != 1 ||
		c.Spec.Groups[0] != "system:bootstrappers" || c.Spec.Extra["k"][0] != "v" || c.Status.Certificate != nil {
		t.Fatalf("spec = %+v, status = %+v", c.Spec, c.Status)
	}
}

func approved() certificatesv1.CertificateSigningRequestCondition {
	return certificatesv1.CertificateSigningRequestCondition{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue}
}

func TestUpdatePaths(t *testing.T) {
	s := csrStrategy{now: time.Now}
	ctx := context.Background()
	old := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "csr-1"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request: testRequest(t), SignerName: certificatesv1.KubeAPIServerClientSignerName,
			Usages: []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth},
		},
	}
	// /status may not approve: the stored (absent) approval is kept.
	n := old.DeepCopy()
	n.Status.Conditions = append(n.Status.Conditions, approved())
	s.PrepareForStatusUpdate(n, old)
	if len(n.Status.Conditions) != 0 {
		t.Fatalf("status write approved: %+v", n.Status.Conditions)
	}
	// The main resource may not approve either.
	n = old.DeepCopy()
	n.Status.Conditions = append(n.Status.Conditions, approved())
	if errs := s.ValidateUpdate(ctx, n, old); len(errs) == 0 {
		t.Fatal("main resource update added Approved")
	}
	// /approval may, and stamps the times; it keeps the certificate out.
	n = old.DeepCopy()
	n.Status.Conditions = append(n.Status.Conditions, approved())
	n.Status.Certificate = []byte("junk")
	s.PrepareForSubresourceUpdate(ApprovalSubresource, n, old)
	if errs := s.ValidateSubresourceUpdate(ctx, ApprovalSubresource, n, old); len(errs) != 0 {
		t.Fatal(errs)
	}
	if n.Status.Certificate != nil || n.Status.Conditions[0].LastUpdateTime.IsZero() {
		t.Fatalf("status = %+v", n.Status)
	}
	// Approved and Denied together are refused; removing one too.
	both := n.DeepCopy()
	both.Status.Conditions = append(both.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{Type: certificatesv1.CertificateDenied, Status: corev1.ConditionTrue})
	if errs := s.ValidateSubresourceUpdate(ctx, ApprovalSubresource, both, n); len(errs) == 0 {
		t.Fatal("Approved and Denied accepted")
	}
	removed := n.DeepCopy()
	removed.Status.Conditions = nil
	if errs := s.ValidateSubresourceUpdate(ctx, ApprovalSubresource, removed, n); len(errs) == 0 {
		t.Fatal("removing Approved accepted")
	}
	// The spec never changes.
	n2 := n.DeepCopy()
	n2.Spec.SignerName = "example.com/other"
	s.PrepareForUpdate(ctx, n2, n)
	if n2.Spec.SignerName != certificatesv1.KubeAPIServerClientSignerName {
		t.Fatal("spec changed")
	}
}

func TestRow(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := csrStrategy{now: func() time.Time { return now }}
	c := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "node-csr-x", CreationTimestamp: metav1.NewTime(now.Add(-time.Minute))},
		Spec: certificatesv1.CertificateSigningRequestSpec{SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
			Username: "system:bootstrap:abcdef", ExpirationSeconds: ptrTo[int32](3600)},
		Status: certificatesv1.CertificateSigningRequestStatus{Conditions: []certificatesv1.CertificateSigningRequestCondition{approved()}, Certificate: []byte("c")},
	}
	row := s.Row(c)
	want := []interface{}{"node-csr-x", "60s", "kubernetes.io/kube-apiserver-client-kubelet", "system:bootstrap:abcdef", "60m", "Approved,Issued"}
	if len(row) != len(want) || len(s.ColumnDefinitions()) != len(want) {
		t.Fatalf("row = %#v", row)
	}
	for i := range want {
		if row[i] != want[i] {
			t.Fatalf("row = %#v, want %#v", row, want)
		}
	}
}

func TestStrategiesNeverPanic(t *testing.T) {
	registrytest.StrategiesNeverPanic(t, Resources(), registrytest.NewFiller(7, 3, 9), 40)
}
