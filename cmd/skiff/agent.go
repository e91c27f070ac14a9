package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"skiff.dev/skiff/internal/app"
)

func newAgentCommand() *cobra.Command {
	opts := app.AgentOptions{}
	var server, kubeconfig string
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a node agent that joins a Skiff server (or, with --simulate, simulated nodes)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if kubeconfig == "" {
				// Bootstrap tokens come with the security work; until
				// then a client certificate from a kubeconfig is the way in.
				return errors.New("--kubeconfig is required (e.g. the server's <data-dir>/admin.kubeconfig)")
			}
			base, err := clientcmd.BuildConfigFromFlags(server, kubeconfig)
			if err != nil {
				return err
			}
			base.QPS, base.Burst = 50, 100 // upstream kubelet's defaults
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// --simulate makes this a host of hollow nodes only.
			opts.NoLocalNode = opts.Simulate > 0
			return app.RunAgents(ctx, opts, func(string) (*rest.Config, error) { return rest.CopyConfig(base), nil })
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", "", "URL of the Skiff API server (overrides the kubeconfig's)")
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig with a client certificate to authenticate with")
	f.StringVar(&opts.DataDir, "data-dir", "/var/lib/skiff", "directory for the agent's state and its containerd")
	f.StringVar(&opts.NodeName, "node-name", "", "name of this node (default: the hostname)")
	f.StringVar(&opts.ContainerRuntimeEndpoint, "container-runtime-endpoint", "", "CRI endpoint of an existing runtime (unix:///path); default: start containerd")
	f.IntVar(&opts.Simulate, "simulate", 0, "run this many simulated nodes (<node-name>-sim-<i>) instead of a real one")
	return cmd
}
