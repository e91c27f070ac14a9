package bootstrap

import rbacv1 "k8s.io/api/rbac/v1"

// controllerRolePrefix names the controllers' roles, each bound to the
// service account of the same name in kube-system (upstream's
// --use-service-account-credentials).
const controllerRolePrefix = "system:controller:"

var events = r(eventVerbs, g("", "events.k8s.io"), "events")

// controllerPolicies are upstream's roles for the controllers Skiff runs.
var controllerPolicies = []struct {
	name  string
	rules []rbacv1.PolicyRule
}{
	{"clusterrole-aggregation-controller", []rbacv1.PolicyRule{
		r(v("escalate", "get", "list", "patch", "update", "watch"), g("rbac.authorization.k8s.io"), "clusterroles")}},
	// The CSR approver and signer: CertificateApproval and
	// CertificateSigning ask for approve and sign on the signers.
	{"certificate-controller", []rbacv1.PolicyRule{
		r(v("delete", "get", "list", "watch"), g("certificates.k8s.io"), "certificatesigningrequests"),
		r(v("update"), g("certificates.k8s.io"), "certificatesigningrequests/approval", "certificatesigningrequests/status"),
		named(v("approve"), g("certificates.k8s.io"), "signers", "kubernetes.io/kube-apiserver-client-kubelet"),
		named(v("sign"), g("certificates.k8s.io"), "signers",
			"kubernetes.io/kube-apiserver-client", "kubernetes.io/kube-apiserver-client-kubelet",
			"kubernetes.io/kubelet-serving", "kubernetes.io/legacy-unknown"),
		r(v("create"), g("authorization.k8s.io"), "subjectaccessreviews"),
		events}},
	{"cronjob-controller", []rbacv1.PolicyRule{
		r(v("get", "list", "update", "watch"), g("batch"), "cronjobs"),
		r(v("create", "delete", "get", "list", "patch", "update", "watch"), g("batch"), "jobs"),
		r(v("update"), g("batch"), "cronjobs/status"),
		r(v("update"), g("batch"), "cronjobs/finalizers"),
		r(v("delete", "list"), core, "pods"),
		events}},
	{"daemon-set-controller", []rbacv1.PolicyRule{
		r(readVerbs, g("apps", "extensions"), "daemonsets"),
		r(v("update"), g("apps", "extensions"), "daemonsets/status"),
		r(v("update"), g("apps", "extensions"), "daemonsets/finalizers"),
		r(v("list", "watch"), core, "nodes"),
		r(v("create", "delete", "list", "patch", "watch"), core, "pods"),
		r(v("create"), core, "pods/binding"),
		r(rwVerbs, g("apps"), "controllerrevisions"),
		events}},
	{"deployment-controller", []rbacv1.PolicyRule{
		r(v("get", "list", "update", "watch"), g("apps", "extensions"), "deployments"),
		r(v("update"), g("apps", "extensions"), "deployments/status"),
		r(v("update"), g("apps", "extensions"), "deployments/finalizers"),
		r(v("create", "delete", "get", "list", "patch", "update", "watch"), g("apps", "extensions"), "replicasets"),
		r(v("get", "list", "update", "watch"), core, "pods"),
		events}},
	{"endpoint-controller", []rbacv1.PolicyRule{
		r(readVerbs, core, "pods", "services"),
		r(v("create", "delete", "get", "list", "update"), core, "endpoints"),
		r(v("create"), core, "endpoints/restricted"),
		events}},
	{"endpointslice-controller", []rbacv1.PolicyRule{
		r(readVerbs, core, "nodes", "pods", "services"),
		r(v("update"), core, "services/finalizers"),
		r(v("create", "delete", "get", "list", "update"), g("discovery.k8s.io"), "endpointslices"),
		events}},
	{"garbage-collector", []rbacv1.PolicyRule{
		r(v("delete", "get", "list", "patch", "update", "watch"), g("*"), "*")}},
	{"job-controller", []rbacv1.PolicyRule{
		r(v("get", "list", "patch", "update", "watch"), g("batch"), "jobs"),
		r(v("update"), g("batch"), "jobs/status"),
		r(v("update"), g("batch"), "jobs/finalizers"),
		r(v("create", "delete", "list", "patch", "watch"), core, "pods"),
		events}},
	{"namespace-controller", []rbacv1.PolicyRule{
		r(v("delete", "get", "list", "watch"), core, "namespaces"),
		r(v("update"), core, "namespaces/finalize", "namespaces/status"),
		r(v("delete", "deletecollection", "get", "list"), g("*"), "*")}},
	{"node-controller", []rbacv1.PolicyRule{
		r(v("delete", "get", "list", "patch", "update"), core, "nodes"),
		r(v("patch", "update"), core, "nodes/status"),
		r(v("patch", "update"), core, "pods/status"),
		r(v("delete", "list"), core, "pods"),
		events}},
	{"replicaset-controller", []rbacv1.PolicyRule{
		r(v("get", "list", "update", "watch"), g("apps", "extensions"), "replicasets"),
		r(v("update"), g("apps", "extensions"), "replicasets/status"),
		r(v("update"), g("apps", "extensions"), "replicasets/finalizers"),
		r(v("create", "delete", "list", "patch", "watch"), core, "pods"),
		events}},
	{"service-account-controller", []rbacv1.PolicyRule{
		r(v("create"), core, "serviceaccounts"),
		events}},
	{"statefulset-controller", []rbacv1.PolicyRule{
		r(v("list", "watch"), core, "pods"),
		r(readVerbs, g("apps"), "statefulsets"),
		r(v("update"), g("apps"), "statefulsets/status"),
		r(v("update"), g("apps"), "statefulsets/finalizers"),
		r(v("create", "delete", "get", "patch", "update"), core, "pods"),
		r(rwVerbs, g("apps"), "controllerrevisions"),
		r(v("create", "get"), core, "persistentvolumeclaims"),
		events}},
	{"ttl-after-finished-controller", []rbacv1.PolicyRule{
		r(v("delete", "get", "list", "watch"), g("batch"), "jobs"),
		events}},
}

func controllerRoles() []rbacv1.ClusterRole {
	out := make([]rbacv1.ClusterRole, 0, len(controllerPolicies))
	for _, p := range controllerPolicies {
		out = append(out, clusterRole(controllerRolePrefix+p.name, nil, p.rules...))
	}
	return out
}

func controllerRoleBindings() []rbacv1.ClusterRoleBinding {
	out := make([]rbacv1.ClusterRoleBinding, 0, len(controllerPolicies))
	for _, p := range controllerPolicies {
		out = append(out, binding(controllerRolePrefix+p.name, controllerRolePrefix+p.name, serviceAccount("kube-system", p.name)))
	}
	return out
}
