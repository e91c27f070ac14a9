package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/util/jsonpath"
	"sigs.k8s.io/yaml"
)

// resourceCase is one manifest under testdata/resources and what a user
// sees when driving it with kubectl, as upstream shows it.
type resourceCase struct {
	file string // under testdata/resources
	// kind is the type argument given to kubectl ("deployments.apps");
	// printed is how kubectl names the object in its messages
	// ("deployment.apps/api").
	kind, name, printed string
	// reapply is what a second `kubectl apply` says: "unchanged" unless
	// upstream's three-way patch is never empty for this manifest.
	reapply string
	columns []string // header of `kubectl get`
	wide    []string // header of `kubectl get -o wide`; nil means same as columns
	// cells are expected cells of the `kubectl get` row by column;
	// a value is a globMatch pattern (allocated IPs and ports vary).
	// Time columns are not checked.
	cells map[string]string
	// defaults are jsonpath → value checks on `kubectl get -o yaml` right
	// after creation: what the server filled in.
	defaults [][2]string
	// explain is the argument of `kubectl explain` (plus flags).
	explain []string
	// patch is an extra kind-specific patch (type, body) and a check of
	// its effect (jsonpath, value) on the stored object.
	patch *specPatch
	// ssaConflict is the field that the first server-side apply after a
	// client-side one conflicts on, as upstream: an atomic list the
	// server defaults inside differs from the applied one.
	ssaConflict string
	// dryRunEdit adapts the manifest for a dry-run create beside the
	// live object (a fixed nodePort is already taken).
	dryRunEdit func(*unstructured.Unstructured)
}

type specPatch struct {
	typ, body  string
	path, want string
}

const e2eNamespace = "e2e"

// Columns shared by several kinds.
var (
	serviceColumns     = []string{"NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"}
	serviceWide        = append(append([]string{}, serviceColumns...), "SELECTOR")
	secretColumns      = []string{"NAME", "TYPE", "DATA", "AGE"}
	createdAtColumns   = []string{"NAME", "CREATED AT"}
	hpaColumns         = []string{"NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"}
	eventColumns       = []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"}
	eventWide          = []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "SUBOBJECT", "SOURCE", "MESSAGE", "FIRST SEEN", "COUNT", "NAME"}
	bindingColumns     = []string{"NAME", "ROLE", "AGE"}
	bindingWide        = []string{"NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"}
	replicaColumns     = []string{"NAME", "DESIRED", "CURRENT", "READY", "AGE"}
	replicaWide        = []string{"NAME", "DESIRED", "CURRENT", "READY", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"}
	podTemplateDefault = [][2]string{
		{"{.spec.template.spec.restartPolicy}", "Always"},
		{"{.spec.template.spec.dnsPolicy}", "ClusterFirst"},
		{"{.spec.template.spec.schedulerName}", "default-scheduler"},
		{"{.spec.template.spec.terminationGracePeriodSeconds}", "30"},
		{"{.spec.template.spec.containers[0].terminationMessagePath}", "/dev/termination-log"},
		{"{.spec.template.spec.containers[0].terminationMessagePolicy}", "File"},
	}
)

func explainArgs(args ...string) []string { return args }

