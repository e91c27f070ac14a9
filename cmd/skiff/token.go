package main

import (
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"skiff.dev/skiff/internal/auth/bootstrap"
	"skiff.dev/skiff/internal/auth/pki"
)

// newTokenCommand is `skiff token`: bootstrap tokens with which agents
// join (`skiff agent --server URL --token TOKEN`).
func newTokenCommand() *cobra.Command {
	var dataDir, kubeconfig string
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage bootstrap tokens with which agents join",
	}
	cmd.PersistentFlags().StringVar(&dataDir, "data-dir", "/var/lib/skiff", "the server's data directory (its admin kubeconfig and CA)")
	cmd.PersistentFlags().StringVar(&kubeconfig, "kubeconfig", "", "admin kubeconfig (default: <data-dir>/kubeconfig)")
	client := func() (kubernetes.Interface, []byte, error) {
		path := kubeconfig
		if path == "" {
			path = filepath.Join(dataDir, pki.KubeconfigFile)
		}
		cfg, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			return nil, nil, err
		}
		caPEM := cfg.CAData
		if len(caPEM) == 0 && cfg.CAFile != "" {
			if caPEM, err = os.ReadFile(cfg.CAFile); err != nil {
				return nil, nil, err
			}
		}
		c, err := kubernetes.NewForConfig(cfg)
		return c, caPEM, err
	}

	var ttl time.Duration
	var description string
	var groups []string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a bootstrap token and print the join token (K10<sha256 of the CA>::<id>.<secret>)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, caPEM, err := client()
			if err != nil {
				return err
			}
			block, _ := pem.Decode(caPEM)
			if block == nil {
				return errors.New("the kubeconfig has no cluster CA to pin")
			}
			tok, err := bootstrap.NewToken()
			if err != nil {
				return err
			}
			s, err := bootstrap.NewSecret(tok, bootstrap.SecretOptions{TTL: ttl, Description: description, ExtraGroups: groups}, time.Now())
			if err != nil {
				return err
			}
			if _, err := c.CoreV1().Secrets(bootstrap.Namespace).Create(cmd.Context(), s, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("create bootstrap token: %w", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), bootstrap.JoinToken{CAHash: bootstrap.CAHash(block.Bytes), Token: tok})
			return nil
		},
	}
	create.Flags().DurationVar(&ttl, "ttl", 24*time.Hour, "how long the token is valid (0: forever)")
	create.Flags().StringVar(&description, "description", "", "a description of the token's use")
	create.Flags().StringSliceVar(&groups, "groups", nil, "extra groups (system:bootstrappers:...) the token authenticates as")

	list := &cobra.Command{
		Use:   "list",
		Short: "List bootstrap tokens",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := client()
			if err != nil {
				return err
			}
			secrets, err := c.CoreV1().Secrets(bootstrap.Namespace).List(cmd.Context(), metav1.ListOptions{FieldSelector: "type=" + string(bootstrap.SecretType)})
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 3, ' ', 0)
			fmt.Fprintln(w, "TOKEN ID\tTTL\tEXPIRES\tDESCRIPTION\tEXTRA GROUPS")
			now := time.Now()
			for i := range secrets.Items {
				s := &secrets.Items[i]
				ttl, expires := "<forever>", "<never>"
				if at, ok := bootstrap.Expiration(s); ok {
					expires = at.Format(time.RFC3339)
					ttl = "<invalid>"
					if left := at.Sub(now); left > 0 {
						ttl = duration.HumanDuration(left)
					}
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", s.Data[bootstrap.KeyTokenID], ttl, expires,
					s.Data[bootstrap.KeyDescription], s.Data[bootstrap.KeyExtraGroups])
			}
			return w.Flush()
		},
	}

	del := &cobra.Command{
		Use:   "delete TOKEN-ID...",
		Short: "Delete bootstrap tokens (by id, or the whole token)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := client()
			if err != nil {
				return err
			}
			for _, a := range args {
				id := a
				if j, err := bootstrap.ParseJoinToken(a); err == nil {
					id = j.Token.ID
				} else if i := strings.IndexByte(a, '.'); i > 0 {
					id = a[:i]
				}
				if !bootstrap.ValidID(id) {
					return fmt.Errorf("%q is not a token id", a)
				}
				err := c.CoreV1().Secrets(bootstrap.Namespace).Delete(cmd.Context(), bootstrap.SecretPrefix+id, metav1.DeleteOptions{})
				if apierrors.IsNotFound(err) {
					return fmt.Errorf("bootstrap token %q not found", id)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "bootstrap token %q deleted\n", id)
			}
			return nil
		},
	}
	cmd.AddCommand(create, list, del)
	return cmd
}
