package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

const appManifest = `apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: shop
data:
  greeting: hello
---
apiVersion: v1
kind: Secret
metadata:
  name: web-secret
  namespace: shop
type: Opaque
stringData:
  password: "p@ss w0rd!$"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
        env:
        - name: PASSWORD
          valueFrom:
            secretKeyRef:
              name: web-secret
              key: password
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 80
`

func TestKubectlApplyGetDescribeDelete(t *testing.T) {
	s := startServer(t)

	out := s.mustKubectl(appManifest, "apply", "-f", "-")
	for _, want := range []string{"namespace/shop created", "configmap/web-config created", "secret/web-secret created", "deployment.apps/web created", "service/web created"} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output lacks %q:\n%s", want, out)
		}
	}
	// A second apply changes nothing.
	out = s.mustKubectl(appManifest, "apply", "-f", "-")
	if !strings.Contains(out, "deployment.apps/web unchanged") {
		t.Errorf("second apply should be unchanged:\n%s", out)
	}

	// Table output with upstream's columns.
	out = s.mustKubectl("", "get", "deployments", "-n", "shop")
	if !strings.HasPrefix(out, "NAME") || !strings.Contains(out, "READY") || !strings.Contains(out, "web") {
		t.Errorf("get deployments:\n%s", out)
	}
	out = s.mustKubectl("", "get", "svc", "web", "-n", "shop", "-o", "wide")
	if !strings.Contains(out, "CLUSTER-IP") || !strings.Contains(out, "SELECTOR") || !strings.Contains(out, "10.43.") {
		t.Errorf("get svc -o wide:\n%s", out)
	}

	// Defaults are applied as upstream does.
	out = s.mustKubectl("", "get", "deployment", "web", "-n", "shop", "-o", "json")
	var dep struct {
		Metadata struct {
			Generation int64 `json:"generation"`
			UID        string
		}
		Spec struct {
			RevisionHistoryLimit *int32 `json:"revisionHistoryLimit"`
			Strategy             struct{ Type string }
			Template             struct {
				Spec struct {
					RestartPolicy string `json:"restartPolicy"`
					DNSPolicy     string `json:"dnsPolicy"`
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &dep); err != nil {
		t.Fatal(err)
	}
	if dep.Metadata.Generation != 1 || dep.Metadata.UID == "" || dep.Spec.Strategy.Type != "RollingUpdate" ||
		dep.Spec.RevisionHistoryLimit == nil || *dep.Spec.RevisionHistoryLimit != 10 ||
		dep.Spec.Template.Spec.RestartPolicy != "Always" || dep.Spec.Template.Spec.DNSPolicy != "ClusterFirst" {
		t.Errorf("defaults not applied: %+v", dep)
	}

	// The secret's special characters survive.
	out = s.mustKubectl("", "get", "secret", "web-secret", "-n", "shop", "-o", "jsonpath={.data.password}")
	if out != "cEBzcyB3MHJkISQ=" {
		t.Errorf("secret data = %q", out)
	}

	s.mustKubectl("", "label", "deployment", "web", "-n", "shop", "tier=frontend")
	s.mustKubectl("", "annotate", "deployment", "web", "-n", "shop", "owner=team-a")
	s.mustKubectl("", "patch", "deployment", "web", "-n", "shop", "-p", `{"spec":{"replicas":5}}`)
	s.mustKubectl("", "patch", "deployment", "web", "-n", "shop", "--type=json", "-p", `[{"op":"replace","path":"/spec/replicas","value":4}]`)
	s.mustKubectl("", "patch", "deployment", "web", "-n", "shop", "--type=merge", "-p", `{"metadata":{"labels":{"merged":"yes"}}}`)
	out = s.mustKubectl("", "get", "deployment", "web", "-n", "shop", "-o", "jsonpath={.spec.replicas} {.metadata.labels.tier} {.metadata.annotations.owner} {.metadata.labels.merged} {.metadata.generation}")
	// Upstream bumps a Deployment's generation for annotation changes
	// too (they are copied to its ReplicaSets): annotate, two spec patches.
	if out != "4 frontend team-a yes 4" {
		t.Errorf("after label/annotate/patch: %q", out)
	}
	out = s.mustKubectl("", "get", "deployments", "-n", "shop", "-l", "tier=frontend", "-o", "name")
	if strings.TrimSpace(out) != "deployment.apps/web" {
		t.Errorf("label selector: %q", out)
	}

	out = s.mustKubectl("", "describe", "deployment", "web", "-n", "shop")
	for _, want := range []string{"Name:", "web", "Namespace:", "shop", "Replicas:", "StrategyType:"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe lacks %q:\n%s", want, out)
		}
	}

	s.mustKubectl("", "scale", "deployment", "web", "-n", "shop", "--replicas=1")
	out = s.mustKubectl("", "get", "deployment", "web", "-n", "shop", "-o", "jsonpath={.spec.replicas}")
	if out != "1" {
		t.Errorf("scale: replicas = %q", out)
	}

	// Server-side dry run changes nothing.
	s.mustKubectl("", "create", "configmap", "dry", "-n", "shop", "--from-literal=a=b", "--dry-run=server")
	if _, _, err := s.kubectl("", "get", "configmap", "dry", "-n", "shop"); err == nil {
		t.Errorf("dry-run=server created the configmap")
	}

	s.mustKubectl("", "delete", "-n", "shop", "deployment", "web", "--wait=true")
	if _, errOut, err := s.kubectl("", "get", "deployment", "web", "-n", "shop"); err == nil || !strings.Contains(errOut, "NotFound") {
		t.Errorf("deleted deployment still found: %v %s", err, errOut)
	}
}

func TestKubectlServerSideApply(t *testing.T) {
	s := startServer(t)
	cm := `apiVersion: v1
kind: ConfigMap
metadata:
  name: ssa
  namespace: default
data:
  a: "1"
`
	out := s.mustKubectl(cm, "apply", "--server-side", "-f", "-")
	if !strings.Contains(out, "configmap/ssa serverside-applied") {
		t.Errorf("apply --server-side: %s", out)
	}
	out = s.mustKubectl("", "get", "configmap", "ssa", "-o", "jsonpath={.metadata.managedFields[0].manager} {.metadata.managedFields[0].operation}")
	if out != "kubectl Apply" {
		t.Errorf("managedFields = %q", out)
	}
	// Another manager changing the same field conflicts...
	_, errOut, err := s.kubectl(strings.Replace(cm, `a: "1"`, `a: "2"`, 1), "apply", "--server-side", "--field-manager=other", "-f", "-")
	if err == nil || !strings.Contains(errOut, "conflict") {
		t.Errorf("expected a conflict, got err=%v stderr=%s", err, errOut)
	}
	// ...unless it forces.
	s.mustKubectl(strings.Replace(cm, `a: "1"`, `a: "2"`, 1), "apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", "-")
	out = s.mustKubectl("", "get", "configmap", "ssa", "-o", "jsonpath={.data.a}")
	if out != "2" {
		t.Errorf("forced apply: a = %q", out)
	}
}

func TestKubectlDiscoveryAndExplain(t *testing.T) {
	s := startServer(t)
	out := s.mustKubectl("", "api-resources")
	for _, want := range []string{"pods", "po", "deployments", "deploy", "apps/v1", "namespaces", "true", "false"} {
		if !strings.Contains(out, want) {
			t.Errorf("api-resources lacks %q", want)
		}
	}
	out = s.mustKubectl("", "explain", "deployment.spec.replicas")
	if !strings.Contains(out, "replicas") || !strings.Contains(out, "integer") {
		t.Errorf("explain:\n%s", out)
	}
	out = s.mustKubectl("", "version", "-o", "json")
	if !strings.Contains(out, `"gitVersion": "v1.37.2+skiff"`) {
		t.Errorf("version:\n%s", out)
	}
	out = s.mustKubectl("", "get", "namespaces")
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		if !strings.Contains(out, ns) {
			t.Errorf("namespace %s missing:\n%s", ns, out)
		}
	}
}

func TestKubectlWatch(t *testing.T) {
	s := startServer(t)
	s.mustKubectl("", "create", "configmap", "w1", "--from-literal=a=1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kubectlBin, "--kubeconfig", s.kubeconfig, "get", "configmaps", "-w")
	cmd.Env = append(os.Environ(), "HOME="+s.dataDir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	waitLine := func(substr string) {
		t.Helper()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("watch ended before a line with %q", substr)
				}
				if strings.Contains(l, substr) {
					return
				}
			case <-ctx.Done():
				t.Fatalf("no line with %q before the deadline", substr)
			}
		}
	}
	waitLine("w1") // the initial list
	s.mustKubectl("", "create", "configmap", "w2", "--from-literal=a=1")
	waitLine("w2") // a watch event
}
