package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// maxResponseBytes bounds a webhook's answer: a patch of a large object
// fits, a runaway server does not exhaust memory.
const maxResponseBytes = 30 << 20

// client posts AdmissionReviews. It keeps one transport (and so one pool
// of connections) per CA bundle and kind of reference.
type client struct {
	services, slices Objects

	mu         sync.Mutex
	transports map[string]*http.Transport
}

func newClient(services, slices Objects) *client {
	return &client{services: services, slices: slices, transports: map[string]*http.Transport{}}
}

// errCalling is a failure to get an answer from a webhook: subject to its
// failurePolicy. Its text is upstream's ErrCallingWebhook.
type errCalling struct {
	hook string
	err  error
}

func (e *errCalling) Error() string {
	return fmt.Sprintf("failed calling webhook %q: %v", e.hook, e.err)
}

func (e *errCalling) Unwrap() error { return e.err }

// endpoint returns the URL to post to and whether it is a service
// reference.
func endpoint(cc *admissionregistrationv1.WebhookClientConfig, timeout time.Duration) (string, bool, error) {
	var u *url.URL
	if cc.URL != nil {
		var err error
		if u, err = url.Parse(*cc.URL); err != nil {
			return "", false, fmt.Errorf("invalid url %q: %w", *cc.URL, err)
		}
	} else if s := cc.Service; s != nil {
		port := int32(443)
		if s.Port != nil {
			port = *s.Port
		}
		u = &url.URL{Scheme: "https", Host: net.JoinHostPort(s.Name+"."+s.Namespace+".svc", strconv.Itoa(int(port)))}
		if s.Path != nil {
			u.Path = *s.Path
		}
	} else {
		return "", false, errors.New("webhook has neither url nor service")
	}
	// As client-go's Timeout(): the webhook may end its work in time.
	q := u.Query()
	q.Set("timeout", timeout.String())
	u.RawQuery = q.Encode()
	return u.String(), cc.Service != nil, nil
}

// post sends review to h and decodes its answer.
func (c *client) post(ctx context.Context, h *hook, review *admissionv1.AdmissionReview) (*admissionv1.AdmissionReview, error) {
	timeout := time.Duration(h.timeoutSeconds) * time.Second
	target, service, err := endpoint(&h.clientConfig, timeout)
	if err != nil {
		return nil, err
	}
	tr, err := c.transport(h.clientConfig.CABundle, service)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(review)
	if err != nil {
		return nil, fmt.Errorf("encode AdmissionReview: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("failed to call webhook: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("failed to call webhook: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("failed to call webhook: the server responded with the status code %d but did not return more information: %s", resp.StatusCode, strings.TrimSpace(string(data)))
	}
	out := &admissionv1.AdmissionReview{}
	if err := json.Unmarshal(data, out); err != nil {
		return nil, fmt.Errorf("received invalid webhook response: %w", err)
	}
	return out, nil
}

// transport returns the shared transport for a CA bundle (system roots if
// empty). Service transports dial the service's endpoints themselves.
func (c *client) transport(caBundle []byte, service bool) (*http.Transport, error) {
	key := string(caBundle) + "\x00" + strconv.FormatBool(service)
	c.mu.Lock()
	defer c.mu.Unlock()
	if tr := c.transports[key]; tr != nil {
		return tr, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(caBundle) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caBundle) {
			return nil, errors.New("unable to load root certificates: unable to parse bytes as PEM block")
		}
		cfg.RootCAs = pool
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		TLSClientConfig:     cfg,
		DialContext:         dialer.DialContext,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	if service {
		// TLS still verifies <svc>.<ns>.svc, the URL's host; only the
		// TCP connection goes to a pod behind the service.
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			resolved, err := c.resolve(addr)
			if err != nil {
				return nil, err
			}
			return dialer.DialContext(ctx, network, resolved)
		}
	}
	c.transports[key] = tr
	return tr, nil
}

// resolve maps "<svc>.<ns>.svc:<port>" to a ready endpoint's address.
func (c *client) resolve(addr string) (string, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	parts := strings.Split(host, ".")
	if len(parts) != 3 || parts[2] != "svc" {
		return "", fmt.Errorf("%q is not a service host", host)
	}
	name, namespace := parts[0], parts[1]
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return "", err
	}
	return resolveService(c.services, c.slices, namespace, name, int32(port))
}

// resolveService picks a ready endpoint of a service's port at random,
// as upstream's endpoint routing; an ExternalName service resolves to its
// name.
func resolveService(services, slices Objects, namespace, name string, port int32) (string, error) {
	if services == nil || slices == nil {
		return "", fmt.Errorf("service %q not found", name)
	}
	o, ok := services.Get(namespace, name)
	svc, _ := o.(*corev1.Service)
	if !ok || svc == nil {
		return "", fmt.Errorf("service %q not found", name)
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return net.JoinHostPort(svc.Spec.ExternalName, strconv.Itoa(int(port))), nil
	}
	var sp *corev1.ServicePort
	for i := range svc.Spec.Ports {
		if svc.Spec.Ports[i].Port == port {
			sp = &svc.Spec.Ports[i]
			break
		}
	}
	if sp == nil {
		return "", fmt.Errorf("no service port %d found for service %q", port, name)
	}
	var candidates []string
	for _, so := range slices.List(namespace) {
		s, ok := so.(*discoveryv1.EndpointSlice)
		if !ok || s.Labels[discoveryv1.LabelServiceName] != name {
			continue
		}
		var epPort int32
		for _, p := range s.Ports {
			pn := ""
			if p.Name != nil {
				pn = *p.Name
			}
			if pn == sp.Name && p.Port != nil {
				epPort = *p.Port
				break
			}
		}
		if epPort == 0 {
			continue
		}
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, a := range ep.Addresses {
				candidates = append(candidates, net.JoinHostPort(a, strconv.Itoa(int(epPort))))
			}
		}
	}
	if len(candidates) == 0 {
		return "", fmt.Errorf("no endpoints available for service %q", name)
	}
	return candidates[rand.IntN(len(candidates))], nil
}
