package lint

import "skiff.dev/skiff/internal/podsecurity"

// rule describes a rule for SARIF's tool.driver.rules and for people.
type rule struct {
	description, remediation string
	// level is the Pod Security level of a pod-security rule, else "".
	level podsecurity.Level
}

func podSecurityRule(checkID string) string { return "pod-security/" + checkID }

// podSecurityRemediation says how to pass each upstream check.
var podSecurityRemediation = map[string][2]string{
	"appArmorProfile":            {"AppArmor profile overridden", `Remove the AppArmor override or set appArmorProfile.type to "RuntimeDefault" or "Localhost".`},
	"capabilities_baseline":      {"Capabilities beyond the default set added", "Add no capabilities beyond the runtime's default set (remove NET_ADMIN, SYS_ADMIN and the like from capabilities.add)."},
	"hostNamespaces":             {"Host network, PID or IPC namespace shared", "Remove hostNetwork, hostPID and hostIPC (or set them to false)."},
	"hostPathVolumes":            {"hostPath volume", "Use a persistentVolumeClaim, emptyDir, configMap or secret volume instead of hostPath."},
	"hostPorts":                  {"Host port", "Remove hostPort; expose the port with a Service."},
	"hostProbesAndHostLifecycle": {"Probe or lifecycle handler host set", "Remove host from httpGet and tcpSocket probes and handlers (they target the pod's IP)."},
	"privileged":                 {"Privileged container", "Remove securityContext.privileged or set it to false; add only the capabilities needed."},
	"procMount":                  {"Unmasked /proc", `Remove securityContext.procMount or set it to "Default".`},
	"seLinuxOptions":             {"SELinux type, user or role set", "Remove seLinuxOptions user and role; use a container_t type, or none."},
	"seccompProfile_baseline":    {"Seccomp disabled", `Set seccompProfile.type to "RuntimeDefault" or "Localhost", not "Unconfined".`},
	"sysctls":                    {"Unsafe sysctl", "Set only the safe, namespaced sysctls (net.ipv4.ip_local_port_range and the like)."},
	"windowsHostProcess":         {"Windows host process", "Remove windowsOptions.hostProcess or set it to false."},
	"allowPrivilegeEscalation":   {"Privilege escalation allowed", "Set securityContext.allowPrivilegeEscalation: false on every container."},
	"capabilities_restricted":    {"Capabilities not dropped", `Set securityContext.capabilities.drop: ["ALL"] and add at most NET_BIND_SERVICE.`},
	"procMount_restricted":       {"Unmasked /proc", `Remove securityContext.procMount or set it to "Default".`},
	"restrictedVolumes":          {"Volume type outside the restricted set", "Use configMap, secret, emptyDir, projected, downwardAPI, persistentVolumeClaim, ephemeral, csi or image volumes."},
	"runAsNonRoot":               {"May run as root", "Set securityContext.runAsNonRoot: true (on the pod or every container) and use an image with a non-root user."},
	"runAsUser":                  {"Runs as user 0", "Set runAsUser to a non-zero UID, or remove it."},
	"seccompProfile_restricted":  {"No seccomp profile", `Set securityContext.seccompProfile.type: RuntimeDefault on the pod.`},
}

// rules are every rule the linter reports, by id.
var rules = func() map[string]rule {
	r := map[string]rule{
		"resources-limits": {description: "Container without CPU or memory limits",
			remediation: "Set resources.limits.cpu and resources.limits.memory, so one container cannot starve the node."},
		"resources-requests": {description: "Container without CPU or memory requests",
			remediation: "Set resources.requests.cpu and resources.requests.memory, so the scheduler reserves what the container needs."},
		"image-tag": {description: "Image not pinned (:latest or no tag)",
			remediation: "Use a version tag or, better, a digest (image@sha256:...), so every node runs the same image."},
		"env-secret-literal": {description: "Secret written as a literal environment value",
			remediation: "Put the value in a Secret and use env[].valueFrom.secretKeyRef; never commit credentials."},
		"automount-token": {description: "Service account token mounted",
			remediation: "Set automountServiceAccountToken: false unless the pod calls the Kubernetes API."},
	}
	for _, c := range podsecurity.CheckIDs() {
		d := podSecurityRemediation[c.ID]
		r[podSecurityRule(c.ID)] = rule{description: d[0] + " (Pod Security Standards, " + string(c.Level) + ")", remediation: d[1], level: c.Level}
	}
	return r
}()
