package encryption

import (
	"strings"
	"testing"
)

// upstreamExample is the shape of the configuration in upstream's
// "Encrypting Confidential Data at Rest" page.
const upstreamExample = `
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources:
      - secrets
      - configmaps
      - pandas.awesome.bears.example
    providers:
      - aescbc:
          keys:
            - name: key1
              secret: c2VjcmV0IGlzIHNlY3VyZQ==
            - name: key2
              secret: dGhpcyBpcyBwYXNzd29yZA==
      - identity: {}
      - aesgcm:
          keys:
            - name: key1
              secret: c2VjcmV0IGlzIHNlY3VyZQ==
      - secretbox:
          keys:
            - name: key1
              secret: YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY=
  - resources:
      - '*.apps'
    providers:
      - secretbox:
          keys:
            - name: key1
              secret: YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY=
  - resources:
      - '*.*'
    providers:
      - identity: {}
`

func TestParseUpstreamExample(t *testing.T) {
	cfg, err := Parse([]byte(upstreamExample))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	tr, err := NewTransformers(cfg, []byte(upstreamExample))
	if err != nil {
		t.Fatalf("NewTransformers: %v", err)
	}
	for key, want := range map[string]string{
		"/registry/core/secrets/default/a":               "aescbc:key1",
		"/registry/core/configmaps/default/a":            "aescbc:key1",
		"/registry/awesome.bears.example/pandas/ns/p":    "aescbc:key1",
		"/registry/apps/deployments/default/web":         "secretbox:key1",
		"/registry/core/pods/default/p":                  "identity",
		"/registry/rbac.authorization.k8s.io/roles/ns/r": "identity",
	} {
		c := tr.chainFor(key)
		if c == nil || c.writeKey() != want {
			got := "<none>"
			if c != nil {
				got = c.writeKey()
			}
			t.Errorf("%s: written with %s, want %s", key, got, want)
		}
	}
	// JSON is YAML too.
	if _, err := Parse([]byte(`{"apiVersion":"apiserver.config.k8s.io/v1","kind":"EncryptionConfiguration","resources":[{"resources":["secrets"],"providers":[{"identity":{}}]}]}`)); err != nil {
		t.Fatalf("JSON: %v", err)
	}
}

