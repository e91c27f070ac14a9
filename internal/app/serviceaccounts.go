package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/skiff/internal/apiserver"
	"skiff.dev/skiff/internal/auth/serviceaccount"
	"skiff.dev/skiff/internal/registry"
	"skiff.dev/skiff/internal/registry/tokens"
)

// ServiceAccountOptions are the API server's service-account token flags.
type ServiceAccountOptions struct {
	// Issuer is --service-account-issuer (serviceaccount.DefaultIssuer
	// if empty).
	Issuer string
	// APIAudiences is --api-audiences (the issuer if empty).
	APIAudiences []string
	// SigningKeyFile is --service-account-signing-key-file; empty means
	// the key generated into the data directory.
	SigningKeyFile string
	// KeyFiles are --service-account-key-file: more public keys tokens
	// may be verified with (keys rotated out).
	KeyFiles []string
	// MaxTokenExpiration is --service-account-max-token-expiration.
	MaxTokenExpiration time.Duration
}

// saWiring is service-account tokens for the API server: the signing key,
// the issuer (TokenRequest API, token controller), the authenticator next
// to client certificates, TokenReview, and the issuer's OIDC discovery
// documents. The authenticator and the TokenRequest API read objects
// from the server's watch cache once bound.
//
// Use: w, err := newSAWiring(...); pass w.resources(...), w.authenticator
// and w.discovery to apiserver.New; call w.bind(srv) right after New.
type saWiring struct {
	issuer        *serviceaccount.Issuer
	authenticator *serviceaccount.Authenticator
	objects       *cachedAccounts
	cfg           tokens.Config
	// discovery serves /.well-known/openid-configuration and the JWKS.
	discovery map[string]http.Handler
}

func newSAWiring(dataDir string, opts ServiceAccountOptions, external APIServerEndpoint, port int) (*saWiring, error) {
	keyFile := opts.SigningKeyFile
	if keyFile == "" {
		keyFile = filepath.Join(dataDir, serviceaccount.KeyFile)
	}
	keys, err := serviceaccount.LoadOrCreateKey(keyFile)
	if err != nil {
		return nil, err
	}
	for _, f := range opts.KeyFiles {
		if err := keys.AddVerificationKeysFromFile(f); err != nil {
			return nil, err
		}
	}
	cfg := serviceaccount.Config{Keys: keys, Issuer: opts.Issuer, APIAudiences: opts.APIAudiences}
	issuer, err := serviceaccount.NewIssuer(cfg)
	if err != nil {
		return nil, err
	}
	objects := &cachedAccounts{}
	authenticator := serviceaccount.NewAuthenticator(cfg, objects)
	w := &saWiring{
		issuer: issuer, authenticator: authenticator, objects: objects,
		cfg: tokens.Config{Issuer: issuer, Objects: objects, Authenticator: authenticator,
			MaxExpiration: opts.MaxTokenExpiration, ExtendExpiration: true},
	}
	host := external.IP
	if host == "" {
		host = "localhost"
	}
	d, err := serviceaccount.NewDiscovery(cfg, "", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		// Upstream serves no discovery for an issuer that is not an
		// https URL; tokens work all the same.
		slog.Warn("service account issuer discovery disabled", "err", err)
	} else {
		w.discovery = d.Handlers()
	}
	return w, nil
}

// resources adds the TokenRequest subresource and TokenReview to base.
func (w *saWiring) resources(base []registry.Resource) []registry.Resource {
	return append(tokens.WithTokenRequest(base, w.cfg), tokens.TokenReview(w.cfg))
}

// bind points the authenticator and the TokenRequest API at srv's caches.
func (w *saWiring) bind(srv *apiserver.Server) error { return w.objects.bind(srv) }

// cachedAccounts is serviceaccount.ObjectGetter over the API server's
// watch cache, falling back to the store on a miss (an object created a
// moment ago). Unbound, every read fails with 503.
type cachedAccounts struct{ c atomic.Pointer[accountCaches] }

type accountCaches struct{ serviceAccounts, secrets, pods, nodes apiserver.CachedObjects }

var _ serviceaccount.ObjectGetter = (*cachedAccounts)(nil)

func (a *cachedAccounts) bind(srv *apiserver.Server) error {
	var c accountCaches
	for res, dst := range map[string]*apiserver.CachedObjects{
		"serviceaccounts": &c.serviceAccounts, "secrets": &c.secrets, "pods": &c.pods, "nodes": &c.nodes,
	} {
		cached, err := srv.Cached(corev1.SchemeGroupVersion.WithResource(res))
		if err != nil {
			return err
		}
		*dst = cached
	}
	a.c.Store(&c)
	return nil
}

func cachedGet[T runtime.Object](ctx context.Context, a *cachedAccounts, pick func(*accountCaches) apiserver.CachedObjects, namespace, name string) (T, error) {
	var zero T
	c := a.c.Load()
	if c == nil {
		return zero, apierrors.NewServiceUnavailable("the server is starting")
	}
	objs := pick(c)
	obj, ok := objs.Get(namespace, name)
	if !ok {
		var err error
		if obj, err = objs.Read(ctx, namespace, name); err != nil {
			return zero, err
		}
	}
	t, ok := obj.(T)
	if !ok {
		return zero, fmt.Errorf("unexpected object %T", obj)
	}
	return t, nil
}

func (a *cachedAccounts) ServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	return cachedGet[*corev1.ServiceAccount](ctx, a, func(c *accountCaches) apiserver.CachedObjects { return c.serviceAccounts }, namespace, name)
}

func (a *cachedAccounts) Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	return cachedGet[*corev1.Secret](ctx, a, func(c *accountCaches) apiserver.CachedObjects { return c.secrets }, namespace, name)
}

func (a *cachedAccounts) Pod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	return cachedGet[*corev1.Pod](ctx, a, func(c *accountCaches) apiserver.CachedObjects { return c.pods }, namespace, name)
}

func (a *cachedAccounts) Node(ctx context.Context, name string) (*corev1.Node, error) {
	return cachedGet[*corev1.Node](ctx, a, func(c *accountCaches) apiserver.CachedObjects { return c.nodes }, "", name)
}
