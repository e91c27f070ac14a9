package policy_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// demoManifests are the policy and binding of upstream's "Validating
// Admission Policy" documentation, verbatim.
const demoManifests = `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: "demo-policy.example.com"
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups:   ["apps"]
      apiVersions: ["v1"]
      operations:  ["CREATE", "UPDATE"]
      resources:   ["deployments"]
  validations:
    - expression: "object.spec.replicas <= 5"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: "demo-binding-test.example.com"
spec:
  policyName: "demo-policy.example.com"
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels:
        environment: test
`

// TestKubectl applies upstream's example with the real kubectl
// (KUBECTL_BIN, as the e2e tests build it from tools/) and checks what
// kubectl shows: the columns, and the refusal of a 6-replica Deployment
// in a namespace labelled environment=test, in upstream's words.
func TestKubectl(t *testing.T) {
	bin := os.Getenv("KUBECTL_BIN")
	if bin == "" {
		t.Skip("KUBECTL_BIN not set (go build -C tools -o /tmp/kubectl ./kubectl)")
	}
	s := startServer(t)
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: s.url, CertificateAuthorityData: s.admin.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: s.admin.CertData, ClientKeyData: s.admin.KeyData}
	kc.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "admin"}
	kc.CurrentContext = "c"
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, kubeconfig); err != nil {
		t.Fatal(err)
	}
	manifests := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(manifests, []byte(demoManifests), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", kubeconfig}, args...)...)
		cmd.Env = append(os.Environ(), "KUBECTL_KUBERC=false", "HOME="+dir)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("kubectl %v: %v", args, err)
		}
		return string(out), code
	}

	if out, code := run("apply", "-f", manifests); code != 0 ||
		!strings.Contains(out, "validatingadmissionpolicy.admissionregistration.k8s.io/demo-policy.example.com created") ||
		!strings.Contains(out, "validatingadmissionpolicybinding.admissionregistration.k8s.io/demo-binding-test.example.com created") {
		t.Fatalf("apply: %d %s", code, out)
	}
	out, _ := run("get", "validatingadmissionpolicies")
	if fields := strings.Fields(out); len(fields) != 8 || strings.Join(fields[:4], " ") != "NAME VALIDATIONS PARAMKIND AGE" ||
		strings.Join(fields[4:7], " ") != "demo-policy.example.com 1 <unset>" {
		t.Fatalf("get policies:\n%s", out)
	}
	out, _ = run("get", "validatingadmissionpolicybindings")
	if fields := strings.Fields(out); len(fields) != 8 || strings.Join(fields[:4], " ") != "NAME POLICYNAME PARAMREF AGE" ||
		strings.Join(fields[4:7], " ") != "demo-binding-test.example.com demo-policy.example.com <unset>" {
		t.Fatalf("get bindings:\n%s", out)
	}
	if out, code := run("create", "namespace", "test"); code != 0 {
		t.Fatalf("create namespace: %s", out)
	}
	if out, code := run("label", "namespace", "test", "environment=test"); code != 0 {
		t.Fatalf("label namespace: %s", out)
	}
	want := `deployments.apps "nginx" is forbidden: ValidatingAdmissionPolicy 'demo-policy.example.com' with binding 'demo-binding-test.example.com' denied request: failed expression: object.spec.replicas <= 5`
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, code := run("create", "deployment", "nginx", "--image=nginx", "--replicas=6", "-n", "test", "--dry-run=server")
		if code != 0 && strings.Contains(out, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("create deployment: %d %s\nwant the refusal %q", code, out, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out, code := run("create", "deployment", "nginx", "--image=nginx", "--replicas=6", "-n", "default"); code != 0 {
		t.Fatalf("outside the bound namespace: %d %s", code, out)
	}
}
