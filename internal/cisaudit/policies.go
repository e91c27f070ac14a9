package cisaudit

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

const (
	// bootstrapLabel marks upstream's (and Skiff's) default RBAC objects.
	bootstrapLabel      = "kubernetes.io/bootstrapping"
	bootstrapLabelValue = "rbac-defaults"
	enforceLabel        = "pod-security.kubernetes.io/enforce"
)

// withCluster runs a check of live state, or says why it cannot.
func withCluster(run func(*Env, *Cluster) Result) func(*Env) Result {
	return func(e *Env) Result {
		if e.Cluster == nil {
			return warn("cannot check: %v", e.ClusterErr)
		}
		return run(e, e.Cluster)
	}
}

// listed passes when items is empty and fails naming them otherwise.
func listed(items []string, what, none string) Result {
	if len(items) == 0 {
		return pass("%s", none)
	}
	sort.Strings(items)
	const max = 20
	more := ""
	if len(items) > max {
		more = fmt.Sprintf("\n... and %d more", len(items)-max)
		items = items[:max]
	}
	return fail("%s:\n%s%s", what, strings.Join(items, "\n"), more)
}

func manual(evidence string) func(*Env) Result {
	return func(*Env) Result { return warn("%s", evidence) }
}

func hasWildcard(rules []rbacv1.PolicyRule) bool {
	for _, r := range rules {
		for _, list := range [][]string{r.Verbs, r.Resources, r.APIGroups, r.NonResourceURLs} {
			if slices.Contains(list, "*") {
				return true
			}
		}
	}
	return false
}

func isDefault(labels map[string]string) bool { return labels[bootstrapLabel] == bootstrapLabelValue }

// podsWhere names the pods' containers (all kinds) for which bad says
// why they are non-compliant.
func podsWhere(c *Cluster, bad func(*corev1.Pod, *corev1.Container) string) []string {
	var out []string
	for i := range c.Pods {
		p := &c.Pods[i]
		for _, list := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
			for j := range list {
				if why := bad(p, &list[j]); why != "" {
					out = append(out, fmt.Sprintf("pod %s/%s container %s: %s", p.Namespace, p.Name, list[j].Name, why))
				}
			}
		}
	}
	return out
}

func podsWith(c *Cluster, bad func(*corev1.Pod) bool, what string) []string {
	var out []string
	for i := range c.Pods {
		if bad(&c.Pods[i]) {
			out = append(out, fmt.Sprintf("pod %s/%s: %s", c.Pods[i].Namespace, c.Pods[i].Name, what))
		}
	}
	return out
}

// baselineEverywhere: every namespace enforces the baseline Pod Security
// level or stricter, by label or by the plug-in's default.
func baselineEverywhere(e *Env, c *Cluster) Result {
	if e.Config == nil {
		return warn("cannot check: %v", e.ConfigErr)
	}
	if !slices.Contains(e.Config.AdmissionPlugins, "PodSecurity") {
		return fail("the PodSecurity admission plug-in is off")
	}
	var weak []string
	for _, ns := range c.Namespaces {
		level, labelled := ns.Labels[enforceLabel]
		if !labelled {
			level = e.Config.PodSecurityDefaultEnforce
		}
		if level != "baseline" && level != "restricted" {
			src := "the cluster default"
			if labelled {
				src = "label " + enforceLabel
			}
			weak = append(weak, fmt.Sprintf("namespace %s enforces %q (%s)", ns.Name, level, src))
		}
	}
	return listed(weak, "namespaces that enforce less than baseline",
		fmt.Sprintf("PodSecurity enforces baseline or restricted in every namespace (cluster default: %s)", e.Config.PodSecurityDefaultEnforce))
}