// resourceCases covers every resource skiff serves, with a realistic
// manifest each. Columns are those of upstream's printers
// (pkg/printers/internalversion) for v1.37.
var resourceCases = []resourceCase{
	{file: "namespace.yaml", kind: "namespaces", name: "team-a", printed: "namespace/team-a",
		cells:   map[string]string{"NAME": "team-a", "STATUS": "Active"},
		columns: []string{"NAME", "STATUS", "AGE"},
		defaults: [][2]string{{"{.spec.finalizers[0]}", "kubernetes"}, {"{.status.phase}", "Active"},
			{"{.metadata.labels['kubernetes\\.io/metadata\\.name']}", "team-a"}},
		explain: explainArgs("namespaces.spec")},
	// The ServiceAccount admission plug-in adds the kube-api-access
	// volume and its mount, so the live lists are longer than the
	// manifest's and kubectl's three-way patch carries $setElementOrder
	// directives: "configured", as upstream.
	{file: "pod.yaml", kind: "pods", name: "web-0", printed: "pod/web-0", reapply: "configured",
		cells:   map[string]string{"NAME": "web-0", "READY": "0/1", "STATUS": "Pending", "RESTARTS": "0"},
		columns: []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE"},
		wide:    []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"},
		defaults: [][2]string{
			{"{.spec.restartPolicy}", "Always"}, {"{.spec.dnsPolicy}", "ClusterFirst"},
			{"{.spec.schedulerName}", "default-scheduler"}, {"{.spec.terminationGracePeriodSeconds}", "30"},
			{"{.spec.enableServiceLinks}", "true"},
			{"{.spec.containers[0].imagePullPolicy}", "IfNotPresent"},
			{"{.spec.containers[0].ports[0].protocol}", "TCP"},
			{"{.spec.containers[0].readinessProbe.httpGet.scheme}", "HTTP"},
			{"{.spec.containers[0].readinessProbe.timeoutSeconds}", "1"},
			{"{.spec.containers[0].readinessProbe.periodSeconds}", "10"},
			{"{.spec.containers[0].readinessProbe.successThreshold}", "1"},
			{"{.spec.containers[0].readinessProbe.failureThreshold}", "3"},
			{"{.status.phase}", "Pending"}, {"{.status.qosClass}", "Burstable"},
		},
		explain: explainArgs("pods.spec"),
		patch: &specPatch{typ: "strategic", body: `{"spec":{"containers":[{"name":"nginx","image":"nginx:1.28"}]}}`,
			path: "{.spec.containers[0].image} {.spec.containers[0].ports[0].name}", want: "nginx:1.28 http"}},
	{file: "service-clusterip.yaml", kind: "services", name: "web", printed: "service/web",
		cells:   map[string]string{"TYPE": "ClusterIP", "CLUSTER-IP": "10.43.*", "EXTERNAL-IP": "<none>", "PORT(S)": "80/TCP"},
		columns: serviceColumns, wide: serviceWide,
		defaults: [][2]string{{"{.spec.type}", "ClusterIP"}, {"{.spec.sessionAffinity}", "None"},
			{"{.spec.ports[0].protocol}", "TCP"}, {"{.spec.ipFamilies[0]}", "IPv4"},
			{"{.spec.ipFamilyPolicy}", "SingleStack"}, {"{.spec.internalTrafficPolicy}", "Cluster"}},
		explain: explainArgs("services.spec"),
		// Ports merge on their port number.
		patch: &specPatch{typ: "strategic", body: `{"spec":{"ports":[{"name":"metrics","port":9090}]}}`,
			path: "{.spec.ports[*].port}", want: "9090 80"}},
	{file: "service-nodeport.yaml", kind: "services", name: "web-nodeport", printed: "service/web-nodeport",
		cells:   map[string]string{"TYPE": "NodePort", "CLUSTER-IP": "10.43.*", "EXTERNAL-IP": "<none>", "PORT(S)": "80:30080/TCP"},
		columns: serviceColumns, wide: serviceWide,
		defaults: [][2]string{{"{.spec.type}", "NodePort"}, {"{.spec.externalTrafficPolicy}", "Cluster"},
			{"{.spec.ports[0].nodePort}", "30080"}, {"{.spec.sessionAffinity}", "None"}},
		dryRunEdit: func(u *unstructured.Unstructured) {
			ports, _, _ := unstructured.NestedSlice(u.Object, "spec", "ports")
			delete(ports[0].(map[string]any), "nodePort")
			_ = unstructured.SetNestedSlice(u.Object, ports, "spec", "ports")
		}},
	{file: "service-loadbalancer.yaml", kind: "services", name: "web-lb", printed: "service/web-lb",
		cells:   map[string]string{"TYPE": "LoadBalancer", "CLUSTER-IP": "10.43.*", "EXTERNAL-IP": "<pending>", "PORT(S)": "443:3[0-9][0-9][0-9][0-9]/TCP"},
		columns: serviceColumns, wide: serviceWide,
		defaults: [][2]string{{"{.spec.type}", "LoadBalancer"}, {"{.spec.externalTrafficPolicy}", "Cluster"},
			{"{.spec.allocateLoadBalancerNodePorts}", "true"}, {"{.spec.ports[0].protocol}", "TCP"}}},
	{file: "service-headless.yaml", kind: "services", name: "db", printed: "service/db",
		cells:   map[string]string{"TYPE": "ClusterIP", "CLUSTER-IP": "None", "EXTERNAL-IP": "<none>", "PORT(S)": "5432/TCP"},
		columns: serviceColumns, wide: serviceWide,
		defaults: [][2]string{{"{.spec.clusterIP}", "None"}, {"{.spec.clusterIPs[0]}", "None"},
			{"{.spec.ports[0].targetPort}", "5432"}, {"{.spec.type}", "ClusterIP"}}},
	{file: "service-externalname.yaml", kind: "services", name: "search", printed: "service/search",
		cells:   map[string]string{"TYPE": "ExternalName", "CLUSTER-IP": "<none>", "EXTERNAL-IP": "search.example.com", "PORT(S)": "<none>"},
		columns: serviceColumns, wide: serviceWide,
		defaults: [][2]string{{"{.spec.type}", "ExternalName"}, {"{.spec.sessionAffinity}", "None"}, {"{.spec.clusterIP}", ""}}},
	{file: "endpoints.yaml", kind: "endpoints", name: "legacy-db", printed: "endpoints/legacy-db",
		cells:    map[string]string{"ENDPOINTS": "10.0.0.10:5432,10.0.0.11:5432"},
		columns:  []string{"NAME", "ENDPOINTS", "AGE"},
		defaults: [][2]string{{"{.subsets[0].addresses[*].ip}", "10.0.0.10 10.0.0.11"}},
		explain:  explainArgs("endpoints.subsets")},
	{file: "node.yaml", kind: "nodes", name: "worker-1", printed: "node/worker-1",
		// No agent posts its status: "Unknown" until the node lifecycle
		// controller marks it NotReady.
		cells:   map[string]string{"STATUS": "[UN]*", "ROLES": "worker", "VERSION": ""},
		columns: []string{"NAME", "STATUS", "ROLES", "AGE", "VERSION"},
		wide:    []string{"NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"},
		// podCIDRs mirrors podCIDR, as upstream's conversion does.
		defaults: [][2]string{{"{.spec.podCIDRs[0]}", "10.42.1.0/24"}},
		explain:  explainArgs("nodes.spec"),
		patch: &specPatch{typ: "json", body: `[{"op":"add","path":"/spec/unschedulable","value":true}]`,
			path: "{.spec.unschedulable}", want: "true"}},
	{file: "configmap.yaml", kind: "configmaps", name: "app-config", printed: "configmap/app-config",
		cells:    map[string]string{"DATA": "2"},
		columns:  []string{"NAME", "DATA", "AGE"},
		defaults: [][2]string{{"{.data.LOG_LEVEL}", "info"}},
		explain:  explainArgs("configmaps.data"),
		patch: &specPatch{typ: "merge", body: `{"data":{"LOG_LEVEL":"debug","app.properties":null}}`,
			path: "{.data}", want: `{"LOG_LEVEL":"debug"}`}},
	// stringData is write-only: it is never in the live object, so
	// kubectl's three-way patch always re-sends it ("configured").
	{file: "secret-opaque.yaml", kind: "secrets", name: "db-credentials", printed: "secret/db-credentials",
		cells:   map[string]string{"TYPE": "Opaque", "DATA": "2"},
		reapply: "configured", columns: secretColumns,
		defaults: [][2]string{{"{.data.password}", "czNjcjN0"}, {"{.data.username}", "YWRtaW4="}, {"{.stringData}", ""}},
		explain:  explainArgs("secrets.type")},
	{file: "secret-tls.yaml", kind: "secrets", name: "web-tls", printed: "secret/web-tls",
		cells:   map[string]string{"TYPE": "kubernetes.io/tls", "DATA": "2"},
		columns: secretColumns, defaults: [][2]string{{"{.type}", "kubernetes.io/tls"}}},
	{file: "secret-dockerconfigjson.yaml", kind: "secrets", name: "registry-pull", printed: "secret/registry-pull",
		cells:   map[string]string{"TYPE": "kubernetes.io/dockerconfigjson", "DATA": "1"},
		columns: secretColumns, defaults: [][2]string{{"{.type}", "kubernetes.io/dockerconfigjson"}}},
	{file: "serviceaccount.yaml", kind: "serviceaccounts", name: "builder", printed: "serviceaccount/builder",
		cells:    map[string]string{"NAME": "builder"},
		columns:  []string{"NAME", "AGE"},
		defaults: [][2]string{{"{.imagePullSecrets[0].name}", "registry-pull"}, {"{.automountServiceAccountToken}", "false"}},
		explain:  explainArgs("serviceaccounts.imagePullSecrets")},
	{file: "event.yaml", kind: "events", name: "web-0.scheduled", printed: "event/web-0.scheduled",
		cells:   map[string]string{"TYPE": "Normal", "REASON": "Scheduled", "OBJECT": "pod/web-0", "MESSAGE": "Successfully assigned e2e/web-0 to worker-1"},
		columns: eventColumns, wide: eventWide,
		defaults: [][2]string{{"{.involvedObject.kind}", "Pod"}, {"{.count}", "1"}},
		explain:  explainArgs("events.involvedObject", "--api-version=v1")},
	{file: "persistentvolume.yaml", kind: "persistentvolumes", name: "pv-local-1", printed: "persistentvolume/pv-local-1",
		cells:   map[string]string{"CAPACITY": "5Gi", "ACCESS MODES": "RWO", "RECLAIM POLICY": "Retain", "STATUS": "Pending", "CLAIM": "", "STORAGECLASS": "local-storage", "VOLUMEATTRIBUTESCLASS": "<unset>", "REASON": ""},
		columns: []string{"NAME", "CAPACITY", "ACCESS MODES", "RECLAIM POLICY", "STATUS", "CLAIM", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "REASON", "AGE"},
		wide:    []string{"NAME", "CAPACITY", "ACCESS MODES", "RECLAIM POLICY", "STATUS", "CLAIM", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "REASON", "AGE", "VOLUMEMODE"},
		defaults: [][2]string{{"{.spec.volumeMode}", "Filesystem"}, {"{.status.phase}", "Pending"},
			{"{.spec.persistentVolumeReclaimPolicy}", "Retain"}},
		explain: explainArgs("persistentvolumes.spec")},
	{file: "persistentvolumeclaim.yaml", kind: "persistentvolumeclaims", name: "data", printed: "persistentvolumeclaim/data",
		cells:    map[string]string{"STATUS": "Pending", "VOLUME": "", "CAPACITY": "", "ACCESS MODES": "", "STORAGECLASS": "local-storage", "VOLUMEATTRIBUTESCLASS": "<unset>"},
		columns:  []string{"NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "AGE"},
		wide:     []string{"NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "AGE", "VOLUMEMODE"},
		defaults: [][2]string{{"{.spec.volumeMode}", "Filesystem"}, {"{.status.phase}", "Pending"}},
		explain:  explainArgs("persistentvolumeclaims.spec")},
	// limits is an atomic list the server defaults inside, so kubectl's
	// patch is never empty ("configured").
	{file: "limitrange.yaml", kind: "limitranges", name: "defaults", printed: "limitrange/defaults",
		cells:   map[string]string{"NAME": "defaults"},
		reapply: "configured", ssaConflict: ".spec.limits", columns: createdAtColumns,
		// A container's defaultRequest falls back to its default.
		defaults: [][2]string{{"{.spec.limits[0].defaultRequest.cpu}", "500m"}, {"{.spec.limits[0].defaultRequest.memory}", "64Mi"}},
		explain:  explainArgs("limitranges.spec")},
	{file: "resourcequota.yaml", kind: "resourcequotas", name: "compute", printed: "resourcequota/compute",
		// The quota controller fills in usage from the namespace's pods,
		// which the workload controllers are creating meanwhile.
		cells:    map[string]string{"REQUEST": "*requests.cpu: *", "LIMIT": "*limits.memory: *"},
		columns:  []string{"NAME", "REQUEST", "LIMIT", "AGE"},
		defaults: [][2]string{{"{.spec.hard.pods}", "20"}},
		explain:  explainArgs("resourcequotas.spec")},
	{file: "podtemplate.yaml", kind: "podtemplates", name: "worker-template", printed: "podtemplate/worker-template",
		cells:   map[string]string{"CONTAINERS": "worker", "IMAGES": "busybox:1.36", "POD LABELS": "app=worker"},
		columns: []string{"NAME", "CONTAINERS", "IMAGES", "POD LABELS"},
		defaults: [][2]string{{"{.template.spec.restartPolicy}", "Always"},
			{"{.template.spec.containers[0].imagePullPolicy}", "IfNotPresent"}},
		explain: explainArgs("podtemplates.template")},
	{file: "replicationcontroller.yaml", kind: "replicationcontrollers", name: "legacy-web", printed: "replicationcontroller/legacy-web",
		cells:   map[string]string{"DESIRED": "2", "CURRENT": "0", "READY": "0"},
		columns: replicaColumns, wide: replicaWide,
		// An RC without labels takes its template's.
		defaults: append([][2]string{{"{.metadata.labels.app}", "legacy-web"}}, podTemplateDefault...),
		explain:  explainArgs("replicationcontrollers.spec"),
		patch: &specPatch{typ: "merge", body: `{"spec":{"replicas":5}}`,
			path: "{.spec.replicas} {.metadata.generation}", want: "5 2"}},
	// The deployment and replica set controllers run: by the time kubectl
	// reads the row they may have created the pods (which stay Pending:
	// there are no nodes).
	{file: "deployment.yaml", kind: "deployments.apps", name: "api", printed: "deployment.apps/api",
		cells:   map[string]string{"READY": "0/3", "UP-TO-DATE": "[03]", "AVAILABLE": "0"},
		columns: []string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"},
		wide:    []string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"},
		defaults: append([][2]string{{"{.spec.strategy.type}", "RollingUpdate"},
			{"{.spec.strategy.rollingUpdate.maxSurge}", "25%"}, {"{.spec.strategy.rollingUpdate.maxUnavailable}", "25%"},
			{"{.spec.revisionHistoryLimit}", "10"}, {"{.spec.progressDeadlineSeconds}", "600"},
			{"{.spec.template.spec.containers[0].livenessProbe.periodSeconds}", "10"},
			{"{.metadata.generation}", "1"}}, podTemplateDefault...),
		explain: explainArgs("deployments.spec"),
		// Containers merge on their name: the sidecar stays.
		patch: &specPatch{typ: "strategic", body: `{"spec":{"template":{"spec":{"containers":[{"name":"api","image":"ghcr.io/example/api:2.2.0"}]}}}}`,
			path: "{.spec.template.spec.containers[*].image}", want: "ghcr.io/example/api:2.2.0 busybox:1.36"}},
	{file: "replicaset.yaml", kind: "replicasets.apps", name: "frontend", printed: "replicaset.apps/frontend",
		cells:   map[string]string{"DESIRED": "2", "CURRENT": "[02]", "READY": "0"},
		columns: replicaColumns, wide: replicaWide, defaults: podTemplateDefault,
		explain: explainArgs("replicasets.spec")},
	// volumeClaimTemplates is an atomic list and the server defaults
	// fields inside it, so kubectl's patch is never empty ("configured").
	{file: "statefulset.yaml", kind: "statefulsets.apps", name: "postgres", printed: "statefulset.apps/postgres",
		cells:   map[string]string{"READY": "0/1"},
		reapply: "configured", ssaConflict: ".spec.volumeClaimTemplates",
		columns: []string{"NAME", "READY", "AGE"},
		wide:    []string{"NAME", "READY", "AGE", "CONTAINERS", "IMAGES"},
		defaults: append([][2]string{{"{.spec.podManagementPolicy}", "OrderedReady"},
			{"{.spec.updateStrategy.type}", "RollingUpdate"}, {"{.spec.updateStrategy.rollingUpdate.partition}", "0"},
			{"{.spec.revisionHistoryLimit}", "10"},
			{"{.spec.persistentVolumeClaimRetentionPolicy.whenDeleted}", "Retain"},
			{"{.spec.volumeClaimTemplates[0].spec.volumeMode}", "Filesystem"},
			{"{.spec.volumeClaimTemplates[0].status.phase}", "Pending"}}, podTemplateDefault...),
		explain: explainArgs("statefulsets.spec.volumeClaimTemplates")},
	{file: "daemonset.yaml", kind: "daemonsets.apps", name: "log-agent", printed: "daemonset.apps/log-agent",
		cells:   map[string]string{"DESIRED": "0", "CURRENT": "0", "READY": "0", "UP-TO-DATE": "0", "AVAILABLE": "0", "NODE SELECTOR": "kubernetes.io/os=linux"},
		columns: []string{"NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE"},
		wide:    []string{"NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"},
		defaults: append([][2]string{{"{.spec.updateStrategy.type}", "RollingUpdate"},
			{"{.spec.updateStrategy.rollingUpdate.maxUnavailable}", "1"}, {"{.spec.updateStrategy.rollingUpdate.maxSurge}", "0"},
			{"{.spec.revisionHistoryLimit}", "10"},
			{"{.spec.template.spec.volumes[0].hostPath.type}", ""}}, podTemplateDefault...),
		explain: explainArgs("daemonsets.spec")},
	{file: "controllerrevision.yaml", kind: "controllerrevisions.apps", name: "log-agent-5d8f7c9b4", printed: "controllerrevision.apps/log-agent-5d8f7c9b4",
		// The DaemonSet controller adopts a revision that matches its
		// selector; kubectl may read the row before or after.
		cells:    map[string]string{"CONTROLLER": "*", "REVISION": "1"},
		columns:  []string{"NAME", "CONTROLLER", "REVISION", "AGE"},
		defaults: [][2]string{{"{.revision}", "1"}},
		explain:  explainArgs("controllerrevisions.revision")},
	{file: "job.yaml", kind: "jobs.batch", name: "migrate", printed: "job.batch/migrate",
		// DURATION counts from the controller's status.startTime.
		cells:   map[string]string{"STATUS": "Running", "COMPLETIONS": "0/3", "DURATION": "*"},
		columns: []string{"NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"},
		wide:    []string{"NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"},
		defaults: [][2]string{{"{.spec.completionMode}", "NonIndexed"}, {"{.spec.suspend}", "false"},
			{"{.spec.podReplacementPolicy}", "TerminatingOrFailed"}, {"{.spec.manualSelector}", "false"},
			{"{.spec.template.metadata.labels['batch\\.kubernetes\\.io/job-name']}", "migrate"},
			{"{.spec.template.metadata.labels['job-name']}", "migrate"},
			{"{.spec.template.spec.dnsPolicy}", "ClusterFirst"}},
		explain: explainArgs("jobs.spec")},
	{file: "cronjob.yaml", kind: "cronjobs.batch", name: "nightly-backup", printed: "cronjob.batch/nightly-backup",
		cells:   map[string]string{"SCHEDULE": `0 2 \* \* \*`, "TIMEZONE": "Etc/UTC", "SUSPEND": "False", "ACTIVE": "0", "LAST SCHEDULE": "<none>"},
		columns: []string{"NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"},
		wide:    []string{"NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"},
		defaults: [][2]string{{"{.spec.successfulJobsHistoryLimit}", "3"}, {"{.spec.failedJobsHistoryLimit}", "1"},
			{"{.spec.suspend}", "false"}, {"{.spec.jobTemplate.spec.template.spec.schedulerName}", "default-scheduler"}},
		explain: explainArgs("cronjobs.spec"),
		patch:   &specPatch{typ: "merge", body: `{"spec":{"suspend":true}}`, path: "{.spec.suspend}", want: "true"}},
	{file: "ingress.yaml", kind: "ingresses.networking.k8s.io", name: "web", printed: "ingress.networking.k8s.io/web",
		cells:    map[string]string{"CLASS": "nginx", "HOSTS": "shop.example.com", "ADDRESS": "", "PORTS": "80, 443"},
		columns:  []string{"NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"},
		defaults: [][2]string{{"{.spec.tls[0].secretName}", "web-tls"}, {"{.spec.rules[0].http.paths[1].backend.service.port.number}", "8080"}},
		explain:  explainArgs("ingresses.spec.tls")},
	{file: "ingressclass.yaml", kind: "ingressclasses.networking.k8s.io", name: "nginx", printed: "ingressclass.networking.k8s.io/nginx",
		cells:    map[string]string{"NAME": "nginx (default)", "CONTROLLER": "k8s.io/ingress-nginx", "PARAMETERS": "<none>"},
		columns:  []string{"NAME", "CONTROLLER", "PARAMETERS", "AGE"},
		defaults: [][2]string{{"{.spec.controller}", "k8s.io/ingress-nginx"}},
		explain:  explainArgs("ingressclasses.spec")},
	{file: "networkpolicy.yaml", kind: "networkpolicies.networking.k8s.io", name: "db-allow-api", printed: "networkpolicy.networking.k8s.io/db-allow-api",
		cells:    map[string]string{"POD-SELECTOR": "app=db"},
		columns:  []string{"NAME", "POD-SELECTOR", "AGE"},
		defaults: [][2]string{{"{.spec.ingress[0].ports[0].protocol}", "TCP"}},
		explain:  explainArgs("networkpolicies.spec")},
	{file: "role.yaml", kind: "roles.rbac.authorization.k8s.io", name: "pod-reader", printed: "role.rbac.authorization.k8s.io/pod-reader",
		cells:   map[string]string{"NAME": "pod-reader"},
		columns: createdAtColumns, defaults: [][2]string{{"{.rules[0].verbs[*]}", "get list watch"}},
		explain: explainArgs("roles.rules")},
	{file: "rolebinding.yaml", kind: "rolebindings.rbac.authorization.k8s.io", name: "read-pods", printed: "rolebinding.rbac.authorization.k8s.io/read-pods",
		cells:   map[string]string{"ROLE": "Role/pod-reader"},
		columns: bindingColumns, wide: bindingWide, defaults: [][2]string{{"{.roleRef.kind}", "Role"}},
		explain: explainArgs("rolebindings.roleRef")},
	{file: "clusterrole.yaml", kind: "clusterroles.rbac.authorization.k8s.io", name: "secret-reader", printed: "clusterrole.rbac.authorization.k8s.io/secret-reader",
		cells:   map[string]string{"NAME": "secret-reader"},
		columns: createdAtColumns, defaults: [][2]string{{"{.rules[1].nonResourceURLs[1]}", "/healthz/*"}},
		explain: explainArgs("clusterroles.aggregationRule")},
	{file: "clusterrolebinding.yaml", kind: "clusterrolebindings.rbac.authorization.k8s.io", name: "read-secrets-global", printed: "clusterrolebinding.rbac.authorization.k8s.io/read-secrets-global",
		cells:   map[string]string{"ROLE": "ClusterRole/secret-reader"},
		columns: bindingColumns, wide: bindingWide, defaults: [][2]string{{"{.subjects[0].kind}", "Group"}},
		explain: explainArgs("clusterrolebindings.subjects")},
	{file: "lease.yaml", kind: "leases.coordination.k8s.io", name: "controller-leader", printed: "lease.coordination.k8s.io/controller-leader",
		cells:    map[string]string{"HOLDER": "controller-7c9d-abcde"},
		columns:  []string{"NAME", "HOLDER", "AGE"},
		defaults: [][2]string{{"{.spec.leaseDurationSeconds}", "15"}, {"{.spec.renewTime}", "2026-01-01T10:00:10.000000Z"}},
		explain:  explainArgs("leases.spec"),
		patch: &specPatch{typ: "merge", body: `{"spec":{"holderIdentity":"controller-8f2e-fghij","leaseTransitions":3}}`,
			path: "{.spec.holderIdentity} {.spec.leaseTransitions}", want: "controller-8f2e-fghij 3"}},
	{file: "storageclass.yaml", kind: "storageclasses.storage.k8s.io", name: "local-storage", printed: "storageclass.storage.k8s.io/local-storage",
		cells:    map[string]string{"PROVISIONER": "kubernetes.io/no-provisioner", "RECLAIMPOLICY": "Delete", "VOLUMEBINDINGMODE": "WaitForFirstConsumer", "ALLOWVOLUMEEXPANSION": "true"},
		columns:  []string{"NAME", "PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE", "ALLOWVOLUMEEXPANSION", "AGE"},
		defaults: [][2]string{{"{.reclaimPolicy}", "Delete"}, {"{.volumeBindingMode}", "WaitForFirstConsumer"}},
		explain:  explainArgs("storageclasses.volumeBindingMode")},
	{file: "endpointslice.yaml", kind: "endpointslices.discovery.k8s.io", name: "web-abc12", printed: "endpointslice.discovery.k8s.io/web-abc12",
		cells:    map[string]string{"ADDRESSTYPE": "IPv4", "PORTS": "80", "ENDPOINTS": "10.42.0.15,10.42.1.7"},
		columns:  []string{"NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"},
		defaults: [][2]string{{"{.ports[0].protocol}", "TCP"}, {"{.endpoints[1].conditions.ready}", "false"}},
		explain:  explainArgs("endpointslices.endpoints")},
	{file: "event-eventsv1.yaml", kind: "events.events.k8s.io", name: "api.backoff", printed: "event.events.k8s.io/api.backoff",
		cells:   map[string]string{"TYPE": "Warning", "REASON": "BackOff", "OBJECT": "deployment/api", "MESSAGE": "Back-off restarting failed container"},
		columns: eventColumns, wide: eventWide,
		defaults: [][2]string{{"{.regarding.kind}", "Deployment"}, {"{.note}", "Back-off restarting failed container"}},
		explain:  explainArgs("events.regarding", "--api-version=events.k8s.io/v1")},
	// The selector has patch strategy "replace", so kubectl's three-way
	// patch always carries it ("configured"), as upstream.
	{file: "poddisruptionbudget.yaml", kind: "poddisruptionbudgets.policy", name: "api-pdb", printed: "poddisruptionbudget.policy/api-pdb",
		cells:    map[string]string{"MIN AVAILABLE": "2", "MAX UNAVAILABLE": "N/A", "ALLOWED DISRUPTIONS": "0"},
		reapply:  "configured",
		columns:  []string{"NAME", "MIN AVAILABLE", "MAX UNAVAILABLE", "ALLOWED DISRUPTIONS", "AGE"},
		defaults: [][2]string{{"{.spec.minAvailable}", "2"}},
		explain:  explainArgs("poddisruptionbudgets.spec")},
	{file: "hpa-v1.yaml", kind: "horizontalpodautoscalers.v1.autoscaling", name: "frontend", printed: "horizontalpodautoscaler.autoscaling/frontend",
		cells:    map[string]string{"REFERENCE": "ReplicaSet/frontend", "TARGETS": "cpu: <unknown>/75%", "MINPODS": "2", "MAXPODS": "6"},
		columns:  hpaColumns,
		defaults: [][2]string{{"{.spec.targetCPUUtilizationPercentage}", "75"}, {"{.apiVersion}", "autoscaling/v1"}},
		explain:  explainArgs("horizontalpodautoscalers.spec", "--api-version=autoscaling/v1")},
	{file: "hpa-v2.yaml", kind: "horizontalpodautoscalers.v2.autoscaling", name: "api", printed: "horizontalpodautoscaler.autoscaling/api",
		cells:   map[string]string{"REFERENCE": "Deployment/api", "TARGETS": "cpu: <unknown>/60%, memory: <unknown>/500Mi", "MINPODS": "3", "MAXPODS": "10"},
		columns: hpaColumns,
		defaults: [][2]string{{"{.spec.behavior.scaleUp.selectPolicy}", "Max"},
			{"{.spec.behavior.scaleUp.stabilizationWindowSeconds}", "0"},
			{"{.spec.behavior.scaleUp.policies[*].type}", "Pods Percent"},
			{"{.spec.behavior.scaleDown.stabilizationWindowSeconds}", "300"},
			{"{.spec.behavior.scaleDown.policies[0].value}", "100"}},
		explain: explainArgs("horizontalpodautoscalers.spec.behavior", "--api-version=autoscaling/v2"),
		patch:   &specPatch{typ: "merge", body: `{"spec":{"maxReplicas":12}}`, path: "{.spec.maxReplicas}", want: "12"}},
	{file: "priorityclass.yaml", kind: "priorityclasses.scheduling.k8s.io", name: "business-critical", printed: "priorityclass.scheduling.k8s.io/business-critical",
		cells:    map[string]string{"VALUE": "1000000", "GLOBAL-DEFAULT": "false", "PREEMPTIONPOLICY": "PreemptLowerPriority"},
		columns:  []string{"NAME", "VALUE", "GLOBAL-DEFAULT", "AGE", "PREEMPTIONPOLICY"},
		defaults: [][2]string{{"{.preemptionPolicy}", "PreemptLowerPriority"}, {"{.value}", "1000000"}},
		explain:  explainArgs("priorityclasses.preemptionPolicy")},
}

// editorScript is a KUBE_EDITOR that adds an annotation to the object's
// own (top-level) annotations, as a user editing the buffer would.
const editorScript = `#!/bin/sh
sed -i 's|^  annotations:$|  annotations:\n    e2e.skiff.dev/edited: "yes"|' "$1"
`

// TestKubectlEveryResource drives every served resource through the
// everyday kubectl verbs and checks what kubectl shows against upstream.
func TestKubectlEveryResource(t *testing.T) {
	s := startServer(t)
	dir := filepath.Join("testdata", "resources")
	editor := filepath.Join(t.TempDir(), "editor.sh")
	if err := os.WriteFile(editor, []byte(editorScript), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBE_EDITOR", editor)

	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(resourceCases) {
		t.Fatalf("%d manifests under %s but %d cases", len(files), dir, len(resourceCases))
	}

	s.mustKubectl("", "create", "namespace", e2eNamespace)
	// A user applies the whole directory: everything is created, then a
	// second apply changes nothing.
	out := s.mustKubectl("", "apply", "-f", dir)
	if missing := missingLines(out, func(c resourceCase) string { return c.printed + " created" }); missing != nil {
		t.Errorf("apply -f: no lines %q in:\n%s", missing, out)
	}
	out = s.mustKubectl("", "apply", "-f", dir)
	if missing := missingLines(out, func(c resourceCase) string {
		if c.reapply != "" {
			return c.printed + " " + c.reapply
		}
		return c.printed + " unchanged"
	}); missing != nil {
		t.Errorf("second apply -f: no lines %q in:\n%s", missing, out)
	}
	if t.Failed() {
		t.FailNow()
	}

	dyn, mapper := dynamicClient(t, s)
	t.Run("kind", func(t *testing.T) {
		for _, c := range resourceCases {
			t.Run(strings.TrimSuffix(c.file, ".yaml"), func(t *testing.T) {
				t.Parallel()
				manifest := readManifest(t, filepath.Join(dir, c.file))
				ri := resourceFor(t, dyn, mapper, manifest)
				checkResource(t, s, c, manifest, ri)
			})
		}
	})
}

// checkResource runs the kubectl verbs on one applied object, in the
// order a user would, and deletes it at the end.
func checkResource(t *testing.T, s *server, c resourceCase, manifest *unstructured.Unstructured, ri dynamic.ResourceInterface) {
	ref := c.kind + "/" + c.name
	kubectl := func(args ...string) string {
		t.Helper()
		out, errOut, err := s.kubectl("", append([]string{"-n", e2eNamespace}, args...)...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
		}
		return out
	}
	expectOut := func(out, want string) {
		t.Helper()
		if !containsLine(out, want) {
			t.Errorf("want a line %q, got:\n%s", want, out)
		}
	}

	out := kubectl("get", ref)
	if got := header(out); !equalStrings(got, c.columns) {
		t.Errorf("get %s columns = %q, want %q", ref, got, c.columns)
	}
	row := tableRow(out)
	for col, pattern := range c.cells {
		if !globMatch(pattern, row[col]) {
			t.Errorf("get %s: %s = %q, want %q\n%s", ref, col, row[col], pattern, out)
		}
	}
	wide := c.wide
	if wide == nil {
		wide = c.columns
	}
	if got := header(kubectl("get", ref, "-o", "wide")); !equalStrings(got, wide) {
		t.Errorf("get %s -o wide columns = %q, want %q", ref, got, wide)
	}

	var live map[string]any
	if err := yaml.Unmarshal([]byte(kubectl("get", ref, "-o", "yaml")), &live); err != nil {
		t.Fatalf("get -o yaml: %v", err)
	}
	meta := nestedMap(live, "metadata")
	if meta["uid"] == nil || meta["resourceVersion"] == nil || meta["creationTimestamp"] == nil {
		t.Errorf("get -o yaml: metadata lacks uid, resourceVersion or creationTimestamp: %v", meta)
	}
	for _, d := range c.defaults {
		if got := evalJSONPath(t, live, d[0]); got != d[1] {
			t.Errorf("get -o yaml: %s = %q, want %q", d[0], got, d[1])
		}
	}

	if out := kubectl("describe", ref); !strings.Contains(out, c.name) {
		t.Errorf("describe does not show the name %q:\n%s", c.name, out)
	}
	if c.explain != nil {
		out := kubectl(append([]string{"explain"}, c.explain...)...)
		for _, want := range []string{"KIND:", "VERSION:", "FIELD"} {
			if !strings.Contains(out, want) {
				t.Errorf("explain %v lacks %q:\n%s", c.explain, want, out)
			}
		}
	}

	// Server-side apply of the same manifest takes ownership without
	// conflicts where the live values are those client-side apply wrote.
	ssa, errOut, err := s.kubectl(manifestYAML(t, manifest), "apply", "--server-side", "-f", "-")
	if c.ssaConflict != "" {
		want := `Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using ` +
			manifest.GetAPIVersion() + ": " + c.ssaConflict
		if err == nil || !strings.Contains(errOut, want) {
			t.Errorf("apply --server-side: want %q, got err=%v\n%s%s", want, err, ssa, errOut)
		}
		ssa, errOut, err = s.kubectl(manifestYAML(t, manifest), "apply", "--server-side", "--force-conflicts", "-f", "-")
	}
	if err != nil {
		t.Errorf("apply --server-side: %v\n%s%s", err, ssa, errOut)
	}
	expectOut(ssa, c.printed+" serverside-applied")

	expectOut(kubectl("label", ref, "e2e.skiff.dev/labeled=yes"), c.printed+" labeled")
	expectOut(kubectl("annotate", ref, "e2e.skiff.dev/annotated=yes"), c.printed+" annotated")
	expectOut(kubectl("patch", ref, "-p", `{"metadata":{"labels":{"e2e.skiff.dev/strategic":"yes"}}}`), c.printed+" patched")
	expectOut(kubectl("patch", ref, "--type=merge", "-p", `{"metadata":{"annotations":{"e2e.skiff.dev/merge":"yes"}}}`), c.printed+" patched")
	expectOut(kubectl("patch", ref, "--type=json", "-p", `[{"op":"add","path":"/metadata/labels/e2e.skiff.dev~1json","value":"yes"}]`), c.printed+" patched")
	if c.patch != nil {
		expectOut(kubectl("patch", ref, "--type="+c.patch.typ, "-p", c.patch.body), c.printed+" patched")
	}
	expectOut(kubectl("edit", ref), c.printed+" edited")

	obj := getObject(t, ri, c.name)
	for _, k := range []string{"e2e.skiff.dev/labeled", "e2e.skiff.dev/strategic", "e2e.skiff.dev/json"} {
		if obj.GetLabels()[k] != "yes" {
			t.Errorf("label %s missing after label/patch: %v", k, obj.GetLabels())
		}
	}
	for _, k := range []string{"e2e.skiff.dev/annotated", "e2e.skiff.dev/merge", "e2e.skiff.dev/edited"} {
		if obj.GetAnnotations()[k] != "yes" {
			t.Errorf("annotation %s missing after annotate/patch/edit: %v", k, obj.GetAnnotations())
		}
	}
	if c.patch != nil {
		if got := evalJSONPath(t, obj.Object, c.patch.path); got != c.patch.want {
			t.Errorf("after %s patch %s: %s = %q, want %q", c.patch.typ, c.patch.body, c.patch.path, got, c.patch.want)
		}
	}

	// A server-side dry run validates and answers, and persists nothing.
	dry := manifest.DeepCopy()
	dry.SetName(c.name + "-dry")
	if c.dryRunEdit != nil {
		c.dryRunEdit(dry)
	}
	out, errOut, err = s.kubectl(manifestYAML(t, dry), "apply", "--dry-run=server", "-f", "-")
	if err != nil {
		t.Errorf("apply --dry-run=server: %v\n%s%s", err, out, errOut)
	}
	expectOut(out, c.printed+"-dry created (server dry run)")
	if _, err := ri.Get(context.Background(), c.name+"-dry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after a server dry-run create, get = %v, want NotFound", err)
	}
	// kubectl says where a namespaced object was deleted from.
	deleted := regexp.QuoteMeta(strings.Replace(c.printed, "/", ` "`, 1)+`" deleted`) + `( from \S+ namespace)?`
	if out := kubectl("delete", ref, "--dry-run=server"); !regexp.MustCompile(deleted + ` \(server dry run\)`).MatchString(out) {
		t.Errorf("delete --dry-run=server: %s", out)
	}
	getObject(t, ri, c.name)

	if out := kubectl("delete", ref, "--wait=false"); !regexp.MustCompile(deleted + `\n`).MatchString(out) {
		t.Errorf("delete: %s", out)
	}
	kubectl("wait", "--for=delete", ref, "--timeout=30s")
	if _, err := ri.Get(context.Background(), c.name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after delete and wait, get = %v, want NotFound", err)
	}
}

// dynamicClient returns a dynamic client and a REST mapper built from
// the server's discovery.
func dynamicClient(t *testing.T, s *server) (*dynamic.DynamicClient, meta.RESTMapper) {
	t.Helper()
	cfg := s.restConfig()
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return dyn, restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
}

func resourceFor(t *testing.T, dyn *dynamic.DynamicClient, mapper meta.RESTMapper, obj *unstructured.Unstructured) dynamic.ResourceInterface {
	t.Helper()
	gvk := obj.GroupVersionKind()
	m, err := mapper.RESTMapping(schema.GroupKind{Group: gvk.Group, Kind: gvk.Kind}, gvk.Version)
	if err != nil {
		t.Fatalf("map %s: %v", gvk, err)
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return dyn.Resource(m.Resource).Namespace(obj.GetNamespace())
	}
	return dyn.Resource(m.Resource)
}

func getObject(t *testing.T, ri dynamic.ResourceInterface, name string) *unstructured.Unstructured {
	t.Helper()
	obj, err := ri.Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get %s: %v", name, err)
	}
	return obj
}

func readManifest(t *testing.T, path string) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(data, &obj.Object); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return obj
}

