// Package bootstrap is upstream's default RBAC policy as data: the cluster
// roles and cluster role bindings every cluster starts with (cluster-admin,
// admin/edit/view and their aggregated parts, discovery, the components'
// roles), and Ensure, which creates or reconciles them at server start.
package bootstrap

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Metadata every bootstrap object carries, as upstream.
const (
	AutoUpdateAnnotation = "rbac.authorization.kubernetes.io/autoupdate"
	BootstrapLabel       = "kubernetes.io/bootstrapping"
	BootstrapLabelValue  = "rbac-defaults"

	aggregateToAdmin = "rbac.authorization.k8s.io/aggregate-to-admin"
	aggregateToEdit  = "rbac.authorization.k8s.io/aggregate-to-edit"
	aggregateToView  = "rbac.authorization.k8s.io/aggregate-to-view"
)

var (
	readVerbs  = []string{"get", "list", "watch"}
	writeVerbs = []string{"create", "delete", "deletecollection", "patch", "update"}
	rwVerbs    = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	eventVerbs = []string{"create", "patch", "update"}
)

// r is a resource rule.
func r(verbs []string, groups []string, resources ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, APIGroups: groups, Resources: resources}
}

// named is a rule on some objects only.
func named(verbs []string, groups []string, resource string, names ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, APIGroups: groups, Resources: []string{resource}, ResourceNames: names}
}

// urls is a non-resource rule.
func urls(verbs []string, paths ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, NonResourceURLs: paths}
}

func v(verbs ...string) []string  { return verbs }
func g(groups ...string) []string { return groups }

var core = g("")

func clusterRole(name string, labels map[string]string, rules ...rbacv1.PolicyRule) rbacv1.ClusterRole {
	l := map[string]string{BootstrapLabel: BootstrapLabelValue}
	for k, v := range labels {
		l[k] = v
	}
	return rbacv1.ClusterRole{
		TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l,
			Annotations: map[string]string{AutoUpdateAnnotation: "true"}},
		Rules: rules,
	}
}

func aggregated(name string, labels map[string]string, selectorLabel string) rbacv1.ClusterRole {
	c := clusterRole(name, labels)
	c.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{
		{MatchLabels: map[string]string{selectorLabel: "true"}}}}
	return c
}

