package runtime

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// criNamespace is the containerd namespace its CRI plug-in keeps images
// and containers in.
const criNamespace = "k8s.io"

// ctrImport loads an OCI or docker-archive tarball into containerd's CRI
// namespace with containerd's own client, ctr, and returns the names of
// the images it held.
//
// ctr rather than containerd's Go client: the client pulls in most of
// containerd (content store, snapshotters, unpacker) as dependencies, and
// ctr ships with every containerd package. Only the host platform's
// content is imported (no --all-platforms): a multi-platform archive that
// holds the blobs of one platform only, as `docker save` often writes,
// then still imports.
func ctrImport(ctx context.Context, socket string, r io.Reader) ([]string, error) {
	ctr, err := exec.LookPath("ctr")
	if err != nil {
		return nil, fmt.Errorf("import images: containerd's ctr is not in PATH (it comes with `apt-get install containerd`): %w", err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, ctr, "--address", socket, "--namespace", criNamespace, "images", "import", "-")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r, &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		return nil, fmt.Errorf("import images: %s: %w", strings.TrimPrefix(msg, "ctr: "), err)
	}
	names := importedNames(stdout.String())
	if len(names) == 0 {
		return nil, errors.New("import images: the archive holds no named image (an OCI archive needs the io.containerd.image.name or org.opencontainers.image.ref.name annotation)")
	}
	return names, nil
}

// importedNames parses ctr's "unpacking NAME (sha256:...)...done" lines.
func importedNames(out string) []string {
	var names []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "unpacking ")
		if !ok {
			continue
		}
		if i := strings.Index(rest, " (sha256:"); i > 0 {
			names = append(names, rest[:i])
		}
	}
	return names
}

// ImportDir imports every *.tar file in dir into rt, in name order, and
// returns the names of the images imported. A missing directory is not an
// error. The agent calls it at start with <data-dir>/agent/images, so
// machines without a registry can be given images by dropping tarballs
// there.
func ImportDir(ctx context.Context, rt Runtime, dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.tar"))
	if err != nil {
		return nil, fmt.Errorf("import images from %s: %w", dir, err)
	}
	sort.Strings(files)
	var names []string
	var errs []error
	for _, file := range files {
		n, err := importFile(ctx, rt, file)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		names = append(names, n...)
	}
	return names, errors.Join(errs...)
}

func importFile(ctx context.Context, rt Runtime, file string) ([]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := rt.ImportImages(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return names, nil
}
