package agent

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/internal/agent/podconfig"
	"skiff.dev/skiff/internal/agent/runtime"
	"skiff.dev/skiff/internal/agent/tokens"
)

// setUpVolumes creates or refreshes the pod's volumes, recording a
// FailedMount event per failing volume with upstream's message. It
// reports whether every volume is ready. Agents without a data directory
// (simulated nodes) have no volumes to prepare.
func (a *Agent) setUpVolumes(ctx context.Context, pod *corev1.Pod) bool {
	if a.volumes == nil {
		return true
	}
	err := a.volumes.SetUp(ctx, pod)
	if err == nil {
		return true
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		a.event(pod, nil, corev1.EventTypeWarning, "FailedMount", e.Error())
	}
	return false
}

// tearDownVolumes removes the pod's directory (volumes, etc-hosts).
func (a *Agent) tearDownVolumes(uid types.UID) {
	if a.tokens != nil {
		a.tokens.Forget(uid)
	}
	if a.volumes != nil {
		if err := a.volumes.TearDown(uid); err != nil {
			a.log.Warn("tear down pod volumes", "pod", uid, "err", err)
		}
		return
	}
	if dir := a.podDir(uid); dir != "" {
		if err := os.RemoveAll(dir); err != nil {
			a.log.Warn("remove pod directory", "dir", dir, "err", err)
		}
	}
}

// cleanUpTokens drops expired service account tokens from the cache every
// minute, as upstream's token manager (live pods' tokens are refreshed
// long before they expire).
func (a *Agent) cleanUpTokens(ctx context.Context) {
	t := time.NewTicker(tokens.CleanupPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.tokens.Cleanup()
		}
	}
}

// adoptPodDirs wakes a worker for every pod directory on the node, so
// that those of pods deleted while the agent was down (and whose
// containers are gone, so relist does not see them) are torn down: the
// worker finds no pod and cleans up. Workers of live pods are woken
// anyway.
func (a *Agent) adoptPodDirs(ctx context.Context) {
	if a.volumes == nil {
		return
	}
	entries, err := os.ReadDir(filepath.Join(a.cfg.DataDir, "pods"))
	if err != nil {
		if !os.IsNotExist(err) {
			a.log.Warn("list pod directories", "err", err)
		}
		return
	}
	for _, e := range entries {
		if e.IsDir() {
			a.wake(ctx, types.UID(e.Name()))
		}
	}
}

// mounts are a container's bind mounts: its volumeMounts, and the
// agent-managed /etc/hosts unless the container mounts its own.
func (a *Agent) mounts(pod *corev1.Pod, c *corev1.Container, env []runtime.KeyValue, podIPs []string) ([]runtime.Mount, error) {
	if a.volumes == nil {
		return nil, nil
	}
	mounts, err := a.volumes.Mounts(pod, c, env)
	if err != nil {
		return nil, err
	}
	for _, m := range c.VolumeMounts {
		if m.MountPath == "/etc/hosts" {
			return mounts, nil
		}
	}
	if !pod.Spec.HostNetwork && len(podIPs) == 0 {
		return mounts, nil // as upstream: no pod IP, no hosts file
	}
	path, err := a.writeEtcHosts(pod, podIPs)
	if err != nil {
		return nil, err
	}
	return append(mounts, runtime.Mount{ContainerPath: "/etc/hosts", HostPath: path}), nil
}

// writeEtcHosts writes the pod's hosts file as upstream's kubelet does:
// localhost entries, the pod's IPs with its hostname (and FQDN with a
// subdomain), then spec.hostAliases; host-network pods get the node's
// /etc/hosts plus their aliases.
func (a *Agent) writeEtcHosts(pod *corev1.Pod, podIPs []string) (string, error) {
	var b bytes.Buffer
	if pod.Spec.HostNetwork {
		host, err := os.ReadFile("/etc/hosts")
		if err != nil {
			return "", fmt.Errorf("read the node's /etc/hosts: %w", err)
		}
		b.WriteString("# Kubernetes-managed hosts file (host network).\n")
		b.Write(host)
	} else {
		hostname, domain, err := podconfig.Hostname(pod, a.cfg.ClusterDomain)
		if err != nil {
			return "", err
		}
		b.WriteString("# Kubernetes-managed hosts file.\n")
		b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
		for _, ip := range podIPs {
			if domain != "" {
				fmt.Fprintf(&b, "%s\t%s.%s\t%s\n", ip, hostname, domain, hostname)
			} else {
				fmt.Fprintf(&b, "%s\t%s\n", ip, hostname)
			}
		}
	}
	if len(pod.Spec.HostAliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, h := range pod.Spec.HostAliases {
			fmt.Fprintf(&b, "%s\t%s\n", h.IP, strings.Join(h.Hostnames, "\t"))
		}
	}
	path := filepath.Join(a.volumes.PodDir(pod.UID), "etc-hosts")
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return "", fmt.Errorf("create pod directory: %w", err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("write hosts file: %w", err)
	}
	return path, nil
}
