package podsecurity

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadConfigFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	psc := `apiVersion: pod-security.admission.config.k8s.io/v1
kind: PodSecurityConfiguration
defaults:
  enforce: restricted
  enforce-version: v1.30
exemptions:
  namespaces: [kube-system]
  usernames: [system:serviceaccount:ops:deployer]
`
	write("psc.yaml", psc)
	tests := []struct {
		name, file, body string
		want             string // enforce audit warn | namespaces | usernames
		err              string
	}{
		{name: "PodSecurityConfiguration", file: "a.yaml", body: psc,
			want: "restricted:v1.30 privileged:latest restricted:latest|kube-system|system:serviceaccount:ops:deployer"},
		{name: "embedded in AdmissionConfiguration", file: "b.yaml", body: `apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: EventRateLimit
  path: elsewhere.yaml
- name: PodSecurity
  configuration:
` + indent(psc, "    "),
			want: "restricted:v1.30 privileged:latest restricted:latest|kube-system|system:serviceaccount:ops:deployer"},
		{name: "path in AdmissionConfiguration", file: "c.yaml", body: `apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: PodSecurity
  path: psc.yaml
`, want: "restricted:v1.30 privileged:latest restricted:latest|kube-system|system:serviceaccount:ops:deployer"},
		{name: "no PodSecurity entry", file: "d.yaml", body: "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins: []\n",
			want: "baseline:latest privileged:latest restricted:latest||"},
		{name: "bad level", file: "e.yaml", body: "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\ndefaults: {warn: loud}\n",
			err: `defaults.warn: "loud": must be one of privileged, baseline, restricted`},
		{name: "unknown field", file: "f.yaml", body: "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\ndefault: {}\n",
			err: `unknown field "default"`},
		{name: "wrong kind", file: "g.yaml", body: "apiVersion: v1\nkind: ConfigMap\n", err: "want a pod-security.admission.config.k8s.io PodSecurityConfiguration"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := LoadConfigFile(write(tc.file, tc.body))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			d := cfg.Defaults
			got := d.Enforce.String() + " " + d.Audit.String() + " " + d.Warn.String() + "|" +
				strings.Join(cfg.Exemptions.Namespaces, ",") + "|" + strings.Join(cfg.Exemptions.Usernames, ",")
			if got != tc.want {
				t.Errorf("config %s, want %s", got, tc.want)
			}
		})
	}
}

func indent(s, prefix string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(prefix + l + "\n")
	}
	return b.String()
}
