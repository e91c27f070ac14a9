// Package credentials finds the registry credentials for an image in a
// pod's image pull secrets, as upstream's kubelet keyring
// (credentialprovider.BasicDockerKeyring) does: the secrets'
// .dockerconfigjson or .dockercfg entries are keyed by registry host and
// optional path ("quay.io", "quay.io/coreos", "*.example.com:5000"), and
// an image gets every entry whose key matches it, the most specific key
// first. The agent tries them in turn until a pull succeeds.
//
// The package is pure: secrets in, credentials out.
package credentials

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"skiff.dev/skiff/internal/agent/runtime"
)

// Docker Hub's registry, under the names clients use for it. A key for
// any of them matches images of the others, and images with no registry
// ("busybox", "library/busybox") are Docker Hub's.
const dockerHub = "docker.io"

var dockerHubAliases = []string{"docker.io", "index.docker.io", "registry-1.docker.io"}

// Keyring holds registry credentials by key (host[:port][/path]). The
// zero value is empty and ready to use; a Keyring is not safe for
// concurrent Add.
type Keyring struct {
	creds map[string][]runtime.Auth
	// index is the keys, reverse-sorted so that a longer key of the same
	// host ("quay.io/coreos") is tried before a shorter one ("quay.io"),
	// as upstream orders them.
	index []string
}

// ConfigEntry is one registry's entry of a docker config: a username and
// password, given directly or as the base64 "user:password" auth field.
type ConfigEntry struct {
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	Email    string `json:"email,omitempty"`
	Auth     string `json:"auth,omitempty"`
	// IdentityToken and RegistryToken are what `docker login` stores for
	// token-based registries.
	IdentityToken string `json:"identitytoken,omitempty"`
	RegistryToken string `json:"registrytoken,omitempty"`
}

// Config is the registry → entry map of a .dockercfg, and the "auths" of
// a .dockerconfigjson.
type Config map[string]ConfigEntry

// configJSON is a .dockerconfigjson document.
type configJSON struct {
	Auths Config `json:"auths"`
}

// FromSecrets builds a keyring from image pull secrets, in their order.
// Secrets of other types are ignored, as upstream ignores them. A secret
// whose content does not parse is an error naming it: the kubelet fails
// the pull rather than pull without the credentials the user gave.
func FromSecrets(secrets []*corev1.Secret) (*Keyring, error) {
	k := &Keyring{}
	for _, s := range secrets {
		cfg, err := secretConfig(s)
		if err != nil {
			return nil, fmt.Errorf("image pull secret %s/%s: %w", s.Namespace, s.Name, err)
		}
		k.Add(cfg)
	}
	return k, nil
}

func secretConfig(s *corev1.Secret) (Config, error) {
	switch {
	case s.Type == corev1.SecretTypeDockerConfigJson && len(s.Data[corev1.DockerConfigJsonKey]) > 0:
		var doc configJSON
		if err := json.Unmarshal(s.Data[corev1.DockerConfigJsonKey], &doc); err != nil {
			return nil, fmt.Errorf("parse %s: %w", corev1.DockerConfigJsonKey, err)
		}
		return doc.Auths, nil
	case s.Type == corev1.SecretTypeDockercfg && len(s.Data[corev1.DockerConfigKey]) > 0:
		var cfg Config
		if err := json.Unmarshal(s.Data[corev1.DockerConfigKey], &cfg); err != nil {
			return nil, fmt.Errorf("parse %s: %w", corev1.DockerConfigKey, err)
		}
		return cfg, nil
	}
	return nil, nil
}

// Add adds a docker config's entries. A key may carry a scheme and the
// /v1/ or /v2/ API prefix ("https://index.docker.io/v1/"); both are
// dropped, as docker's client drops them. Entries whose key does not
// parse or whose auth field is not base64 "user:password" are skipped.
func (k *Keyring) Add(cfg Config) {
	if k.creds == nil {
		k.creds = map[string][]runtime.Auth{}
	}
	// Map order is random: add in key order so the credentials of one
	// key come out the same way every time.
	locs := make([]string, 0, len(cfg))
	for loc := range cfg {
		locs = append(locs, loc)
	}
	slices.Sort(locs)
	for _, loc := range locs {
		entry := cfg[loc]
		auth, err := entry.auth()
		if err != nil {
			continue
		}
		key, err := keyOf(loc)
		if err != nil {
			continue
		}
		if _, ok := k.creds[key]; !ok {
			k.index = append(k.index, key)
		}
		k.creds[key] = append(k.creds[key], auth)
	}
	slices.Sort(k.index)
	slices.Reverse(k.index)
}

