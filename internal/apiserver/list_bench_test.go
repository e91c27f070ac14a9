package apiserver

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"

	"k8s.io/client-go/rest"

	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/registry/builtin"
)

// benchListPods is the number of pods the list benchmarks hold: issue 2's
// figure.
const benchListPods = 10000

// newListBenchServer stores benchListPods pods shaped like the load tool's
// after admission (the service account's projected volume, tolerations,
// defaults; testdata/listbench-pod.json) in one namespace.
func newListBenchServer(b *testing.B) *directServer {
	b.Helper()
	tmpl, err := os.ReadFile("testdata/listbench-pod.json")
	if err != nil {
		b.Fatal(err)
	}
	d := newDirectServerWith(b, builtin.Resources())
	var wg sync.WaitGroup
	next := make(chan int)
	errs := make(chan string, 1)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				body := bytes.Replace(tmpl, []byte(`"name":"NAME"`), []byte(`"name":"p-`+itoa(i)+`"`), 1)
				if rec := d.do("POST", "/api/v1/namespaces/default/pods", "application/json", body); rec.Code != http.StatusCreated {
					select {
					case errs <- rec.Body.String():
					default:
					}
				}
			}
		}()
	}
	for i := range benchListPods {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case e := <-errs:
		b.Fatalf("create: %s", e)
	default:
	}
	return d
}

func itoa(i int) string {
	var buf [20]byte
	n := len(buf)
	for {
		n--
		buf[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(buf[n:])
		}
	}
}

// discardResponse is a ResponseWriter that counts and drops the body.
type discardResponse struct {
	h     http.Header
	code  int
	bytes int64
}

func (d *discardResponse) Header() http.Header {
	if d.h == nil {
		d.h = http.Header{}
	}
	return d.h
}
func (d *discardResponse) WriteHeader(code int) { d.code = code }
func (d *discardResponse) Write(p []byte) (int, error) {
	if d.code == 0 {
		d.code = http.StatusOK
	}
	d.bytes += int64(len(p))
	return len(p), nil
}

// BenchmarkListPodsWire lists 10,000 pods from the watch cache, as JSON and
// as protobuf, twice: in process (the handler alone, body dropped) and
// over TLS and HTTP/2 through client-go's transport (the body read, not
// decoded: what `load list -raw` measures, without another process).
//
//	go test -run '^$' -bench ListPodsWire -benchmem ./internal/apiserver/
func BenchmarkListPodsWire(b *testing.B) {
	d := newListBenchServer(b)
	media := []struct{ name, accept string }{{"json", mediaJSON}, {"protobuf", mediaProtobuf}}
	for _, m := range media {
		b.Run("handler/"+m.name, func(b *testing.B) {
			for b.Loop() {
				w := &discardResponse{}
				d.serve(w, "GET", "/api/v1/pods", m.accept)
				if w.code != http.StatusOK {
					b.Fatalf("list: %d", w.code)
				}
				b.SetBytes(w.bytes)
			}
		})
	}

	certPEM, keyPEM, err := d.ca.SignServing([]string{"127.0.0.1"})
	if err != nil {
		b.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(d.srv)
	hs.TLS = authn.TLSConfig(cert, d.ca.Pool())
	hs.EnableHTTP2 = true
	hs.StartTLS()
	b.Cleanup(hs.Close)
	clientCert, clientKey, err := d.ca.SignClient("admin", []string{"system:masters"})
	if err != nil {
		b.Fatal(err)
	}
	client, err := rest.HTTPClientFor(&rest.Config{Host: hs.URL,
		TLSClientConfig: rest.TLSClientConfig{CAData: d.ca.CertPEM, CertData: clientCert, KeyData: clientKey}})
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range media {
		b.Run("https/"+m.name, func(b *testing.B) {
			for b.Loop() {
				req, _ := http.NewRequest("GET", hs.URL+"/api/v1/pods", nil)
				req.Header.Set("Accept", m.accept)
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
					b.Fatalf("list: %v %d %s", err, resp.StatusCode, resp.Proto)
				}
				b.SetBytes(n)
			}
		})
	}
}

// serve sends a request as the admin to w.
func (d *directServer) serve(w http.ResponseWriter, method, path, accept string) {
	req := httptest.NewRequest(method, path, nil)
	req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{d.cert}}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	d.srv.ServeHTTP(w, req)
}
