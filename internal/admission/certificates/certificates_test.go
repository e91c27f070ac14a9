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

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/admission"
	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/auth/authz"
	"skiff.dev/skiff/internal/auth/rbac"
	"skiff.dev/skiff/internal/auth/rbac/bootstrap"
)

// authorizer is the server's authorizer (superusers, then RBAC) over the
// bootstrap policy plus a role for alice (approve and sign one signer)
// and one for bob (approve and sign every example.com signer).
func authorizer() authz.Authorizer {
	p := &rbac.StaticPolicy{ClusterRolesList: bootstrap.ClusterRoles(), ClusterRoleBindingsList: bootstrap.ClusterRoleBindings()}
	for _, who := range []struct{ user, signer string }{{"alice", "example.com/one"}, {"bob", "example.com/*"}} {
		p.ClusterRolesList = append(p.ClusterRolesList, rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: who.user},
			Rules: []rbacv1.PolicyRule{{
				Verbs: []string{"approve", "sign"}, APIGroups: []string{"certificates.k8s.io"},
				Resources: []string{"signers"}, ResourceNames: []string{who.signer},
			}},
		})
		p.ClusterRoleBindingsList = append(p.ClusterRoleBindingsList, rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: who.user},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: who.user},
			Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: who.user}},
		})
	}
	return authz.Union{authz.Superusers{Group: authn.GroupMasters}, rbac.NewAuthorizer(p)}
}

var (
	alice      = &authn.User{Name: "alice", Groups: []string{"system:authenticated"}}
	bob        = &authn.User{Name: "bob", Groups: []string{"system:authenticated"}}
	carol      = &authn.User{Name: "carol", Groups: []string{"system:authenticated"}}
	admin      = &authn.User{Name: "admin", Groups: []string{authn.GroupMasters}}
	controller = &authn.User{Name: "system:serviceaccount:kube-system:certificate-controller", Groups: []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"}}
)

func csrFor(signer string) *certificatesv1.CertificateSigningRequest {
	return &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "req"},
		Spec:       certificatesv1.CertificateSigningRequestSpec{SignerName: signer},
	}
}

func attrs(op admission.Operation, sub string, user *authn.User, obj, old *certificatesv1.CertificateSigningRequest) *admission.Attributes {
	a := &admission.Attributes{
		Operation: op, Subresource: sub, Name: "req", User: user,
		Kind:     certificatesv1.SchemeGroupVersion.WithKind("CertificateSigningRequest"),
		Resource: certificatesv1.SchemeGroupVersion.WithResource("certificatesigningrequests"),
	}
	if obj != nil {
		a.Object = obj
	}
	if old != nil {
		a.OldObject = old
	}
	return a
}

// checkResult compares err with the expected 403 message ("" = allowed).
func checkResult(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	if !apierrors.IsForbidden(err) {
		t.Fatalf("err = %v, want 403", err)
	}
	if err.Error() != want {
		t.Fatalf("err = %q\nwant  %q", err.Error(), want)
	}
}

func TestApproval(t *testing.T) {
	az := authorizer()
	deny := func(signer string) string {
		return `certificatesigningrequests.certificates.k8s.io "req" is forbidden: user not permitted to approve requests with signerName "` + signer + `"`
	}
	for _, tc := range []struct {
		name   string
		op     admission.Operation
		sub    string
		user   *authn.User
		signer string
		want   string
	}{
		{"named signer", admission.Update, "approval", alice, "example.com/one", ""},
		{"other signer of the domain", admission.Update, "approval", alice, "example.com/two", deny("example.com/two")},
		{"domain wildcard", admission.Update, "approval", bob, "example.com/two", ""},
		{"wildcard is per domain", admission.Update, "approval", bob, "example.org/two", deny("example.org/two")},
		{"no rights", admission.Update, "approval", carol, "kubernetes.io/kube-apiserver-client", deny("kubernetes.io/kube-apiserver-client")},
		{"system:masters", admission.Update, "approval", admin, "kubernetes.io/kube-apiserver-client", ""},
		{"certificate controller approves kubelet clients", admission.Update, "approval", controller, "kubernetes.io/kube-apiserver-client-kubelet", ""},
		{"but not other clients", admission.Update, "approval", controller, "kubernetes.io/kube-apiserver-client", deny("kubernetes.io/kube-apiserver-client")},
		{"status is not approval", admission.Update, "status", carol, "example.com/one", ""},
		{"main resource", admission.Update, "", carol, "example.com/one", ""},
		{"create", admission.Create, "", carol, "example.com/one", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			csr := csrFor(tc.signer)
			checkResult(t, Approval{Authorizer: az}.Validate(context.Background(), attrs(tc.op, tc.sub, tc.user, csr, csr)), tc.want)
		})
	}
	t.Run("the new object's signer is checked", func(t *testing.T) {
		err := Approval{Authorizer: az}.Validate(context.Background(), attrs(admission.Update, "approval", alice, csrFor("example.com/two"), csrFor("example.com/one")))
		checkResult(t, err, deny("example.com/two"))
	})
	t.Run("no authorizer refuses", func(t *testing.T) {
		err := Approval{}.Validate(context.Background(), attrs(admission.Update, "approval", admin, csrFor("example.com/one"), csrFor("example.com/one")))
		checkResult(t, err, deny("example.com/one"))
	})
}

