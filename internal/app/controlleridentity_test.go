package app

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/audit"
	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/auth/bootstrap"
	"skiff.dev/skiff/internal/auth/pki"
	"skiff.dev/skiff/internal/controller/nodelifecycle"
	"skiff.dev/skiff/internal/testserver"
)

// requestLog is an audit backend that keeps who did what, for tests that
// check which identity a component's requests reach the server as.
type requestLog struct {
	mu   sync.Mutex
	reqs []loggedRequest
}

type loggedRequest struct {
	user                                   string
	groups                                 []string
	verb, resource, subresource, namespace string
	name                                   string
	code                                   int32
}

func (l *requestLog) Decide(audit.Attributes) audit.Decision {
	return audit.Decision{Level: audit.LevelMetadata}
}

func (l *requestLog) Record(ev *audit.Event) {
	if ev.Stage != audit.StageResponseComplete || ev.ObjectRef == nil || ev.ResponseStatus == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = append(l.reqs, loggedRequest{user: ev.User.Username, groups: ev.User.Groups, verb: ev.Verb,
		resource: ev.ObjectRef.Resource, subresource: ev.ObjectRef.Subresource, namespace: ev.ObjectRef.Namespace,
		name: ev.ObjectRef.Name, code: ev.ResponseStatus.Code})
}

// find returns the requests match accepts.
func (l *requestLog) find(match func(loggedRequest) bool) []loggedRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []loggedRequest
	for _, r := range l.reqs {
		if match(r) {
			out = append(out, r)
		}
	}
	return out
}

func withRequestLog(l *requestLog) testserver.Option {
	return func(_ testing.TB, s *testserver.Setup) { s.Config.Audit = l }
}

const controllerSA = "system:serviceaccount:kube-system:"

