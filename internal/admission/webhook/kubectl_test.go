package webhook_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// chartManifest is the shape of webhook configuration Helm charts
// install (cert-manager's, trimmed): a service reference, v1 reviews, no
// side effects, defaults left to the server.
const chartManifest = `apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: cert-manager-webhook
webhooks:
- name: webhook.cert-manager.io
  rules:
  - apiGroups: ["cert-manager.io", "acme.cert-manager.io"]
    apiVersions: ["v1"]
    operations: ["CREATE", "UPDATE"]
    resources: ["*/*"]
  admissionReviewVersions: ["v1"]
  matchPolicy: Equivalent
  timeoutSeconds: 30
  failurePolicy: Fail
  sideEffects: None
  clientConfig:
    service:
      name: cert-manager-webhook
      namespace: cert-manager
      path: /mutate
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: two-hooks
webhooks:
- name: a.example.com
  rules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}]
  admissionReviewVersions: [v1]
  sideEffects: None
  clientConfig: {url: "https://example.com/a"}
- name: b.example.com
  rules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [secrets]}]
  admissionReviewVersions: [v1]
  sideEffects: NoneOnDryRun
  clientConfig: {url: "https://example.com/b"}
`

const invalidManifest = `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: broken
webhooks:
- name: broken
  rules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}]
  admissionReviewVersions: [v1]
  clientConfig: {url: "http://example.com/x?a=b"}
`

// TestKubectl applies webhook configurations with the real kubectl
// (KUBECTL_BIN) and checks its view: the columns, the server's defaults
// and a refusal with upstream's field paths.
func TestKubectl(t *testing.T) {
	bin := os.Getenv("KUBECTL_BIN")
	if bin == "" {
		t.Skip("KUBECTL_BIN not set (go build -C tools -o /tmp/kubectl ./kubectl)")
	}
	s := start(t)
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: s.admin.Host, CertificateAuthorityData: s.admin.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: s.admin.CertData, ClientKeyData: s.admin.KeyData}
	kc.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "admin"}
	kc.CurrentContext = "c"
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, kubeconfig); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
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

	if out, code := run("apply", "-f", write("chart.yaml", chartManifest)); code != 0 {
		t.Fatalf("apply: %s", out)
	}
	out, _ := run("get", "mutatingwebhookconfigurations,validatingwebhookconfigurations")
	for _, re := range []string{
		`(?m)^NAME\s+WEBHOOKS\s+AGE$`,
		`(?m)^mutatingwebhookconfiguration\.admissionregistration\.k8s\.io/cert-manager-webhook\s+1\s+\d+s$`,
		`(?m)^validatingwebhookconfiguration\.admissionregistration\.k8s\.io/two-hooks\s+2\s+\d+s$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("kubectl get does not match %s:\n%s", re, out)
		}
	}
	out, _ = run("get", "validatingwebhookconfiguration", "two-hooks", "-o", "jsonpath={.webhooks[0].failurePolicy} {.webhooks[0].matchPolicy} {.webhooks[0].timeoutSeconds} {.webhooks[0].rules[0].scope} {.webhooks[0].namespaceSelector}")
	if out != "Fail Equivalent 10 * {}" {
		t.Errorf("defaults = %q", out)
	}
	out, code := run("apply", "-f", write("invalid.yaml", invalidManifest))
	for _, want := range []string{
		`The ValidatingWebhookConfiguration "broken" is invalid`,
		`webhooks[0].name: Invalid value: "broken": should be a domain with at least three segments separated by dots`,
		`webhooks[0].sideEffects: Required value: must specify one of None, NoneOnDryRun`,
		`webhooks[0].clientConfig.url: Invalid value: "http": 'https' is the only allowed URL scheme; desired format: https://host[/path]`,
		`webhooks[0].clientConfig.url: Invalid value: "a=b": query parameters are not permitted in the URL`,
	} {
		if code == 0 || !strings.Contains(out, want) {
			t.Errorf("invalid apply (exit %d) lacks %q:\n%s", code, want, out)
		}
	}
}
