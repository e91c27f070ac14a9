package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestJoinWithToken: `skiff token create` prints a join token with which
// `skiff agent --server --token` gets its node a certificate of its own
// (CSR approved and signed by the server's controllers) and registers a
// Ready node; `kubectl certificate approve` issues a client certificate.
func TestJoinWithToken(t *testing.T) {
	s := startServer(t)
	out, err := exec.Command(skiffBin, "token", "create", "--data-dir", s.dataDir, "--description", "e2e").CombinedOutput()
	if err != nil {
		t.Fatalf("skiff token create: %v\n%s", err, out)
	}
	token := strings.TrimSpace(string(out))
	if !strings.HasPrefix(token, "K10") || !strings.Contains(token, "::") {
		t.Fatalf("join token %q", token)
	}
	id := token[strings.Index(token, "::")+2:][:6]
	list, err := exec.Command(skiffBin, "token", "list", "--data-dir", s.dataDir).CombinedOutput()
	if err != nil || !strings.Contains(string(list), id) || !strings.Contains(string(list), "e2e") {
		t.Fatalf("skiff token list: %v\n%s", err, list)
	}

	// A token whose CA pin is wrong is refused before anything is sent.
	badPin := "K10" + strings.Repeat("0", 64) + token[strings.Index(token, "::"):]
	bad, err := exec.Command(skiffBin, "agent", "--server", fmt.Sprintf("https://127.0.0.1:%d", s.port), "--token", badPin,
		"--simulate", "1", "--node-name", "evil", "--data-dir", t.TempDir()).CombinedOutput()
	if err == nil || !strings.Contains(string(bad), "does not match") {
		t.Fatalf("agent with a wrong CA pin: %v\n%s", err, bad)
	}

	dir := t.TempDir()
	agent := exec.Command(skiffBin, "agent", "--server", fmt.Sprintf("https://127.0.0.1:%d", s.port), "--token", token,
		"--simulate", "1", "--node-name", "joiner", "--data-dir", dir)
	var logs strings.Builder
	agent.Stdout, agent.Stderr = &logs, &logs
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = agent.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = agent.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = agent.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("skiff agent logs:\n%s", logs.String())
		}
	})
	s.waitNodeReady("joiner-sim-0")

	csrs := s.mustKubectl("", "get", "csr")
	if !strings.Contains(csrs, "system:bootstrap:"+id) || !strings.Contains(csrs, "Approved,Issued") ||
		!strings.Contains(csrs, "kubernetes.io/kube-apiserver-client-kubelet") {
		t.Errorf("kubectl get csr:\n%s", csrs)
	}
	for _, f := range []string{"joiner-sim-0.key", "joiner-sim-0.crt", "joiner-sim-0.kubeconfig"} {
		fi, err := os.Stat(filepath.Join(dir, "agent", "pki", f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v", f, err)
		}
	}
	who := s.mustKubectl("", "--kubeconfig", filepath.Join(dir, "agent", "pki", "joiner-sim-0.kubeconfig"), "auth", "whoami")
	if !strings.Contains(who, "system:node:joiner-sim-0") || !strings.Contains(who, "system:nodes") {
		t.Errorf("the node's kubeconfig is:\n%s", who)
	}

	// kubectl certificate approve: a client certificate for alice.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "alice", Organization: []string{"devs"}}}, key)
	if err != nil {
		t.Fatal(err)
	}
	req := base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	s.mustKubectl(fmt.Sprintf(`apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: alice
spec:
  request: %s
  signerName: kubernetes.io/kube-apiserver-client
  expirationSeconds: 86400
  usages: [client auth]
`, req), "apply", "-f", "-")
	if out := s.mustKubectl("", "get", "csr", "alice"); !strings.Contains(out, "Pending") || !strings.Contains(out, "24h") {
		t.Errorf("new csr:\n%s", out)
	}
	s.mustKubectl("", "certificate", "approve", "alice")
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := s.mustKubectl("", "get", "csr", "alice", "-o", "jsonpath={.status.certificate}")
		if out != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice's certificate was not issued:\n%s", s.mustKubectl("", "get", "csr", "alice", "-o", "yaml"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A denied request stays unsigned.
	s.mustKubectl(strings.Replace(strings.Replace(fmt.Sprintf(`apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: bob
spec:
  request: %s
  signerName: kubernetes.io/kube-apiserver-client
  usages: [client auth]
`, req), "alice", "bob", 1), "\n\n", "\n", 1), "apply", "-f", "-")
	s.mustKubectl("", "certificate", "deny", "bob")
	if out := s.mustKubectl("", "get", "csr", "bob"); !strings.Contains(out, "Denied") || strings.Contains(out, "Issued") {
		t.Errorf("denied csr:\n%s", out)
	}
}
