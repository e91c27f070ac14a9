package podsecurity

import (
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	psc := `apiVersion: pod-security.admission.config.k8s.io/v1
kind: PodSecurityConfiguration
defaults:
  enforce: restricted
  enforce-version: v1.30
exemptions:
  namespaces: [kube-system]
  usernames: [system:serviceaccount:ops:deployer]
`
	tests := []struct {
		name, body string
		want       string // enforce audit warn | namespaces | usernames
		err        string
	}{
		{name: "PodSecurityConfiguration", body: psc,
			want: "restricted:v1.30 privileged:latest restricted:latest|kube-system|system:serviceaccount:ops:deployer"},
		{name: "JSON, exemptions only", body: `{"apiVersion":"pod-security.admission.config.k8s.io/v1","kind":"PodSecurityConfiguration","exemptions":{"namespaces":["ci"]}}`,
			want: "baseline:latest privileged:latest restricted:latest|ci|"},
		{name: "bad level", body: "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\ndefaults: {warn: loud}\n",
			err: `defaults.warn: "loud": must be one of privileged, baseline, restricted`},
		{name: "unknown field", body: "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\ndefault: {}\n",
			err: `unknown field "default"`},
		{name: "wrong kind", body: "apiVersion: v1\nkind: ConfigMap\n", err: "want a pod-security.admission.config.k8s.io PodSecurityConfiguration"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig(tc.name, []byte(tc.body))
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
