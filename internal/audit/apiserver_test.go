package audit_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff.dev/skiff/internal/audit"
	"skiff.dev/skiff/internal/testserver"
)

// auditedServer is the real API server (every built-in resource, bolt,
// TLS, client certificates; system:masters may do everything, nobody else
// anything) recording to a real audit log.
type auditedServer struct {
	*testserver.Server
	url   string
	log   *audit.Logger
	path  string
	admin *rest.Config
}

func startAudited(t *testing.T, policy *audit.Policy) *auditedServer {
	t.Helper()
	var (
		logger *audit.Logger
		path   string
	)
	srv := testserver.StartWith(t, func(t testing.TB, s *testserver.Setup) {
		path = filepath.Join(s.Dir, "logs", "audit.log")
		backend, err := audit.NewLogBackend(audit.LogOptions{Path: path, MaxSize: audit.DefaultMaxSize})
		if err != nil {
			t.Fatal(err)
		}
		logger = audit.NewLogger(policy, backend)
		t.Cleanup(func() { logger.Close() })
		s.Config.Audit = logger
	})
	s := &auditedServer{Server: srv, url: srv.URL, log: logger, path: path}
	s.admin = s.config(t, "admin", "system:masters")
	return s
}

func (s *auditedServer) config(t *testing.T, user string, groups ...string) *rest.Config {
	t.Helper()
	cfg := s.Config(t, user, groups...)
	cfg.UserAgent = "audit-test/" + user
	return cfg
}

// events flushes the log and returns its lines, raw and decoded.
func (s *auditedServer) events(t *testing.T) ([]string, []audit.Event) {
	t.Helper()
	if err := s.log.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(s.path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	var evs []audit.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var ev audit.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, sc.Text())
		evs = append(evs, ev)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines, evs
}

func find(evs []audit.Event, match func(*audit.Event) bool) []*audit.Event {
	var out []*audit.Event
	for i := range evs {
		if match(&evs[i]) {
			out = append(out, &evs[i])
		}
	}
	return out
}

func one(t *testing.T, what string, evs []audit.Event, match func(*audit.Event) bool) *audit.Event {
	t.Helper()
	got := find(evs, match)
	if len(got) != 1 {
		t.Fatalf("%s: %d events, want 1", what, len(got))
	}
	return got[0]
}

const (
	secretValue    = "hunter2-the-secret-value"
	configMapValue = "config-map-value-42"
)