func TestSigning(t *testing.T) {
	az := authorizer()
	deny := func(signer string) string {
		return `certificatesigningrequests.certificates.k8s.io "req" is forbidden: user not permitted to sign requests with signerName "` + signer + `"`
	}
	issued := func(signer string) *certificatesv1.CertificateSigningRequest {
		c := csrFor(signer)
		c.Status.Certificate = []byte("cert")
		return c
	}
	failed := func(signer string) *certificatesv1.CertificateSigningRequest {
		c := csrFor(signer)
		c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateFailed, Status: corev1.ConditionTrue}}
		return c
	}
	for _, tc := range []struct {
		name     string
		sub      string
		user     *authn.User
		obj, old *certificatesv1.CertificateSigningRequest
		want     string
	}{
		{"named signer issues", "status", alice, issued("example.com/one"), csrFor("example.com/one"), ""},
		{"other signer", "status", alice, issued("example.com/two"), csrFor("example.com/two"), deny("example.com/two")},
		{"domain wildcard", "status", bob, issued("example.com/two"), csrFor("example.com/two"), ""},
		{"a Failed condition needs sign too", "status", carol, failed("example.com/one"), csrFor("example.com/one"), deny("example.com/one")},
		{"no change to certificate or conditions", "status", carol, csrFor("example.com/one"), csrFor("example.com/one"), ""},
		{"the stored signer is checked", "status", alice, issued("example.com/one"), csrFor("example.com/two"), deny("example.com/two")},
		{"certificate controller signs kubelet serving", "status", controller, issued("kubernetes.io/kubelet-serving"), csrFor("kubernetes.io/kubelet-serving"), ""},
		{"certificate controller signs no other domain", "status", controller, issued("example.com/one"), csrFor("example.com/one"), deny("example.com/one")},
		{"approval is not status", "approval", carol, issued("example.com/one"), csrFor("example.com/one"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkResult(t, Signing{Authorizer: az}.Validate(context.Background(), attrs(admission.Update, tc.sub, tc.user, tc.obj, tc.old)), tc.want)
		})
	}
}

// request is a PEM CSR for cn in orgs.
func request(t *testing.T, cn string, orgs ...string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn, Organization: orgs}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func TestSubjectRestriction(t *testing.T) {
	const masters = `certificatesigningrequests.certificates.k8s.io "req" is forbidden: use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed`
	for _, tc := range []struct {
		name    string
		op      admission.Operation
		signer  string
		request []byte
		want    string
	}{
		{"client in system:masters", admission.Create, "kubernetes.io/kube-apiserver-client", request(t, "eve", "dev", "system:masters"), masters},
		{"client in other groups", admission.Create, "kubernetes.io/kube-apiserver-client", request(t, "eve", "dev"), ""},
		{"other signer", admission.Create, "example.com/one", request(t, "eve", "system:masters"), ""},
		{"kubelet signer is the approver's business", admission.Create, "kubernetes.io/kube-apiserver-client-kubelet", request(t, "system:node:n1", "system:masters"), ""},
		{"update", admission.Update, "kubernetes.io/kube-apiserver-client", request(t, "eve", "system:masters"), ""},
		{"garbage", admission.Create, "kubernetes.io/kube-apiserver-client", []byte("nope"),
			`certificatesigningrequests.certificates.k8s.io "req" is forbidden: failed to parse CSR: PEM block type must be CERTIFICATE REQUEST`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			csr := csrFor(tc.signer)
			csr.Spec.Request = tc.request
			checkResult(t, SubjectRestriction{}.Validate(context.Background(), attrs(tc.op, "", admin, csr, nil)), tc.want)
		})
	}
}
