// Package eventratelimit is upstream's EventRateLimit admission plug-in:
// token buckets bound how fast Events are written, server-wide, per
// namespace, per user and per event source and object, so a misbehaving
// workload cannot flood the API server with events. A write over a limit
// is refused with 429 Too Many Requests; client-go's event recorders
// retry later.
package eventratelimit

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/lru"
	"sigs.k8s.io/yaml"

	"skiff.dev/skiff/internal/admission"
)

// Name is the plug-in's upstream name.
const Name = "EventRateLimit"

// LimitType says what one bucket is shared by, as upstream's
// eventratelimit.admission.k8s.io/v1alpha1 Configuration.
type LimitType string

// The limit types.
const (
	Server          LimitType = "Server"
	Namespace       LimitType = "Namespace"
	User            LimitType = "User"
	SourceAndObject LimitType = "SourceAndObject"
)

// Limit is one limit: burst events at once, refilled at qps per second,
// with at most CacheSize buckets remembered (least recently used
// forgotten, and so refilled; upstream's default 4096; unused for
// Server).
type Limit struct {
	Type      LimitType
	QPS       int32
	Burst     int32
	CacheSize int32
}

// DefaultLimits are Skiff's defaults (upstream has none: the plug-in needs
// a configuration file there). They are loose enough for the cluster's own
// components under load (the scheduler's FailedScheduling events for a
// thousand pending pods, a node's kubelet starting many pods) yet stop a
// flood: the whole server 100/s with bursts of 1000, a namespace 50/s with
// bursts of 500, one source about one object 10/s with bursts of 50
// (client-go's recorder already allows only 25 at once per source and
// object). No per-user limit: every kubelet or the scheduler is one user
// for all its events.
func DefaultLimits() []Limit {
	return []Limit{
		{Type: Server, QPS: 100, Burst: 1000},
		{Type: Namespace, QPS: 50, Burst: 500, CacheSize: 4096},
		{Type: SourceAndObject, QPS: 10, Burst: 50, CacheSize: 4096},
	}
}

// Plugin is the EventRateLimit plug-in. Build it with New.
type Plugin struct {
	limiters []*limiter
}

var _ admission.Validator = (*Plugin)(nil)

// New returns the plug-in enforcing limits; now is the clock (nil:
// time.Now).
func New(limits []Limit, now func() time.Time) (*Plugin, error) {
	if now == nil {
		now = time.Now
	}
	p := &Plugin{}
	for _, l := range limits {
		if l.QPS <= 0 || l.Burst <= 0 {
			return nil, fmt.Errorf("eventratelimit: %s limit needs qps and burst above 0", l.Type)
		}
		switch l.Type {
		case Server, Namespace, User, SourceAndObject:
		default:
			return nil, fmt.Errorf("eventratelimit: unknown limit type %q", l.Type)
		}
		size := int(l.CacheSize)
		if size <= 0 {
			size = 4096
		}
		p.limiters = append(p.limiters, &limiter{limit: l, buckets: lru.New(size), now: now})
	}
	return p, nil
}

// Name implements admission.Plugin.
func (*Plugin) Name() string { return Name }

// Validate takes one token from each limit's bucket for a core Event
// create or update, or refuses it with 429.
func (p *Plugin) Validate(_ context.Context, a *admission.Attributes) error {
	if a.Kind.Group != "" || a.Kind.Kind != "Event" || a.DryRun || a.Subresource != "" {
		return nil
	}
	if a.Operation != admission.Create && a.Operation != admission.Update {
		return nil
	}
	for _, l := range p.limiters {
		key := l.key(a)
		if !l.take(key) {
			return apierrors.NewTooManyRequestsError(fmt.Sprintf("limit reached on type %v for key %v", l.limit.Type, key))
		}
	}
	return nil
}

// limiter is one limit's buckets.
type limiter struct {
	limit Limit
	now   func() time.Time

	mu      sync.Mutex
	server  bucket
	buckets *lru.Cache // key → *bucket
}

