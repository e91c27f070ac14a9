package e2e

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestKubectlInvalidManifests applies manifests the server must refuse:
// kubectl exits non-zero with upstream's error text, and nothing is
// stored.
func TestKubectlInvalidManifests(t *testing.T) {
	s := startServer(t)
	cases := []struct {
		name, manifest, get string
		want                []string // lines of kubectl's stderr
	}{{
		name: "deployment selector does not match template labels",
		manifest: `apiVersion: apps/v1
kind: Deployment
metadata:
  name: mismatch
spec:
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: other
    spec:
      containers:
      - name: web
        image: nginx:1.27
`,
		get:  "deployment.apps/mismatch",
		want: []string{"The Deployment \"mismatch\" is invalid: spec.template.metadata.labels: Invalid value: {\"app\":\"other\"}: `selector` does not match template `labels`"},
	}, {
		// The target port defaults to the port, so both are out of range.
		name: "service port out of range",
		manifest: `apiVersion: v1
kind: Service
metadata:
  name: huge-port
spec:
  selector:
    app: web
  ports:
  - port: 70000
`,
		get: "service/huge-port",
		want: []string{
			`The Service "huge-port" is invalid: `,
			`* spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive`,
			`* spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive`,
		},
	}, {
		name: "pod with an invalid container name",
		manifest: `apiVersion: v1
kind: Pod
metadata:
  name: bad-container
spec:
  containers:
  - name: Web_Server
    image: nginx:1.27
`,
		get: "pod/bad-container",
		want: []string{`The Pod "bad-container" is invalid: spec.containers[0].name: Invalid value: "Web_Server": ` +
			`a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end ` +
			`with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`},
	}, {
		name: "statefulset whose claim template has no storage request",
		manifest: `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: no-storage
spec:
  serviceName: db
  selector:
    matchLabels:
      app: db
  template:
    metadata:
      labels:
        app: db
    spec:
      containers:
      - name: db
        image: postgres:16
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: ["ReadWriteOnce"]
`,
		get:  "statefulset.apps/no-storage",
		want: []string{`The StatefulSet "no-storage" is invalid: spec.volumeClaimTemplates[0].spec.resources[storage]: Required value`},
	}, {
		name: "ingress with a TLS host that is not a DNS name",
		manifest: `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: bad-tls
spec:
  tls:
  - hosts: ["Shop_Example.com"]
    secretName: web-tls
  defaultBackend:
    service:
      name: web
      port:
        number: 80
`,
		get: "ingress.networking.k8s.io/bad-tls",
		want: []string{`The Ingress "bad-tls" is invalid: spec.tls[0].hosts[0]: Invalid value: "Shop_Example.com": ` +
			`a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end ` +
			`with an alphanumeric character (e.g. 'example.com', regex used for validation is ` +
			`'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`},
	}, {
		// Upstream renders its internal types, which have no JSON tags.
		name: "service with a port listed twice",
		manifest: `apiVersion: v1
kind: Service
metadata:
  name: twice
spec:
  ports:
  - name: http
    port: 80
  - name: web
    port: 80
`,
		get: "service/twice",
		want: []string{`The Service "twice" is invalid: spec.ports[1]: Duplicate value: ` +
			`{"Name":"","Protocol":"TCP","AppProtocol":null,"Port":80,"TargetPort":0,"NodePort":0}`},
	}, {
		name: "disruption budget with both bounds",
		manifest: `apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: both
spec:
  minAvailable: 1
  maxUnavailable: 25%
  selector:
    matchLabels:
      app: web
`,
		get: "poddisruptionbudget.policy/both",
		want: []string{`The PodDisruptionBudget "both" is invalid: spec: Invalid value: ` +
			`{"MinAvailable":1,"Selector":{"matchLabels":{"app":"web"}},"MaxUnavailable":"25%","UnhealthyPodEvictionPolicy":null}: ` +
			`minAvailable and maxUnavailable cannot be both set`},
	}, {
		// kubectl sends fieldValidation=Strict; the decode error names the
		// kind and version it could not handle.
		name: "unknown fields",
		manifest: `apiVersion: apps/v1
kind: Deployment
metadata:
  name: typo
spec:
  replica: 2
  selector:
    matchLabels:
      app: typo
  template:
    metadata:
      labels:
        app: typo
    spec:
      containers:
      - name: web
        image: nginx:1.27
        imagePullPolice: Always
`,
		get: "deployment.apps/typo",
		want: []string{`Error from server (BadRequest): error when creating "STDIN": Deployment in version "v1" cannot be handled as a Deployment: ` +
			`strict decoding error: unknown field "spec.replica", unknown field "spec.template.spec.containers[0].imagePullPolice"`},
	}, {
		name: "wrong value type",
		manifest: `apiVersion: v1
kind: ReplicationController
metadata:
  name: wrong-type
spec:
  replicas: two
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.27
`,
		get: "replicationcontroller/wrong-type",
		want: []string{`Error from server (BadRequest): error when creating "STDIN": ReplicationController in version "v1" cannot be handled as a ReplicationController: ` +
			`json: cannot unmarshal string into Go struct field ReplicationControllerSpec.spec.replicas of type int32`},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, err := s.kubectl(c.manifest, "apply", "-f", "-")
			if err == nil {
				t.Fatalf("apply succeeded: %s", out)
			}
			got := strings.Split(strings.TrimRight(errOut, "\n"), "\n")
			if !slices.Equal(got, c.want) {
				t.Errorf("stderr:\n%s\nwant:\n%s", errOut, strings.Join(c.want, "\n"))
			}
			if _, errOut, err := s.kubectl("", "get", c.get); err == nil || !strings.Contains(errOut, "NotFound") {
				t.Errorf("refused object is stored: err=%v %s", err, errOut)
			}
		})
	}
}

