package eventratelimit

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/admission"
	"skiff.dev/skiff/internal/auth/authn"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func event(ns, user, object string) *admission.Attributes {
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: ns, Name: object + ".1"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: object},
		Source:         corev1.EventSource{Component: "kubelet"},
	}
	return &admission.Attributes{
		Operation: admission.Create, Kind: corev1.SchemeGroupVersion.WithKind("Event"),
		Resource: corev1.SchemeGroupVersion.WithResource("events"), Namespace: ns, Name: ev.Name,
		Object: ev, User: &authn.User{Name: user},
	}
}

func TestLimits(t *testing.T) {
	type step struct {
		advance time.Duration
		a       *admission.Attributes
		n       int // events sent
		allowed int // of which accepted
	}
	for _, tc := range []struct {
		name  string
		limit Limit
		steps []step
	}{
		{name: "server burst then qps", limit: Limit{Type: Server, QPS: 2, Burst: 3}, steps: []step{
			{a: event("a", "u", "p"), n: 5, allowed: 3},
			{advance: time.Second, a: event("b", "v", "q"), n: 5, allowed: 2},
			{advance: time.Hour, a: event("b", "v", "q"), n: 5, allowed: 3},
		}},
		{name: "per namespace", limit: Limit{Type: Namespace, QPS: 1, Burst: 2}, steps: []step{
			{a: event("a", "u", "p"), n: 3, allowed: 2},
			{a: event("b", "u", "p"), n: 3, allowed: 2},
			{advance: time.Second, a: event("a", "u", "p"), n: 3, allowed: 1},
		}},
		{name: "per user", limit: Limit{Type: User, QPS: 1, Burst: 1}, steps: []step{
			{a: event("a", "u", "p"), n: 2, allowed: 1},
			{a: event("a", "v", "p"), n: 2, allowed: 1},
		}},
		{name: "per source and object", limit: Limit{Type: SourceAndObject, QPS: 1, Burst: 2}, steps: []step{
			{a: event("a", "u", "p"), n: 3, allowed: 2},
			{a: event("a", "u", "q"), n: 3, allowed: 2},
		}},
		{name: "lru forgets", limit: Limit{Type: Namespace, QPS: 1, Burst: 1, CacheSize: 1}, steps: []step{
			{a: event("a", "u", "p"), n: 2, allowed: 1},
			{a: event("b", "u", "p"), n: 1, allowed: 1},
			{a: event("a", "u", "p"), n: 2, allowed: 1},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{t: time.Unix(1000, 0)}
			p, err := New([]Limit{tc.limit}, c.now)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tc.steps {
				c.t = c.t.Add(s.advance)
				allowed := 0
				for range s.n {
					err := p.Validate(context.Background(), s.a)
					switch {
					case err == nil:
						allowed++
					case !apierrors.IsTooManyRequests(err):
						t.Fatalf("step %d: err %v, want 429", i, err)
					}
				}
				if allowed != s.allowed {
					t.Errorf("step %d: %d of %d allowed, want %d", i, allowed, s.n, s.allowed)
				}
			}
		})
	}
}

func TestRefusal(t *testing.T) {
	p, err := New([]Limit{{Type: Namespace, QPS: 1, Burst: 1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := event("team", "u", "p")
	if err := p.Validate(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	err = p.Validate(context.Background(), a)
	var st apierrors.APIStatus
	if !apierrors.IsTooManyRequests(err) {
		t.Fatalf("err %v, want 429", err)
	}
	st = err.(apierrors.APIStatus)
	if st.Status().Code != http.StatusTooManyRequests || err.Error() != "Too many requests: limit reached on type Namespace for key team" {
		t.Errorf("refusal %d %q", st.Status().Code, err)
	}
	// Not events, or dry runs: never limited.
	cm := &admission.Attributes{Operation: admission.Create, Kind: corev1.SchemeGroupVersion.WithKind("ConfigMap"), Namespace: "team"}
	dry := event("team", "u", "p")
	dry.DryRun = true
	for _, a := range []*admission.Attributes{cm, dry} {
		if err := p.Validate(context.Background(), a); err != nil {
			t.Errorf("%s: %v", a.Kind.Kind, err)
		}
	}
}

func TestNewRefusesBadLimits(t *testing.T) {
	for _, l := range []Limit{{Type: Server}, {Type: "Cluster", QPS: 1, Burst: 1}} {
		if _, err := New([]Limit{l}, nil); err == nil {
			t.Errorf("%+v accepted", l)
		}
	}
}

func TestParseConfig(t *testing.T) {
	const head = "apiVersion: eventratelimit.admission.k8s.io/v1alpha1\nkind: Configuration\n"
	for _, tc := range []struct {
		name, body string
		want       []Limit
		err        string
	}{
		{name: "all types", body: head + `limits:
- {type: Server, qps: 5000, burst: 20000}
- {type: Namespace, qps: 50, burst: 100, cacheSize: 2000}
- {type: User, qps: 10, burst: 50}
- {type: SourceAndObject, qps: 1, burst: 5}
`, want: []Limit{{Server, 5000, 20000, 0}, {Namespace, 50, 100, 2000}, {User, 10, 50, 0}, {SourceAndObject, 1, 5, 0}}},
		{name: "JSON", body: `{"apiVersion":"eventratelimit.admission.k8s.io/v1alpha1","kind":"Configuration","limits":[{"type":"User","qps":1,"burst":2}]}`,
			want: []Limit{{User, 1, 2, 0}}},
		{name: "no limits", body: head + "limits: []\n", err: "limits: Invalid value: must not be empty"},
		{name: "bad type", body: head + "limits: [{type: Pod, qps: 1, burst: 1}]\n", err: `limits[0].type: Unsupported value: "Pod"`},
		{name: "zero qps and burst", body: head + "limits: [{type: User}]\n", err: "limits[0].qps: Invalid value: 0: must be positive; limits[0].burst: Invalid value: 0: must be positive"},
		{name: "negative cache", body: head + "limits: [{type: User, qps: 1, burst: 1, cacheSize: -1}]\n", err: "limits[0].cacheSize: Invalid value: -1: must not be negative"},
		{name: "unknown field", body: head + "limits: [{type: User, qps: 1, burst: 1, rate: 3}]\n", err: `unknown field "rate"`},
		{name: "wrong kind", body: "apiVersion: v1\nkind: ConfigMap\n", err: "want an eventratelimit.admission.k8s.io/v1alpha1 Configuration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseConfig(tc.name, []byte(tc.body))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("limits = %v, want %v", got, tc.want)
			}
		})
	}
}