func (l *limiter) key(a *admission.Attributes) string {
	switch l.limit.Type {
	case Namespace:
		return a.Namespace
	case User:
		return a.User.Name
	case SourceAndObject:
		ev, ok := a.Object.(*corev1.Event)
		if !ok {
			return ""
		}
		o := ev.InvolvedObject
		return strings.Join([]string{ev.Source.Component, ev.Source.Host, o.Kind, o.Namespace, o.Name, string(o.UID), o.APIVersion}, "")
	}
	return ""
}

func (l *limiter) take(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.limit.Type == Server {
		return l.server.take(l.now(), l.limit)
	}
	var b *bucket
	if v, ok := l.buckets.Get(key); ok {
		b = v.(*bucket)
	} else {
		b = &bucket{}
		l.buckets.Add(key, b)
	}
	return b.take(l.now(), l.limit)
}

// bucket is a token bucket: full (burst tokens) when new, refilled at
// qps tokens per second.
type bucket struct {
	tokens float64
	last   time.Time
}

func (b *bucket) take(now time.Time, l Limit) bool {
	if b.last.IsZero() {
		b.tokens = float64(l.Burst)
	} else if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = min(float64(l.Burst), b.tokens+elapsed*float64(l.QPS))
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// fileConfig is upstream's eventratelimit.admission.k8s.io/v1alpha1
// Configuration.
type fileConfig struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Limits     []struct {
		Type      LimitType `json:"type"`
		QPS       int32     `json:"qps"`
		Burst     int32     `json:"burst"`
		CacheSize int32     `json:"cacheSize"`
	} `json:"limits"`
}

// ParseConfig reads the limits of an
// eventratelimit.admission.k8s.io/v1alpha1 Configuration (YAML or JSON),
// as found in an AdmissionConfiguration; source names it in errors. It
// checks what upstream's validation does: at least one limit, each of a
// known type with qps and burst above 0 and a cacheSize not below 0 (0:
// upstream's default 4096).
func ParseConfig(source string, data []byte) ([]Limit, error) {
	var fc fileConfig
	if err := yaml.UnmarshalStrict(data, &fc); err != nil {
		return nil, fmt.Errorf("event rate limit configuration %s: %w", source, err)
	}
	if fc.Kind != "Configuration" || fc.APIVersion != "eventratelimit.admission.k8s.io/v1alpha1" {
		return nil, fmt.Errorf("event rate limit configuration %s: kind %q, apiVersion %q: want an eventratelimit.admission.k8s.io/v1alpha1 Configuration", source, fc.Kind, fc.APIVersion)
	}
	var errs []string
	if len(fc.Limits) == 0 {
		errs = append(errs, "limits: Invalid value: must not be empty")
	}
	limits := make([]Limit, 0, len(fc.Limits))
	for i, l := range fc.Limits {
		at := fmt.Sprintf("limits[%d]", i)
		switch l.Type {
		case Server, Namespace, User, SourceAndObject:
		default:
			errs = append(errs, fmt.Sprintf("%s.type: Unsupported value: %q: supported values: %q, %q, %q, %q", at, l.Type, Namespace, Server, SourceAndObject, User))
		}
		if l.QPS <= 0 {
			errs = append(errs, fmt.Sprintf("%s.qps: Invalid value: %d: must be positive", at, l.QPS))
		}
		if l.Burst <= 0 {
			errs = append(errs, fmt.Sprintf("%s.burst: Invalid value: %d: must be positive", at, l.Burst))
		}
		if l.CacheSize < 0 {
			errs = append(errs, fmt.Sprintf("%s.cacheSize: Invalid value: %d: must not be negative", at, l.CacheSize))
		}
		limits = append(limits, Limit{Type: l.Type, QPS: l.QPS, Burst: l.Burst, CacheSize: l.CacheSize})
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("event rate limit configuration %s: %s", source, strings.Join(errs, "; "))
	}
	return limits, nil
}