// ClusterRoles returns the default cluster roles, sorted by name.
func ClusterRoles() []rbacv1.ClusterRole {
	roles := []rbacv1.ClusterRole{
		aggregated("admin", nil, aggregateToAdmin),
		clusterRole("cluster-admin", nil,
			r(v("*"), g("*"), "*"),
			urls(v("*"), "*")),
		aggregated("edit", map[string]string{aggregateToAdmin: "true"}, aggregateToEdit),
		clusterRole("system:aggregate-to-admin", map[string]string{aggregateToAdmin: "true"},
			r(v("create"), g("authorization.k8s.io"), "localsubjectaccessreviews"),
			r(rwVerbs, g("rbac.authorization.k8s.io"), "rolebindings", "roles")),
		clusterRole("system:aggregate-to-edit", map[string]string{aggregateToEdit: "true"},
			r(readVerbs, core, "pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"),
			r(v("impersonate"), core, "serviceaccounts"),
			r(writeVerbs, core, "pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"),
			r(v("create"), core, "pods/eviction"),
			r(writeVerbs, core, "configmaps", "events", "persistentvolumeclaims", "replicationcontrollers",
				"replicationcontrollers/scale", "secrets", "serviceaccounts", "services", "services/proxy"),
			r(v("create"), core, "serviceaccounts/token"),
			r(writeVerbs, g("apps"), "daemonsets", "deployments", "deployments/rollback", "deployments/scale",
				"replicasets", "replicasets/scale", "statefulsets", "statefulsets/scale"),
			r(writeVerbs, g("autoscaling"), "horizontalpodautoscalers"),
			r(writeVerbs, g("batch"), "cronjobs", "jobs"),
			r(writeVerbs, g("extensions"), "daemonsets", "deployments", "deployments/rollback", "deployments/scale",
				"ingresses", "networkpolicies", "replicasets", "replicasets/scale", "replicationcontrollers/scale"),
			r(writeVerbs, g("policy"), "poddisruptionbudgets"),
			r(writeVerbs, g("networking.k8s.io"), "ingresses", "networkpolicies"),
			r(rwVerbs, g("coordination.k8s.io"), "leases")),
		clusterRole("system:aggregate-to-view", map[string]string{aggregateToView: "true"},
			r(readVerbs, core, "configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "pods",
				"replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services", "services/status"),
			r(readVerbs, core, "bindings", "events", "limitranges", "namespaces/status", "pods/log", "pods/status",
				"replicationcontrollers/status", "resourcequotas", "resourcequotas/status"),
			r(readVerbs, core, "namespaces"),
			r(readVerbs, g("discovery.k8s.io"), "endpointslices"),
			r(readVerbs, g("apps"), "controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale",
				"deployments/status", "replicasets", "replicasets/scale", "replicasets/status", "statefulsets",
				"statefulsets/scale", "statefulsets/status"),
			r(readVerbs, g("autoscaling"), "horizontalpodautoscalers", "horizontalpodautoscalers/status"),
			r(readVerbs, g("batch"), "cronjobs", "cronjobs/status", "jobs", "jobs/status"),
			r(readVerbs, g("extensions"), "daemonsets", "daemonsets/status", "deployments", "deployments/scale",
				"deployments/status", "ingresses", "ingresses/status", "networkpolicies", "replicasets",
				"replicasets/scale", "replicasets/status", "replicationcontrollers/scale"),
			r(readVerbs, g("policy"), "poddisruptionbudgets", "poddisruptionbudgets/status"),
			r(readVerbs, g("networking.k8s.io"), "ingresses", "ingresses/status", "networkpolicies")),
		clusterRole("system:auth-delegator", nil,
			r(v("create"), g("authentication.k8s.io"), "tokenreviews"),
			r(v("create"), g("authorization.k8s.io"), "subjectaccessreviews")),
		clusterRole("system:basic-user", nil,
			r(v("create"), g("authorization.k8s.io"), "selfsubjectaccessreviews", "selfsubjectrulesreviews"),
			r(v("create"), g("authentication.k8s.io"), "selfsubjectreviews")),
		clusterRole("system:discovery", nil,
			urls(v("get"), "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*",
				"/readyz", "/version", "/version/")),
		clusterRole("system:kube-controller-manager", nil,
			r(eventVerbs, g("", "events.k8s.io"), "events"),
			r(v("create"), g("coordination.k8s.io"), "leases"),
			named(v("get", "update"), g("coordination.k8s.io"), "leases", "kube-controller-manager"),
			r(v("create"), core, "secrets", "serviceaccounts"),
			r(v("delete"), core, "secrets"),
			r(v("get"), core, "configmaps", "namespaces", "secrets", "serviceaccounts"),
			r(v("update"), core, "secrets", "serviceaccounts"),
			r(v("create"), g("authentication.k8s.io"), "tokenreviews"),
			r(v("create"), g("authorization.k8s.io"), "subjectaccessreviews"),
			r(v("list", "watch"), g("*"), "*"),
			r(v("create"), core, "serviceaccounts/token")),
		clusterRole("system:kube-dns", nil,
			r(v("list", "watch"), core, "endpoints", "services")),
		clusterRole("system:kube-scheduler", nil,
			r(eventVerbs, g("", "events.k8s.io"), "events"),
			r(v("create"), g("coordination.k8s.io"), "leases"),
			named(v("get", "update"), g("coordination.k8s.io"), "leases", "kube-scheduler"),
			r(readVerbs, core, "nodes"),
			r(v("delete", "get", "list", "watch"), core, "pods"),
			r(v("create"), core, "bindings", "pods/binding"),
			r(v("patch", "update"), core, "pods/status"),
			r(readVerbs, core, "replicationcontrollers", "services"),
			r(readVerbs, g("apps", "extensions"), "replicasets"),
			r(readVerbs, g("apps"), "statefulsets"),
			r(readVerbs, g("policy"), "poddisruptionbudgets"),
			r(readVerbs, core, "persistentvolumeclaims", "persistentvolumes"),
			r(v("create"), g("authentication.k8s.io"), "tokenreviews"),
			r(v("create"), g("authorization.k8s.io"), "subjectaccessreviews"),
			r(readVerbs, g("storage.k8s.io"), "csinodes"),
			r(readVerbs, core, "namespaces"),
			r(readVerbs, g("storage.k8s.io"), "csidrivers"),
			r(readVerbs, g("storage.k8s.io"), "csistoragecapacities")),
		clusterRole("system:monitoring", nil,
			urls(v("get"), "/healthz", "/healthz/*", "/livez", "/livez/*", "/metrics", "/metrics/slis", "/readyz", "/readyz/*")),
		clusterRole("system:node", nil,
			r(v("create"), g("authentication.k8s.io"), "tokenreviews"),
			r(v("create"), g("authorization.k8s.io"), "localsubjectaccessreviews", "subjectaccessreviews"),
			r(readVerbs, core, "services"),
			r(v("create", "get", "list", "watch"), core, "nodes"),
			r(v("patch", "update"), core, "nodes/status"),
			r(v("patch", "update"), core, "nodes"),
			r(eventVerbs, core, "events"),
			r(readVerbs, core, "pods"),
			r(v("create", "delete"), core, "pods"),
			r(v("patch", "update"), core, "pods/status"),
			r(v("create"), core, "pods/eviction"),
			r(readVerbs, core, "configmaps", "secrets"),
			r(v("get"), core, "persistentvolumeclaims", "persistentvolumes"),
			r(v("get"), core, "endpoints"),
			r(v("create", "get", "list", "watch"), g("certificates.k8s.io"), "certificatesigningrequests"),
			r(v("create", "delete", "get", "patch", "update"), g("coordination.k8s.io"), "leases"),
			r(v("get"), g("storage.k8s.io"), "volumeattachments"),
			r(v("create"), core, "serviceaccounts/token"),
			r(v("get", "patch", "update"), core, "persistentvolumeclaims/status"),
			r(readVerbs, g("storage.k8s.io"), "csidrivers"),
			r(v("create", "delete", "get", "patch", "update"), g("storage.k8s.io"), "csinodes"),
			r(readVerbs, g("node.k8s.io"), "runtimeclasses")),
		clusterRole("system:node-bootstrapper", nil,
			r(v("create", "get", "list", "watch"), g("certificates.k8s.io"), "certificatesigningrequests")),
		clusterRole("system:certificates.k8s.io:certificatesigningrequests:nodeclient", nil,
			r(v("create"), g("certificates.k8s.io"), "certificatesigningrequests/nodeclient")),
		clusterRole("system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", nil,
			r(v("create"), g("certificates.k8s.io"), "certificatesigningrequests/selfnodeclient")),
		clusterRole("system:certificates.k8s.io:kube-apiserver-client-approver", nil,
			named(v("approve"), g("certificates.k8s.io"), "signers", "kubernetes.io/kube-apiserver-client")),
		clusterRole("system:certificates.k8s.io:kube-apiserver-client-kubelet-approver", nil,
			named(v("approve"), g("certificates.k8s.io"), "signers", "kubernetes.io/kube-apiserver-client-kubelet")),
		clusterRole("system:certificates.k8s.io:kubelet-serving-approver", nil,
			named(v("approve"), g("certificates.k8s.io"), "signers", "kubernetes.io/kubelet-serving")),
		clusterRole("system:certificates.k8s.io:legacy-unknown-approver", nil,
			named(v("approve"), g("certificates.k8s.io"), "signers", "kubernetes.io/legacy-unknown")),
		clusterRole("system:node-proxier", nil,
			r(v("list", "watch"), core, "endpoints", "services"),
			r(readVerbs, core, "nodes"),
			r(eventVerbs, g("", "events.k8s.io"), "events"),
			r(v("list", "watch"), g("discovery.k8s.io"), "endpointslices")),
		clusterRole("system:public-info-viewer", nil,
			urls(v("get"), "/healthz", "/livez", "/readyz", "/version", "/version/")),
		clusterRole("system:service-account-issuer-discovery", nil,
			urls(v("get"), "/.well-known/openid-configuration", "/openid/v1/jwks")),
		clusterRole("system:volume-scheduler", nil,
			r(v("get", "list", "patch", "update", "watch"), core, "persistentvolumes"),
			r(readVerbs, g("storage.k8s.io"), "storageclasses"),
			r(v("get", "list", "patch", "update", "watch"), core, "persistentvolumeclaims")),
		aggregated("view", map[string]string{aggregateToEdit: "true"}, aggregateToView),
	}
	return append(roles, controllerRoles()...)
}