func TestKeyPrefix(t *testing.T) {
	for in, want := range map[string]string{
		"secrets":             "/registry/core/secrets/",
		"deployments.apps":    "/registry/apps/deployments/",
		"*.apps":              "/registry/apps/",
		"*.":                  "/registry/core/",
		"*.*":                 "/registry/",
		"widgets.example.com": "/registry/example.com/widgets/",
		"*.networking.k8s.io": "/registry/networking.k8s.io/",
	} {
		if got := keyPrefix(in); got != want {
			t.Errorf("keyPrefix(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	head := "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n"
	for _, tc := range []struct {
		name, body, want string
	}{
		{"no resources", "resources: []\n", "must contain at least one resource"},
		{"no providers", "resources:\n- resources: [secrets]\n  providers: []\n", "providers must contain at least one provider"},
		{"two in one item", "resources:\n- resources: [secrets]\n  providers:\n  - identity: {}\n    secretbox: {keys: [{name: a, secret: " + b64(32, 1) + "}]}\n", "exactly one per item"},
		{"short secretbox key", "resources:\n- resources: [secrets]\n  providers:\n  - secretbox: {keys: [{name: a, secret: " + b64(16, 1) + "}]}\n", "providers[0].secretbox.keys[0].secret"},
		{"bad aes key", "resources:\n- resources: [secrets]\n  providers:\n  - aesgcm: {keys: [{name: a, secret: " + b64(20, 1) + "}]}\n", "aesgcm key must be"},
		{"not base64", "resources:\n- resources: [secrets]\n  providers:\n  - aescbc: {keys: [{name: a, secret: '%%%'}]}\n", "must be base64 encoded"},
		{"no keys", "resources:\n- resources: [secrets]\n  providers:\n  - aescbc: {keys: []}\n", "keys must contain at least one key"},
		{"duplicate key", "resources:\n- resources: [secrets]\n  providers:\n  - aescbc: {keys: [{name: a, secret: " + b64(32, 1) + "}, {name: a, secret: " + b64(32, 2) + "}]}\n", "Duplicate value"},
		{"duplicate resource", "resources:\n- resources: [secrets]\n  providers: [{identity: {}}]\n- resources: [secrets]\n  providers: [{identity: {}}]\n", "resources[1].resources[0]: Duplicate value"},
		{"bare star", "resources:\n- resources: ['*']\n  providers: [{identity: {}}]\n", `use "*.*"`},
		{"upper case", "resources:\n- resources: [Secrets]\n  providers: [{identity: {}}]\n", "lower case"},
		{"unknown field", "resources:\n- resources: [secrets]\n  providers: [{rot13: {}}]\n", "unknown field"},
		{"kms without endpoint", "resources:\n- resources: [secrets]\n  providers: [{kms: {name: k}}]\n", "kms.endpoint: Required value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(head + tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), b64(32, 1)) {
				t.Fatalf("error leaks key material: %v", err)
			}
		})
	}
	t.Run("wrong kind", func(t *testing.T) {
		if _, err := Parse([]byte("apiVersion: v1\nkind: Secret\nresources:\n- resources: [secrets]\n  providers: [{identity: {}}]\n")); err == nil {
			t.Fatal("accepted a Secret")
		}
	})
}

// KMS v2 parses with upstream's fields; v1 (and a missing apiVersion,
// which upstream defaults to v1) is refused as upstream refuses it.
func TestKMSConfig(t *testing.T) {
	const head = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n"
	cfg, err := Parse([]byte(head + "  - kms:\n      apiVersion: v2\n      name: myKmsPlugin\n      endpoint: unix:///tmp/socketfile.sock\n      timeout: 3s\n  - identity: {}\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if k := cfg.Resources[0].Providers[0].KMS; k.Timeout.Duration.Seconds() != 3 || k.Name != "myKmsPlugin" {
		t.Fatalf("kms not parsed: %+v", k)
	}
	for _, tc := range []struct{ name, kms, want string }{
		{"v1", "apiVersion: v1, name: a, endpoint: 'unix:///tmp/a.sock'", "KMSv1 is deprecated"},
		{"no apiVersion is v1", "name: a, endpoint: 'unix:///tmp/a.sock'", "KMSv1 is deprecated"},
		{"unknown version", "apiVersion: v3, name: a, endpoint: 'unix:///tmp/a.sock'", "Unsupported value"},
		{"no name", "apiVersion: v2, endpoint: 'unix:///tmp/a.sock'", ".kms.name: Required value"},
		{"colon in name", "apiVersion: v2, name: 'a:b', endpoint: 'unix:///tmp/a.sock'", "should not contain ':'"},
		{"tcp endpoint", "apiVersion: v2, name: a, endpoint: 'tcp://127.0.0.1:1'", "only unix is supported"},
		{"no endpoint", "apiVersion: v2, name: a", ".kms.endpoint: Required value"},
		{"cachesize", "apiVersion: v2, name: a, endpoint: 'unix:///tmp/a.sock', cachesize: 10", "cachesize is not supported in v2"},
		{"zero timeout", "apiVersion: v2, name: a, endpoint: 'unix:///tmp/a.sock', timeout: 0s", "timeout should be a positive value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(head + "  - kms: {" + tc.kms + "}\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	t.Run("duplicate name", func(t *testing.T) {
		k := "  - kms: {apiVersion: v2, name: a, endpoint: 'unix:///tmp/a.sock'}\n"
		if _, err := Parse([]byte(head + k + k)); err == nil || !strings.Contains(err.Error(), "duplicate kms provider name") {
			t.Fatalf("err %v", err)
		}
	})
}
