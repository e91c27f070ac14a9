// Command skiff is a Kubernetes-compatible cluster in one binary.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"skiff.dev/skiff/internal/apiserver"
	"skiff.dev/skiff/internal/app"
	"skiff.dev/skiff/internal/audit"
	"skiff.dev/skiff/internal/auth/serviceaccount"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// logLevel is the level of the process's log (--log-level).
var logLevel slog.LevelVar

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: &logLevel})))
	if err := newRootCommand().Execute(); err != nil {
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "skiff",
		Short:         "Skiff is a Kubernetes-compatible container orchestrator in one binary",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.PersistentFlags().Var(levelFlag{&logLevel}, "log-level", "log level: debug, info, warn or error (debug adds, among others, the node agent's timing of each pod sync)")
	root.AddCommand(newServerCommand(), newVersionCommand())
	root.AddCommand(newImageCommand())
	root.AddCommand(newLintCommand())
	root.AddCommand(newAgentCommand())
	root.AddCommand(newSecretsEncryptCommand())
	root.AddCommand(newTokenCommand())
	root.AddCommand(newAuditCommand())
	return root
}

func newServerCommand() *cobra.Command {
	opts := app.ServerOptions{}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane (API server on an embedded store) and, unless disabled, a node agent",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return app.RunServer(ctx, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.DataDir, "data-dir", "/var/lib/skiff", "directory for the store, certificates and the admin kubeconfig")
	f.IntVar(&opts.SecurePort, "secure-port", 6443, "HTTPS port of the API server")
	f.StringVar(&opts.BindAddress, "bind-address", "0.0.0.0", "address the API server listens on")
	f.StringVar(&opts.DatastoreEndpoint, "datastore-endpoint", "", "etcd endpoints (comma-separated URLs) to use instead of the embedded store")
	f.StringVar(&opts.DatastoreCAFile, "datastore-cafile", "", "CA bundle that signs the etcd servers' certificates")
	f.StringVar(&opts.DatastoreCertFile, "datastore-certfile", "", "client certificate for etcd")
	f.StringVar(&opts.DatastoreKeyFile, "datastore-keyfile", "", "client key for etcd")
	f.BoolVar(&opts.DisableAgent, "disable-agent", false, "do not run a node agent in this process")
	f.BoolVar(&opts.DisableScheduler, "disable-scheduler", false, "do not run the scheduler in this process")
	f.BoolVar(&opts.DisableControllerManager, "disable-controller-manager", false, "do not run the controllers in this process")
	f.StringVar(&opts.NodeName, "node-name", "", "name of this machine's node (default: the hostname)")
	f.StringVar(&opts.ContainerRuntimeEndpoint, "container-runtime-endpoint", "", "CRI endpoint of an existing runtime (unix:///path); default: start containerd")
	f.IntVar(&opts.SimulateNodes, "simulate-nodes", 0, "also run this many simulated nodes (<node-name>-sim-<i>) in this process")
	f.StringVar(&opts.NodeIP, "node-ip", "", "InternalIP of this machine's node, where its agent serves logs and exec on port 10250 (default: the address of the default route's interface)")
	f.StringVar(&opts.PodCIDR, "pod-cidr", "", "pod network of this machine's node (default: a /24 of 10.42.0.0/16)")
	f.StringVar(&opts.BridgeName, "cni-bridge", "", "Linux bridge of this machine's pod network (default: skiff0)")
	addImageGCFlags(f, &opts.ImageGC)
	f.Int64Var(&opts.PodMaxPids, "pod-max-pids", app.DefaultPodMaxPids, "most processes (and threads) a pod of this machine's node may run, its cgroup's pids.max (kubelet's podPidsLimit); -1: no limit")
	f.StringSliceVar(&opts.Admission.EnablePlugins, "enable-admission-plugins", nil, "admission plug-ins to enable besides the default ones; on by default: "+strings.Join(app.AdmissionPlugins, ", ")+" (the order is fixed)")
	f.StringSliceVar(&opts.Admission.DisablePlugins, "disable-admission-plugins", nil, "admission plug-ins to turn off, of the default ones")
	f.StringVar(&opts.Admission.ConfigFile, "admission-control-config-file", "", "file with an AdmissionConfiguration (apiserver.config.k8s.io/v1) configuring the PodSecurity and EventRateLimit plug-ins")
	f.Int64Var(&opts.Admission.NotReadyTolerationSeconds, "default-not-ready-toleration-seconds", 300, "tolerationSeconds of the node.kubernetes.io/not-ready:NoExecute toleration DefaultTolerationSeconds gives pods that have none")
	f.Int64Var(&opts.Admission.UnreachableTolerationSeconds, "default-unreachable-toleration-seconds", 300, "tolerationSeconds of the node.kubernetes.io/unreachable:NoExecute toleration DefaultTolerationSeconds gives pods that have none")
	f.StringVar(&opts.ServiceAccounts.Issuer, "service-account-issuer", serviceaccount.DefaultIssuer, "iss of the service account tokens the server issues (an https URL for OIDC discovery)")
	f.StringSliceVar(&opts.ServiceAccounts.APIAudiences, "api-audiences", nil, "audiences the API accepts in service account tokens, and the default of token requests (default: the issuer)")
	f.StringVar(&opts.ServiceAccounts.SigningKeyFile, "service-account-signing-key-file", "", "PEM private key that signs service account tokens (default: <data-dir>/"+serviceaccount.KeyFile+", generated on first start)")
	f.StringSliceVar(&opts.ServiceAccounts.KeyFiles, "service-account-key-file", nil, "PEM files of further public keys service account tokens are verified with (keys rotated out)")
	f.DurationVar(&opts.ServiceAccounts.MaxTokenExpiration, "service-account-max-token-expiration", 0, "longest lifetime a token request gets (0: no maximum)")
	f.StringVar(&opts.EncryptionProviderConfig, "encryption-provider-config", "", "EncryptionConfiguration file (apiserver.config.k8s.io/v1) for encrypting resources at rest, reloaded when it changes (default: <data-dir>/encryption-config.yaml, generated with a secretbox key for Secrets)")
	f.DurationVar(&opts.NodeLifecycle.MonitorGracePeriod, "node-monitor-grace-period", 50*time.Second, "how long a node may go without renewing its Lease or posting its status before the node lifecycle controller marks it Unknown")
	f.DurationVar(&opts.NodeLifecycle.StartupGracePeriod, "node-startup-grace-period", 60*time.Second, "how long a starting node may go without posting a Ready status before it is marked Unknown")
	f.StringVar(&opts.Audit.LogPath, "audit-log-path", "", "audit log file, JSON lines of audit.k8s.io/v1 events; - for standard output (default: <data-dir>/logs/audit.log)")
	f.IntVar(&opts.Audit.MaxAge, "audit-log-maxage", audit.DefaultMaxAge, "days to keep rotated audit log files (0: no limit)")
	f.IntVar(&opts.Audit.MaxBackups, "audit-log-maxbackup", audit.DefaultMaxBackups, "number of rotated audit log files to keep (0: no limit)")
	f.IntVar(&opts.Audit.MaxSize, "audit-log-maxsize", audit.DefaultMaxSize, "size in megabytes at which the audit log is rotated")
	f.StringVar(&opts.Audit.PolicyFile, "audit-policy-file", "", "audit policy, an audit.k8s.io/v1 Policy (default: the built-in policy: every write recorded, never secret contents)")
	return cmd
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the Skiff version and the Kubernetes API version it serves",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			goVersion := ""
			if bi, ok := debug.ReadBuildInfo(); ok {
				goVersion = bi.GoVersion
			}
			fmt.Fprintf(cmd.OutOrStdout(), "skiff %s (Kubernetes %s, %s)\n", version, apiserver.KubernetesVersion, goVersion)
		},
	}
}

// levelFlag is a slog level as a flag value.
type levelFlag struct{ v *slog.LevelVar }

func (f levelFlag) String() string     { return strings.ToLower(f.v.Level().String()) }
func (f levelFlag) Set(s string) error { return f.v.UnmarshalText([]byte(s)) }
func (f levelFlag) Type() string       { return "level" }
