package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"skiff.dev/skiff/internal/agent/containerd/containerdtest"
	"skiff.dev/skiff/internal/testimages"
)

func TestImageCommand(t *testing.T) {
	n := containerdtest.Start(t)
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		root := newRootCommand()
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(append([]string{"image"}, args...))
		err := root.Execute()
		return out.String(), err
	}

	out, err := run("import", "--data-dir", n.DataDir, testimages.Busybox(t))
	if err != nil || out != "imported "+testimages.BusyboxImage+"\n" {
		t.Fatalf("skiff image import: %q, %v", out, err)
	}
	out, err = run("ls", "--container-runtime-endpoint", n.Process.Endpoint())
	if err != nil {
		t.Fatalf("skiff image ls: %q, %v", out, err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !regexp.MustCompile(`^IMAGE\s+TAG\s+IMAGE ID\s+SIZE$`).MatchString(lines[0]) {
		t.Errorf("header %q", lines[0])
	}
	if !regexp.MustCompile(`(?m)^skiff\.test/busybox\s+1\s+[0-9a-f]{13}\s+[0-9.]+MB$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^skiff\.dev/pause\s+1\s`).MatchString(out) {
		t.Errorf("skiff image ls:\n%s", out)
	}

	if _, err := run("import", "--data-dir", n.DataDir, "/does/not/exist.tar"); err == nil {
		t.Error("importing a missing file succeeded")
	}
	if _, err := run("ls", "--data-dir", t.TempDir()); err == nil || !strings.Contains(err.Error(), "is the agent running?") {
		t.Errorf("ls without a runtime: %v", err)
	}
}
