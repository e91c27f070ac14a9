package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"skiff.dev/skiff/internal/app"
	"skiff.dev/skiff/internal/auth/pki"
)

func newAgentCommand() *cobra.Command {
	opts := app.AgentOptions{}
	var server, kubeconfig, serverDataDir, clientCAFile, token, caCertHash string
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a node agent that joins a Skiff server (or, with --simulate, simulated nodes)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// --simulate makes this a host of hollow nodes only.
			opts.NoLocalNode = opts.Simulate > 0
			if kubeconfig == "" {
				return runJoinedAgent(ctx, opts, server, token, caCertHash, serverDataDir, clientCAFile)
			}
			base, err := clientcmd.BuildConfigFromFlags(server, kubeconfig)
			if err != nil {
				return err
			}
			base.QPS, base.Burst = 50, 100 // upstream kubelet's defaults
			if opts.Serving, err = servingIdentity(base, serverDataDir, clientCAFile, opts.Serving); err != nil {
				return err
			}
			return app.RunAgents(ctx, opts, func(string) (*rest.Config, error) { return rest.CopyConfig(base), nil })
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", "", "URL of the Skiff API server (overrides the kubeconfig's)")
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig with a client certificate to authenticate with (instead of joining with --token)")
	f.StringVar(&token, "token", "", "join token from `skiff token create` (K10<CA hash>::<id>.<secret>, or <id>.<secret> with --ca-cert-hash); needed only until the node has its certificate")
	f.StringVar(&caCertHash, "ca-cert-hash", "", "sha256:<hex> of the cluster CA certificate, for a --token without one")
	f.StringVar(&opts.DataDir, "data-dir", "/var/lib/skiff", "directory for the agent's state and its containerd")
	f.StringVar(&opts.NodeName, "node-name", "", "name of this node (default: the hostname)")
	f.StringVar(&opts.ContainerRuntimeEndpoint, "container-runtime-endpoint", "", "CRI endpoint of an existing runtime (unix:///path); default: start containerd")
	f.IntVar(&opts.Simulate, "simulate", 0, "run this many simulated nodes (<node-name>-sim-<i>) instead of a real one")
	f.StringVar(&opts.NodeIP, "node-ip", "", "InternalIP of this node, where the agent serves logs and exec on port 10250 (default: the address of the default route's interface)")
	f.StringVar(&opts.PodCIDR, "pod-cidr", "", "pod network of this node (default: a /24 of 10.42.0.0/16 not held by another node)")
	f.StringVar(&opts.BridgeName, "cni-bridge", "", "Linux bridge of this node's pod network (default: skiff0)")
	addImageGCFlags(f, &opts.ImageGC)
	f.Int64Var(&opts.PodMaxPids, "pod-max-pids", app.DefaultPodMaxPids, "most processes (and threads) a pod may run, its cgroup's pids.max (kubelet's podPidsLimit); -1: no limit")
	// Until bootstrap tokens, the agent's serving certificate comes from
	// the cluster CA (the server's data directory, or a copy of its
	// tls/ca.crt and tls/ca.key) or from files signed by it.
	f.StringVar(&serverDataDir, "server-data-dir", "", "data directory of the Skiff server (or a copy of its tls/ca.crt and tls/ca.key): the agent signs its own serving certificate with the cluster CA")
	f.StringVar(&opts.Serving.CertFile, "tls-cert-file", "", "serving certificate of this node's agent, signed by the cluster CA (instead of --server-data-dir)")
	f.StringVar(&opts.Serving.KeyFile, "tls-private-key-file", "", "key of --tls-cert-file")
	f.StringVar(&clientCAFile, "client-ca-file", "", "CA bundle that verifies the API server's client certificate (default: the kubeconfig's CA)")
	return cmd
}

// servingIdentity is the remote agent's HTTPS identity from its flags:
// the server's CA from --server-data-dir, or --tls-cert-file and
// --tls-private-key-file; callers are verified with --client-ca-file or
// the kubeconfig's CA, which is the cluster CA.
func servingIdentity(base *rest.Config, serverDataDir, clientCAFile string, id app.ServingIdentity) (app.ServingIdentity, error) {
	if serverDataDir != "" {
		if id.CertFile != "" {
			return id, errors.New("--server-data-dir and --tls-cert-file are exclusive")
		}
		dir := filepath.Join(serverDataDir, pki.TLSDir)
		ca, err := pki.LoadCA(filepath.Join(dir, pki.CACertFile), filepath.Join(dir, pki.CAKeyFile))
		if err != nil {
			return id, fmt.Errorf("--server-data-dir: %w", err)
		}
		id.CA = ca
	}
	if (id.CertFile == "") != (id.KeyFile == "") {
		return id, errors.New("--tls-cert-file and --tls-private-key-file go together")
	}
	var caPEM []byte
	switch {
	case clientCAFile != "":
		b, err := os.ReadFile(clientCAFile)
		if err != nil {
			return id, fmt.Errorf("--client-ca-file: %w", err)
		}
		caPEM = b
	case len(base.CAData) > 0:
		caPEM = base.CAData
	case base.CAFile != "":
		b, err := os.ReadFile(base.CAFile)
		if err != nil {
			return id, fmt.Errorf("kubeconfig CA: %w", err)
		}
		caPEM = b
	}
	if len(caPEM) > 0 {
		id.ClientCAs = x509.NewCertPool()
		if !id.ClientCAs.AppendCertsFromPEM(caPEM) {
			return id, errors.New("client CA: no certificate in PEM")
		}
	}
	return id, nil
}
