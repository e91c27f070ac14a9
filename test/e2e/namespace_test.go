package e2e

import (
	"strings"
	"testing"
)

// TestNamespaceDeletion deletes a namespace with content: kubectl waits
// until the namespace controller has removed everything and the namespace
// itself is gone; creating in it meanwhile is refused.
func TestNamespaceDeletion(t *testing.T) {
	s := startServer(t)
	s.mustKubectl("", "create", "namespace", "doomed")
	s.mustKubectl("", "create", "configmap", "a", "-n", "doomed", "--from-literal=k=v")
	s.mustKubectl("", "create", "deployment", "d", "-n", "doomed", "--image=busybox")
	s.mustKubectl("", "create", "service", "clusterip", "svc", "-n", "doomed", "--tcp=80:80")

	out := s.mustKubectl("", "delete", "namespace", "doomed", "--wait=true", "--timeout=60s")
	if !strings.Contains(out, `namespace "doomed" deleted`) {
		t.Errorf("delete namespace: %s", out)
	}
	if _, errOut, err := s.kubectl("", "get", "namespace", "doomed"); err == nil || !strings.Contains(errOut, "NotFound") {
		t.Errorf("namespace still there: %v %s", err, errOut)
	}
	// Re-creating it gives an empty namespace (but for the
	// kube-root-ca.crt ConfigMap every namespace gets, as upstream).
	s.mustKubectl("", "create", "namespace", "doomed")
	out = s.mustKubectl("", "get", "configmaps,deployments,services", "-n", "doomed", "-o", "name",
		"--field-selector", "metadata.name!=kube-root-ca.crt")
	if strings.TrimSpace(out) != "" {
		t.Errorf("old content survived:\n%s", out)
	}
}
