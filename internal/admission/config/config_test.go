package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	known := []string{"PodSecurity", "EventRateLimit", "LimitRanger"}
	dir := t.TempDir()
	write := func(name, body string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("erl.yaml", "apiVersion: eventratelimit.admission.k8s.io/v1alpha1\nkind: Configuration\nlimits: [{type: User, qps: 1, burst: 2}]\n")
	const head = "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\n"
	for _, tc := range []struct {
		name, body string
		want       map[string]string // plug-in → JSON document
		err        string
	}{
		{name: "embedded and path", body: head + `plugins:
- name: PodSecurity
  configuration:
    apiVersion: pod-security.admission.config.k8s.io/v1
    kind: PodSecurityConfiguration
    exemptions: {namespaces: [ci]}
- name: EventRateLimit
  path: erl.yaml
`, want: map[string]string{
			"PodSecurity":    `{"apiVersion":"pod-security.admission.config.k8s.io/v1","exemptions":{"namespaces":["ci"]},"kind":"PodSecurityConfiguration"}`,
			"EventRateLimit": `{"apiVersion":"eventratelimit.admission.k8s.io/v1alpha1","kind":"Configuration","limits":[{"burst":2,"qps":1,"type":"User"}]}`,
		}},
		{name: "absolute path", body: head + "plugins:\n- name: EventRateLimit\n  path: " + filepath.Join(dir, "erl.yaml") + "\n",
			want: map[string]string{"EventRateLimit": `{"apiVersion":"eventratelimit.admission.k8s.io/v1alpha1","kind":"Configuration","limits":[{"burst":2,"qps":1,"type":"User"}]}`}},
		{name: "no plug-ins", body: head + "plugins: []\n", want: map[string]string{}},
		{name: "older apiVersion", body: "apiVersion: apiserver.k8s.io/v1alpha1\nkind: AdmissionConfiguration\n", want: map[string]string{}},
		{name: "unknown plug-in", body: head + "plugins:\n- name: ImagePolicyWebhook\n  path: x.yaml\n",
			err: `plugins[0].name: admission plug-in "ImagePolicyWebhook" is not known (known: PodSecurity, EventRateLimit, LimitRanger)`},
		{name: "missing file", body: head + "plugins:\n- name: EventRateLimit\n  path: nope.yaml\n", err: "plugins[0] (EventRateLimit).path: open "},
		{name: "neither", body: head + "plugins:\n- name: EventRateLimit\n", err: "plugins[0] (EventRateLimit): one of configuration or path is required"},
		{name: "both", body: head + "plugins:\n- name: EventRateLimit\n  path: erl.yaml\n  configuration: {a: 1}\n", err: "configuration and path are exclusive"},
		{name: "twice", body: head + "plugins:\n- {name: EventRateLimit, path: erl.yaml}\n- {name: EventRateLimit, path: erl.yaml}\n", err: `plugins[1].name: plug-in "EventRateLimit" is configured twice`},
		{name: "wrong kind", body: "apiVersion: v1\nkind: ConfigMap\n", err: `kind "ConfigMap", apiVersion "v1": want an AdmissionConfiguration of apiserver.config.k8s.io/v1`},
		{name: "unknown field", body: head + "plugin: []\n", err: `unknown field "plugin"`},
		{name: "not YAML", body: "{", err: "admission configuration "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Load(write("admission.yaml", tc.body), known)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(f.Names(), ","); len(f.Names()) != len(tc.want) {
				t.Fatalf("configured %s, want %d plug-ins", got, len(tc.want))
			}
			for name, want := range tc.want {
				doc, ok := f.Plugin(name)
				if !ok || string(doc) != want {
					t.Errorf("%s: %s (%v), want %s", name, doc, ok, want)
				}
			}
		})
	}
	if _, err := Load(filepath.Join(dir, "absent.yaml"), known); err == nil {
		t.Error("a missing file loaded")
	}
	var none *File
	if _, ok := none.Plugin("PodSecurity"); ok {
		t.Error("a nil File configures PodSecurity")
	}
}
