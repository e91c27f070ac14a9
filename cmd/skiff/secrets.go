package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"skiff.dev/skiff/internal/auth/pki"
	"skiff.dev/skiff/internal/storage/encryption"
)

// newSecretsEncryptCommand is `skiff secrets-encrypt` (k3s's command of
// that name; its rotate-keys is our rotate).
func newSecretsEncryptCommand() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "secrets-encrypt",
		Short: "Show or rotate the keys that encrypt Secrets at rest",
	}
	cmd.PersistentFlags().StringVar(&dataDir, "data-dir", "/var/lib/skiff", "data directory of the running server")

	var timeout time.Duration
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Encrypt every Secret with a new key, then drop the old keys (the server must be running)",
		Long: `Encrypt every Secret with a new secretbox key, then drop the old keys.

With a kms provider first, no key is made (the key encryption key is rotated
in the KMS, and the server follows the plugin's key ID): every Secret is
rewritten so that it is stored with the server's current data key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dataDir, pki.KubeconfigFile))
			if err != nil {
				return fmt.Errorf("admin kubeconfig: %w", err)
			}
			client, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				return err
			}
			res, err := encryption.Rotate(ctx, encryption.RotateOptions{
				DataDir: dataDir, Client: client, Timeout: timeout, Out: cmd.OutOrStdout(),
			})
			if err != nil {
				return err
			}
			if res.KMS != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "rewrote %d secrets with kms provider %s (no key was made: rotate the key in the KMS)\n", res.Rewritten, res.KMS)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rotated: %d secrets now encrypted with %s\n", res.Rewritten, res.NewKey)
			return nil
		},
	}
	rotate.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long to wait for the server to load each new configuration")

	status := &cobra.Command{
		Use:   "status",
		Short: "Print the encryption providers and key names in use (no key material)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return printEncryptionStatus(cmd, dataDir)
		},
	}
	cmd.AddCommand(rotate, status)
	return cmd
}

func printEncryptionStatus(cmd *cobra.Command, dataDir string) error {
	out := cmd.OutOrStdout()
	path := filepath.Join(dataDir, encryption.DefaultConfigFile)
	st, stErr := encryption.ReadStatus(dataDir)
	if stErr == nil {
		path = st.ConfigFile
	}
	cfg, raw, err := encryption.LoadFile(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Config: %s\n", path)
	for _, rc := range cfg.Resources {
		fmt.Fprintf(out, "Resources: %s\n", strings.Join(rc.Resources, ", "))
		for i, p := range rc.Providers {
			role := "read"
			if i == 0 {
				role = "write"
			}
			fmt.Fprintf(out, "  %-5s %s\n", role, describeProvider(p))
			if p.KMS != nil {
				if st, err := encryption.ProbeKMS(cmd.Context(), p.KMS); err != nil {
					fmt.Fprintf(out, "        plugin: unreachable (%v)\n", err)
				} else {
					fmt.Fprintf(out, "        plugin: healthz %s, version %s, key ID %s\n", st.Healthz, st.Version, st.KeyID)
				}
			}
		}
	}
	switch {
	case stErr != nil:
		fmt.Fprintf(out, "Server: unknown (%v)\n", stErr)
	case encryption.HashOf(raw) != st.Hash:
		fmt.Fprintf(out, "Server: uses an earlier version of the file (loaded %s); reload error: %s\n", st.Loaded.Format(time.RFC3339), st.LoadError)
	default:
		fmt.Fprintf(out, "Server: uses this file (loaded %s)\n", st.Loaded.Format(time.RFC3339))
	}
	return nil
}

func describeProvider(p encryption.ProviderConfiguration) string {
	names := func(ks []encryption.Key) string {
		n := make([]string, len(ks))
		for i, k := range ks {
			n[i] = k.Name
		}
		return strings.Join(n, ", ")
	}
	switch {
	case p.Secretbox != nil:
		return "secretbox keys: " + names(p.Secretbox.Keys)
	case p.AESGCM != nil:
		return "aesgcm keys: " + names(p.AESGCM.Keys)
	case p.AESCBC != nil:
		return "aescbc keys: " + names(p.AESCBC.Keys)
	case p.KMS != nil:
		return fmt.Sprintf("kms %s (apiVersion %s, endpoint %s)", p.KMS.Name, p.KMS.APIVersion, p.KMS.Endpoint)
	}
	return "identity"
}
