package csr

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"

	authorizationv1 "k8s.io/api/authorization/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	certlisters "k8s.io/client-go/listers/certificates/v1"
	"k8s.io/client-go/tools/cache"

	"skiff.dev/skiff/internal/controller/reconcile"
	registrycerts "skiff.dev/skiff/internal/registry/certificates"
)

// recognizer is one kind of request the approver approves, and the
// permission (a subresource of certificatesigningrequests the requester
// must be allowed to create) that approval takes.
type recognizer struct {
	matches    func(csr *certificatesv1.CertificateSigningRequest, req *x509Request) bool
	permission string
	message    string
}

// x509Request is the parsed spec.request.
type x509Request = x509.CertificateRequest

// recognizers are upstream's: a node client certificate for anyone
// allowed certificatesigningrequests/nodeclient (bootstrap tokens), and a
// renewal by the node itself for anyone allowed .../selfnodeclient.
var recognizers = []recognizer{
	{
		matches:    isNodeClient,
		permission: "nodeclient",
		message:    "Auto approving kubelet client certificate after SubjectAccessReview.",
	},
	{
		matches:    isSelfNodeClient,
		permission: "selfnodeclient",
		message:    "Auto approving self kubelet client certificate after SubjectAccessReview.",
	},
}

func isNodeClient(csr *certificatesv1.CertificateSigningRequest, req *x509Request) bool {
	return csr.Spec.SignerName == certificatesv1.KubeAPIServerClientKubeletSignerName && ValidateKubeletClient(req, csr.Spec.Usages) == nil
}

func isSelfNodeClient(csr *certificatesv1.CertificateSigningRequest, req *x509Request) bool {
	return isNodeClient(csr, req) && csr.Spec.Username == req.Subject.CommonName
}

// AccessChecker answers a SubjectAccessReview; the API's
// subjectaccessreviews in production.
type AccessChecker interface {
	Allowed(ctx context.Context, spec authorizationv1.SubjectAccessReviewSpec) (bool, error)
}

// SARChecker asks the API server.
type SARChecker struct{ Client kubernetes.Interface }

// Allowed implements AccessChecker.
func (c SARChecker) Allowed(ctx context.Context, spec authorizationv1.SubjectAccessReviewSpec) (bool, error) {
	r, err := c.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("subject access review: %w", err)
	}
	return r.Status.Allowed, nil
}

// Approver is upstream's csrapproving controller.
type Approver struct {
	client kubernetes.Interface
	csrs   certlisters.CertificateSigningRequestLister
	access AccessChecker
	loop   *reconcile.Loop
	log    *slog.Logger
}

// NewApprover builds the approver on a factory not yet started.
func NewApprover(client kubernetes.Interface, factory informers.SharedInformerFactory, access AccessChecker, log *slog.Logger) (*Approver, error) {
	inf := factory.Certificates().V1().CertificateSigningRequests()
	a := &Approver{client: client, csrs: inf.Lister(), access: access, log: log}
	a.loop = reconcile.NewLoop("csrapproving", reconcile.ReconcileFunc(a.Reconcile), log)
	a.loop.WaitFor(inf.Informer().HasSynced)
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: a.loop.Enqueue, UpdateFunc: func(_, cur any) { a.loop.Enqueue(cur) },
	}); err != nil {
		return nil, err
	}
	return a, nil
}

// Run reconciles with workers goroutines until ctx ends.
func (a *Approver) Run(ctx context.Context, workers int) error { return a.loop.Run(ctx, workers) }

// Reconcile approves the request named by key if a recognizer matches
// and the requester holds its permission. A recognized request whose
// requester lacks it is retried (RBAC may change), as upstream.
func (a *Approver) Reconcile(ctx context.Context, key string) error {
	csr, err := a.csrs.Get(key)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if approved, denied := approvedOrDenied(csr); approved || denied || len(csr.Status.Certificate) > 0 {
		return nil
	}
	req, err := registrycerts.ParseRequest(csr.Spec.Request)
	if err != nil {
		return nil // validation let it through: not ours to judge
	}
	tried := false
	for _, r := range recognizers {
		if !r.matches(csr, req) {
			continue
		}
		tried = true
		ok, err := a.access.Allowed(ctx, sarSpec(csr, r.permission))
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		c := csr.DeepCopy()
		c.Status.Conditions = append(c.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
			Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue,
			Reason: "AutoApproved", Message: r.message,
		})
		if _, err := a.client.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, c.Name, c, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("approve csr %s: %w", c.Name, err)
		}
		a.log.Info("approved", "csr", c.Name, "requester", c.Spec.Username, "permission", r.permission)
		return nil
	}
	if tried {
		return fmt.Errorf("recognized csr %q but subject access review was not approved", csr.Name)
	}
	return nil
}

// sarSpec asks whether the requester may create
// certificatesigningrequests/<permission>.
func sarSpec(csr *certificatesv1.CertificateSigningRequest, permission string) authorizationv1.SubjectAccessReviewSpec {
	extra := make(map[string]authorizationv1.ExtraValue, len(csr.Spec.Extra))
	for k, v := range csr.Spec.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	return authorizationv1.SubjectAccessReviewSpec{
		User: csr.Spec.Username, UID: csr.Spec.UID, Groups: csr.Spec.Groups, Extra: extra,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Group: "certificates.k8s.io", Resource: "certificatesigningrequests", Verb: "create", Subresource: permission,
		},
	}
}