// NodeRules are the rules of the system:node role: what the Node
// authorizer allows every node beyond the objects it scopes to the node's
// pods (upstream's bootstrappolicy.NodeRules).
func NodeRules() []rbacv1.PolicyRule {
	for _, c := range ClusterRoles() {
		if c.Name == "system:node" {
			return c.Rules
		}
	}
	panic("bootstrap: no system:node role")
}

func binding(name, role string, subjects ...rbacv1.Subject) rbacv1.ClusterRoleBinding {
	return rbacv1.ClusterRoleBinding{
		TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{BootstrapLabel: BootstrapLabelValue},
			Annotations: map[string]string{AutoUpdateAnnotation: "true"}},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects: subjects,
	}
}

func group(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: name}
}

func user(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}
}

func serviceAccount(namespace, name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: namespace, Name: name}
}

// ClusterRoleBindings returns the default cluster role bindings, and
// kubeadm's TLS-bootstrapping bindings under skiff: names.
func ClusterRoleBindings() []rbacv1.ClusterRoleBinding {
	bs := []rbacv1.ClusterRoleBinding{
		binding("cluster-admin", "cluster-admin", group("system:masters")),
		binding("system:basic-user", "system:basic-user", group("system:authenticated")),
		binding("system:discovery", "system:discovery", group("system:authenticated")),
		binding("system:kube-controller-manager", "system:kube-controller-manager", user("system:kube-controller-manager")),
		binding("system:kube-dns", "system:kube-dns", serviceAccount("kube-system", "kube-dns")),
		binding("system:kube-scheduler", "system:kube-scheduler", user("system:kube-scheduler")),
		binding("system:monitoring", "system:monitoring", group("system:monitoring")),
		// Upstream binds system:node to nobody: the Node authorizer
		// (internal/auth/node) applies NodeRules to nodes itself, and
		// scopes secrets, configmaps, volumes and tokens to their pods.
		binding("system:node", "system:node"),
		// TLS bootstrapping, as kubeadm sets it up: bootstrap tokens may
		// ask for a node client certificate and have it approved at once;
		// nodes may renew their own.
		binding("skiff:kubelet-bootstrap", "system:node-bootstrapper", group("system:bootstrappers")),
		binding("skiff:node-autoapprove-bootstrap", "system:certificates.k8s.io:certificatesigningrequests:nodeclient", group("system:bootstrappers")),
		binding("skiff:node-autoapprove-certificate-rotation", "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", group("system:nodes")),
		binding("system:node-proxier", "system:node-proxier", user("system:kube-proxy")),
		binding("system:public-info-viewer", "system:public-info-viewer", group("system:authenticated"), group("system:unauthenticated")),
		binding("system:service-account-issuer-discovery", "system:service-account-issuer-discovery", group("system:serviceaccounts")),
		binding("system:volume-scheduler", "system:volume-scheduler", user("system:kube-scheduler")),
	}
	return append(bs, controllerRoleBindings()...)
}
