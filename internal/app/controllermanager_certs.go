package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/client-go/informers"

	"skiff.dev/skiff/internal/controller/csr"
	"skiff.dev/skiff/internal/controller/tokencleaner"
)

// startCertificateControllers builds the node-identity controllers on
// factory (started by the caller): the CSR approver (kubelet client
// certificates after a SubjectAccessReview), the CSR signer with the
// cluster CA when opts.CA is set (it runs in the server's process, which
// holds the key), and the bootstrap token cleaner.
func startCertificateControllers(ctx context.Context, ids *controllerIdentities, factory informers.SharedInformerFactory, opts ControllerManagerOptions, log *slog.Logger) error {
	// Upstream's approver and signer both run as certificate-controller.
	id, err := ids.get("certificate-controller")
	if err != nil {
		return err
	}
	approver, err := csr.NewApprover(id.client, factory, csr.SARChecker{Client: id.client}, log.With("controller", "csrapproving"))
	if err != nil {
		return fmt.Errorf("csr approving controller: %w", err)
	}
	var signer *csr.Signer
	if opts.CA != nil {
		signer, err = csr.NewSigner(id.client, factory, csr.SignerConfig{CA: opts.CA, MaxDuration: opts.ClusterSigningDuration}, log.With("controller", "csrsigning"))
		if err != nil {
			return fmt.Errorf("csr signing controller: %w", err)
		}
	}
	if id, err = ids.get("token-cleaner"); err != nil {
		return err
	}
	cleaner, err := tokencleaner.New(id.client, factory, log.With("controller", "tokencleaner"), time.Now)
	if err != nil {
		return fmt.Errorf("token cleaner: %w", err)
	}
	// Upstream runs five approver and five signer workers.
	go func() { _ = approver.Run(ctx, 5) }()
	if signer != nil {
		go func() { _ = signer.Run(ctx, 5) }()
	}
	go func() { _ = cleaner.Run(ctx, 1) }()
	return nil
}
