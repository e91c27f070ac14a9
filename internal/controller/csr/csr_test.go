package csr

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/controller/controllertest"
)

type csrSpec struct {
	cn     string
	orgs   []string
	dns    []string
	ips    []net.IP
	signer string
	usages []certificatesv1.KeyUsage
	user   string
}

func newCSR(t *testing.T, name string, s csrSpec) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: s.cn, Organization: s.orgs}, DNSNames: s.dns, IPAddresses: s.ips,
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	return &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName: s.signer, Usages: s.usages, Username: s.user,
		},
	}
}

var clientUsages = []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth}

func nodeClient(user string) csrSpec {
	return csrSpec{cn: "system:node:n1", orgs: []string{"system:nodes"}, signer: certificatesv1.KubeAPIServerClientKubeletSignerName, usages: clientUsages, user: user}
}

func TestRecognizers(t *testing.T) {
	cases := []struct {
		name       string
		spec       csrSpec
		node, self bool
	}{
		{"bootstrap token for a new node", nodeClient("system:bootstrap:abcdef"), true, false},
		{"renewal by the node", nodeClient("system:node:n1"), true, true},
		{"renewal for another node", nodeClient("system:node:n2"), true, false},
		{"wrong organization", csrSpec{cn: "system:node:n1", orgs: []string{"system:masters"}, signer: certificatesv1.KubeAPIServerClientKubeletSignerName, usages: clientUsages}, false, false},
		{"not a node", csrSpec{cn: "alice", orgs: []string{"system:nodes"}, signer: certificatesv1.KubeAPIServerClientKubeletSignerName, usages: clientUsages}, false, false},
		{"with a SAN", csrSpec{cn: "system:node:n1", orgs: []string{"system:nodes"}, dns: []string{"n1"}, signer: certificatesv1.KubeAPIServerClientKubeletSignerName, usages: clientUsages}, false, false},
		{"server usage", csrSpec{cn: "system:node:n1", orgs: []string{"system:nodes"}, signer: certificatesv1.KubeAPIServerClientKubeletSignerName,
			usages: []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth}}, false, false},
		{"other signer", csrSpec{cn: "system:node:n1", orgs: []string{"system:nodes"}, signer: certificatesv1.KubeAPIServerClientSignerName, usages: clientUsages}, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCSR(t, "x", tc.spec)
			req, err := x509.ParseCertificateRequest(mustBlock(t, c.Spec.Request))
			if err != nil {
				t.Fatal(err)
			}
			if got := isNodeClient(c, req); got != tc.node {
				t.Errorf("isNodeClient = %v", got)
			}
			if got := isSelfNodeClient(c, req); got != tc.self {
				t.Errorf("isSelfNodeClient = %v", got)
			}
		})
	}
}

func mustBlock(t *testing.T, b []byte) []byte {
	t.Helper()
	p, _ := pem.Decode(b)
	if p == nil {
		t.Fatal("no PEM")
	}
	return p.Bytes
}

// grants allows a user the subresources listed for it.
type grants map[string][]string

func (g grants) Allowed(_ context.Context, spec authorizationv1.SubjectAccessReviewSpec) (bool, error) {
	for _, sub := range g[spec.User] {
		if spec.ResourceAttributes != nil && spec.ResourceAttributes.Subresource == sub &&
			spec.ResourceAttributes.Verb == "create" && spec.ResourceAttributes.Resource == "certificatesigningrequests" {
			return true, nil
		}
	}
	return false, nil
}

func TestApproverAndSigner(t *testing.T) {
	env := controllertest.Start(t)
	access := grants{
		"system:bootstrap:abcdef": {"nodeclient"},
		"system:node:n1":          {"selfnodeclient"},
	}
	a, err := NewApprover(env.Client, env.Factory, access, env.Log)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(env.Client, env.Factory, SignerConfig{CA: env.Server.CA, MaxDuration: 24 * time.Hour}, env.Log)
	if err != nil {
		t.Fatal(err)
	}
	env.StartInformers(t)
	go func() { _ = a.Run(env.Ctx, 1) }()
	go func() { _ = s.Run(env.Ctx, 1) }()
	ctx := env.Ctx
	csrs := func(user string, groups ...string) interface {
		Create(context.Context, *certificatesv1.CertificateSigningRequest, metav1.CreateOptions) (*certificatesv1.CertificateSigningRequest, error)
	} {
		return clientFor(t, env, user, groups...).CertificatesV1().CertificateSigningRequests()
	}

	// A bootstrap token's request for a new node: approved and signed.
	if _, err := csrs("system:bootstrap:abcdef", "system:bootstrappers", "system:masters").Create(ctx, newCSR(t, "boot", nodeClient("")), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The node renewing: approved and signed, with the shorter duration asked for.
	renew := newCSR(t, "renew", nodeClient(""))
	renew.Spec.ExpirationSeconds = ptrTo[int32](3600)
	if _, err := csrs("system:node:n1", "system:nodes", "system:masters").Create(ctx, renew, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Someone without the permission: left pending.
	if _, err := csrs("mallory", "system:masters").Create(ctx, newCSR(t, "mallory", nodeClient("")), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, maxLife := range map[string]time.Duration{"boot": 24 * time.Hour, "renew": time.Hour} {
		var cert *x509.Certificate
		controllertest.Eventually(t, 10*time.Second, func() error {
			c, err := env.Client.CertificatesV1().CertificateSigningRequests().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if len(c.Status.Certificate) == 0 {
				return errors.New(name + ": no certificate yet")
			}
			cert, err = x509.ParseCertificate(mustBlock(t, c.Status.Certificate))
			return err
		})
		if cert.Subject.CommonName != "system:node:n1" || strings.Join(cert.Subject.Organization, ",") != "system:nodes" {
			t.Errorf("%s: subject %v", name, cert.Subject)
		}
		if life := cert.NotAfter.Sub(cert.NotBefore) - backdate; life > maxLife || life < maxLife-time.Minute {
			t.Errorf("%s: lifetime %v, want %v", name, life, maxLife)
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: env.Server.CA.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}

	// A denied request is never signed, nor a pending one; an approved
	// kube-apiserver-client request for system:masters fails.
	denied, err := env.Client.CertificatesV1().CertificateSigningRequests().Create(ctx, newCSR(t, "denied", csrSpec{cn: "bob", signer: certificatesv1.KubeAPIServerClientSignerName, usages: clientUsages}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	denied.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateDenied, Status: corev1.ConditionTrue, Reason: "No"}}
	if _, err := env.Client.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, "denied", denied, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	masters, err := env.Client.CertificatesV1().CertificateSigningRequests().Create(ctx, newCSR(t, "masters", csrSpec{cn: "eve", orgs: []string{"system:masters"}, signer: certificatesv1.KubeAPIServerClientSignerName, usages: clientUsages}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	masters.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "Yes"}}
	if _, err := env.Client.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, "masters", masters, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, 10*time.Second, func() error {
		c, err := env.Client.CertificatesV1().CertificateSigningRequests().Get(ctx, "masters", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !hasCondition(c, certificatesv1.CertificateFailed) {
			return errors.New("masters: not failed yet")
		}
		return nil
	})
	for _, name := range []string{"denied", "mallory", "masters"} {
		c, err := env.Client.CertificatesV1().CertificateSigningRequests().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Status.Certificate) > 0 {
			t.Errorf("%s was signed", name)
		}
		if approved, _ := approvedOrDenied(c); name == "mallory" && approved {
			t.Error("mallory's request was approved")
		}
	}
}

func ptrTo[T any](v T) *T { return &v }
