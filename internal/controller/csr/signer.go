package csr

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	certlisters "k8s.io/client-go/listers/certificates/v1"
	"k8s.io/client-go/tools/cache"

	"skiff.dev/skiff/internal/auth/pki"
	"skiff.dev/skiff/internal/controller/reconcile"
	registrycerts "skiff.dev/skiff/internal/registry/certificates"
)

// DefaultMaxDuration is upstream's --cluster-signing-duration default.
const DefaultMaxDuration = 365 * 24 * time.Hour

// backdate makes a certificate valid a little before now, for clocks
// that lag, as upstream's signer does.
const backdate = 5 * time.Minute

// Signer is upstream's csrsigning controller for the built-in
// kubernetes.io signers kube-apiserver-client-kubelet,
// kube-apiserver-client and kubelet-serving, all with the cluster CA.
type Signer struct {
	client      kubernetes.Interface
	csrs        certlisters.CertificateSigningRequestLister
	ca          *pki.CA
	maxDuration time.Duration
	now         func() time.Time
	loop        *reconcile.Loop
	log         *slog.Logger
}

// SignerConfig configures NewSigner.
type SignerConfig struct {
	CA *pki.CA
	// MaxDuration caps every certificate (0: DefaultMaxDuration); a
	// request's spec.expirationSeconds may only shorten it.
	MaxDuration time.Duration
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// NewSigner builds the signer on a factory not yet started.
func NewSigner(client kubernetes.Interface, factory informers.SharedInformerFactory, cfg SignerConfig, log *slog.Logger) (*Signer, error) {
	if cfg.MaxDuration <= 0 {
		cfg.MaxDuration = DefaultMaxDuration
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	inf := factory.Certificates().V1().CertificateSigningRequests()
	s := &Signer{client: client, csrs: inf.Lister(), ca: cfg.CA, maxDuration: cfg.MaxDuration, now: cfg.Now, log: log}
	s.loop = reconcile.NewLoop("csrsigning", reconcile.ReconcileFunc(s.Reconcile), log)
	s.loop.WaitFor(inf.Informer().HasSynced)
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: s.loop.Enqueue, UpdateFunc: func(_, cur any) { s.loop.Enqueue(cur) },
	}); err != nil {
		return nil, err
	}
	return s, nil
}

// Run reconciles with workers goroutines until ctx ends.
func (s *Signer) Run(ctx context.Context, workers int) error { return s.loop.Run(ctx, workers) }

// Reconcile issues the certificate of the request named by key if it is
// approved, not denied or failed, not yet issued, and for one of our
// signers. A request our signer refuses gets a Failed condition.
func (s *Signer) Reconcile(ctx context.Context, key string) error {
	csr, err := s.csrs.Get(key)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	certPEM, failure, ok := s.decide(csr)
	if !ok {
		return nil
	}
	c := csr.DeepCopy()
	if failure != "" {
		c.Status.Conditions = append(c.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
			Type: certificatesv1.CertificateFailed, Status: corev1.ConditionTrue,
			Reason: "SignerValidationFailure", Message: failure,
		})
		s.log.Info("refused", "csr", c.Name, "signer", c.Spec.SignerName, "reason", failure)
	} else {
		c.Status.Certificate = certPEM
	}
	if _, err := s.client.CertificatesV1().CertificateSigningRequests().UpdateStatus(ctx, c, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update csr %s status: %w", c.Name, err)
	}
	if failure == "" {
		s.log.Info("signed", "csr", c.Name, "signer", c.Spec.SignerName, "requester", c.Spec.Username)
	}
	return nil
}

// decide is the signer's pure part: ok=false when there is nothing to
// do; otherwise the certificate to issue, or why the request fails.
func (s *Signer) decide(csr *certificatesv1.CertificateSigningRequest) (certPEM []byte, failure string, ok bool) {
	approved, denied := approvedOrDenied(csr)
	if !approved || denied || hasCondition(csr, certificatesv1.CertificateFailed) || len(csr.Status.Certificate) > 0 {
		return nil, "", false
	}
	req, err := registrycerts.ParseRequest(csr.Spec.Request)
	if err != nil {
		return nil, fmt.Sprintf("unable to parse csr %q: %v", csr.Name, err), true
	}
	ours, err := validateForSigner(csr.Spec.SignerName, req, csr.Spec.Usages)
	if !ours {
		return nil, "", false
	}
	if err != nil {
		return nil, err.Error(), true
	}
	certPEM, err = s.sign(csr, req)
	if err != nil {
		return nil, err.Error(), true
	}
	return certPEM, "", true
}

// duration is upstream's: the signer's maximum, shortened by the
// request's expirationSeconds.
func (s *Signer) duration(csr *certificatesv1.CertificateSigningRequest) time.Duration {
	d := s.maxDuration
	if e := csr.Spec.ExpirationSeconds; e != nil {
		if r := time.Duration(*e) * time.Second; r < d {
			d = r
		}
	}
	return d
}

func (s *Signer) sign(csr *certificatesv1.CertificateSigningRequest, req *x509.CertificateRequest) ([]byte, error) {
	if err := req.CheckSignature(); err != nil {
		return nil, fmt.Errorf("csr signature: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	now := s.now()
	notBefore := now.Add(-backdate)
	notAfter := now.Add(s.duration(csr))
	if notAfter.After(s.ca.Cert.NotAfter) {
		notAfter = s.ca.Cert.NotAfter
	}
	var ku x509.KeyUsage
	var eku []x509.ExtKeyUsage
	for _, u := range csr.Spec.Usages {
		switch u {
		case certificatesv1.UsageDigitalSignature:
			ku |= x509.KeyUsageDigitalSignature
		case certificatesv1.UsageKeyEncipherment:
			ku |= x509.KeyUsageKeyEncipherment
		case certificatesv1.UsageClientAuth:
			eku = append(eku, x509.ExtKeyUsageClientAuth)
		case certificatesv1.UsageServerAuth:
			eku = append(eku, x509.ExtKeyUsageServerAuth)
		}
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               req.Subject,
		DNSNames:              req.DNSNames,
		IPAddresses:           req.IPAddresses,
		NotBefore:             notBefore.UTC(),
		NotAfter:              notAfter.UTC(),
		KeyUsage:              ku,
		ExtKeyUsage:           eku,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.ca.Cert, req.PublicKey, s.ca.Key)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}
