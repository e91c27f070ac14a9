package credentials

import (
	"encoding/base64"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestRepository(t *testing.T) {
	for image, want := range map[string]string{
		"busybox":                            "docker.io/library/busybox",
		"busybox:1.36":                       "docker.io/library/busybox",
		"library/busybox@sha256:abc":         "docker.io/library/busybox",
		"bitnami/redis:7":                    "docker.io/bitnami/redis",
		"docker.io/busybox":                  "docker.io/library/busybox",
		"index.docker.io/bitnami/redis":      "docker.io/bitnami/redis",
		"registry-1.docker.io/library/nginx": "docker.io/library/nginx",
		"quay.io/coreos/etcd:v3.5":           "quay.io/coreos/etcd",
		"127.0.0.1:5000/app:1":               "127.0.0.1:5000/app",
		"localhost/app":                      "localhost/app",
		"localhost:5000/team/app@sha256:ab":  "localhost:5000/team/app",
	} {
		if got := Repository(image); got != want {
			t.Errorf("Repository(%q) = %q, want %q", image, got, want)
		}
	}
}

func TestLookup(t *testing.T) {
	cfg := Config{
		"quay.io":                     {Username: "quay"},
		"quay.io/coreos":              {Username: "coreos"},
		"https://index.docker.io/v1/": {Username: "hub"},
		"*.example.com":               {Username: "glob"},
		"registry.example.com:5000":   {Username: "port"},
		"http://127.0.0.1:5000/v2/":   {Username: "local"},
		"gcr.io/project/":             {Username: "gcr"},
	}
	tests := []struct {
		image string
		want  []string // usernames, in order
	}{
		{"quay.io/coreos/etcd:v3", []string{"coreos", "quay"}},
		{"quay.io/other/app", []string{"quay"}},
		{"busybox", []string{"hub"}},
		{"docker.io/library/busybox:1", []string{"hub"}},
		{"registry-1.docker.io/bitnami/redis", []string{"hub"}},
		{"a.example.com/app", []string{"glob"}},
		// A glob matches one host part only, and ports must agree.
		{"a.b.example.com/app", nil},
		{"a.example.com:5000/app", nil},
		{"registry.example.com:5000/app", []string{"port"}},
		{"registry.example.com/app", []string{"glob"}},
		{"127.0.0.1:5000/app:1", []string{"local"}},
		{"127.0.0.1:5001/app:1", nil},
		{"gcr.io/project/app", []string{"gcr"}},
		{"gcr.io/other/app", nil},
		{"ghcr.io/app", nil},
	}
	var k Keyring
	k.Add(cfg)
	for _, tt := range tests {
		var got []string
		for _, a := range k.Lookup(tt.image) {
			got = append(got, a.Username)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Lookup(%q) = %q, want %q", tt.image, got, tt.want)
		}
	}
}

func TestFromSecrets(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	secret := func(name string, typ corev1.SecretType, key, value string) *corev1.Secret {
		return &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}, Type: typ,
			Data: map[string][]byte{key: []byte(value)},
		}
	}
	tests := []struct {
		name    string
		secrets []*corev1.Secret
		image   string
		want    []string // user:password
		wantErr bool
	}{{
		name: "dockerconfigjson with auth",
		secrets: []*corev1.Secret{secret("a", corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey,
			`{"auths":{"reg.example.com":{"auth":"`+b64("alice:s3cr:et")+`"}}}`)},
		image: "reg.example.com/app:1",
		want:  []string{"alice:s3cr:et"},
	}, {
		name: "dockercfg with username and password",
		secrets: []*corev1.Secret{secret("a", corev1.SecretTypeDockercfg, corev1.DockerConfigKey,
			`{"reg.example.com":{"username":"bob","password":"pw","email":"b@example.com"}}`)},
		image: "reg.example.com/app",
		want:  []string{"bob:pw"},
	}, {
		name: "every secret's credentials are tried, in the pod's order",
		secrets: []*corev1.Secret{
			secret("wrong", corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey, `{"auths":{"reg.example.com":{"username":"x","password":"bad"}}}`),
			secret("right", corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey, `{"auths":{"https://reg.example.com":{"username":"x","password":"good"}}}`),
		},
		image: "reg.example.com/app",
		want:  []string{"x:bad", "x:good"},
	}, {
		name:    "other secret types are ignored",
		secrets: []*corev1.Secret{secret("a", corev1.SecretTypeOpaque, corev1.DockerConfigJsonKey, `{"auths":{"reg.example.com":{"username":"x"}}}`)},
		image:   "reg.example.com/app",
	}, {
		name:    "an entry with a malformed auth is skipped",
		secrets: []*corev1.Secret{secret("a", corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey, `{"auths":{"reg.example.com":{"auth":"`+b64("nocolon")+`"}}}`)},
		image:   "reg.example.com/app",
	}, {
		name:    "a secret that does not parse is an error",
		secrets: []*corev1.Secret{secret("a", corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey, `{"auths":`)},
		wantErr: true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := FromSecrets(tt.secrets)
			if (err != nil) != tt.wantErr {
				t.Fatalf("FromSecrets: err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			var got []string
			for _, a := range k.Lookup(tt.image) {
				got = append(got, a.Username+":"+a.Password)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Lookup(%q) = %q, want %q", tt.image, got, tt.want)
			}
		})
	}
}
