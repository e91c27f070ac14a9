package apiserver

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"k8s.io/client-go/rest"
)

func TestHealthEndpoints(t *testing.T) {
	var hookDone atomic.Bool
	f := newFixture(t, func(c *Config) {
		c.HealthChecks = []HealthCheck{{Name: "poststarthook/example", Check: func(*http.Request) error {
			if !hookDone.Load() {
				return errors.New("not finished")
			}
			return nil
		}}}
	})
	tr, err := rest.TransportFor(f.admin)
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := (&http.Client{Transport: tr}).Get(f.http.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	type want struct {
		path string
		code int
		body []string // substrings, in order
	}
	check := func(cases []want) {
		t.Helper()
		for _, c := range cases {
			code, body := get(c.path)
			if code != c.code {
				t.Errorf("%s: status %d, want %d (%q)", c.path, code, c.code, body)
			}
			rest := body
			for _, s := range c.body {
				i := strings.Index(rest, s)
				if i < 0 {
					t.Errorf("%s: body %q lacks %q (in order)", c.path, body, s)
					break
				}
				rest = rest[i+len(s):]
			}
		}
	}
	check([]want{
		{"/readyz", 500, []string{"[+]ping ok", "[+]informer-sync ok", "[-]poststarthook/example failed: reason withheld", "readyz check failed"}},
		{"/livez", 500, []string{"[-]poststarthook/example failed", "livez check failed"}},
		{"/livez/poststarthook/example", 500, []string{"internal server error: not finished"}},
		{"/readyz/informer-sync", 200, []string{"ok"}},
		{"/livez/ping", 200, []string{"ok"}},
		{"/readyz/ping", 200, []string{"ok"}},
		{"/livez/informer-sync", 404, nil},
		{"/healthz/nonexistent", 404, nil},
	})
	hookDone.Store(true)
	check([]want{
		{"/readyz", 200, []string{"ok"}},
		{"/readyz?verbose", 200, []string{"[+]ping ok", "[+]informer-sync ok", "[+]poststarthook/example ok", "readyz check passed"}},
		{"/healthz?verbose", 200, []string{"[+]ping ok", "[+]poststarthook/example ok", "healthz check passed"}},
		{"/livez/poststarthook/example", 200, []string{"ok"}},
	})
}
