package app

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"skiff.dev/skiff/internal/auth/authn"
)

// TestRBACKubectl runs the real kubectl (KUBECTL_BIN, as the e2e tests
// build it from tools/) against the RBAC-wired server: auth whoami, auth
// can-i with impersonation, subresources, non-resource URLs and --list,
// and the forbidden message kubectl prints.
func TestRBACKubectl(t *testing.T) {
	bin := os.Getenv("KUBECTL_BIN")
	if bin == "" {
		t.Skip("KUBECTL_BIN not set (go build -C tools -o /tmp/kubectl ./kubectl)")
	}
	s := startRBACServer(t)
	ctx := context.Background()
	if _, err := s.admin.RbacV1().RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "alice-view"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "alice"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kubeconfig := func(user string, groups ...string) string {
		cfg := s.config(t, user, groups...)
		kc := clientcmdapi.NewConfig()
		kc.Clusters["c"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
		kc.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData}
		kc.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: user}
		kc.CurrentContext = "c"
		p := filepath.Join(t.TempDir(), "kubeconfig")
		if err := clientcmd.WriteToFile(*kc, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	admin, alice := kubeconfig("admin", authn.GroupMasters), kubeconfig("alice")
	run := func(kc string, args ...string) (string, string, int) {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(cctx, bin, append([]string{"--kubeconfig", kc}, args...)...)
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("kubectl %v: %v", args, err)
		}
		return out.String(), errOut.String(), code
	}

	out, errOut, code := run(alice, "auth", "whoami")
	if code != 0 || !strings.Contains(out, "alice") || !strings.Contains(out, "system:authenticated") {
		t.Errorf("whoami: %d %q %q", code, out, errOut)
	}
	out, _, _ = run(admin, "auth", "whoami", "--as", "alice", "--as-group", "devs")
	if !strings.Contains(out, "alice") || !strings.Contains(out, "devs") {
		t.Errorf("whoami --as: %q", out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"list", "pods", "-n", "default"}, "yes"},
		{[]string{"get", "pods", "--subresource=log", "-n", "default"}, "yes"},
		{[]string{"get", "secrets", "-n", "default"}, "no"},
		{[]string{"list", "pods", "-n", "kube-system"}, "no"},
		{[]string{"get", "/version"}, "yes"},
		{[]string{"get", "/metrics"}, "no"},
	} {
		out, errOut, _ := run(admin, append(append([]string{"auth", "can-i"}, tc.args...), "--as", "alice")...)
		if strings.TrimSpace(out) != tc.want {
			t.Errorf("can-i %v as alice = %q (%s), want %s", tc.args, out, errOut, tc.want)
		}
	}
	out, errOut, code = run(admin, "auth", "can-i", "--list", "-n", "default", "--as", "alice")
	if code != 0 || !strings.Contains(out, "pods/log") || !strings.Contains(out, "selfsubjectaccessreviews.authorization.k8s.io") || !strings.Contains(out, "[/version]") {
		t.Errorf("can-i --list: %d\n%s\n%s", code, out, errOut)
	}
	_, errOut, code = run(alice, "get", "secrets", "-n", "default")
	want := `Error from server (Forbidden): secrets is forbidden: User "alice" cannot list resource "secrets" in API group "" in the namespace "default"`
	if code == 0 || strings.TrimSpace(errOut) != want {
		t.Errorf("get secrets: %d %q, want %q", code, errOut, want)
	}
	_, errOut, code = run(alice, "get", "pods", "--as", "bob")
	want = `Error from server (Forbidden): users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope`
	if code == 0 || strings.TrimSpace(errOut) != want {
		t.Errorf("alice --as bob: %d %q, want %q", code, errOut, want)
	}
}
