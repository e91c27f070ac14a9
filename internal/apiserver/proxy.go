package apiserver

// Pods' streaming subresources: pods/log, pods/exec, pods/attach and
// pods/portforward reach the agent of the pod's node over mutual TLS, as
// upstream's API server reaches the kubelet (port
// status.daemonEndpoints.kubeletEndpoint.port of the node's InternalIP).
//
// Exec, attach and port-forward are upgrades. SPDY and the older
// WebSocket protocols go through as they are: the agent hands them to
// the container runtime's streaming server, which speaks them. kubectl
// 1.29+ first tries WebSocket protocols the runtime does not know
// (containerd 1.6 predates them), so, as upstream does, the API server
// terminates them and speaks SPDY to the agent:
//
//   - v5.channel.k8s.io (exec, attach): a channel per stream over one
//     WebSocket, with half-close; translated stream by stream with
//     client-go's SPDY executor.
//   - SPDY/3.1+portforward.k8s.io (port-forward): the client tunnels
//     SPDY inside WebSocket binary messages; the bytes are copied to an
//     SPDY upgrade of the agent.

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	gwebsocket "github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	clientspdy "k8s.io/client-go/transport/spdy"
	"k8s.io/client-go/util/exec"
	"k8s.io/streaming/pkg/httpstream/spdy"
	"k8s.io/streaming/pkg/httpstream/wsstream"

	"skiff.dev/skiff/internal/admission"
	"skiff.dev/skiff/internal/agent/logs"
	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/auth/authz"
)

// defaultKubeletPort is used when a node reports no kubelet endpoint.
const defaultKubeletPort = 10250

// defaultContainerAnnotation names the container kubectl picks when none
// is given; the server honours it too.
const defaultContainerAnnotation = "kubectl.kubernetes.io/default-container"

// Stream protocol names.
const (
	streamProtocolV5    = "v5.channel.k8s.io"
	tunnelingPrefix     = "SPDY/3.1+"
	portForwardProtocol = "portforward.k8s.io"
)

// servePodStream serves pods/log, pods/exec, pods/attach and
// pods/portforward.
func (s *Server) servePodStream(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	if info.Subresource == "log" {
		if info.Verb != "get" {
			s.writeError(w, r, errMethodNotSupported(schema.GroupResource{Resource: "pods/log"}, info.Verb))
			return
		}
		s.servePodLog(w, r, res, info)
		return
	}
	if info.Verb != "get" && info.Verb != "create" {
		s.writeError(w, r, errMethodNotSupported(schema.GroupResource{Resource: "pods/" + info.Subresource}, info.Verb))
		return
	}
	// As upstream (AuthorizePodWebsocketUpgradeCreatePermission): the GET
	// that opens a WebSocket must also be allowed to create, as the POST
	// of SPDY is, or get-only roles could exec.
	if info.Verb == "get" {
		attrs := authz.Attributes{
			User: authn.UserFrom(r.Context()), Verb: "create", IsResourceRequest: true, Path: r.URL.Path,
			APIVersion: info.APIVersion, Namespace: info.Namespace, Resource: info.Resource,
			Subresource: info.Subresource, Name: info.Name,
		}
		d, reason, err := s.cfg.Authorizer.Authorize(r.Context(), attrs)
		if err != nil {
			s.writeError(w, r, apierrors.NewInternalError(fmt.Errorf("authorize: %w", err)))
			return
		}
		if d != authz.Allow {
			s.writeError(w, r, forbidden(attrs, reason))
			return
		}
	}
	s.servePodConnect(w, r, res, info)
}

// podNode returns the pod and the agent's base URL, or an error for the
// client.
func (s *Server) podAndNode(ctx context.Context, res *resource, info requestInfo) (*corev1.Pod, *corev1.Node, error) {
	obj, err := res.get(ctx, info.Namespace, info.Name)
	if err != nil {
		return nil, nil, err
	}
	pod := obj.(*corev1.Pod)
	if pod.Spec.NodeName == "" {
		return pod, nil, nil
	}
	nodes := s.resources[corev1.SchemeGroupVersion]["nodes"]
	if nodes == nil {
		return nil, nil, apierrors.NewServiceUnavailable("nodes are not served")
	}
	obj, err = nodes.get(ctx, "", pod.Spec.NodeName)
	if err != nil {
		return nil, nil, err
	}
	return pod, obj.(*corev1.Node), nil
}

