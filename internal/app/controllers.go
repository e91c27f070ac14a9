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
	"skiff.dev/skiff/internal/controller/serviceaccounttoken"
)

// componentConfig is a client config for a privileged in-process
// component (the RBAC wiring's system:apiserver, and the controller
// manager until each controller has its own client): a client
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

// runControllers starts the controllers that run inside the server until
// ctx ends.
func runControllers(ctx context.Context, p *pki.ServerPKI, apiServer APIServerEndpoint, tokens serviceaccounttoken.Issuer, pods *sharedPods) error {
	cfg, err := componentConfig(p, "system:kube-controller-manager")
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	factory := newInformerFactory(client)
	log := slog.Default().With("component", "controller-manager")
	if err := runControllerManager(ctx, cfg, ControllerManagerOptions{APIServer: apiServer, TokenIssuer: tokens, RootCA: p.CA.CertPEM, CA: p.CA, Pods: pods}, log); err != nil {
		return err
	}
	ns := namespace.New(client, dyn, factory, log.With("controller", "namespace"))
	factory.Start(ctx.Done())
	go ns.Run(ctx, 2)
	return nil
}
