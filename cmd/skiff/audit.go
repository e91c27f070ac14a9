package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"skiff.dev/skiff/internal/cisaudit"
)

func newAuditCommand() *cobra.Command {
	var (
		opts     cisaudit.GatherOptions
		output   string
		sections []string
	)
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Check this installation against the CIS Kubernetes Benchmark (" + cisaudit.BenchmarkVersion + ")",
		Long: `Check this installation against the CIS Kubernetes Benchmark v1.10, as
kube-bench does for kubeadm clusters: control plane files and settings (1),
etcd (2), authentication and logging (3), worker nodes (4) and policies (5).

It reads the server's effective configuration (<data-dir>/server-config.json,
written by skiff server at start), the modes and owners of the files in the
data directory, live state through the API with the admin kubeconfig, and
probes the live endpoints (anonymous requests, old TLS versions and weak
cipher suites, /debug/pprof, the agents' ports 10250 and 10255). Run it as
root on the server machine.

Items that do not apply to Skiff pass as "not applicable: <why>". Items the
benchmark does not score (the Manual ones, and a few others, as kube-bench)
report a failure as WARN.

Exit code: 0 when no scored check fails, 1 otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("--output must be text or json, not %q", output)
			}
			env := cisaudit.Gather(cmd.Context(), opts)
			rep := cisaudit.Run(env, cisaudit.Checks(), sections)
			write := cisaudit.WriteText
			if output == "json" {
				write = cisaudit.WriteJSON
			}
			if err := write(cmd.OutOrStdout(), rep); err != nil {
				return err
			}
			if rep.Failed() {
				os.Exit(1)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.DataDir, "data-dir", "/var/lib/skiff", "data directory of the skiff server to check")
	f.StringVar(&opts.Kubeconfig, "kubeconfig", "", "admin kubeconfig for the live checks (default: <data-dir>/kubeconfig)")
	f.StringVarP(&output, "output", "o", "text", "output format: text or json")
	f.StringSliceVar(&sections, "section", nil, "only these sections, groups or checks (1, 1.2, 5.1.3; repeatable or comma-separated)")
	return cmd
}
