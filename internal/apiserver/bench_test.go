package apiserver

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"skiff.dev/skiff/internal/registry/builtin"
)

// BenchmarkCreateConfigMaps measures the server's create path in process
// (decode, defaults, validation, managedFields, store commit, encode),
// without TLS, from parallel clients.
func BenchmarkCreateConfigMaps(b *testing.B) {
	d := newDirectServer(b)
	var n atomic.Int64
	b.ResetTimer()
	b.SetParallelism(benchParallelism)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			body := fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm-%d","labels":{"app":"bench"}},"data":{"key":"value"}}`, i)
			rec := d.do("POST", "/api/v1/namespaces/default/configmaps", "application/json", []byte(body))
			if rec.Code != http.StatusCreated {
				b.Fatalf("create: %d %s", rec.Code, rec.Body.String())
			}
		}
	})
}

// BenchmarkCreatePods is BenchmarkCreateConfigMaps with the real pod
// strategy (upstream's defaults and validation), the load tool's pod.
func BenchmarkCreatePods(b *testing.B) {
	d := newDirectServerWith(b, builtin.Resources())
	var n atomic.Int64
	b.ResetTimer()
	b.SetParallelism(benchParallelism)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			body := fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p-%d","labels":{"app":"load"}},`+
				`"spec":{"containers":[{"name":"c","image":"registry.local/busybox:1.36","command":["sleep","3600"]}]}}`, i)
			rec := d.do("POST", "/api/v1/namespaces/default/pods", "application/json", []byte(body))
			if rec.Code != http.StatusCreated {
				b.Fatalf("create: %d %s", rec.Code, rec.Body.String())
			}
		}
	})
}

// BenchmarkListConfigMaps lists 10,000 objects from the watch cache.
func BenchmarkListConfigMaps(b *testing.B) {
	d := newDirectServer(b)
	for i := 0; i < 10000; i++ {
		body := fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm-%d"},"data":{"key":"value"}}`, i)
		if rec := d.do("POST", "/api/v1/namespaces/default/configmaps", "application/json", []byte(body)); rec.Code != http.StatusCreated {
			b.Fatalf("create: %d", rec.Code)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := d.do("GET", "/api/v1/namespaces/default/configmaps", "", nil)
		if rec.Code != http.StatusOK {
			b.Fatalf("list: %d", rec.Code)
		}
	}
}

// benchParallelism × GOMAXPROCS goroutines create concurrently (16 on
// two cores, the figure).
var benchParallelism = 8

// BenchmarkListPods lists 10,000 of the load tool's pods from the watch
// cache as JSON, in process (the figure BENCHMARKS.md compares with the
// list over HTTPS).
func BenchmarkListPods(b *testing.B) {
	d := newDirectServerWith(b, builtin.Resources())
	for i := 0; i < 10000; i++ {
		body := fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p-%d","labels":{"app":"load"}},`+
			`"spec":{"containers":[{"name":"c","image":"registry.local/busybox:1.36","command":["sleep","3600"]}]}}`, i)
		if rec := d.do("POST", "/api/v1/namespaces/default/pods", "application/json", []byte(body)); rec.Code != http.StatusCreated {
			b.Fatalf("create: %d %s", rec.Code, rec.Body.String())
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := d.do("GET", "/api/v1/pods", "", nil)
		if rec.Code != http.StatusOK {
			b.Fatalf("list: %d", rec.Code)
		}
	}
}

// BenchmarkPatchPodStatus is the scheduler's write for a pod no node can
// take: a strategic merge patch of pods/status setting PodScheduled=False,
// on a pod of the load tool's shape, from parallel clients. Each patch
// goes to its own pod and changes it (the message carries the attempt).
func BenchmarkPatchPodStatus(b *testing.B) {
	d := newDirectServerWith(b, builtin.Resources())
	const pods = 512
	for i := 0; i < pods; i++ {
		body := fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p-%d","labels":{"app":"load"}},`+
			`"spec":{"containers":[{"name":"c","image":"registry.local/busybox:1.36","command":["sleep","3600"]}]}}`, i)
		if rec := d.do("POST", "/api/v1/namespaces/default/pods", "application/json", []byte(body)); rec.Code != http.StatusCreated {
			b.Fatalf("create: %d %s", rec.Code, rec.Body.String())
		}
	}
	var n atomic.Int64
	b.ResetTimer()
	b.SetParallelism(benchParallelism)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			body := fmt.Sprintf(`{"status":{"conditions":[{"type":"PodScheduled","status":"False","lastProbeTime":null,`+
				`"lastTransitionTime":"2026-11-23T18:00:00Z","reason":"Unschedulable","message":"0/0 nodes are available (%d)"}],"nominatedNodeName":null}}`, i)
			rec := d.do("PATCH", fmt.Sprintf("/api/v1/namespaces/default/pods/p-%d/status", i%pods), "application/strategic-merge-patch+json", []byte(body))
			if rec.Code != http.StatusOK {
				b.Fatalf("patch: %d %s", rec.Code, rec.Body.String())
			}
		}
	})
}
