package bootstrap

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// controllerRolePrefix names the controllers' roles, each bound to the
// service account of the same name in kube-system (upstream's
// --use-service-account-credentials).
const controllerRolePrefix = "system:controller:"

var events = r(eventVerbs, g("", "events.k8s.io"), "events")

// controllerPolicies are upstream's roles (controller_policy.go) for the
// controllers Skiff runs, by the service-account name each controller
// runs as. A controller reads through the controller manager's shared
// informers, so its role needs only what it calls itself.
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
		r(v("delete", "list", "watch"), core, "pods"),
		events}},
	{"daemon-set-controller", []rbacv1.PolicyRule{
		r(readVerbs, g("apps", "extensions"), "daemonsets"),
		r(v("update"), g("apps", "extensions"), "daemonsets/status"),
		r(v("update"), g("apps", "extensions"), "daemonsets/finalizers"),
		r(v("list", "watch"), core, "nodes"),
		r(v("create", "delete", "list", "patch", "watch"), core, "pods"),
		r(v("create"), core, "pods/binding"),
		r(v("create", "delete", "get", "list", "patch", "update", "watch"), g("apps"), "controllerrevisions"),
		events}},
	{"deployment-controller", []rbacv1.PolicyRule{
		r(v("get", "list", "update", "watch"), g("apps", "extensions"), "deployments"),
		r(v("update"), g("apps", "extensions"), "deployments/status"),
		r(v("update"), g("apps", "extensions"), "deployments/finalizers"),
		r(v("create", "delete", "get", "list", "patch", "update", "watch"), g("apps", "extensions"), "replicasets"),
		r(v("get", "list", "update", "watch"), core, "pods"),
		events}},
	{"disruption-controller", []rbacv1.PolicyRule{
		r(readVerbs, g("apps", "extensions"), "deployments"),
		r(readVerbs, g("apps", "extensions"), "replicasets"),
		r(readVerbs, core, "replicationcontrollers"),
		r(readVerbs, g("policy"), "poddisruptionbudgets"),
		r(readVerbs, g("apps"), "statefulsets"),
		r(v("update"), g("policy"), "poddisruptionbudgets/status"),
		r(v("patch", "update"), core, "pods/status"),
		r(v("get"), g("*"), "*/scale"),
		events}},
	{"endpoint-controller", []rbacv1.PolicyRule{
		r(readVerbs, core, "pods", "services"),
		r(v("create", "delete", "get", "list", "update", "watch"), core, "endpoints"),
		r(v("create"), core, "endpoints/restricted"),
		events}},
	{"endpointslice-controller", []rbacv1.PolicyRule{
		r(readVerbs, core, "nodes", "pods", "services"),
		r(v("update"), core, "services/finalizers"),
		r(v("create", "delete", "get", "list", "update", "watch"), g("discovery.k8s.io"), "endpointslices"),
		events}},
	{"generic-garbage-collector", []rbacv1.PolicyRule{
		r(v("delete", "get", "list", "patch", "update", "watch"), g("*"), "*"),
		events}},
	{"job-controller", []rbacv1.PolicyRule{
		r(v("get", "list", "patch", "update", "watch"), g("batch"), "jobs"),
		r(v("update"), g("batch"), "jobs/status"),
		r(v("update"), g("batch"), "jobs/finalizers"),
		r(v("create", "delete", "list", "patch", "watch"), core, "pods"),
		events}},
	{"namespace-controller", []rbacv1.PolicyRule{
		r(v("delete", "get", "list", "watch"), core, "namespaces"),
		r(v("update"), core, "namespaces/finalize", "namespaces/status"),
		r(v("delete", "deletecollection", "get", "list", "watch"), g("*"), "*")}},
	{"node-controller", []rbacv1.PolicyRule{
		r(v("delete", "get", "list", "patch", "update", "watch"), core, "nodes"),
		r(v("patch", "update"), core, "nodes/status"),
		r(v("patch", "update"), core, "pods/status"),
		r(v("delete", "get", "list", "watch"), core, "pods"),
		events}},
	{"replicaset-controller", []rbacv1.PolicyRule{
		r(v("get", "list", "update", "watch"), g("apps", "extensions"), "replicasets"),
		r(v("update"), g("apps", "extensions"), "replicasets/status"),
		r(v("update"), g("apps", "extensions"), "replicasets/finalizers"),
		r(v("create", "delete", "list", "patch", "watch"), core, "pods"),
		events}},
	{"resourcequota-controller", []rbacv1.PolicyRule{
		// Quota counts anything, so it watches everything.
		r(v("list", "watch"), g("*"), "*"),
		r(v("update"), core, "resourcequotas/status"),
		events}},
	{"root-ca-cert-publisher", []rbacv1.PolicyRule{
		r(v("create", "update"), core, "configmaps"),
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
		r(v("create", "delete", "get", "list", "patch", "update", "watch"), g("apps"), "controllerrevisions"),
		r(v("create", "get", "list", "watch"), core, "persistentvolumeclaims"),
		r(v("delete", "update"), core, "persistentvolumeclaims"),
		r(v("update"), core, "pods/finalizers"),
		events}},
	// It lists pod metrics from the metrics APIs (none served here: it
	// reports them missing) and reads and writes its targets' scale.
	{"horizontal-pod-autoscaler", []rbacv1.PolicyRule{
		r(v("get", "list", "watch"), g("autoscaling"), "horizontalpodautoscalers"),
		r(v("update"), g("autoscaling"), "horizontalpodautoscalers/status"),
		r(v("get", "update"), g("*"), "*/scale"),
		r(v("list"), core, "pods"),
		r(v("list"), g("metrics.k8s.io"), "pods"),
		r(v("get", "list"), g("custom.metrics.k8s.io"), "*"),
		r(v("get", "list"), g("external.metrics.k8s.io"), "*"),
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

// NamespaceRoles are upstream's bootstrap roles in reserved namespaces
// that Skiff needs: the token cleaner may delete secrets, but only in
// kube-system, where bootstrap tokens live.
func NamespaceRoles() []rbacv1.Role {
	return []rbacv1.Role{{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
		ObjectMeta: bootstrapMeta(metav1.ObjectMeta{Namespace: metav1.NamespaceSystem, Name: controllerRolePrefix + "token-cleaner"}),
		Rules: []rbacv1.PolicyRule{
			r(v("delete", "get", "list", "watch"), core, "secrets"),
			events},
	}}
}

// NamespaceRoleBindings bind NamespaceRoles to their controllers'
// service accounts.
func NamespaceRoleBindings() []rbacv1.RoleBinding {
	return []rbacv1.RoleBinding{{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
		ObjectMeta: bootstrapMeta(metav1.ObjectMeta{Namespace: metav1.NamespaceSystem, Name: controllerRolePrefix + "token-cleaner"}),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: controllerRolePrefix + "token-cleaner"},
		Subjects:   []rbacv1.Subject{serviceAccount(metav1.NamespaceSystem, "token-cleaner")},
	}}
}

// bootstrapMeta is m with the label and annotation every bootstrap object
// carries.
func bootstrapMeta(m metav1.ObjectMeta) metav1.ObjectMeta {
	m.Labels = map[string]string{BootstrapLabel: BootstrapLabelValue}
	m.Annotations = map[string]string{AutoUpdateAnnotation: "true"}
	return m
}
