package apiserver

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"skiff.dev/skiff/internal/registry/builtin"
)

// Events go an EventTTL after they were last recorded; newer ones stay.
func TestEventsExpire(t *testing.T) {
	d := newDirectServerWith(t, builtin.Resources(), func(c *Config) { c.EventTTL = 400 * time.Millisecond })
	event := func(name string, last time.Time) string {
		return fmt.Sprintf(`{"apiVersion":"v1","kind":"Event","metadata":{"name":%q},`+
			`"involvedObject":{"kind":"Pod","name":"web","namespace":"default"},"reason":"Started","message":"m",`+
			`"type":"Normal","source":{"component":"kubelet"},"firstTimestamp":%q,"lastTimestamp":%q,"count":1}`,
			name, last.UTC().Format(time.RFC3339), last.UTC().Format(time.RFC3339))
	}
	for name, last := range map[string]time.Time{"old": time.Now().Add(-2 * time.Hour), "new": time.Now().Add(time.Hour)} {
		if rec := d.do("POST", "/api/v1/namespaces/default/events", "application/json", []byte(event(name, last))); rec.Code != http.StatusCreated {
			t.Fatalf("create %s: %d %s", name, rec.Code, rec.Body.String())
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for d.do("GET", "/api/v1/namespaces/default/events/old", "", nil).Code != http.StatusNotFound {
		if time.Now().After(deadline) {
			t.Fatal("the old event was not expired")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code := d.do("GET", "/api/v1/namespaces/default/events/new", "", nil).Code; code != http.StatusOK {
		t.Errorf("the recent event: %d, want 200", code)
	}
}
