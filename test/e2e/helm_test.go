package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	helmOnce sync.Once
	helmBin  string
	helmErr  error
)

// helmPath is the real helm v4 binary: $HELM_BIN (make test builds it
// into bin/), or built here from the tools module on first use.
func helmPath(t *testing.T) string {
	t.Helper()
	helmOnce.Do(func() {
		if helmBin = os.Getenv("HELM_BIN"); helmBin != "" {
			return
		}
		helmBin = filepath.Join(os.TempDir(), "skiff-e2e-helm")
		helmErr = goBuild("../../tools", helmBin, "helm.sh/helm/v4/cmd/helm")
	})
	if helmErr != nil {
		t.Fatalf("build helm: %v", helmErr)
	}
	return helmBin
}

// helm runs the real helm against s, with its caches and config in the
// server's data directory.
func (s *server) helm(args ...string) (string, error) {
	s.t.Helper()
	bin := helmPath(s.t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", s.kubeconfig}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	home := filepath.Join(s.dataDir, "helm-home")
	cmd.Env = append(os.Environ(), "HOME="+home, "HELM_CACHE_HOME="+home+"/cache",
		"HELM_CONFIG_HOME="+home+"/config", "HELM_DATA_HOME="+home+"/data")
	err := cmd.Run()
	return out.String(), err
}

func (s *server) mustHelm(args ...string) string {
	s.t.Helper()
	out, err := s.helm(args...)
	if err != nil {
		s.t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TestHelmLifecycle drives helm 4 (which applies server-side) through a
// chart's whole life: the chart `helm create` writes (deployment,
// service, service account, optional ingress and HPA), installed,
// upgraded, rolled back and uninstalled.
func TestHelmLifecycle(t *testing.T) {
	s := startServer(t)
	chart := filepath.Join(t.TempDir(), "demo")
	s.mustHelm("create", chart)

	s.mustHelm("install", "demo", chart, "--namespace", "apps", "--create-namespace")
	if out := s.mustHelm("list", "-n", "apps"); !strings.Contains(out, "deployed") {
		t.Fatalf("helm list:\n%s", out)
	}
	for _, obj := range []string{"deployment/demo", "service/demo", "serviceaccount/demo", "secret/sh.helm.release.v1.demo.v1"} {
		s.mustKubectl("", "get", "-n", "apps", obj)
	}
	// helm 4 applies server-side: the fields belong to its field manager.
	managers := s.mustKubectl("", "get", "-n", "apps", "deployment/demo", "-o", "jsonpath={.metadata.managedFields[*].manager}")
	if !strings.Contains(managers, "helm") {
		t.Errorf("managedFields managers %q, want helm's", managers)
	}

	s.mustHelm("upgrade", "demo", chart, "-n", "apps", "--set", "replicaCount=3", "--set", "ingress.enabled=true")
	if got := s.mustKubectl("", "get", "-n", "apps", "deployment/demo", "-o", "jsonpath={.spec.replicas}"); got != "3" {
		t.Errorf("replicas after upgrade = %q, want 3", got)
	}
	s.mustKubectl("", "get", "-n", "apps", "ingress/demo")

	s.mustHelm("rollback", "demo", "1", "-n", "apps")
	if got := s.mustKubectl("", "get", "-n", "apps", "deployment/demo", "-o", "jsonpath={.spec.replicas}"); got != "1" {
		t.Errorf("replicas after rollback = %q, want 1", got)
	}
	if _, _, err := s.kubectl("", "get", "-n", "apps", "ingress/demo"); err == nil {
		t.Error("the ingress the upgrade added survived the rollback")
	}
	if out := s.mustHelm("history", "demo", "-n", "apps"); !strings.Contains(out, "Rollback to 1") {
		t.Errorf("helm history:\n%s", out)
	}

	s.mustHelm("uninstall", "demo", "-n", "apps", "--wait")
	out := s.mustKubectl("", "get", "deployments,services,serviceaccounts,secrets,ingresses", "-n", "apps", "-o", "name")
	for _, gone := range []string{"deployment.apps/demo", "service/demo", "serviceaccount/demo", "secret/sh.helm.release.v1"} {
		if strings.Contains(out, gone) {
			t.Errorf("%s still there after uninstall:\n%s", gone, out)
		}
	}
}
