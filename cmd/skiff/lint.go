package main

import (
	"os"

	"github.com/spf13/cobra"

	"skiff.dev/skiff/internal/lint"
)

func newLintCommand() *cobra.Command {
	c := lint.RunConfig{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	cmd := &cobra.Command{
		Use:   "lint FILE...",
		Short: "Check manifests offline for unsafe pod settings, for CI",
		Long: `Check Kubernetes manifests (YAML or JSON, many documents per file, Lists,
directories walked for *.yaml, *.yml and *.json, - for standard input)
without a cluster: the Pod Security Standards checks the PodSecurity
admission plug-in runs (baseline violations are errors, restricted ones
warnings), missing resource limits and requests, :latest or untagged
images and secrets written as literal environment values.

Exit code: 0 clean, 1 findings at or above --fail-on, 2 unreadable or
invalid input.`,
		Args: cobra.MinimumNArgs(1),
		Run: func(_ *cobra.Command, args []string) {
			c.Paths = args
			if code := lint.Run(c); code != 0 {
				os.Exit(code)
			}
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.Level, "level", "restricted", "Pod Security level to check: privileged (none), baseline, restricted")
	f.StringVarP(&c.Output, "output", "o", "text", "output format: text, json, sarif")
	f.StringVar(&c.FailOn, "fail-on", "error", "lowest severity that fails (exit 1): info, warning, error")
	return cmd
}