func manifestYAML(t *testing.T, obj *unstructured.Unstructured) string {
	t.Helper()
	data, err := yaml.Marshal(obj.Object)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// evalJSONPath renders a kubectl-style jsonpath template over obj;
// maps and lists render as JSON, a missing field as "".
func evalJSONPath(t *testing.T, obj map[string]any, tmpl string) string {
	t.Helper()
	jp := jsonpath.New("check").AllowMissingKeys(true)
	if err := jp.Parse(tmpl); err != nil {
		t.Fatalf("jsonpath %s: %v", tmpl, err)
	}
	// Go through JSON so numbers render as kubectl renders them.
	data, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	var generic any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&generic); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := jp.Execute(&b, generic); err != nil {
		t.Fatalf("jsonpath %s: %v", tmpl, err)
	}
	return b.String()
}

func nestedMap(obj map[string]any, key string) map[string]any {
	m, _ := obj[key].(map[string]any)
	return m
}

var columnGap = regexp.MustCompile(`\s{2,}`)

// header splits the first line of kubectl's table output into column
// names; names hold single spaces ("LAST SEEN"), columns are separated
// by at least two.
func header(out string) []string {
	line, _, _ := strings.Cut(out, "\n")
	return columnGap.Split(strings.TrimSpace(line), -1)
}

