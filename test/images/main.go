// Command images writes Skiff's small test images as OCI archives, for
// machines without a registry (the README's quick start):
//
//	go run ./test/images -o bin/images    # make images
//	cp bin/images/*.tar /var/lib/skiff/agent/images/   # imported at the agent's start
//	skiff image import bin/images/*.tar                 # or by hand
//
// It writes busybox.tar (skiff.test/busybox:1, this machine's static
// busybox with every applet) and http.tar (skiff.test/http:1, a static Go
// HTTP server on :8080), the images internal/testimages gives the tests.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"skiff.dev/skiff/internal/agent/ociarchive"
	"skiff.dev/skiff/internal/testimages"
)

func main() {
	out := flag.String("o", "bin/images", "directory to write the image archives to")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	images := []struct {
		file  string
		build func() (ociarchive.Image, error)
	}{
		{"busybox.tar", testimages.NewBusybox},
		{"http.tar", testimages.NewGoHTTP},
	}
	for _, im := range images {
		img, err := im.build()
		if err != nil {
			return err
		}
		path := filepath.Join(dir, im.file)
		if err := ociarchive.WriteFile(path, img); err != nil {
			return err
		}
		fmt.Printf("%s\t%s\n", path, img.Name)
	}
	return nil
}