// agentURL is the base URL of a node's agent: its InternalIP (then the
// other addresses) and kubelet port.
func agentURL(node *corev1.Node) (*url.URL, error) {
	var host string
	for _, t := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeInternalDNS, corev1.NodeHostName, corev1.NodeExternalIP, corev1.NodeExternalDNS} {
		for _, a := range node.Status.Addresses {
			if a.Type == t && a.Address != "" && host == "" {
				host = a.Address
			}
		}
	}
	if host == "" {
		return nil, fmt.Errorf("no preferred addresses found; known addresses: %v", node.Status.Addresses)
	}
	port := int(node.Status.DaemonEndpoints.KubeletEndpoint.Port)
	if port <= 0 {
		port = defaultKubeletPort
	}
	return &url.URL{Scheme: "https", Host: net.JoinHostPort(host, strconv.Itoa(port))}, nil
}

// podContainer resolves the container a request names, as upstream's
// validateContainer does, after the default-container annotation.
func podContainer(pod *corev1.Pod, name string) (string, error) {
	var all []string
	for _, c := range pod.Spec.InitContainers {
		all = append(all, c.Name)
	}
	for _, c := range pod.Spec.Containers {
		all = append(all, c.Name)
	}
	for _, c := range pod.Spec.EphemeralContainers {
		all = append(all, c.Name)
	}
	has := func(n string) bool {
		for _, c := range all {
			if c == n {
				return true
			}
		}
		return false
	}
	if name == "" {
		if d := pod.Annotations[defaultContainerAnnotation]; d != "" && has(d) {
			return d, nil
		}
		switch len(pod.Spec.Containers) {
		case 1:
			return pod.Spec.Containers[0].Name, nil
		case 0:
			return "", errBadRequest("a container name must be specified for pod %s", pod.Name)
		default:
			return "", errBadRequest("a container name must be specified for pod %s, choose one of: %s", pod.Name, all)
		}
	}
	if !has(name) {
		return "", errBadRequest("container %s is not valid for pod %s", name, pod.Name)
	}
	return name, nil
}

// validatePodLogOptions is upstream's ValidatePodLogOptions with the
// PodLogsQuerySplitStreams gate off (its default).
func validatePodLogOptions(o *corev1.PodLogOptions) field.ErrorList {
	var errs field.ErrorList
	if o.TailLines != nil && *o.TailLines < 0 {
		errs = append(errs, field.Invalid(field.NewPath("tailLines"), *o.TailLines, "must be greater than or equal to 0"))
	}
	if o.LimitBytes != nil && *o.LimitBytes < 1 {
		errs = append(errs, field.Invalid(field.NewPath("limitBytes"), *o.LimitBytes, "must be greater than 0"))
	}
	switch {
	case o.SinceSeconds != nil && o.SinceTime != nil:
		errs = append(errs, field.Forbidden(field.NewPath(""), "at most one of `sinceTime` or `sinceSeconds` may be specified"))
	case o.SinceSeconds != nil && *o.SinceSeconds < 1:
		errs = append(errs, field.Invalid(field.NewPath("sinceSeconds"), *o.SinceSeconds, "must be greater than 0"))
	}
	if o.Stream != nil {
		errs = append(errs, field.Forbidden(field.NewPath("stream"), "may not be specified"))
	}
	return errs
}

func (s *Server) servePodLog(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	opts, err := logs.ParseQuery(r.URL.Query())
	if err != nil {
		s.writeError(w, r, errBadRequest("%v", err))
		return
	}
	if errs := validatePodLogOptions(opts); len(errs) > 0 {
		s.writeError(w, r, errInvalid(schema.GroupKind{Kind: "PodLogOptions"}, info.Name, errs))
		return
	}
	pod, node, err := s.podAndNode(r.Context(), res, info)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	container, err := podContainer(pod, opts.Container)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if node == nil {
		// Upstream answers an unscheduled pod's log with nothing.
		writeRaw(w, http.StatusOK, "text/plain", nil)
		return
	}
	base, err := agentURL(node)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q := url.Values{}
	setTrue := func(k string, v bool) {
		if v {
			q.Set(k, "true")
		}
	}
	setTrue("follow", opts.Follow)
	setTrue("previous", opts.Previous)
	setTrue("timestamps", opts.Timestamps)
	for k, v := range map[string]*int64{"sinceSeconds": opts.SinceSeconds, "tailLines": opts.TailLines, "limitBytes": opts.LimitBytes} {
		if v != nil {
			q.Set(k, strconv.FormatInt(*v, 10))
		}
	}
	if opts.SinceTime != nil {
		q.Set("sinceTime", opts.SinceTime.Format(time.RFC3339))
	}
	loc := *base
	loc.Path = fmt.Sprintf("/containerLogs/%s/%s/%s", pod.Namespace, pod.Name, container)
	loc.RawQuery = q.Encode()
	client, err := s.kubeletClient()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, loc.String(), nil)
	if err != nil {
		s.writeError(w, r, apierrors.NewInternalError(err))
		return
	}
	resp, err := client.Do(req)
	if err != nil {
		s.writeError(w, r, errBackend(err))
		return
	}
	defer resp.Body.Close()
	if err := checkBackendResponse(resp, schema.GroupResource{Resource: "pods/log"}, info.Name); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			_ = rc.Flush()
		}
		if err != nil {
			return
		}
	}
}