// TestControllersRunAsTheirServiceAccounts runs the controllers as skiff
// server wires them, on a server with RBAC and service-account tokens:
// the controller manager is system:kube-controller-manager outside
// system:masters, each controller writes as its own service account with
// upstream's role, and none of them is ever refused.
func TestControllersRunAsTheirServiceAccounts(t *testing.T) {
	reqs := &requestLog{}
	s := testserver.StartWith(t, withRBAC(newRBACWiring()), withServiceAccounts, withRequestLog(reqs))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := &pki.ServerPKI{CA: s.CA, ServerURL: s.URL}
	pods, err := newSharedPods(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := runControllers(ctx, p, APIServerEndpoint{IP: "192.0.2.10", Port: 6443}, nil, pods, nodelifecycle.Config{}); err != nil {
		t.Fatal(err)
	}

	createWebDeployment(ctx, t, s.Client)
	// An HPA: the autoscaler reads the Deployment's scale, asks the
	// (missing) metrics API and writes the HPA's status, all as itself.
	maxReplicas := int32(3)
	if _, err := s.Client.AutoscalingV2().HorizontalPodAutoscalers("default").Create(ctx, &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: maxReplicas,
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// An expired bootstrap token: the token cleaner may delete it only
	// through its Role in kube-system.
	expired, err := bootstrap.NewSecret(bootstrap.Token{ID: "abcdef", Secret: "0123456789abcdef"}, bootstrap.SecretOptions{TTL: time.Hour}, time.Now().Add(-2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.CoreV1().Secrets(expired.Namespace).Create(ctx, expired, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	created := func(resource, namespace string) func(loggedRequest) bool {
		return func(r loggedRequest) bool {
			return r.verb == "create" && r.resource == resource && r.subresource == "" && r.namespace == namespace && r.code == 201
		}
	}
	// Each request match accepts is by user; with any, one of them is.
	for _, want := range []struct {
		what, user string
		any        bool
		match      func(loggedRequest) bool
	}{
		{"ReplicaSet of the Deployment", controllerSA + "deployment-controller", false, created("replicasets", "default")},
		{"pods of the ReplicaSet", controllerSA + "replicaset-controller", false, created("pods", "default")},
		{"event of the ReplicaSet controller", controllerSA + "replicaset-controller", true, created("events", "default")},
		{"event of the Deployment controller", controllerSA + "deployment-controller", true, created("events", "default")},
		{"status of the HPA", controllerSA + "horizontal-pod-autoscaler", false, func(r loggedRequest) bool {
			return r.verb == "update" && r.resource == "horizontalpodautoscalers" && r.subresource == "status" && r.code == 200
		}},
		{"default service account", controllerSA + "service-account-controller", false, created("serviceaccounts", "default")},
		{"kube-root-ca.crt", controllerSA + "root-ca-cert-publisher", false, created("configmaps", "default")},
		// Upstream's API server writes these itself.
		{"endpoint slice of the kubernetes service", "system:apiserver", false, func(r loggedRequest) bool {
			return created("endpointslices", "default")(r) && r.name == "kubernetes"
		}},
		{"deletion of the expired bootstrap token", controllerSA + "token-cleaner", false, func(r loggedRequest) bool {
			return r.verb == "delete" && r.resource == "secrets" && r.name == expired.Name && r.code == 200
		}},
		{"token of the replicaset-controller", "system:kube-controller-manager", false, func(r loggedRequest) bool {
			return r.verb == "create" && r.subresource == "token" && r.name == "replicaset-controller" && r.code == 201
		}},
		{"controller manager lease", "system:kube-controller-manager", false, created("leases", "kube-system")},
	} {
		deadline := time.Now().Add(30 * time.Second)
		for {
			got := reqs.find(want.match)
			by := slices.IndexFunc(got, func(r loggedRequest) bool { return r.user == want.user })
			other := slices.IndexFunc(got, func(r loggedRequest) bool { return r.user != want.user })
			if !want.any && other >= 0 {
				t.Fatalf("%s: made by %s, want %s", want.what, got[other].user, want.user)
			}
			if by >= 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no request by %s (%d by others)", want.what, want.user, len(got))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, r := range reqs.find(func(r loggedRequest) bool { return r.user == "system:kube-controller-manager" }) {
		if slices.Contains(r.groups, authn.GroupMasters) {
			t.Fatalf("controller manager request %+v in %s", r, authn.GroupMasters)
		}
	}
	if refused := reqs.find(func(r loggedRequest) bool {
		return (strings.HasPrefix(r.user, controllerSA) || r.user == "system:kube-controller-manager") && (r.code == 401 || r.code == 403)
	}); len(refused) > 0 {
		t.Fatalf("controller requests refused: %+v", refused)
	}
}

func TestControllerTokenExpiresEarly(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		lifetime time.Duration
		want     time.Duration
	}{
		{"an hour: renewed after 48 minutes", time.Hour, 48 * time.Minute},
		// Clock skew: upstream pins the lifetime to the 10-minute minimum.
		{"expired on arrival", -time.Minute, 8 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := &authenticationv1.TokenRequest{Status: authenticationv1.TokenRequestStatus{
				Token: "t", ExpirationTimestamp: metav1.NewTime(now.Add(tc.lifetime))}}
			got := controllerToken(tr, now)
			if got.AccessToken != "t" || got.TokenType != "Bearer" || !got.Expiry.Equal(now.Add(tc.want)) {
				t.Fatalf("token %+v, want expiry %v", got, now.Add(tc.want))
			}
		})
	}
}

// TestControllerCredentialsSurviveAccountRecreation: a controller whose
// service account is deleted gets a 401 once, then re-creates the
// account and authenticates with a fresh token.
func TestControllerCredentialsSurviveAccountRecreation(t *testing.T) {
	s := testserver.StartWith(t, withRBAC(newRBACWiring()), withServiceAccounts)
	ctx := context.Background()
	cm := s.Config(t, "system:kube-controller-manager")
	clients := newServiceAccountClients(cm, s.Client.CoreV1())
	id, err := newControllerIdentity(ctx, clients, "replicaset-controller")
	if err != nil {
		t.Fatal(err)
	}
	whoami := func() (string, error) {
		r, err := id.client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			return "", err
		}
		return r.Status.UserInfo.Username, nil
	}
	if u, err := whoami(); err != nil || u != controllerSA+"replicaset-controller" {
		t.Fatalf("user %q, %v", u, err)
	}
	if err := s.Client.CoreV1().ServiceAccounts("kube-system").Delete(ctx, "replicaset-controller", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The token outlives its account until the server notices; the
	// first 401 makes the client fetch a new one.
	eventually(t, "old token refused", func() error {
		if _, err := whoami(); !apierrors.IsUnauthorized(err) {
			return fmt.Errorf("whoami: %v, want 401", err)
		}
		return nil
	})
	eventually(t, "re-authenticated", func() error {
		u, err := whoami()
		if err != nil {
			return err
		}
		if u != controllerSA+"replicaset-controller" {
			t.Fatalf("user %q", u)
		}
		return nil
	})
	if _, err := s.Client.CoreV1().ServiceAccounts("kube-system").Get(ctx, "replicaset-controller", metav1.GetOptions{}); err != nil {
		t.Fatalf("account not re-created: %v", err)
	}
}

// TestSharedClientsKeepTheControllerManagerIdentity: without service
// account credentials, every controller is the controller manager.
func TestSharedClientsKeepTheControllerManagerIdentity(t *testing.T) {
	s := testserver.StartWith(t, withRBAC(newRBACWiring()))
	id, err := newControllerIdentity(context.Background(), sharedClients{cfg: s.Config(t, "system:kube-controller-manager", authn.GroupMasters)}, "replicaset-controller")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(id.config.UserAgent, "/replicaset-controller") {
		t.Errorf("user agent %q", id.config.UserAgent)
	}
	r, err := id.client.AuthenticationV1().SelfSubjectReviews().Create(context.Background(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil || r.Status.UserInfo.Username != "system:kube-controller-manager" {
		t.Fatalf("review %+v, %v", r, err)
	}
}
