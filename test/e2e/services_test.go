package e2e

import (
	"strings"
	"testing"
)

// TestKubectlServiceTypeChanges switches one service through every type
// with `kubectl patch`, as users do: each change sheds what the old type
// was given (node ports, cluster IPs, traffic policy) and allocates what
// the new one needs.
func TestKubectlServiceTypeChanges(t *testing.T) {
	s := startServer(t)
	s.mustKubectl("", "create", "service", "nodeport", "web", "--tcp=80:8080", "--node-port=30123")
	steps := []struct {
		patch string
		want  string // jsonpath output after the patch
	}{
		{`{"spec":{"type":"ClusterIP"}}`, "ClusterIP|0||true"},
		{`{"spec":{"type":"LoadBalancer"}}`, "LoadBalancer|1|Cluster|true"},
		{`{"spec":{"type":"NodePort"}}`, "NodePort|1|Cluster|true"},
		{`{"spec":{"type":"ExternalName","externalName":"web.example.com"}}`, "ExternalName|0||false"},
		{`{"spec":{"type":"ClusterIP","externalName":null}}`, "ClusterIP|0||true"},
	}
	const query = `{.spec.type}|{.spec.ports[0].nodePort}|{.spec.externalTrafficPolicy}|{.spec.clusterIP}`
	for _, st := range steps {
		out, errOut, err := s.kubectl("", "patch", "service", "web", "-p", st.patch)
		if err != nil {
			t.Fatalf("patch %s: %v\n%s%s", st.patch, err, out, errOut)
		}
		got := s.mustKubectl("", "get", "service", "web", "-o", "jsonpath="+query)
		typ, nodePort, policy, clusterIP := splitFour(got)
		// Node ports and cluster IPs are allocated: compare their presence.
		summary := strings.Join([]string{typ, presence(nodePort), policy, boolString(clusterIP != "")}, "|")
		if summary != st.want {
			t.Errorf("after %s: %q (%s), want %q", st.patch, summary, got, st.want)
		}
		if st.patch == steps[0].patch {
			// The node port given up is free for another service.
			s.mustKubectl("", "create", "service", "nodeport", "other", "--tcp=81:8081", "--node-port=30123")
		}
	}
}

func splitFour(s string) (a, b, c, d string) {
	parts := strings.SplitN(s, "|", 4)
	for len(parts) < 4 {
		parts = append(parts, "")
	}
	return parts[0], parts[1], parts[2], parts[3]
}

// presence is "0" for no node port and "1" for an allocated one.
func presence(nodePort string) string {
	if nodePort == "" || nodePort == "0" {
		return "0"
	}
	return "1"
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