// missingLines returns the lines, one per case, that out lacks.
func missingLines(out string, line func(resourceCase) string) []string {
	var missing []string
	for _, c := range resourceCases {
		if want := line(c); !containsLine(out, want) {
			missing = append(missing, want)
		}
	}
	return missing
}

// tableRow returns the cells of the first row of kubectl's table output
// by column name, cutting the row where the header's columns start (cells
// may be empty, so splitting on spaces would shift them).
func tableRow(out string) map[string]string {
	lines := strings.Split(out, "\n")
	if len(lines) < 2 {
		return nil
	}
	head, line := lines[0], lines[1]
	var starts []int
	for i := range head {
		if head[i] != ' ' && (i == 0 || i >= 2 && head[i-1] == ' ' && head[i-2] == ' ') {
			starts = append(starts, i)
		}
	}
	cells := map[string]string{}
	for k, start := range starts {
		end := len(head)
		if k+1 < len(starts) {
			end = starts[k+1]
		}
		name := strings.TrimSpace(head[start:end])
		switch {
		case start >= len(line):
			cells[name] = ""
		case k+1 == len(starts) || end > len(line):
			cells[name] = strings.TrimSpace(line[start:])
		default:
			cells[name] = strings.TrimSpace(line[start:end])
		}
	}
	return cells
}

func containsLine(out, want string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) == want {
			return true
		}
	}
	return false
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// globMatch is path.Match's pattern language (*, ?, [...] classes, \
// escapes) where * also matches "/": table cells hold owner references
// ("daemonset.apps/x") and quota fractions ("100m/4").
func globMatch(pattern, s string) bool {
	var re strings.Builder
	re.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '*':
			re.WriteString(".*")
		case '?':
			re.WriteString(".")
		case '[':
			j := strings.IndexByte(pattern[i:], ']')
			if j < 0 {
				return false
			}
			re.WriteString(pattern[i : i+j+1])
			i += j
		case '\\':
			if i+1 < len(pattern) {
				i++
				re.WriteString(regexp.QuoteMeta(pattern[i : i+1]))
			}
		default:
			re.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	re.WriteString("$")
	ok, err := regexp.MatchString(re.String(), s)
	return err == nil && ok
}