// errBackend is a failure to reach the agent; kubectl shows its message
// as upstream's ("error dialing backend: ...").
func errBackend(err error) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusInternalServerError,
		Message: fmt.Sprintf("error dialing backend: %v", unwrapURLError(err)),
	}}
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// checkBackendResponse turns an agent's error answer into the API error
// upstream's GenericHttpResponseChecker makes: its body is the message.
func checkBackendResponse(resp *http.Response, gr schema.GroupResource, name string) error {
	if resp.StatusCode >= 200 && resp.StatusCode <= 206 {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	msg := string(body)
	switch resp.StatusCode {
	case http.StatusInternalServerError:
		return apierrors.NewInternalError(errors.New(msg))
	case http.StatusBadRequest:
		return apierrors.NewBadRequest(msg)
	}
	return apierrors.NewGenericServerResponse(resp.StatusCode, "", gr, name, msg, 0, false)
}

// kubeletTLS returns the client TLS for agents (HTTP/1.1: streams and
// upgrades), or an error when the server has none.
func (s *Server) kubeletTLS() (*tls.Config, error) {
	if s.cfg.KubeletClientTLS == nil {
		return nil, apierrors.NewServiceUnavailable("the API server has no client credentials for node agents")
	}
	c := s.cfg.KubeletClientTLS.Clone()
	c.NextProtos = []string{"http/1.1"}
	return c, nil
}

// kubeletTransport is shared by every request to agents.
type kubeletTransport struct {
	once sync.Once
	rt   *http.Transport
}

func (s *Server) kubeletClient() (*http.Client, error) {
	rt, err := s.kubeletRoundTripper()
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, nil
}

func (s *Server) kubeletRoundTripper() (*http.Transport, error) {
	cfg, err := s.kubeletTLS()
	if err != nil {
		return nil, err
	}
	s.kubelet.once.Do(func() {
		s.kubelet.rt = &http.Transport{
			TLSClientConfig:     cfg,
			DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
		}
	})
	return s.kubelet.rt, nil
}

// streamRequest is what exec, attach and port-forward ask of the agent.
type streamRequest struct {
	stdin, stdout, stderr, tty bool
}

// queryBool reads a boolean query parameter as upstream's conversion does.
func queryBool(q url.Values, k string) bool {
	v, ok := q[k]
	return ok && len(v) > 0 && v[0] != "0" && !strings.EqualFold(v[0], "false")
}

func (s *Server) servePodConnect(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	q := r.URL.Query()
	pod, node, err := s.podAndNode(r.Context(), res, info)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if attrs := s.admissionFor(r.Context(), res, admission.Connect, info.Subresource, nil, nil, false); attrs != nil {
		attrs.Namespace, attrs.Name = pod.Namespace, pod.Name
		if err := s.admitValidate(r.Context(), attrs); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	params := url.Values{}
	var path string
	var sr streamRequest
	switch info.Subresource {
	case "exec", "attach":
		container, err := podContainer(pod, q.Get("container"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		sr = streamRequest{stdin: queryBool(q, "stdin"), stdout: queryBool(q, "stdout"), stderr: queryBool(q, "stderr"), tty: queryBool(q, "tty")}
		for k, v := range map[string]bool{"input": sr.stdin, "output": sr.stdout, "error": sr.stderr, "tty": sr.tty} {
			if v {
				params.Set(k, "1")
			}
		}
		if info.Subresource == "exec" {
			params["command"] = q["command"]
		}
		path = fmt.Sprintf("/%s/%s/%s/%s", info.Subresource, pod.Namespace, pod.Name, container)
	default:
		var ports []string
		for _, p := range q["ports"] {
			n, err := strconv.ParseInt(p, 10, 32)
			if err != nil {
				s.writeError(w, r, errBadRequest("ports: %v", err))
				return
			}
			ports = append(ports, strconv.FormatInt(n, 10))
		}
		if len(ports) > 0 {
			params.Set("port", strings.Join(ports, ","))
		}
		path = fmt.Sprintf("/portForward/%s/%s", pod.Namespace, pod.Name)
	}
	if node == nil {
		s.writeError(w, r, errBadRequest("pod %s does not have a host assigned", pod.Name))
		return
	}
	base, err := agentURL(node)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	loc := *base
	loc.Path, loc.RawQuery = path, params.Encode()
	if !isUpgradeRequest(r) {
		s.writeError(w, r, errBadRequest("Upgrade request required"))
		return
	}
	tlsCfg, err := s.kubeletTLS()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	switch {
	case info.Subresource != "portforward" && wsstream.IsWebSocketRequestWithStreamCloseProtocol(r):
		s.translateStream(w, r, &loc, tlsCfg, sr)
	case info.Subresource == "portforward" && wsstream.IsWebSocketRequestWithTunnelingProtocol(r):
		s.tunnelPortForward(w, r, &loc, tlsCfg)
	default:
		s.proxyUpgrade(w, r, &loc)
	}
}

func isUpgradeRequest(r *http.Request) bool {
	for _, h := range r.Header.Values("Connection") {
		if strings.Contains(strings.ToLower(h), "upgrade") {
			return true
		}
	}
	return false
}

// proxyUpgrade passes an upgrade through to the agent, which passes it to
// the runtime; the agent's refusal reaches the client as it is.
func (s *Server) proxyUpgrade(w http.ResponseWriter, r *http.Request, loc *url.URL) {
	rt, err := s.kubeletRoundTripper()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			u := *loc
			pr.Out.URL = &u
			pr.Out.Host = ""
			// The client's credentials are for us, not for the agent.
			pr.Out.Header.Del("Authorization")
			pr.Out.Header.Del("Proxy-Authorization")
			pr.Out.Header.Del("Cookie")
		},
		Transport: rt,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.writeError(w, r, errBackend(err))
		},
	}
	rp.ServeHTTP(w, r)
}

// translateStream serves an exec or attach WebSocket (v5.channel.k8s.io)
// and runs it as an SPDY session with the agent: stdin, stdout, stderr
// and resize are copied across, the session's end (exit code or error) is
// written to the error channel as a Status, as upstream's translator does.
func (s *Server) translateStream(w http.ResponseWriter, r *http.Request, loc *url.URL, tlsCfg *tls.Config, sr streamRequest) {
	// Channels: 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize.
	ch := func(on bool, t wsstream.ChannelType) wsstream.ChannelType {
		if on {
			return t
		}
		return wsstream.IgnoreChannel
	}
	conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{
		streamProtocolV5: {Binary: true, Channels: []wsstream.ChannelType{
			ch(sr.stdin, wsstream.ReadChannel), ch(sr.stdout, wsstream.WriteChannel), ch(sr.stderr, wsstream.WriteChannel),
			wsstream.WriteChannel, wsstream.ReadChannel,
		}},
	})
	conn.SetIdleTimeout(4 * time.Hour)
	_, streams, err := conn.Open(w, r)
	if err != nil {
		return // the WebSocket library has answered the client
	}
	defer conn.Close()
	// An empty frame on the first output channel tells the client the
	// session is up.
	first := 3
	if sr.stdout {
		first = 1
	} else if sr.stderr {
		first = 2
	}
	if _, err := streams[first].Write(nil); err != nil {
		return
	}
	writeStatus := func(st metav1.Status) {
		b, err := json.Marshal(st)
		if err == nil {
			conn.SetWriteDeadline(10 * time.Second)
			_, _ = streams[3].Write(b)
		}
	}
	rt, err := spdy.NewRoundTripperWithConfig(spdy.RoundTripperConfig{TLS: tlsCfg, PingPeriod: 5 * time.Second})
	if err != nil {
		writeStatus(apierrors.NewInternalError(err).ErrStatus)
		return
	}
	executor, err := remotecommand.NewSPDYExecutorRejectRedirects(rt, clientspdy.NewUpgraderForStreaming(rt), http.MethodPost, loc)
	if err != nil {
		writeStatus(apierrors.NewInternalError(err).ErrStatus)
		return
	}
	opts := remotecommand.StreamOptions{Tty: sr.tty}
	if sr.stdin {
		opts.Stdin = streams[0]
	}
	if sr.stdout {
		opts.Stdout = streams[1]
	}
	if sr.stderr {
		opts.Stderr = streams[2]
	}
	if sr.tty {
		sizes := make(chan remotecommand.TerminalSize)
		go decodeResizes(r.Context(), streams[4], sizes)
		opts.TerminalSizeQueue = sizeQueue(sizes)
	}
	err = executor.StreamWithContext(r.Context(), opts)
	var se apierrors.APIStatus
	var exitErr exec.CodeExitError
	switch {
	case err == nil:
		writeStatus(metav1.Status{Status: metav1.StatusSuccess})
	case errors.As(err, &exitErr) && exitErr.Exited():
		writeStatus(metav1.Status{
			Status: metav1.StatusFailure, Reason: "NonZeroExitCode",
			Message: fmt.Sprintf("command terminated with non-zero exit code: %v", exitErr),
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: "ExitCode", Message: strconv.Itoa(exitErr.ExitStatus())}}},
		})
	case errors.As(err, &se):
		writeStatus(se.Status())
	default:
		writeStatus(apierrors.NewInternalError(err).ErrStatus)
	}
}

