package reconcile

import (
	"testing"
	"time"
)

func TestExpectations(t *testing.T) {
	now := time.Unix(1000, 0)
	e := NewExpectations()
	e.now = func() time.Time { return now }

	if !e.Satisfied("ns/rs") {
		t.Fatal("no record: want satisfied")
	}
	e.ExpectCreations("ns/rs", 2)
	if e.Satisfied("ns/rs") {
		t.Fatal("2 creations outstanding: want unsatisfied")
	}
	e.CreationObserved("ns/rs")
	if e.Satisfied("ns/rs") {
		t.Fatal("1 creation outstanding: want unsatisfied")
	}
	e.CreationObserved("ns/rs")
	if !e.Satisfied("ns/rs") {
		t.Fatal("all observed: want satisfied")
	}

	e.ExpectDeletions("ns/rs", []string{"ns/a", "ns/b"})
	e.DeletionObserved("ns/rs", "ns/a")
	e.DeletionObserved("ns/rs", "ns/a") // seen twice (update, then delete): counts once
	if e.Satisfied("ns/rs") {
		t.Fatal("ns/b outstanding: want unsatisfied")
	}
	now = now.Add(ExpectationsTimeout + time.Second)
	if !e.Satisfied("ns/rs") {
		t.Fatal("expired: want satisfied")
	}
	e.Delete("ns/rs")
	if a, d := e.Pending("ns/rs"); a != 0 || d != 0 {
		t.Fatalf("after Delete: pending %d/%d", a, d)
	}
}