// TestKubectlClusterViews checks the commands that look across kinds or
// namespaces: get all, -A, label columns, event field selectors,
// api-resources, deprecation warnings.
func TestKubectlClusterViews(t *testing.T) {
	s := startServer(t)
	s.mustKubectl("", "create", "namespace", e2eNamespace)
	s.mustKubectl("", "apply", "-f", filepath.Join("testdata", "resources"))

	t.Run("get all", func(t *testing.T) {
		out := s.mustKubectl("", "get", "all", "-n", e2eNamespace)
		var kinds []string
		for _, block := range strings.Split(strings.TrimSpace(out), "\n\n") {
			lines := strings.Split(block, "\n")
			if len(lines) < 2 {
				t.Errorf("table without rows:\n%s", block)
				continue
			}
			kind, _, _ := strings.Cut(lines[1], "/")
			kinds = append(kinds, kind)
		}
		// Upstream's "all" category, in discovery order: groups by
		// priority, resources sorted by name within each.
		want := []string{"pod", "replicationcontroller", "service",
			"daemonset.apps", "deployment.apps", "replicaset.apps", "statefulset.apps",
			"horizontalpodautoscaler.autoscaling", "cronjob.batch", "job.batch"}
		if !slices.Equal(kinds, want) {
			t.Errorf("get all shows %q, want %q:\n%s", kinds, want, out)
		}
	})

	// kubectl fills the NAMESPACE column and label columns from the
	// object metadata in each table row.
	t.Run("get -A shows namespaces", func(t *testing.T) {
		out := s.mustKubectl("", "get", "pods", "-A")
		if got := header(out); !slices.Equal(got, []string{"NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"}) {
			t.Errorf("columns %q", got)
		}
		if !strings.HasPrefix(rowOf(out, "web-0"), "e2e ") {
			t.Errorf("no namespace in the row of web-0:\n%s", out)
		}
		// Node events (RegisteredNode) are in "default", as upstream's.
		out = s.mustKubectl("", "get", "events", "-A")
		if !strings.Contains(out, "\ne2e ") {
			t.Errorf("no namespace in the events rows:\n%s", out)
		}
	})
	t.Run("get --show-labels and -L", func(t *testing.T) {
		out := s.mustKubectl("", "get", "pods", "-n", e2eNamespace, "--show-labels")
		if row := rowOf(out, "web-0"); !strings.HasSuffix(row, "app=web") {
			t.Errorf("--show-labels: %q", out)
		}
		out = s.mustKubectl("", "get", "deployments", "-n", e2eNamespace, "-L", "app")
		if got := header(out); got[len(got)-1] != "APP" || !strings.HasSuffix(rowOf(out, "api"), " api") {
			t.Errorf("-L app:\n%s", out)
		}
	})

	t.Run("events field selectors", func(t *testing.T) {
		cases := []struct {
			args []string
			want []string // names, sorted
		}{
			{[]string{"events", "--field-selector", "type=Warning"}, []string{"api.backoff"}},
			{[]string{"events", "--field-selector", "involvedObject.kind=Pod,reason=Scheduled"}, []string{"web-0.scheduled"}},
			{[]string{"events", "--field-selector", "involvedObject.name=web-0,involvedObject.namespace=e2e"}, []string{"web-0.scheduled"}},
			{[]string{"events", "--field-selector", "source=default-scheduler"}, []string{"web-0.scheduled"}},
			{[]string{"events", "--field-selector", "type!=Warning"}, []string{"web-0.scheduled"}},
			{[]string{"events.events.k8s.io", "--field-selector", "reason=BackOff"}, []string{"api.backoff"}},
			{[]string{"events.events.k8s.io", "--field-selector", "regarding.kind=Deployment"}, []string{"api.backoff"}},
			{[]string{"events.events.k8s.io", "--field-selector", "reportingController=example.com/api-operator"}, []string{"api.backoff"}},
		}
		// The scheduler and controllers record events of their own; the
		// fixture's carry a label that keeps them apart.
		for _, c := range cases {
			args := append([]string{"get", "-n", e2eNamespace, "-l", "fixture=e2e", "-o", "custom-columns=NAME:.metadata.name", "--no-headers"}, c.args...)
			out := s.mustKubectl("", args...)
			got := strings.Fields(out)
			slices.Sort(got)
			if !slices.Equal(got, c.want) {
				t.Errorf("get %s = %q, want %q", strings.Join(c.args, " "), got, c.want)
			}
		}
		_, errOut, err := s.kubectl("", "get", "events", "-n", e2eNamespace, "--field-selector", "spec.nodeName=worker-1")
		want := `Error from server (BadRequest): Unable to find "/v1, Resource=events" that match label selector "", field selector "spec.nodeName=worker-1": field label not supported: spec.nodeName`
		if err == nil || strings.TrimSpace(errOut) != want {
			t.Errorf("unsupported field label: err=%v\n%s\nwant:\n%s", err, errOut, want)
		}
	})

	t.Run("api-resources", func(t *testing.T) {
		clusterScoped := strings.Fields(s.mustKubectl("", "api-resources", "--namespaced=false", "-o", "name"))
		want := []string{"namespaces", "nodes", "persistentvolumes",
			"mutatingwebhookconfigurations.admissionregistration.k8s.io",
			"validatingadmissionpolicies.admissionregistration.k8s.io",
			"validatingadmissionpolicybindings.admissionregistration.k8s.io",
			"validatingwebhookconfigurations.admissionregistration.k8s.io",
			"selfsubjectreviews.authentication.k8s.io", "tokenreviews.authentication.k8s.io",
			"selfsubjectaccessreviews.authorization.k8s.io",
			"selfsubjectrulesreviews.authorization.k8s.io", "subjectaccessreviews.authorization.k8s.io",
			"certificatesigningrequests.certificates.k8s.io",
			"ingressclasses.networking.k8s.io",
			"clusterrolebindings.rbac.authorization.k8s.io", "clusterroles.rbac.authorization.k8s.io",
			"priorityclasses.scheduling.k8s.io", "storageclasses.storage.k8s.io"}
		if !slices.Equal(clusterScoped, want) {
			t.Errorf("api-resources --namespaced=false = %q, want %q", clusterScoped, want)
		}
		out := s.mustKubectl("", "api-resources", "--namespaced=false")
		if got := header(out); !slices.Equal(got, []string{"NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"}) {
			t.Errorf("api-resources columns %q", got)
		}
		if row := strings.Fields(rowOf(out, "storageclasses")); !slices.Equal(row, []string{"storageclasses", "sc", "storage.k8s.io/v1", "false", "StorageClass"}) {
			t.Errorf("storageclasses row %q", row)
		}
		namespaced := strings.Fields(s.mustKubectl("", "api-resources", "--namespaced=true", "-o", "name"))
		for _, r := range clusterScoped {
			if slices.Contains(namespaced, r) {
				t.Errorf("%s listed as namespaced", r)
			}
		}
		apps := strings.Fields(s.mustKubectl("", "api-resources", "--api-group=apps", "-o", "name"))
		if want := []string{"controllerrevisions.apps", "daemonsets.apps", "deployments.apps", "replicasets.apps", "statefulsets.apps"}; !slices.Equal(apps, want) {
			t.Errorf("api-resources --api-group=apps = %q, want %q", apps, want)
		}
	})

	// Upstream warns on every use of a deprecated API (v1 Endpoints since
	// v1.33), and kubectl prints the warning on stderr.
	t.Run("deprecated API warning", func(t *testing.T) {
		_, errOut, err := s.kubectl("", "get", "endpoints", "-n", e2eNamespace)
		if err != nil {
			t.Fatal(err)
		}
		if want := "Warning: v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice"; !strings.Contains(errOut, want) {
			t.Errorf("stderr %q lacks %q", errOut, want)
		}
	})

	// Strategies' warnings reach kubectl's stderr, as upstream's
	// WarningsOnCreate do.
	t.Run("warning on create", func(t *testing.T) {
		ing := `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: annotated-class
  namespace: e2e
  annotations:
    kubernetes.io/ingress.class: nginx
spec:
  defaultBackend:
    service:
      name: web
      port:
        number: 80
`
		out, errOut, err := s.kubectl(ing, "apply", "-f", "-")
		if err != nil {
			t.Fatalf("%v: %s%s", err, out, errOut)
		}
		if want := `Warning: annotation "kubernetes.io/ingress.class" is deprecated, please use 'spec.ingressClassName' instead`; !strings.Contains(errOut, want) {
			t.Errorf("stderr %q lacks %q", errOut, want)
		}

		deploy := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: legacy-selector
  namespace: e2e
spec:
  selector:
    matchLabels:
      app: legacy
  template:
    metadata:
      labels:
        app: legacy
    spec:
      nodeSelector:
        beta.kubernetes.io/os: linux
      containers:
      - name: web
        image: nginx:1.27
        env:
        - name: MODE
          value: a
        - name: MODE
          value: b
`
		out, errOut, err = s.kubectl(deploy, "apply", "-f", "-")
		if err != nil {
			t.Fatalf("%v: %s%s", err, out, errOut)
		}
		for _, want := range []string{
			`Warning: spec.template.spec.nodeSelector[beta.kubernetes.io/os]: deprecated since v1.14; use "kubernetes.io/os" instead`,
			`Warning: spec.template.spec.containers[0].env[1]: hides previous definition of "MODE", which may be dropped when using apply`,
		} {
			if !strings.Contains(errOut, want) {
				t.Errorf("stderr %q lacks %q", errOut, want)
			}
		}
	})
}

// rowOf returns the first line of a table whose first or second column
// is name.
func rowOf(out, name string) string {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && f[0] == name || len(f) > 1 && f[1] == name {
			return l
		}
	}
	return ""
}
