package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"

	"k8s.io/client-go/rest"

	"skiff.dev/skiff/internal/agent/nodecert"
	"skiff.dev/skiff/internal/app"
	"skiff.dev/skiff/internal/auth/bootstrap"
)

// runJoinedAgent runs the agent with node certificates of its own: got
// with the join token on first start (TLS bootstrapping), reused and
// rotated afterwards. They live in <data-dir>/agent/pki.
func runJoinedAgent(ctx context.Context, opts app.AgentOptions, server, token, caCertHash, serverDataDir, clientCAFile string) error {
	if server == "" {
		return errors.New("--server is required with --token (or give --kubeconfig)")
	}
	var join bootstrap.JoinToken
	if token != "" {
		var err error
		if join, err = bootstrap.ParseJoinToken(token); err != nil {
			return fmt.Errorf("--token: %w", err)
		}
	}
	if caCertHash != "" {
		pin, err := bootstrap.ParseCAHash(caCertHash)
		if err != nil {
			return fmt.Errorf("--ca-cert-hash: %w", err)
		}
		if join.CAHash != nil && string(join.CAHash) != string(pin) {
			return errors.New("--ca-cert-hash differs from the token's CA hash")
		}
		join.CAHash = pin
	}
	mgr := nodecert.New(nodecert.Config{
		Server: server, Token: join, Dir: filepath.Join(opts.DataDir, "agent", "pki"), Log: slog.Default(),
	})
	caPEM, err := mgr.CA(ctx)
	if err != nil {
		return err
	}
	base := &rest.Config{Host: server, TLSClientConfig: rest.TLSClientConfig{CAData: caPEM}}
	if opts.Serving, err = servingIdentity(base, serverDataDir, clientCAFile, opts.Serving); err != nil {
		return err
	}
	if opts.Serving.ClientCAs == nil {
		opts.Serving.ClientCAs = x509.NewCertPool()
		opts.Serving.ClientCAs.AppendCertsFromPEM(caPEM)
	}
	var (
		mu      sync.Mutex
		rotated = map[string]bool{}
	)
	return app.RunAgents(ctx, opts, func(node string) (*rest.Config, error) {
		cfg, err := mgr.NodeConfig(ctx, node)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		if !rotated[node] {
			rotated[node] = true
			go mgr.Rotate(ctx, node)
		}
		return cfg, nil
	})
}
