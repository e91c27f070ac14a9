package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/skiff/internal/controller/csr"
	"skiff.dev/skiff/internal/controller/tokencleaner"
)

// startCertificateControllers builds the node-identity controllers on
// factory (started by the caller): the CSR approver (kubelet client
// certificates after a SubjectAccessReview), the CSR signer with the
// cluster CA when opts.CA is set (it runs in the server's process, which
// holds the key), and the bootstrap token cleaner.
func startCertificateControllers(ctx context.Context, client kubernetes.Interface, factory informers.SharedInformerFactory, opts ControllerManagerOptions, log *slog.Logger) error {
	approver, err := csr.NewApprover(client, factory, csr.SARChecker{Client: client}, log.With("controller", "csrapproving"))
	if err != nil {
		return fmt.Errorf("csr approving controller: %w", err)
	}
	var signer *csr.Signer
	if opts.CA != nil {
		signer, err = csr.NewSigner(client, factory, csr.SignerConfig{CA: opts.CA, MaxDuration: opts.ClusterSigningDuration}, log.With("controller", "csrsigning"))
		if err != nil {
			return fmt.Errorf("csr signing controller: %w", err)
		}
	}
	cleaner, err := tokencleaner.New(client, factory, log.With("controller", "tokencleaner"), time.Now)
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
