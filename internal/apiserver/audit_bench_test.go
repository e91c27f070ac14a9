package apiserver

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"skiff.dev/skiff/internal/audit"
	"skiff.dev/skiff/internal/auth/authn"
)

// BenchmarkAuditFilter is the audit filter's cost per request, on top of a
// handler that answers a small object: without an auditor, with a policy
// that records nothing (the Audit-Id header only), a get at Metadata and a
// create at Request (the default policy's levels for reads and writes),
// with the real log file in a temporary directory.
//
//	go test -run '^$' -bench BenchmarkAuditFilter -benchmem ./internal/apiserver/
func BenchmarkAuditFilter(b *testing.B) {
	const object = `{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"cm1","namespace":"default","uid":"0b5f5b2e-8f39-4c39-9d0e-8b8e7b6f1a11","resourceVersion":"12345","creationTimestamp":"2026-11-23T13:00:00Z"},"data":{"a":"` + "0123456789abcdef0123456789abcdef" + `"}}`
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			var buf [4096]byte
			for {
				if _, err := r.Body.Read(buf[:]); err != nil {
					break
				}
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(object))
	})
	user := &authn.User{Name: "admin", Groups: []string{"system:masters", "system:authenticated"}}
	cases := []struct {
		name   string
		policy *audit.Policy // nil: no auditor
		method string
	}{
		{"no auditor", nil, http.MethodGet},
		{"policy None", policyAt(audit.LevelNone, false), http.MethodGet},
		{"get at Metadata", audit.DefaultPolicy(), http.MethodGet},
		{"create at Request", audit.DefaultPolicy(), http.MethodPost},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			s := &Server{now: time.Now, codecs: newCodecs(newScheme())}
			if c.policy != nil {
				backend, err := audit.NewLogBackend(audit.LogOptions{Path: filepath.Join(b.TempDir(), "audit.log"), MaxSize: 100, BufferSize: 100000})
				if err != nil {
					b.Fatal(err)
				}
				logger := audit.NewLogger(c.policy, backend)
				defer func() {
					logger.Close()
					if n := logger.Dropped(); n > 0 {
						b.Logf("%d events dropped", n)
					}
				}()
				s.cfg.Audit = logger
			}
			h := s.withAudit(handler)
			path := "/api/v1/namespaces/default/pods/p1"
			if c.method == http.MethodPost {
				path = "/api/v1/namespaces/default/pods"
			}
			b.ReportAllocs()
			cpu0 := processCPU()
			b.ResetTimer()
			get := httptest.NewRequest(c.method, path, nil)
			get = get.WithContext(authn.WithUser(get.Context(), user))
			body := strings.NewReader(object)
			for b.Loop() {
				r := get
				if c.method == http.MethodPost {
					body.Reset(object)
					r = get.Clone(get.Context())
					r.Body = io.NopCloser(body)
					r.Header.Set("Content-Type", "application/json")
				}
				h.ServeHTTP(httptest.NewRecorder(), r)
			}
			// CPU time of the whole process (the log writer and GC
			// included) per request: steadier than ns/op on a busy machine.
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is the process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