// auth decodes the entry's credentials; the auth field, when set, wins
// over username and password, as docker's config file reads it.
// ServerAddress stays empty, as upstream leaves it: containerd drops
// credentials whose server address is not the host it connects to, and a
// key ("*.example.com", "index.docker.io/v1/", a mirror's origin) is not
// that host.
func (e ConfigEntry) auth() (runtime.Auth, error) {
	a := runtime.Auth{Username: e.Username, Password: e.Password, IdentityToken: e.IdentityToken, RegistryToken: e.RegistryToken}
	if e.Auth == "" {
		return a, nil
	}
	b, err := base64.StdEncoding.DecodeString(e.Auth)
	if err != nil {
		return a, fmt.Errorf("decode auth: %w", err)
	}
	user, pass, ok := strings.Cut(string(b), ":")
	if !ok {
		return a, errors.New("auth is not user:password")
	}
	a.Username, a.Password = user, pass
	return a, nil
}

// keyOf turns a config key into host[:port][/path].
func keyOf(loc string) (string, error) {
	value := loc
	if !strings.HasPrefix(value, "https://") && !strings.HasPrefix(value, "http://") {
		value = "https://" + value
	}
	u, err := url.Parse(value)
	if err != nil {
		return "", err
	}
	if u.Host == "" {
		return "", fmt.Errorf("no registry host in %q", loc)
	}
	path := u.Path
	if strings.HasPrefix(path, "/v1/") || strings.HasPrefix(path, "/v2/") {
		path = path[3:]
	}
	path = strings.TrimSuffix(path, "/")
	return u.Host + path, nil
}

// Lookup returns the credentials for image, most specific key first (and
// for one key, in the order they were added), or none. image is an image
// reference as a pod names it ("busybox", "quay.io/coreos/etcd:v3",
// "127.0.0.1:5000/app@sha256:...").
func (k *Keyring) Lookup(image string) []runtime.Auth {
	if k == nil {
		return nil
	}
	repo := Repository(image)
	var out []runtime.Auth
	for _, key := range k.index {
		if matches(key, repo) {
			out = append(out, k.creds[key]...)
		}
	}
	return out
}

// Repository is image's repository with its registry made explicit and
// the tag or digest dropped: busybox:1 → docker.io/library/busybox.
func Repository(image string) string {
	name := image
	if i := strings.IndexByte(name, '@'); i >= 0 {
		name = name[:i]
	}
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		name = name[:i]
	}
	host, rest, found := strings.Cut(name, "/")
	if !found || !strings.ContainsAny(host, ".:") && host != "localhost" {
		if !strings.Contains(name, "/") {
			name = "library/" + name
		}
		return dockerHub + "/" + name
	}
	if slices.Contains(dockerHubAliases, host) {
		if !strings.Contains(rest, "/") {
			rest = "library/" + rest
		}
		return dockerHub + "/" + rest
	}
	return name
}

// matches reports whether a key (host[:port][/path], the host possibly
// with globs per dot-separated part, as "*.example.com") matches a
// repository (host[:port]/path), as upstream's URLsMatch: same port, same
// number of host parts each matching its glob, and the key's path a
// prefix of the repository's.
func matches(key, repo string) bool {
	keyHost, keyPath, _ := strings.Cut(key, "/")
	repoHost, repoPath, _ := strings.Cut(repo, "/")
	if slices.Contains(dockerHubAliases, keyHost) {
		keyHost = dockerHub
	}
	kh, kp := splitHostPort(keyHost)
	rh, rp := splitHostPort(repoHost)
	if kp != rp {
		return false
	}
	kParts, rParts := strings.Split(kh, "."), strings.Split(rh, ".")
	if len(kParts) != len(rParts) {
		return false
	}
	for i := range kParts {
		ok, err := filepath.Match(kParts[i], rParts[i])
		if err != nil || !ok {
			return false
		}
	}
	return strings.HasPrefix(repoPath, keyPath)
}

func splitHostPort(hostport string) (host, port string) {
	h, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport, ""
	}
	return h, p
}