func TestAuditLogWithTheDefaultPolicy(t *testing.T) {
	s := startAudited(t, audit.DefaultPolicy())
	ctx := context.Background()
	admin := kubernetes.NewForConfigOrDie(s.admin)

	if _, err := admin.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "cm1"}, Data: map[string]string{"k": configMapValue},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "s1"}, Data: map[string][]byte{"password": []byte(secretValue)},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p1"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// A get, read raw for its Audit-Id header.
	hc, err := rest.HTTPClientFor(s.admin)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(s.url + "/api/v1/namespaces/default/configmaps/cm1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	getID := resp.Header.Get("Audit-Id")
	if resp.StatusCode != http.StatusOK || getID == "" {
		t.Fatalf("get: %s, Audit-Id %q", resp.Status, getID)
	}

	// No credentials: 401, recorded as upstream does.
	anon, err := rest.HTTPClientFor(&rest.Config{Host: s.url, TLSClientConfig: rest.TLSClientConfig{CAData: s.CA.CertPEM}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err = anon.Get(s.url + "/api/v1/namespaces/default/secrets")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	anonID := resp.Header.Get("Audit-Id")
	if resp.StatusCode != http.StatusUnauthorized || anonID == "" {
		t.Fatalf("no credentials: %s, Audit-Id %q", resp.Status, anonID)
	}

	// Forbidden: eve may do nothing.
	eve := kubernetes.NewForConfigOrDie(s.config(t, "eve", "devs"))
	if _, err := eve.CoreV1().Secrets("default").Get(ctx, "s1", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("eve's get: %v, want Forbidden", err)
	}
	// The admin acting as eve is eve, and is recorded as both.
	asEve := rest.CopyConfig(s.admin)
	asEve.Impersonate = rest.ImpersonationConfig{UserName: "eve", Groups: []string{"devs"}}
	if _, err := kubernetes.NewForConfigOrDie(asEve).CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("list as eve: %v, want Forbidden", err)
	}

	// A watch: long-running, so ResponseStarted too.
	w, err := admin.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-w.ResultChan():
		if ev.Type != "ADDED" {
			t.Errorf("watch: %s, want ADDED", ev.Type)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no watch event: streaming is broken behind the audit filter")
	}
	w.Stop()
	// The watch's ResponseComplete is recorded when its handler returns,
	// after the client went: wait for it before flushing.
	waitForLine(t, s.path, `"verb":"watch","user"`, `"stage":"ResponseComplete"`)

	lines, evs := s.events(t)
	all := strings.Join(lines, "\n")
	for _, leak := range []string{secretValue, base64.StdEncoding.EncodeToString([]byte(secretValue)), configMapValue} {
		if strings.Contains(all, leak) {
			t.Errorf("the log holds %q: secret and config map contents must never be recorded", leak)
		}
	}
	micro := regexp.MustCompile(`"stageTimestamp":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"`)
	for i, l := range lines {
		if !strings.HasPrefix(l, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"`) {
			t.Fatalf("line %d does not start as upstream's: %s", i, l)
		}
		if !micro.MatchString(l) {
			t.Errorf("line %d: stageTimestamp is not a MicroTime: %s", i, l)
		}
		if evs[i].Stage == audit.StageRequestReceived {
			t.Errorf("line %d: RequestReceived is omitted by the default policy", i)
		}
		if evs[i].Level == audit.LevelNone || evs[i].AuditID == "" {
			t.Errorf("line %d: level %q, auditID %q", i, evs[i].Level, evs[i].AuditID)
		}
		if evs[i].StageTimestamp.Before(&evs[i].RequestReceivedTimestamp) {
			t.Errorf("line %d: stage before reception", i)
		}
	}
	if n := len(find(evs, func(e *audit.Event) bool {
		return strings.HasPrefix(e.RequestURI, "/api/v1") && !strings.Contains(e.RequestURI, "namespaces") && e.Verb == "get"
	})); n != 0 {
		t.Errorf("%d discovery events: the default policy records none", n)
	}

	isCreate := func(resource, name string) func(*audit.Event) bool {
		return func(e *audit.Event) bool {
			return e.Verb == "create" && e.ObjectRef != nil && e.ObjectRef.Resource == resource && e.ObjectRef.Name == name
		}
	}
	cm := one(t, "configmap create", evs, isCreate("configmaps", "cm1"))
	if cm.Level != audit.LevelMetadata || cm.Stage != audit.StageResponseComplete || cm.RequestObject != nil || cm.ResponseObject != nil {
		t.Errorf("configmap create: level %s stage %s, bodies %s %s", cm.Level, cm.Stage, cm.RequestObject, cm.ResponseObject)
	}
	if cm.RequestURI != "/api/v1/namespaces/default/configmaps" || cm.ObjectRef.Namespace != "default" || cm.ObjectRef.APIVersion != "v1" || cm.ObjectRef.APIGroup != "" {
		t.Errorf("configmap create: requestURI %s, objectRef %+v", cm.RequestURI, cm.ObjectRef)
	}
	if cm.ResponseStatus == nil || cm.ResponseStatus.Code != http.StatusCreated {
		t.Errorf("configmap create: responseStatus %+v, want 201", cm.ResponseStatus)
	}
	if cm.User.Username != "admin" || !contains(cm.User.Groups, "system:masters") || !contains(cm.User.Groups, "system:authenticated") {
		t.Errorf("configmap create: user %+v", cm.User)
	}
	if cm.UserAgent != "audit-test/admin" || !contains(cm.SourceIPs, "127.0.0.1") {
		t.Errorf("configmap create: userAgent %q, sourceIPs %v", cm.UserAgent, cm.SourceIPs)
	}
	if cm.Annotations["authorization.k8s.io/decision"] != "allow" {
		t.Errorf("configmap create: annotations %v", cm.Annotations)
	}

	sec := one(t, "secret create", evs, isCreate("secrets", "s1"))
	if sec.Level != audit.LevelMetadata || sec.RequestObject != nil {
		t.Errorf("secret create: level %s, requestObject %s", sec.Level, sec.RequestObject)
	}

	pod := one(t, "pod create", evs, isCreate("pods", "p1"))
	if pod.Level != audit.LevelRequest || pod.ResponseObject != nil {
		t.Errorf("pod create: level %s, responseObject %s", pod.Level, pod.ResponseObject)
	}
	var podObj corev1.Pod
	if err := json.Unmarshal(pod.RequestObject, &podObj); err != nil || podObj.Name != "p1" || podObj.Spec.Containers[0].Image != "busybox" {
		t.Errorf("pod create: requestObject %s (%v)", pod.RequestObject, err)
	}

	get := one(t, "get", evs, func(e *audit.Event) bool { return string(e.AuditID) == getID })
	if get.Verb != "get" || get.Level != audit.LevelMetadata || get.ObjectRef.Name != "cm1" || get.ResponseStatus.Code != 200 {
		t.Errorf("get: %+v", get)
	}

	unauth := one(t, "no credentials", evs, func(e *audit.Event) bool { return string(e.AuditID) == anonID })
	if unauth.Stage != audit.StageResponseStarted || unauth.ResponseStatus.Code != http.StatusUnauthorized ||
		unauth.ResponseStatus.Message != "Authentication failed, no credentials provided" || unauth.User.Username != "" || unauth.Verb != "list" {
		t.Errorf("no credentials: %+v", unauth)
	}

	denied := one(t, "eve's get", evs, func(e *audit.Event) bool { return e.User.Username == "eve" })
	if denied.ResponseStatus == nil || denied.ResponseStatus.Code != http.StatusForbidden || denied.ResponseStatus.Reason != metav1.StatusReasonForbidden ||
		!strings.Contains(denied.ResponseStatus.Message, `User "eve" cannot get resource "secrets"`) || denied.ResponseStatus.Status != metav1.StatusFailure {
		t.Errorf("eve's get: responseStatus %+v", denied.ResponseStatus)
	}
	if denied.Annotations["authorization.k8s.io/decision"] != "forbid" || denied.Verb != "get" || denied.ObjectRef.Name != "s1" {
		t.Errorf("eve's get: %+v", denied)
	}
	if denied.ImpersonatedUser != nil {
		t.Errorf("eve's get: impersonatedUser %+v", denied.ImpersonatedUser)
	}

	imp := one(t, "list as eve", evs, func(e *audit.Event) bool { return e.ImpersonatedUser != nil })
	if imp.User.Username != "admin" || imp.ImpersonatedUser.Username != "eve" || !contains(imp.ImpersonatedUser.Groups, "devs") ||
		imp.Verb != "list" || imp.Annotations["authorization.k8s.io/decision"] != "forbid" {
		t.Errorf("list as eve: %+v", imp)
	}

	watch := find(evs, func(e *audit.Event) bool { return e.Verb == "watch" && e.ObjectRef.Resource == "configmaps" })
	if len(watch) != 2 || watch[0].Stage != audit.StageResponseStarted || watch[1].Stage != audit.StageResponseComplete ||
		watch[0].AuditID != watch[1].AuditID || watch[0].ResponseStatus.Code != 200 {
		t.Errorf("watch: %d events %+v, want ResponseStarted then ResponseComplete", len(watch), watch)
	}
}

// waitForLine polls the log until a line holds every part.
func waitForLine(t *testing.T, path string, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		data, _ := os.ReadFile(path)
		for _, l := range strings.Split(string(data), "\n") {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(l, p)
			}
			if ok {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no line with %q in the audit log", parts)
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
