package serviceaccount

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// objects is an in-memory ObjectGetter.
type objects struct {
	sas     map[string]*corev1.ServiceAccount
	secrets map[string]*corev1.Secret
	pods    map[string]*corev1.Pod
	nodes   map[string]*corev1.Node
}

func newObjects() *objects {
	return &objects{sas: map[string]*corev1.ServiceAccount{}, secrets: map[string]*corev1.Secret{},
		pods: map[string]*corev1.Pod{}, nodes: map[string]*corev1.Node{}}
}

func get[T any](m map[string]*T, res, ns, name string) (*T, error) {
	if o, ok := m[ns+"/"+name]; ok {
		return o, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: res}, name)
}

func (o *objects) ServiceAccount(_ context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	return get(o.sas, "serviceaccounts", ns, name)
}
func (o *objects) Secret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	return get(o.secrets, "secrets", ns, name)
}
func (o *objects) Pod(_ context.Context, ns, name string) (*corev1.Pod, error) {
	return get(o.pods, "pods", ns, name)
}
func (o *objects) Node(_ context.Context, name string) (*corev1.Node, error) {
	return get(o.nodes, "nodes", "", name)
}

func meta(ns, name, uid string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid)}
}

func testKeys(t *testing.T) *Keys {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := NewKeys(k)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestAuthenticateToken(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	keys := testKeys(t)
	cfg := Config{Keys: keys, Now: clock}
	issuer, err := NewIssuer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	otherIssuer, err := NewIssuer(Config{Keys: testKeys(t), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: meta("team", "bot", "sa-1")}
	pod := &corev1.Pod{ObjectMeta: meta("team", "web", "pod-1")}
	node := &corev1.Node{ObjectMeta: meta("", "n1", "node-1")}
	secret := &corev1.Secret{ObjectMeta: meta("team", "bot-token", "secret-1")}
	populate := func() *objects {
		o := newObjects()
		o.sas["team/bot"], o.pods["team/web"], o.nodes["/n1"], o.secrets["team/bot-token"] = sa, pod, node, secret
		return o
	}
	mint := func(is *Issuer, r Request) string {
		t.Helper()
		r.ServiceAccount = sa
		if r.Expiration == 0 {
			r.Expiration = time.Hour
		}
		tok, err := is.Issue(r)
		if err != nil {
			t.Fatal(err)
		}
		return tok.Token
	}
	legacy := func() string {
		tok, err := issuer.IssueLegacy(sa, secret)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	legacyToken := legacy()

	tests := []struct {
		name      string
		token     string
		audiences []string
		at        time.Duration // clock offset at verification
		change    func(o *objects)
		wantUser  bool
		wantErr   string // substring; "" with !wantUser means not recognized
		wantExtra map[string]string
	}{
		{name: "good", token: mint(issuer, Request{}), wantUser: true},
		{name: "good at the leeway's edge", token: mint(issuer, Request{}), at: time.Hour + 30*time.Second, wantUser: true},
		{name: "wrong signature", token: mint(otherIssuer, Request{}), wantErr: "invalid signature"},
		{name: "tampered payload", token: tamper(mint(issuer, Request{})), wantErr: "invalid signature"},
		{name: "wrong audience", token: mint(issuer, Request{Audiences: []string{"vault"}}), wantErr: "token audiences"},
		{name: "requested audience", token: mint(issuer, Request{Audiences: []string{"vault"}}), audiences: []string{"vault"}, wantUser: true},
		{name: "expired", token: mint(issuer, Request{Expiration: 10 * time.Minute}), at: 20 * time.Minute, wantErr: "has expired"},
		{name: "not yet valid", token: mint(issuer, Request{}), at: -10 * time.Minute, wantErr: "not valid yet"},
		{name: "service account deleted", token: mint(issuer, Request{}), change: func(o *objects) { delete(o.sas, "team/bot") }, wantErr: "not found"},
		{name: "service account recreated", token: mint(issuer, Request{}),
			change:  func(o *objects) { o.sas["team/bot"] = &corev1.ServiceAccount{ObjectMeta: meta("team", "bot", "sa-2")} },
			wantErr: "does not match claim"},
		{name: "pod-bound", token: mint(issuer, Request{Pod: pod, Node: node}), wantUser: true,
			wantExtra: map[string]string{ExtraPodName: "web", ExtraPodUID: "pod-1", ExtraNodeName: "n1", ExtraNodeUID: "node-1"}},
		{name: "bound pod deleted", token: mint(issuer, Request{Pod: pod}), change: func(o *objects) { delete(o.pods, "team/web") }, wantErr: "invalidated"},
		{name: "bound pod recreated", token: mint(issuer, Request{Pod: pod}),
			change:  func(o *objects) { o.pods["team/web"] = &corev1.Pod{ObjectMeta: meta("team", "web", "pod-2")} },
			wantErr: "does not match service account pod ref claim"},
		{name: "bound secret deleted", token: mint(issuer, Request{Secret: secret}), change: func(o *objects) { delete(o.secrets, "team/bot-token") }, wantErr: "invalidated"},
		{name: "node-bound, node deleted", token: mint(issuer, Request{Node: node}), change: func(o *objects) { delete(o.nodes, "/n1") }, wantErr: "invalidated"},
		{name: "legacy", token: legacyToken, at: 24 * 365 * time.Hour, change: func(o *objects) {
			s := secret.DeepCopy()
			s.Data = map[string][]byte{"token": []byte(legacyToken)}
			o.secrets["team/bot-token"] = s
		}, wantUser: true},
		{name: "legacy secret deleted", token: legacy(), change: func(o *objects) { delete(o.secrets, "team/bot-token") }, wantErr: "invalidated"},
		{name: "legacy token replaced in its secret", token: legacy(), change: func(o *objects) {
			s := secret.DeepCopy()
			s.Data = map[string][]byte{"token": []byte("other")}
			o.secrets["team/bot-token"] = s
		}, wantErr: "does not match"},
		{name: "not a JWT", token: "abcdef.0123456789abcdef"},
		{name: "another issuer's JWT", token: foreignIssuer(t, clock, sa)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := populate()
			var offset time.Duration
			c := cfg
			c.Now = func() time.Time { return now.Add(offset) }
			a := NewAuthenticator(c, o)
			// Authenticate once before the change and the clock's move:
			// the cached signature check must hide neither a revocation
			// nor an expiry.
			_, _, _, _ = a.AuthenticateToken(context.Background(), tc.token, tc.audiences)
			if tc.change != nil {
				tc.change(o)
			}
			offset = tc.at
			u, auds, ok, err := a.AuthenticateToken(context.Background(), tc.token, tc.audiences)
			if tc.wantUser {
				if err != nil || !ok {
					t.Fatalf("got ok=%v err=%v, want a user", ok, err)
				}
				if u.Name != "system:serviceaccount:team:bot" || u.UID != "sa-1" ||
					!slices.Equal(u.Groups, []string{"system:serviceaccounts", "system:serviceaccounts:team"}) {
					t.Errorf("user = %+v", u)
				}
				if len(auds) == 0 {
					t.Errorf("no audiences")
				}
				for k, v := range tc.wantExtra {
					if got := u.Extra[k]; len(got) != 1 || got[0] != v {
						t.Errorf("extra %s = %v, want %s", k, got, v)
					}
				}
				return
			}
			if ok || u != nil {
				t.Fatalf("authenticated %+v, want none", u)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v, want the token not recognized", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// tamper changes the payload's subject without re-signing.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	payload, _ := decodeSegment(parts[1])
	parts[1] = base64URL.EncodeToString([]byte(strings.Replace(string(payload), "team:bot", "team:adm", 1)))
	return strings.Join(parts, ".")
}

func foreignIssuer(t *testing.T, clock func() time.Time, sa *corev1.ServiceAccount) string {
	is, err := NewIssuer(Config{Keys: testKeys(t), Issuer: "https://accounts.example.com", Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := is.Issue(Request{ServiceAccount: sa, Expiration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Token
}

func TestAuthenticateRequest(t *testing.T) {
	keys := testKeys(t)
	is, err := NewIssuer(Config{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: meta("team", "bot", "sa-1")}
	o := newObjects()
	o.sas["team/bot"] = sa
	tok, err := is.Issue(Request{ServiceAccount: sa, Expiration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	a := NewAuthenticator(Config{Keys: keys}, o)
	for _, tc := range []struct {
		header string
		ok     bool
	}{
		{"Bearer " + tok.Token, true},
		{"bearer  " + tok.Token + " ", true},
		{"Basic " + tok.Token, false},
		{"Bearer", false},
		{"", false},
	} {
		r, _ := http.NewRequest(http.MethodGet, "/api", nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		u, ok, err := a.Authenticate(r)
		if ok != tc.ok || err != nil || (ok && u.Name != "system:serviceaccount:team:bot") {
			t.Errorf("%q: user %v ok %v err %v, want ok %v", tc.header, u, ok, err, tc.ok)
		}
	}
}

func TestKeys(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, KeyFile)
	first, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if first.kid != again.kid || first.alg != "ES256" {
		t.Fatalf("key not reused: %s/%s vs %s", first.kid, first.alg, again.kid)
	}
	// A token of a rotated-out RSA key stays valid when its public key
	// is listed for verification.
	old, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	oldKeys, err := NewKeys(old)
	if err != nil {
		t.Fatal(err)
	}
	pubFile := filepath.Join(dir, "old.pub")
	writePublic(t, pubFile, old)
	if err := first.AddVerificationKeysFromFile(pubFile); err != nil {
		t.Fatal(err)
	}
	if len(first.public) != 2 {
		t.Fatalf("%d verification keys, want 2", len(first.public))
	}
	oldIssuer, _ := NewIssuer(Config{Keys: oldKeys})
	sa := &corev1.ServiceAccount{ObjectMeta: meta("team", "bot", "sa-1")}
	tok, err := oldIssuer.Issue(Request{ServiceAccount: sa, Expiration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	o := newObjects()
	o.sas["team/bot"] = sa
	if _, _, ok, err := NewAuthenticator(Config{Keys: first}, o).AuthenticateToken(context.Background(), tok.Token, nil); !ok {
		t.Fatalf("old key's token rejected: %v", err)
	}
}

func writePublic(t *testing.T, path string, k *rsa.PrivateKey) {
	t.Helper()
	if err := writeKey(path, pemPublic(t, k)); err != nil {
		t.Fatal(err)
	}
}

func pemPublic(t *testing.T, k *rsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}
