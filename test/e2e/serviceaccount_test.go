package e2e

import (
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"skiff.dev/skiff/internal/auth/serviceaccount"
)

// TestServiceAccountWalkthrough is the seeds' walkthrough: a service
// account with a Role on pods and pods/log, used through a kubeconfig
// built from `kubectl create token`, can list pods in its namespace and
// nothing else; forged and expired tokens get 401; a legacy token Secret
// is filled in by the token controller and dies with its secret.
func TestServiceAccountWalkthrough(t *testing.T) {
	s := startServer(t)
	s.mustKubectl("", "create", "namespace", "sa-demo")
	s.mustKubectl("", "create", "serviceaccount", "reader", "-n", "sa-demo")
	s.mustKubectl("", "create", "role", "pod-reader", "--verb=get,list,watch", "--resource=pods,pods/log", "-n", "sa-demo")
	s.mustKubectl("", "create", "rolebinding", "reader-pods", "--role=pod-reader", "--serviceaccount=sa-demo:reader", "-n", "sa-demo")

	token := strings.TrimSpace(s.mustKubectl("", "create", "token", "reader", "-n", "sa-demo"))
	if strings.Count(token, ".") != 2 {
		t.Fatalf("kubectl create token printed %q, want a JWT", token)
	}
	reader := s.tokenKubeconfig(t, "reader", token)

	t.Run("lists pods in its namespace", func(t *testing.T) {
		out, errOut, err := s.kubectlWith(reader, "", "get", "pods", "-n", "sa-demo")
		if err != nil || !strings.Contains(out+errOut, "No resources found in sa-demo namespace.") {
			t.Fatalf("get pods: %v\n%s%s", err, out, errOut)
		}
		out = s.mustKubectlWith(reader, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username} {.status.userInfo.groups}")
		if out != `system:serviceaccount:sa-demo:reader ["system:serviceaccounts","system:serviceaccounts:sa-demo","system:authenticated"]` {
			t.Errorf("whoami = %s", out)
		}
	})

	t.Run("forbidden elsewhere", func(t *testing.T) {
		user := `User "system:serviceaccount:sa-demo:reader"`
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"get", "secrets", "-n", "sa-demo"},
				`Error from server (Forbidden): secrets is forbidden: ` + user + ` cannot list resource "secrets" in API group "" in the namespace "sa-demo"`},
			{[]string{"get", "pods", "-n", "default"},
				`Error from server (Forbidden): pods is forbidden: ` + user + ` cannot list resource "pods" in API group "" in the namespace "default"`},
			{[]string{"create", "deployment", "web", "--image=busybox", "-n", "sa-demo"},
				`error: failed to create deployment: deployments.apps is forbidden: ` + user + ` cannot create resource "deployments" in API group "apps" in the namespace "sa-demo"`},
		} {
			out, errOut, err := s.kubectlWith(reader, "", tc.args...)
			if err == nil || !strings.Contains(errOut, tc.want) {
				t.Errorf("kubectl %s: %v\nstdout: %s\nstderr: %s\nwant: %s", strings.Join(tc.args, " "), err, out, errOut, tc.want)
			}
		}
	})

	t.Run("auth can-i --list matches the role", func(t *testing.T) {
		out := s.mustKubectlWith(reader, "auth", "can-i", "--list", "-n", "sa-demo")
		rows := map[string]string{}
		for _, line := range strings.Split(out, "\n")[1:] {
			if f := strings.Fields(line); len(f) > 0 {
				rows[f[0]] = line
			}
		}
		for _, res := range []string{"pods", "pods/log"} {
			if !strings.HasSuffix(rows[res], "[get list watch]") {
				t.Errorf("can-i --list has no %q row with [get list watch]:\n%s", res, out)
			}
		}
		for _, res := range []string{"secrets", "deployments.apps", "*.*"} {
			if _, ok := rows[res]; ok {
				t.Errorf("can-i --list grants %s:\n%s", res, out)
			}
		}
		if got := strings.TrimSpace(s.mustKubectlWith(reader, "auth", "can-i", "watch", "pods", "-n", "sa-demo")); got != "yes" {
			t.Errorf("can-i watch pods = %q", got)
		}
	})

	t.Run("issuer discovery", func(t *testing.T) {
		out := s.mustKubectlWith(reader, "get", "--raw", "/.well-known/openid-configuration")
		if !strings.Contains(out, `"issuer":"https://kubernetes.default.svc.cluster.local"`) || !strings.Contains(out, `"id_token_signing_alg_values_supported":["ES256"]`) {
			t.Errorf("openid-configuration = %s", out)
		}
		if out := s.mustKubectlWith(reader, "get", "--raw", "/openid/v1/jwks"); !strings.Contains(out, `"kty":"EC"`) {
			t.Errorf("jwks = %s", out)
		}
	})

	unauthorized := func(t *testing.T, kubeconfig string) {
		t.Helper()
		out, errOut, err := s.kubectlWith(kubeconfig, "", "get", "pods", "-n", "sa-demo")
		if err == nil || !strings.Contains(errOut, "error: You must be logged in to the server (Unauthorized)") {
			t.Fatalf("get pods: %v\nstdout: %s\nstderr: %s\nwant 401", err, out, errOut)
		}
	}

	t.Run("forged token", func(t *testing.T) {
		// The same claims signed by a key that is not the server's.
		otherKey := filepath.Join(t.TempDir(), "other.key")
		unauthorized(t, s.tokenKubeconfig(t, "forged-key", s.mintToken(t, otherKey, time.Now(), time.Hour)))
		// The walkthrough's token with another key's signature.
		parts := strings.Split(token, ".")
		other := strings.Split(s.mintToken(t, otherKey, time.Now(), time.Hour), ".")
		unauthorized(t, s.tokenKubeconfig(t, "forged", parts[0]+"."+parts[1]+"."+other[2]))
	})

	t.Run("expired token", func(t *testing.T) {
		// Signed by the server's own key, issued two hours ago for one.
		expired := s.mintToken(t, "", time.Now().Add(-2*time.Hour), time.Hour)
		unauthorized(t, s.tokenKubeconfig(t, "expired", expired))
		// The control: the same key and claims, still valid.
		valid := s.tokenKubeconfig(t, "minted", s.mintToken(t, "", time.Now(), time.Hour))
		s.mustKubectlWith(valid, "get", "pods", "-n", "sa-demo")
	})

	t.Run("legacy token secret", func(t *testing.T) {
		s.mustKubectl(`apiVersion: v1
kind: Secret
metadata:
  name: reader-token
  namespace: sa-demo
  annotations:
    kubernetes.io/service-account.name: reader
type: kubernetes.io/service-account-token
`, "apply", "-f", "-")
		var legacy string
		deadline := time.Now().Add(30 * time.Second)
		for legacy == "" && time.Now().Before(deadline) {
			out, _, _ := s.kubectl("", "get", "secret", "reader-token", "-n", "sa-demo", "-o", "jsonpath={.data.token}")
			legacy = decodeBase64(t, out)
			if legacy == "" {
				time.Sleep(100 * time.Millisecond)
			}
		}
		if legacy == "" {
			t.Fatal("the token controller did not fill in the secret's token")
		}
		out := s.mustKubectl("", "describe", "secret", "reader-token", "-n", "sa-demo")
		for _, want := range []string{"kubernetes.io/service-account.uid:", "ca.crt:", "namespace:", "token:"} {
			if !strings.Contains(out, want) {
				t.Errorf("describe secret lacks %q:\n%s", want, out)
			}
		}
		kc := s.tokenKubeconfig(t, "legacy", legacy)
		s.mustKubectlWith(kc, "get", "pods", "-n", "sa-demo")
		s.mustKubectl("", "delete", "secret", "reader-token", "-n", "sa-demo")
		deadline = time.Now().Add(10 * time.Second)
		for {
			_, errOut, err := s.kubectlWith(kc, "", "get", "pods", "-n", "sa-demo")
			if err != nil && strings.Contains(errOut, "(Unauthorized)") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("token of a deleted secret still accepted: %v %s", err, errOut)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("deleted service account revokes its tokens", func(t *testing.T) {
		s.mustKubectl("", "delete", "serviceaccount", "reader", "-n", "sa-demo")
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, errOut, err := s.kubectlWith(reader, "", "get", "pods", "-n", "sa-demo")
			if err != nil && strings.Contains(errOut, "(Unauthorized)") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("token of a deleted account still accepted: %v %s", err, errOut)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// tokenKubeconfig writes a kubeconfig for the server with a bearer token
// as its only credential, as a user builds one from `kubectl create token`.
func (s *server) tokenKubeconfig(t *testing.T, name, token string) string {
	t.Helper()
	admin, err := clientcmd.LoadFromFile(s.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cluster := admin.Clusters[admin.Contexts[admin.CurrentContext].Cluster]
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["skiff"] = cluster
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: "skiff", AuthInfo: name}
	cfg.CurrentContext = name
	path := filepath.Join(t.TempDir(), name+".kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// mintToken signs a token for sa-demo/reader issued at iat for lifetime,
// with the key at keyFile (the server's own if empty; generated if the
// file does not exist).
func (s *server) mintToken(t *testing.T, keyFile string, iat time.Time, lifetime time.Duration) string {
	t.Helper()
	if keyFile == "" {
		keyFile = filepath.Join(s.dataDir, serviceaccount.KeyFile)
	}
	keys, err := serviceaccount.LoadOrCreateKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := serviceaccount.NewIssuer(serviceaccount.Config{Keys: keys, Now: func() time.Time { return iat }})
	if err != nil {
		t.Fatal(err)
	}
	sa, err := s.clientset().CoreV1().ServiceAccounts("sa-demo").Get(context.Background(), "reader", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := issuer.Issue(serviceaccount.Request{ServiceAccount: sa, Expiration: lifetime})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Token
}

// kubectlWith runs the real kubectl with another kubeconfig.
func (s *server) kubectlWith(kubeconfig, stdin string, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kubectlBin, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	cmd.Env = append(os.Environ(), "KUBECTL_KUBERC=false", "HOME="+s.dataDir)
	err := cmd.Run()
	return out.String(), errb.String(), err
}

func (s *server) mustKubectlWith(kubeconfig string, args ...string) string {
	s.t.Helper()
	out, errOut, err := s.kubectlWith(kubeconfig, "", args...)
	if err != nil {
		s.t.Fatalf("kubectl %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func decodeBase64(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return string(b)
}
