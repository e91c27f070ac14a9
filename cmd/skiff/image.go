package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"skiff.dev/skiff/internal/agent/containerd"
	"skiff.dev/skiff/internal/agent/runtime"
)

// imageOptions find the node's container runtime.
type imageOptions struct {
	dataDir  string
	endpoint string
}

func newImageCommand() *cobra.Command {
	opts := &imageOptions{}
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Manage the images of this node's container runtime (for machines without a registry)",
	}
	f := cmd.PersistentFlags()
	f.StringVar(&opts.dataDir, "data-dir", "/var/lib/skiff", "the agent's data directory, to find the containerd it supervises")
	f.StringVar(&opts.endpoint, "container-runtime-endpoint", "", "CRI endpoint of containerd (unix:///path), instead of the agent's own")
	cmd.AddCommand(&cobra.Command{
		Use:   "import FILE...",
		Short: "Import OCI or docker-archive tarballs (\"-\" for standard input)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			return opts.importFiles(cmd.Context(), cmd.OutOrStdout(), cmd.InOrStdin(), files)
		},
	}, &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the images the container runtime has",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return opts.list(cmd.Context(), cmd.OutOrStdout())
		},
	})
	return cmd
}

// connect dials the runtime, failing fast when the agent's containerd
// is not running.
func (o *imageOptions) connect(ctx context.Context) (*runtime.CRI, error) {
	endpoint := o.endpoint
	if endpoint == "" {
		var err error
		if endpoint, err = containerd.Endpoint(o.dataDir); err != nil {
			return nil, err
		}
	}
	if sock, ok := strings.CutPrefix(endpoint, "unix://"); ok {
		if _, err := os.Stat(sock); err != nil {
			return nil, fmt.Errorf("no container runtime at %s (is the agent running? or give --container-runtime-endpoint): %w", endpoint, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return runtime.NewCRI(ctx, endpoint)
}

func (o *imageOptions) importFiles(ctx context.Context, out io.Writer, stdin io.Reader, files []string) error {
	rt, err := o.connect(ctx)
	if err != nil {
		return err
	}
	defer rt.Close()
	for _, file := range files {
		r := stdin
		if file != "-" {
			f, err := os.Open(file)
			if err != nil {
				return err
			}
			defer f.Close()
			r = f
		}
		names, err := rt.ImportImages(ctx, r)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		for _, n := range names {
			fmt.Fprintf(out, "imported %s\n", n)
		}
	}
	return nil
}

func (o *imageOptions) list(ctx context.Context, out io.Writer) error {
	rt, err := o.connect(ctx)
	if err != nil {
		return err
	}
	defer rt.Close()
	imgs, err := rt.ListImages(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(out, 0, 8, 3, ' ', 0)
	fmt.Fprintln(w, "IMAGE\tTAG\tIMAGE ID\tSIZE")
	for _, img := range imgs {
		id := strings.TrimPrefix(img.ID, "sha256:")
		if len(id) > 13 {
			id = id[:13]
		}
		tags := img.RepoTags
		if len(tags) == 0 {
			tags = []string{"<none>:<none>"}
		}
		for _, ref := range tags {
			repo, tag := ref, "<none>"
			if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
				repo, tag = ref[:i], ref[i+1:]
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", repo, tag, id, humanSize(img.Size))
		}
	}
	return w.Flush()
}

// humanSize prints a size as crictl does (decimal units).
func humanSize(n uint64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%dB", n)
	}
	return fmt.Sprintf("%.3g%s", f, units[i])
}
