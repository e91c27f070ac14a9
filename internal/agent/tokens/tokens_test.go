package tokens

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
)

// issuer answers token requests as the API server does: a new token each
// time, expiring expirationSeconds from the clock's now. fail makes it
// refuse.
type issuer struct {
	clock    *clocktesting.FakeClock
	requests []*authenticationv1.TokenRequest
	fail     bool
}

func (i *issuer) request(_ context.Context, ns, name string, tr *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	if i.fail {
		return nil, errors.New("the API is down")
	}
	i.requests = append(i.requests, tr)
	out := tr.DeepCopy()
	out.Status = authenticationv1.TokenRequestStatus{
		Token:               fmt.Sprintf("%s/%s#%d", ns, name, len(i.requests)),
		ExpirationTimestamp: metav1.NewTime(i.clock.Now().Add(time.Duration(*tr.Spec.ExpirationSeconds) * time.Second)),
	}
	return out, nil
}

func newManager(start time.Time) (*Manager, *issuer, *clocktesting.FakeClock) {
	clk := clocktesting.NewFakeClock(start)
	iss := &issuer{clock: clk}
	m := New(iss.request, clk, nil)
	m.jitter = func() time.Duration { return 0 }
	return m, iss, clk
}

func pod(name string, uid types.UID) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: uid}, Spec: corev1.PodSpec{ServiceAccountName: "default"}}
}

func TestRequestShape(t *testing.T) {
	m, iss, _ := newManager(time.Unix(1e9, 0))
	ctx := context.Background()
	if _, err := m.Token(ctx, pod("web", "u1"), "", 3607); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Token(ctx, pod("web", "u1"), "vault", 600); err != nil {
		t.Fatal(err)
	}
	if len(iss.requests) != 2 {
		t.Fatalf("%d requests", len(iss.requests))
	}
	got := iss.requests[0].Spec
	if got.Audiences != nil || *got.ExpirationSeconds != 3607 ||
		*got.BoundObjectRef != (authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: "web", UID: "u1"}) {
		t.Errorf("request %+v, bound %+v", got, *got.BoundObjectRef)
	}
	if a := iss.requests[1].Spec.Audiences; len(a) != 1 || a[0] != "vault" {
		t.Errorf("audiences %v", a)
	}
}

func TestRefresh(t *testing.T) {
	const hour = int64(3600)
	for _, tc := range []struct {
		name    string
		ttl     int64
		after   time.Duration
		refresh bool
	}{
		{"fresh", hour, time.Minute, false},
		{"just before 80%", hour, 48*time.Minute - time.Second, false},
		{"past 80%", hour, 48*time.Minute + time.Second, true},
		{"a year's token before 24 h", 365 * 24 * hour, 23 * time.Hour, false},
		{"a year's token past 24 h", 365 * 24 * hour, 24*time.Hour + time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, iss, clk := newManager(time.Unix(1e9, 0))
			ctx := context.Background()
			first, err := m.Token(ctx, pod("web", "u1"), "", tc.ttl)
			if err != nil {
				t.Fatal(err)
			}
			clk.Step(tc.after)
			second, err := m.Token(ctx, pod("web", "u1"), "", tc.ttl)
			if err != nil {
				t.Fatal(err)
			}
			if refreshed := second != first; refreshed != tc.refresh {
				t.Errorf("refreshed %v (tokens %q, %q), want %v", refreshed, first, second, tc.refresh)
			}
			if want := 1 + map[bool]int{true: 1}[tc.refresh]; len(iss.requests) != want {
				t.Errorf("%d requests, want %d", len(iss.requests), want)
			}
		})
	}
}

func TestFailedRefresh(t *testing.T) {
	m, iss, clk := newManager(time.Unix(1e9, 0))
	ctx := context.Background()
	first, err := m.Token(ctx, pod("web", "u1"), "", 3600)
	if err != nil {
		t.Fatal(err)
	}
	iss.fail = true
	clk.Step(50 * time.Minute) // due for a refresh, still valid
	if got, err := m.Token(ctx, pod("web", "u1"), "", 3600); err != nil || got != first {
		t.Errorf("failed refresh of a valid token: %q, %v; want the cached %q", got, err, first)
	}
	clk.Step(11 * time.Minute) // expired
	if _, err := m.Token(ctx, pod("web", "u1"), "", 3600); err == nil || !strings.Contains(err.Error(), "expired and refresh failed") {
		t.Errorf("expired token: %v", err)
	}
	if _, err := m.Token(ctx, pod("other", "u2"), "", 3600); err == nil || !strings.HasPrefix(err.Error(), "failed to fetch token: ") {
		t.Errorf("first fetch: %v", err)
	}
}

func TestForgetAndCleanup(t *testing.T) {
	m, _, clk := newManager(time.Unix(1e9, 0))
	ctx := context.Background()
	for _, p := range []struct {
		pod *corev1.Pod
		ttl int64
	}{{pod("a", "u1"), 3600}, {pod("a", "u1"), 7200}, {pod("b", "u2"), 600}, {pod("c", "u3"), 7200}} {
		if _, err := m.Token(ctx, p.pod, "", p.ttl); err != nil {
			t.Fatal(err)
		}
	}
	if m.Len() != 4 {
		t.Fatalf("%d cached", m.Len())
	}
	m.Forget("u1")
	if m.Len() != 2 {
		t.Errorf("after forgetting u1: %d cached, want 2", m.Len())
	}
	clk.Step(11 * time.Minute) // b's 600 s token expired, c's not
	m.Cleanup()
	if m.Len() != 1 {
		t.Errorf("after cleanup: %d cached, want 1", m.Len())
	}
}
