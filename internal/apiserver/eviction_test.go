package apiserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	policyv1 "k8s.io/api/policy/v1"

	"skiff.dev/skiff/internal/registry/builtin"
)

// An eviction a budget allows takes one disruption from the budget's
// status before the pod goes, so the next is refused until the
// disruption controller recounts.
func TestEvictionTakesFromTheBudget(t *testing.T) {
	d := newDirectServerWith(t, builtin.Resources())
	for _, name := range []string{"a", "b"} {
		body := fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q,"labels":{"app":"web"}},`+
			`"spec":{"containers":[{"name":"c","image":"busybox"}]}}`, name)
		if rec := d.do("POST", "/api/v1/namespaces/default/pods", "application/json", []byte(body)); rec.Code != http.StatusCreated {
			t.Fatalf("create pod %s: %d %s", name, rec.Code, rec.Body)
		}
	}
	pdbPath := "/apis/policy/v1/namespaces/default/poddisruptionbudgets"
	if rec := d.do("POST", pdbPath, "application/json",
		[]byte(`{"apiVersion":"policy/v1","kind":"PodDisruptionBudget","metadata":{"name":"web"},"spec":{"minAvailable":1,"selector":{"matchLabels":{"app":"web"}}}}`)); rec.Code != http.StatusCreated {
		t.Fatalf("create pdb: %d %s", rec.Code, rec.Body)
	}
	// What the disruption controller would write: 2 healthy, 1 needed.
	status := `{"status":{"observedGeneration":1,"disruptionsAllowed":1,"currentHealthy":2,"desiredHealthy":1,"expectedPods":2}}`
	if rec := d.do("PATCH", pdbPath+"/web/status", "application/merge-patch+json", []byte(status)); rec.Code != http.StatusOK {
		t.Fatalf("pdb status: %d %s", rec.Code, rec.Body)
	}
	evict := func(pod string) int {
		body := fmt.Sprintf(`{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":%q,"namespace":"default"}}`, pod)
		return d.do("POST", "/api/v1/namespaces/default/pods/"+pod+"/eviction", "application/json", []byte(body)).Code
	}
	if code := evict("a"); code != http.StatusCreated {
		t.Fatalf("first eviction: %d, want 201", code)
	}
	rec := d.do("GET", pdbPath+"/web", "", nil)
	var pdb policyv1.PodDisruptionBudget
	if err := json.Unmarshal(rec.Body.Bytes(), &pdb); err != nil {
		t.Fatal(err)
	}
	if _, ok := pdb.Status.DisruptedPods["a"]; pdb.Status.DisruptionsAllowed != 0 || !ok {
		t.Errorf("budget after the eviction: disruptionsAllowed %d, disruptedPods %v", pdb.Status.DisruptionsAllowed, pdb.Status.DisruptedPods)
	}
	if code := evict("b"); code != http.StatusTooManyRequests {
		t.Errorf("second eviction: %d, want 429", code)
	}
}
