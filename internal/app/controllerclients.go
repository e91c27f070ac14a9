package app

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport"
)

// controllerClients hands each controller the client config it runs
// with, by the controller's upstream service-account name
// ("replicaset-controller"), as upstream's ControllerClientBuilder.
// Config is safe for concurrent use.
type controllerClients interface {
	Config(ctx context.Context, name string) (*rest.Config, error)
}

// sharedClients gives every controller the controller manager's own
// identity (upstream without --use-service-account-credentials), telling
// them apart by user agent only.
type sharedClients struct{ cfg *rest.Config }

func (s sharedClients) Config(_ context.Context, name string) (*rest.Config, error) {
	c := rest.CopyConfig(s.cfg)
	rest.AddUserAgent(c, name)
	return c, nil
}

// Upstream's DynamicControllerClientBuilder defaults: hour-long tokens,
// replaced once 80% of their life has passed.
const (
	controllerTokenExpiration = int64(3600)
	controllerTokenLeeway     = 20 // percent of the lifetime
	// A token shorter-lived than this is taken for clock skew, as
	// upstream: the TokenRequest API's minimum.
	minControllerTokenLifetime = 10 * time.Minute
)

// serviceAccountClients is upstream's --use-service-account-credentials:
// each controller acts as the service account kube-system/<name>, which
// it creates if missing, with a bearer token from the TokenRequest API
// that is renewed before it expires and fetched anew when the server
// answers 401 (the account was deleted and re-created, the signing key
// rotated). core acts as the controller manager's own identity
// (system:kube-controller-manager may get and create service accounts and
// create serviceaccounts/token); base is the connection without
// credentials.
type serviceAccountClients struct {
	base *rest.Config
	core typedcorev1.CoreV1Interface
	now  func() time.Time

	mu sync.Mutex
	// wraps holds each account's token transport, shared by every
	// config handed out for it, so that they share one token.
	wraps map[string]func(http.RoundTripper) http.RoundTripper
}

func newServiceAccountClients(cfg *rest.Config, core typedcorev1.CoreV1Interface) *serviceAccountClients {
	return &serviceAccountClients{base: rest.AnonymousClientConfig(cfg), core: core, now: time.Now,
		wraps: map[string]func(http.RoundTripper) http.RoundTripper{}}
}

// Config ensures the account exists and returns a config that
// authenticates as it.
func (s *serviceAccountClients) Config(ctx context.Context, name string) (*rest.Config, error) {
	if err := ensureServiceAccount(ctx, s.core, metav1.NamespaceSystem, name); err != nil {
		return nil, err
	}
	c := rest.CopyConfig(s.base)
	rest.AddUserAgent(c, "system:serviceaccount:"+metav1.NamespaceSystem+":"+name)
	s.mu.Lock()
	defer s.mu.Unlock()
	wrap, ok := s.wraps[name]
	if !ok {
		ts := transport.NewCachedTokenSource(&controllerTokenSource{core: s.core, namespace: metav1.NamespaceSystem, name: name, now: s.now})
		wrap = transport.ResettableTokenSourceWrapTransport(ts)
		s.wraps[name] = wrap
	}
	c.Wrap(wrap)
	return c, nil
}

// ensureServiceAccount creates namespace/name unless it exists.
func ensureServiceAccount(ctx context.Context, core typedcorev1.CoreV1Interface, namespace, name string) error {
	_, err := core.ServiceAccounts(namespace).Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("get service account %s/%s: %w", namespace, name, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	if _, err := core.ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create service account %s/%s: %w", namespace, name, err)
	}
	return nil
}

// controllerTokenSource asks the TokenRequest API for a token of the
// account, re-creating the account if it is gone. The token's Expiry is
// set controllerTokenLeeway percent of its lifetime early, so that the
// caching source in front of it renews it in time.
type controllerTokenSource struct {
	core            typedcorev1.CoreV1Interface
	namespace, name string
	now             func() time.Time
}

// tokenRequestTimeout bounds one token fetch: Token has no context, and
// a request that hangs would hold every request of the controller.
const tokenRequestTimeout = 30 * time.Second

func (ts *controllerTokenSource) Token() (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(context.Background(), tokenRequestTimeout)
	defer cancel()
	if err := ensureServiceAccount(ctx, ts.core, ts.namespace, ts.name); err != nil {
		return nil, err
	}
	exp := controllerTokenExpiration
	tr, err := ts.core.ServiceAccounts(ts.namespace).CreateToken(ctx, ts.name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("token for service account %s/%s: %w", ts.namespace, ts.name, err)
	}
	return controllerToken(tr, ts.now()), nil
}

// controllerToken is tr's token, expiring early by the leeway.
func controllerToken(tr *authenticationv1.TokenRequest, now time.Time) *oauth2.Token {
	lifetime := tr.Status.ExpirationTimestamp.Sub(now)
	if lifetime < minControllerTokenLifetime {
		lifetime = minControllerTokenLifetime
	}
	leeway := lifetime * controllerTokenLeeway / 100
	return &oauth2.Token{AccessToken: tr.Status.Token, TokenType: "Bearer", Expiry: now.Add(lifetime - leeway)}
}
