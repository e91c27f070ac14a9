package app

import (
	corev1 "k8s.io/api/core/v1"

	"skiff.dev/skiff/internal/admission"
	"skiff.dev/skiff/internal/admission/podsecurity"
	"skiff.dev/skiff/internal/apiserver"
)

// admissionCaches are the API server's watch caches the admission
// plug-ins read. The chain is built before the server exists, so they
// are bound just after apiserver.New (bind); before Start they are empty.
type admissionCaches struct {
	podSecurity podsecurity.CachedObjects
}

// bind points the plug-ins at srv's caches.
func (c *admissionCaches) bind(srv *apiserver.Server) error {
	namespaces, err := srv.Cached(corev1.SchemeGroupVersion.WithResource("namespaces"))
	if err != nil {
		return err
	}
	pods, err := srv.Cached(corev1.SchemeGroupVersion.WithResource("pods"))
	if err != nil {
		return err
	}
	c.podSecurity.Bind(namespaces, pods)
	return nil
}

// newAdmission is the admission chain of `skiff server`, in upstream's
// order: the mutating plug-ins first (their Admit runs before
// validation), then the validating ones.
func newAdmission(caches *admissionCaches) *admission.Chain {
	return admission.NewChain(
		// Validating.
		podsecurity.New(podsecurity.DefaultConfig(), &caches.podSecurity),
	)
}