func policyChecks() []Check {
	return []Check{
		{ID: "5.1.1", Text: "Ensure that the cluster-admin role is only used where required (Automated)",
			Remediation: "bind users to less privileged roles, then kubectl delete clusterrolebinding <name>",
			Run: withCluster(func(_ *Env, c *Cluster) Result {
				var out []string
				for _, b := range c.ClusterRoleBindings {
					if b.RoleRef.Name == "cluster-admin" && b.Name != "cluster-admin" {
						var subj []string
						for _, s := range b.Subjects {
							subj = append(subj, s.Kind+" "+s.Name)
						}
						out = append(out, fmt.Sprintf("clusterrolebinding %s: %s", b.Name, strings.Join(subj, ", ")))
					}
				}
				return listed(out, "bindings of cluster-admin besides the default one", "only the default cluster-admin binding (group system:masters) binds cluster-admin")
			})},
		{ID: "5.1.2", Text: "Minimize access to secrets (Automated)",
			Remediation: "remove get, list and watch on secrets from roles bound to system:authenticated",
			Run: withCluster(func(_ *Env, c *Cluster) Result {
				var out []string
				for _, v := range []string{"get", "list", "watch"} {
					if c.AuthenticatedCan[v+" secrets"] {
						out = append(out, "system:authenticated can "+v+" secrets in all namespaces")
					}
				}
				return listed(out, "access to secrets", "system:authenticated cannot get, list or watch secrets")
			})},
		{ID: "5.1.3", Text: "Minimize wildcard use in Roles and ClusterRoles (Automated)",
			Remediation: "replace [\"*\"] in the rules of these roles with the resources and verbs they need",
			Run: withCluster(func(_ *Env, c *Cluster) Result {
				var out []string
				for _, r := range c.ClusterRoles {
					if !isDefault(r.Labels) && r.AggregationRule == nil && hasWildcard(r.Rules) {
						out = append(out, "clusterrole "+r.Name)
					}
				}
				for _, r := range c.Roles {
					if !isDefault(r.Labels) && hasWildcard(r.Rules) {
						out = append(out, "role "+r.Namespace+"/"+r.Name)
					}
				}
				return listed(out, "roles with wildcards, besides the default ones ("+bootstrapLabel+"="+bootstrapLabelValue+")", "no wildcards besides the default roles ("+bootstrapLabel+"="+bootstrapLabelValue+")")
			})},
		{ID: "5.1.4", Text: "Minimize access to create pods (Automated)",
			Remediation: "remove create on pods from roles bound to system:authenticated",
			Run: withCluster(func(_ *Env, c *Cluster) Result {
				if c.AuthenticatedCan["create pods"] {
					return fail("system:authenticated can create pods in all namespaces")
				}
				return pass("system:authenticated cannot create pods")
			})},
		{ID: "5.1.5", Text: "Ensure that default service accounts are not actively used (Automated)",
			Remediation: "set automountServiceAccountToken: false on each namespace's default service account: kubectl patch serviceaccount default -p '{\"automountServiceAccountToken\":false}' -n <namespace>",
			Run: withCluster(func(_ *Env, c *Cluster) Result {
				var out []string
				for _, sa := range c.ServiceAccounts {
					if sa.Name == "default" && (sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken) {
						out = append(out, "serviceaccount "+sa.Namespace+"/default")
					}
				}
				return listed(out, "default service accounts without automountServiceAccountToken: false", "every default service account has automountServiceAccountToken: false")
			})},
		{ID: "5.1.6", Text: "Ensure that Service Account Tokens are only mounted where necessary (Automated)",
			Remediation: "set automountServiceAccountToken: false on service accounts and pods that do not call the API",
			Run: withCluster(func(_ *Env, c *Cluster) Result {
				saMount := map[string]*bool{}
				for _, sa := range c.ServiceAccounts {
					saMount[sa.Namespace+"/"+sa.Name] = sa.AutomountServiceAccountToken
				}
				return listed(podsWith(c, func(p *corev1.Pod) bool {
					if p.Spec.AutomountServiceAccountToken != nil {
						return *p.Spec.AutomountServiceAccountToken
					}
					sa := p.Spec.ServiceAccountName
					if sa == "" {
						sa = "default"
					}
					m := saMount[p.Namespace+"/"+sa]
					return m == nil || *m
				}, "mounts a service-account token"), "pods that mount a service-account token", "no pod mounts a service-account token it was not explicitly given")
			})},
		{ID: "5.1.7", Text: "Avoid use of system:masters group (Manual)",
			Remediation: "keep <data-dir>/kubeconfig (group system:masters) for break-glass use; give people RBAC-bound identities",
			Run:         manual("skiff server's admin kubeconfig authenticates in the group system:masters")},
		{ID: "5.1.8", Text: "Limit use of the Bind, Impersonate and Escalate permissions in the Kubernetes cluster (Manual)",
			Remediation: "remove the impersonate, bind and escalate verbs from subjects that do not need them",
			Run:         manual("review: kubectl get clusterroles,roles -A -o yaml | grep -E 'bind|escalate|impersonate'")},
		{ID: "5.1.9", Text: "Minimize access to create persistent volumes (Manual)",
			Remediation: "remove create on persistentvolumes where possible", Run: manual("review: kubectl auth can-i create persistentvolumes --as=<user>")},
		{ID: "5.1.10", Text: "Minimize access to the proxy sub-resource of nodes (Manual)",
			Remediation: "remove access to nodes/proxy where possible", Run: manual("review roles granting nodes/proxy")},
		{ID: "5.1.11", Text: "Minimize access to the approval sub-resource of certificatesigningrequests objects (Manual)",
			Remediation: "remove access to certificatesigningrequests/approval where possible", Run: manual("review roles granting certificatesigningrequests/approval")},
		{ID: "5.1.12", Text: "Minimize access to webhook configuration objects (Manual)",
			Remediation: "remove access to validatingwebhookconfigurations and mutatingwebhookconfigurations where possible", Run: manual("review roles granting webhook configurations")},
		{ID: "5.1.13", Text: "Minimize access to the service account token creation (Manual)",
			Remediation: "remove access to serviceaccounts/token where possible", Run: manual("review roles granting serviceaccounts/token")},
		{ID: "5.2.1", Text: "Ensure that the cluster has at least one active policy control mechanism in place (Manual)",
			Remediation: "keep the PodSecurity admission plug-in on; label namespaces with pod-security.kubernetes.io/enforce=baseline or restricted",
			Run:         withCluster(baselineEverywhere)},
		{ID: "5.2.2", Text: "Minimize the admission of privileged containers (Manual)",
			Remediation: "remove securityContext.privileged: true; enforce baseline Pod Security in every namespace",
			Run: withCluster(func(_ *Env, c *Cluster) Result {
				return listed(podsWhere(c, func(_ *corev1.Pod, ct *corev1.Container) string {
					if sc := ct.SecurityContext; sc != nil && sc.Privileged != nil && *sc.Privileged {
						return "privileged"
					}
					return ""
				}), "privileged containers", "no privileged containers")
			})},
		{ID: "5.2.3", Text: "Minimize the admission of containers wishing to share the host process ID namespace (Manual)",
			Remediation: "remove hostPID: true; enforce baseline Pod Security in every namespace",
			Run: withCluster(func(_ *Env, c *Cluster) Result {
				return listed(podsWith(c, func(p *corev1.Pod) bool { return p.Spec.HostPID }, "hostPID"), "pods sharing the host PID namespace", "no pod shares the host PID namespace")
			})},
		{ID: "5.2.4", Text: "Minimize the admission of containers wishing to share the host IPC namespace (Manual)",
			Remediation: "remove hostIPC: true; enforce baseline Pod Security in every namespace",
			Run: withCluster(func(_ *Env, c *Cluster) Result {
				return listed(podsWith(c, func(p *corev1.Pod) bool { return p.Spec.HostIPC }, "hostIPC"), "pods sharing the host IPC namespace", "no pod shares the host IPC namespace")
			})},
		{ID: "5.2.5", Text: "Minimize the admission of containers wishing to share the host network namespace (Manual)",
			Remediation: "remove hostNetwork: true; enforce baseline Pod Security in every namespace",
			Run: withCluster(func(_ *Env, c *Cluster) Result {
				return listed(podsWith(c, func(p *corev1.Pod) bool { return p.Spec.HostNetwork }, "hostNetwork"), "pods sharing the host network namespace", "no pod shares the host network namespace")
			})},
		{ID: "5.2.6", Text: "Minimize the admission of containers with allowPrivilegeEscalation (Manual)",
			Remediation: "set securityContext.allowPrivilegeEscalation: false; enforce restricted Pod Security where possible",
			Run: withCluster(func(_ *Env, c *Cluster) Result {
				return listed(podsWhere(c, func(_ *corev1.Pod, ct *corev1.Container) string {
					if sc := ct.SecurityContext; sc != nil && sc.AllowPrivilegeEscalation != nil && *sc.AllowPrivilegeEscalation {
						return "allowPrivilegeEscalation: true"
					}
					return ""
				}), "containers allowing privilege escalation", "no container sets allowPrivilegeEscalation: true")
			})},
		{ID: "5.2.7", Text: "Minimize the admission of root containers (Manual)",
			Remediation: "set runAsNonRoot: true; enforce restricted Pod Security where possible", Run: manual("baseline Pod Security allows root containers; review namespaces that do not enforce restricted")},
		{ID: "5.2.8", Text: "Minimize the admission of containers with the NET_RAW capability (Manual)",
			Remediation: "drop NET_RAW (capabilities.drop: [ALL]); enforce restricted Pod Security where possible", Run: manual("review containers that do not drop NET_RAW")},
		{ID: "5.2.9", Text: "Minimize the admission of containers with added capabilities (Manual)",
			Remediation: "remove capabilities.add from containers that do not need them",
			Run: withCluster(func(_ *Env, c *Cluster) Result {
				return listed(podsWhere(c, func(_ *corev1.Pod, ct *corev1.Container) string {
					if sc := ct.SecurityContext; sc != nil && sc.Capabilities != nil && len(sc.Capabilities.Add) > 0 {
						var caps []string
						for _, c := range sc.Capabilities.Add {
							caps = append(caps, string(c))
						}
						return "adds " + strings.Join(caps, ",")
					}
					return ""
				}), "containers adding capabilities", "no container adds capabilities")
			})},
		{ID: "5.2.10", Text: "Minimize the admission of containers with capabilities assigned (Manual)",
			Remediation: "drop all capabilities where applications do not need them", Run: manual("review containers that do not drop ALL capabilities")},
		{ID: "5.2.11", Text: "Minimize the admission of Windows HostProcess containers (Manual)",
			Remediation: "enforce baseline Pod Security in every namespace", Run: withCluster(baselineEverywhere)},
		{ID: "5.2.12", Text: "Minimize the admission of HostPath volumes (Manual)",
			Remediation: "enforce baseline Pod Security in every namespace", Run: withCluster(baselineEverywhere)},
		{ID: "5.2.13", Text: "Minimize the admission of containers which use HostPorts (Manual)",
			Remediation: "enforce baseline Pod Security in every namespace", Run: withCluster(baselineEverywhere)},
		{ID: "5.3.1", Text: "Ensure that the CNI in use supports NetworkPolicies (Manual)",
			Remediation: "not available yet: Skiff stores NetworkPolicy objects but its agent does not enforce them",
			Run:         manual("Skiff's pod network (bridge CNI) does not enforce NetworkPolicy")},
		{ID: "5.3.2", Text: "Ensure that all Namespaces have NetworkPolicies defined (Manual)",
			Remediation: "create NetworkPolicy objects in each namespace (note 5.3.1: not enforced yet)",
			Run: withCluster(func(_ *Env, c *Cluster) Result {
				has := map[string]bool{}
				for _, np := range c.NetworkPolicies {
					has[np.Namespace] = true
				}
				var out []string
				for _, ns := range c.Namespaces {
					if !has[ns.Name] {
						out = append(out, "namespace "+ns.Name)
					}
				}
				return listed(out, "namespaces without a NetworkPolicy", "every namespace has a NetworkPolicy")
			})},
		{ID: "5.4.1", Text: "Prefer using Secrets as files over Secrets as environment variables (Manual)",
			Remediation: "mount secrets as volumes instead of env valueFrom.secretKeyRef or envFrom.secretRef",
			Run: withCluster(func(_ *Env, c *Cluster) Result {
				return listed(podsWhere(c, func(_ *corev1.Pod, ct *corev1.Container) string {
					for _, ev := range ct.Env {
						if ev.ValueFrom != nil && ev.ValueFrom.SecretKeyRef != nil {
							return "env " + ev.Name + " from secret " + ev.ValueFrom.SecretKeyRef.Name
						}
					}
					for _, ef := range ct.EnvFrom {
						if ef.SecretRef != nil {
							return "envFrom secret " + ef.SecretRef.Name
						}
					}
					return ""
				}), "containers reading secrets as environment variables", "no container reads secrets as environment variables")
			})},
		{ID: "5.4.2", Text: "Consider external secret storage (Manual)",
			Remediation: "consider an external secret store; Skiff encrypts secrets at rest (1.2.28)", Run: manual("secrets are stored in the cluster's store")},
		{ID: "5.5.1", Text: "Configure Image Provenance using ImagePolicyWebhook admission controller (Manual)",
			Remediation: "Skiff has no ImagePolicyWebhook; use a ValidatingAdmissionWebhook or ValidatingAdmissionPolicy on images",
			Run:         manual("no image provenance plug-in")},
		{ID: "5.7.1", Text: "Create administrative boundaries between resources using namespaces (Manual)",
			Remediation: "create namespaces per team or application", Run: manual("review namespaces")},
		{ID: "5.7.2", Text: "Ensure that the seccomp profile is set to docker/default in your Pod definitions (Manual)",
			Remediation: "set securityContext.seccompProfile.type: RuntimeDefault in pod definitions",
			Run: withCluster(func(_ *Env, c *Cluster) Result {
				return listed(podsWith(c, func(p *corev1.Pod) bool {
					return p.Spec.SecurityContext == nil || p.Spec.SecurityContext.SeccompProfile == nil
				}, "no pod seccompProfile"), "pods without a seccomp profile", "every pod sets a seccomp profile")
			})},
		{ID: "5.7.3", Text: "Apply SecurityContext to your Pods and Containers (Manual)",
			Remediation: "apply securityContexts to pods and containers", Run: manual("review pods' securityContext")},
		{ID: "5.7.4", Text: "The default namespace should not be used (Manual)",
			Remediation: "move workloads out of the default namespace",
			Run: withCluster(func(_ *Env, c *Cluster) Result {
				var out []string
				for _, p := range c.Pods {
					if p.Namespace == "default" {
						out = append(out, "pod default/"+p.Name)
					}
				}
				return listed(out, "pods in the default namespace", "no pods in the default namespace")
			})},
	}
}
