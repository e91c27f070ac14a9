// Package tokens is the agent's service account token manager, as
// upstream's kubelet token manager: it asks the TokenRequest API
// (serviceaccounts/<name>/token) for the tokens of pods' projected
// serviceAccountToken sources, bound to the pod, caches them, and hands
// out the cached token until it is due for a refresh: past 80% of its
// lifetime or older than 24 h (each less a random jitter of up to 10 s so
// that many pods do not refresh at once). A failed refresh keeps serving
// the cached token until it expires.
//
// The volumes package calls Token on every pod sync; the pod's projected
// volume is then rewritten (atomically, with its other files) only when
// the token changed. Tokens of a pod are forgotten when the pod goes
// (Forget), and expired ones by Cleanup, which the agent calls every
// minute.
package tokens

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/utils/clock"
)

// Upstream's refresh bounds.
const (
	maxTTL    = 24 * time.Hour
	maxJitter = 10 * time.Second
	// CleanupPeriod is how often the agent should call Cleanup.
	CleanupPeriod = time.Minute
)

// RequestFunc creates a token for service account namespace/name (the
// TokenRequest API's create on serviceaccounts/token).
type RequestFunc func(ctx context.Context, namespace, name string, tr *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error)

// FromClient is RequestFunc through client.
func FromClient(client interface {
	CoreV1() typedcorev1.CoreV1Interface
}) RequestFunc {
	return func(ctx context.Context, namespace, name string, tr *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
		return client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, tr, metav1.CreateOptions{})
	}
}

// Manager caches tokens. Safe for concurrent use.
type Manager struct {
	request RequestFunc
	clock   clock.PassiveClock
	log     *slog.Logger
	// jitter is subtracted from the refresh times; tests set it to zero.
	jitter func() time.Duration

	mu    sync.Mutex
	cache map[string]*authenticationv1.TokenRequest
}

// New returns a manager that requests tokens with request. clk may be nil
// (the real clock), log too (slog.Default()).
func New(request RequestFunc, clk clock.PassiveClock, log *slog.Logger) *Manager {
	if clk == nil {
		clk = clock.RealClock{}
	}
	if log == nil {
		log = slog.Default()
	}
	return &Manager{
		request: request, clock: clk, log: log,
		jitter: func() time.Duration { return time.Duration(rand.Float64()*maxJitter.Seconds()) * time.Second },
		cache:  map[string]*authenticationv1.TokenRequest{},
	}
}

// Token returns a token of pod's service account for audience (empty:
// the API server's audiences) valid for expirationSeconds, bound to the
// pod. It implements volumes.TokenSource.
func (m *Manager) Token(ctx context.Context, pod *corev1.Pod, audience string, expirationSeconds int64) (string, error) {
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: &expirationSeconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID},
	}}
	if audience != "" {
		tr.Spec.Audiences = []string{audience}
	}
	got, err := m.ServiceAccountToken(ctx, pod.Namespace, pod.Spec.ServiceAccountName, tr)
	if err != nil {
		return "", err
	}
	return got.Status.Token, nil
}

// ServiceAccountToken returns the cached token for the request, or a new
// one when none is cached or the cached one is due for a refresh. When a
// refresh fails, the cached token is returned while it has not expired.
func (m *Manager) ServiceAccountToken(ctx context.Context, namespace, name string, tr *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	key := cacheKey(namespace, name, tr)
	m.mu.Lock()
	cached, ok := m.cache[key]
	m.mu.Unlock()
	if ok && !m.requiresRefresh(cached) {
		return cached, nil
	}
	fresh, err := m.request(ctx, namespace, name, tr)
	if err != nil {
		switch {
		case !ok:
			return nil, fmt.Errorf("failed to fetch token: %w", err)
		case m.expired(cached):
			return nil, fmt.Errorf("token %s expired and refresh failed: %w", key, err)
		default:
			m.log.Error("couldn't update token", "cacheKey", key, "err", err)
			return cached, nil
		}
	}
	// The bound pod and lifetime drive Forget and the refresh: keep the
	// request's when the answer leaves them out.
	if fresh.Spec.BoundObjectRef == nil || fresh.Spec.ExpirationSeconds == nil {
		fresh = fresh.DeepCopy()
		if fresh.Spec.BoundObjectRef == nil {
			fresh.Spec.BoundObjectRef = tr.Spec.BoundObjectRef
		}
		if fresh.Spec.ExpirationSeconds == nil {
			fresh.Spec.ExpirationSeconds = tr.Spec.ExpirationSeconds
		}
	}
	m.mu.Lock()
	m.cache[key] = fresh
	m.mu.Unlock()
	return fresh, nil
}

// Forget drops the tokens bound to the pod with uid, which is gone.
func (m *Manager) Forget(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, tr := range m.cache {
		if ref := tr.Spec.BoundObjectRef; ref != nil && ref.UID == uid {
			delete(m.cache, k)
		}
	}
}

// Cleanup drops expired tokens.
func (m *Manager) Cleanup() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, tr := range m.cache {
		if m.expired(tr) {
			delete(m.cache, k)
		}
	}
}

// Len is the number of cached tokens.
func (m *Manager) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.cache)
}

func (m *Manager) expired(tr *authenticationv1.TokenRequest) bool {
	return m.clock.Now().After(tr.Status.ExpirationTimestamp.Time)
}

// requiresRefresh: the token was issued more than 24 h ago, or has less
// than 20% of its lifetime left. The issue time is the expiry less the
// requested lifetime (the API server reports the requested expiry even
// for a token it extended).
func (m *Manager) requiresRefresh(tr *authenticationv1.TokenRequest) bool {
	if tr.Spec.ExpirationSeconds == nil {
		m.log.Error("token request without expirationSeconds in the cache")
		return false
	}
	ttl := time.Duration(*tr.Spec.ExpirationSeconds) * time.Second
	now := m.clock.Now()
	exp := tr.Status.ExpirationTimestamp.Time
	iat := exp.Add(-ttl)
	jitter := m.jitter()
	if now.After(iat.Add(maxTTL - jitter)) {
		return true
	}
	return now.After(exp.Add(-ttl*20/100 - jitter))
}

// cacheKey identifies a request: account, audiences, lifetime and bound
// object, as upstream's keyFunc.
func cacheKey(namespace, name string, tr *authenticationv1.TokenRequest) string {
	var exp int64
	if tr.Spec.ExpirationSeconds != nil {
		exp = *tr.Spec.ExpirationSeconds
	}
	var ref authenticationv1.BoundObjectReference
	if tr.Spec.BoundObjectRef != nil {
		ref = *tr.Spec.BoundObjectRef
	}
	return fmt.Sprintf("%q/%q/%#v/%#v/%#v", name, namespace, tr.Spec.Audiences, exp, ref)
}
