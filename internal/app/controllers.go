package app

import (
	"context"
	"fmt"
	"log/slog"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/auth/pki"
	"skiff.dev/skiff/internal/controller/namespace"
	"skiff.dev/skiff/internal/controller/nodelifecycle"
	"skiff.dev/skiff/internal/controller/serviceaccounttoken"
)

// componentConfig is a client config for a privileged in-process
// component (the API server's own identity, system:apiserver, for the
// RBAC wiring and the kubernetes service's endpoints): a client
// certificate in system:masters.
func componentConfig(p *pki.ServerPKI, user string) (*rest.Config, error) {
	return identityConfig(p, user, authn.GroupMasters)
}

// identityConfig is a client config for an in-process component: its own
// client certificate for user in groups, signed in memory, reaching the
// API server over loopback like any other client, with only the rights
// RBAC grants that identity.
func identityConfig(p *pki.ServerPKI, user string, groups ...string) (*rest.Config, error) {
	certPEM, keyPEM, err := p.CA.SignClient(user, groups)
	if err != nil {
		return nil, fmt.Errorf("sign %s certificate: %w", user, err)
	}
	return withProtobuf(&rest.Config{
		Host:            p.ServerURL,
		QPS:             -1, // no client-side rate limit against our own server
		TLSClientConfig: rest.TLSClientConfig{CAData: p.CA.CertPEM, CertData: certPEM, KeyData: keyPEM},
		UserAgent:       user,
	}), nil
}

// controllersUseServiceAccountCredentials: skiff server runs its
// controllers as upstream's kube-controller-manager does with
// --use-service-account-credentials=true (what skiff audit reports as CIS
// 1.3.3).
const controllersUseServiceAccountCredentials = true

// runControllers starts the controllers that run inside the server until
// ctx ends. The controller manager acts as system:kube-controller-manager
// (not in system:masters: upstream's role of that name) and each
// controller as its own service account in kube-system. The controllers'
// pod informer is a view of pods (nil: their own).
func runControllers(ctx context.Context, p *pki.ServerPKI, apiServer APIServerEndpoint, tokens serviceaccounttoken.Issuer, pods *sharedPods, nodeLifecycle nodelifecycle.Config) error {
	cfg, err := identityConfig(p, "system:kube-controller-manager")
	if err != nil {
		return err
	}
	// The controllers write what users' templates say; the API server's
	// warnings about those (PodSecurity's warn level on every pod a
	// ReplicaSet creates) went to the user when the template was written,
	// and here would only fill the log, once per pod. The controllers'
	// own configs are copies of this one.
	cfg.WarningHandler = rest.NoWarnings{}
	apiCfg, err := componentConfig(p, "system:apiserver")
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	log := slog.Default().With("component", "controller-manager")
	opts := ControllerManagerOptions{UseServiceAccountCredentials: controllersUseServiceAccountCredentials,
		APIServer: apiServer, APIServerConfig: apiCfg, TokenIssuer: tokens, RootCA: p.CA.CertPEM, CA: p.CA, Pods: pods, NodeLifecycle: nodeLifecycle}
	if err := runControllerManager(ctx, cfg, opts, log); err != nil {
		return err
	}
	var clients controllerClients = sharedClients{cfg: cfg}
	if opts.UseServiceAccountCredentials {
		clients = newServiceAccountClients(cfg, client.CoreV1())
	}
	nsCfg, err := clients.Config(ctx, "namespace-controller")
	if err != nil {
		return err
	}
	nsClient, err := kubernetes.NewForConfig(nsCfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(nsCfg)
	if err != nil {
		return err
	}
	factory := newInformerFactory(client)
	ns := namespace.New(nsClient, dyn, factory, log.With("controller", "namespace"))
	factory.Start(ctx.Done())
	go ns.Run(ctx, 2)
	return nil
}