// sizeQueue hands terminal sizes to the SPDY executor.
type sizeQueue chan remotecommand.TerminalSize

func (q sizeQueue) Next() *remotecommand.TerminalSize {
	s, ok := <-q
	if !ok {
		return nil
	}
	return &s
}

// decodeResizes reads the resize channel's JSON sizes until it ends.
func decodeResizes(ctx context.Context, r io.Reader, out chan<- remotecommand.TerminalSize) {
	defer close(out)
	dec := json.NewDecoder(r)
	for {
		var size remotecommand.TerminalSize
		if err := dec.Decode(&size); err != nil {
			return
		}
		select {
		case out <- size:
		case <-ctx.Done():
			return
		}
	}
}

// tunnelPortForward serves a port-forward WebSocket that tunnels SPDY
// (SPDY/3.1+portforward.k8s.io): it opens the SPDY upgrade with the agent
// first, so a refusal reaches the client as an HTTP answer, then accepts
// the WebSocket and copies bytes between the two.
func (s *Server) tunnelPortForward(w http.ResponseWriter, r *http.Request, loc *url.URL, tlsCfg *tls.Config) {
	var versions []string
	for _, p := range gwebsocket.Subprotocols(r) {
		if v, ok := strings.CutPrefix(p, tunnelingPrefix); ok && strings.HasSuffix(v, ".k8s.io") {
			versions = append(versions, v)
		}
	}
	dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}, Config: tlsCfg}
	backend, err := dialer.DialContext(r.Context(), "tcp", loc.Host)
	if err != nil {
		s.writeError(w, r, errBackend(err))
		return
	}
	defer backend.Close()
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, loc.String(), nil)
	if err != nil {
		s.writeError(w, r, apierrors.NewInternalError(err))
		return
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "SPDY/3.1")
	for _, v := range versions {
		req.Header.Add("X-Stream-Protocol-Version", v)
	}
	_ = backend.SetDeadline(time.Now().Add(30 * time.Second))
	if err := req.Write(backend); err != nil {
		s.writeError(w, r, errBackend(err))
		return
	}
	br := bufio.NewReader(backend)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		s.writeError(w, r, errBackend(err))
		return
	}
	_ = backend.SetDeadline(time.Time{})
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if ct := resp.Header.Get("Content-Type"); ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(body)
		return
	}
	var protocols []string
	if v := strings.TrimSpace(resp.Header.Get("X-Stream-Protocol-Version")); v != "" {
		protocols = []string{tunnelingPrefix + v}
	}
	up := gwebsocket.Upgrader{Subprotocols: protocols, CheckOrigin: func(*http.Request) bool { return true }}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered the client
	}
	tunnel := portforward.NewTunnelingConnection("apiserver", ws)
	defer tunnel.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(backend, tunnel); done <- struct{}{} }()
	go func() { _, _ = io.Copy(tunnel, br); done <- struct{}{} }()
	// Either side's end ends the session.
	<-done
}
