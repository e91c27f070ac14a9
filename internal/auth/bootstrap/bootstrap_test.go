package bootstrap

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestParseToken(t *testing.T) {
	cases := []struct {
		in string
		ok bool
	}{
		{"abcdef.0123456789abcdef", true},
		{"ABCDEF.0123456789abcdef", false},
		{"abcde.0123456789abcdef", false},
		{"abcdef.0123456789abcde", false},
		{"abcdef0123456789abcdef", false},
		{"eyJhbGciOi.eyJpc3Mi.sig", false},
		{"", false},
	}
	for _, tc := range cases {
		tok, err := ParseToken(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseToken(%q) = %v, %v", tc.in, tok, err)
		}
		if tc.ok && tok.String() != tc.in {
			t.Errorf("round trip %q -> %q", tc.in, tok.String())
		}
	}
}

func TestNewToken(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		tok, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseToken(tok.String()); err != nil {
			t.Fatalf("generated %q: %v", tok, err)
		}
		if seen[tok.ID] {
			t.Fatalf("id %s twice", tok.ID)
		}
		seen[tok.ID] = true
	}
}

func TestJoinToken(t *testing.T) {
	hash := CAHash([]byte("ca"))
	tok := Token{ID: "abcdef", Secret: "0123456789abcdef"}
	j := JoinToken{CAHash: hash, Token: tok}
	got, err := ParseJoinToken(j.String())
	if err != nil || got.Token != tok || string(got.CAHash) != string(hash) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if got, err := ParseJoinToken(tok.String()); err != nil || got.CAHash != nil {
		t.Fatalf("bare token: %+v, %v", got, err)
	}
	for _, bad := range []string{"K10zz::abcdef.0123456789abcdef", "K10" + strings.Repeat("a", 64) + "abcdef.0123456789abcdef", "K10" + strings.Repeat("a", 64) + "::nope"} {
		if _, err := ParseJoinToken(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseJoinToken(%q) = %v", bad, err)
		}
	}
	if _, err := ParseCAHash("sha256:" + strings.Repeat("0", 64)); err != nil {
		t.Fatal(err)
	}
}

type secrets map[string]*corev1.Secret

func (s secrets) Secret(name string) (*corev1.Secret, bool) {
	x, ok := s[name]
	return x, ok
}

func TestAuthenticate(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	good := Token{ID: "abcdef", Secret: "0123456789abcdef"}
	mk := func(tok Token, opts SecretOptions, mutate func(*corev1.Secret)) *corev1.Secret {
		s, err := NewSecret(tok, opts, now.Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if mutate != nil {
			mutate(s)
		}
		return s
	}
	expired := Token{ID: "expird", Secret: "0123456789abcdef"}
	noAuth := Token{ID: "noauth", Secret: "0123456789abcdef"}
	groups := Token{ID: "groups", Secret: "0123456789abcdef"}
	badGroups := Token{ID: "badgrp", Secret: "0123456789abcdef"}
	notType := Token{ID: "opaque", Secret: "0123456789abcdef"}
	src := secrets{
		good.SecretName():    mk(good, SecretOptions{TTL: 24 * time.Hour}, nil),
		expired.SecretName(): mk(expired, SecretOptions{TTL: time.Minute}, nil),
		noAuth.SecretName():  mk(noAuth, SecretOptions{}, func(s *corev1.Secret) { delete(s.Data, KeyUsageAuthentication) }),
		groups.SecretName():  mk(groups, SecretOptions{ExtraGroups: []string{"system:bootstrappers:worker"}}, nil),
		badGroups.SecretName(): mk(badGroups, SecretOptions{}, func(s *corev1.Secret) {
			s.Data[KeyExtraGroups] = []byte("system:masters")
		}),
		notType.SecretName(): mk(notType, SecretOptions{}, func(s *corev1.Secret) { s.Type = corev1.SecretTypeOpaque }),
	}
	a := Authenticator{Secrets: src, Now: func() time.Time { return now }}
	cases := []struct {
		name       string
		header     string
		wantUser   string
		wantGroups []string
		wantErr    error
	}{
		{"valid", "Bearer " + good.String(), "system:bootstrap:abcdef", []string{"system:bootstrappers"}, nil},
		{"extra groups", "Bearer " + groups.String(), "system:bootstrap:groups", []string{"system:bootstrappers", "system:bootstrappers:worker"}, nil},
		{"wrong secret", "Bearer abcdef.0123456789abcdee", "", nil, ErrWrongSecret},
		{"unknown id", "Bearer zzzzzz.0123456789abcdef", "", nil, ErrUnknownToken},
		{"expired", "Bearer " + expired.String(), "", nil, ErrExpired},
		{"not for authentication", "Bearer " + noAuth.String(), "", nil, ErrNotForAuthn},
		{"group outside system:bootstrappers", "Bearer " + badGroups.String(), "", nil, ErrBadGroups},
		{"secret of another type", "Bearer " + notType.String(), "", nil, ErrUnknownToken},
		{"a JWT is not ours", "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "", nil, nil},
		{"no bearer", "", "", nil, nil},
		{"basic", "Basic YWJjOmRlZg==", "", nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodGet, "https://x/api", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			u, ok, err := a.Authenticate(r)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || ok || u != nil {
					t.Fatalf("got %+v, %v, %v; want error %v", u, ok, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantUser == "" {
				if ok || u != nil {
					t.Fatalf("recognized %+v", u)
				}
				return
			}
			if !ok || u.Name != tc.wantUser || strings.Join(u.Groups, ",") != strings.Join(tc.wantGroups, ",") {
				t.Fatalf("user = %+v, ok = %v", u, ok)
			}
		})
	}
}

func TestExpired(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Data: map[string][]byte{}}
	if Expired(s, now) {
		t.Fatal("no expiration: not expired")
	}
	s.Data[KeyExpiration] = []byte("garbage")
	if !Expired(s, now) {
		t.Fatal("unparsable expiration counts as expired")
	}
	s.Data[KeyExpiration] = []byte(now.Add(time.Second).Format(time.RFC3339))
	if Expired(s, now) || !Expired(s, now.Add(time.Second)) {
		t.Fatal("boundary")
	}
}
