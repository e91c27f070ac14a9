package serviceaccounttoken_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/auth/serviceaccount"
	"skiff.dev/skiff/internal/controller/controllertest"
	"skiff.dev/skiff/internal/controller/serviceaccounttoken"
)

// clientObjects reads a token's objects through the API (the getter the
// server uses reads its cache; any real source will do here).
type clientObjects struct{ env *controllertest.Env }

func (o clientObjects) ServiceAccount(ctx context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	return o.env.Client.CoreV1().ServiceAccounts(ns).Get(ctx, name, metav1.GetOptions{})
}
func (o clientObjects) Secret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	return o.env.Client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
}
func (o clientObjects) Pod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	return o.env.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
}
func (o clientObjects) Node(ctx context.Context, name string) (*corev1.Node, error) {
	return o.env.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
}

func TestTokenSecrets(t *testing.T) {
	env := controllertest.Start(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := serviceaccount.NewKeys(key)
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := serviceaccount.NewIssuer(serviceaccount.Config{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	rootCA := []byte("-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n")
	c, err := serviceaccounttoken.New(env.Client, env.Factory, issuer, rootCA, env.Log)
	if err != nil {
		t.Fatal(err)
	}
	env.StartInformers(t)
	go c.Run(env.Ctx, 2)
	ctx, cl := env.Ctx, env.Client
	authn := serviceaccount.NewAuthenticator(serviceaccount.Config{Keys: keys}, clientObjects{env})

	sa, err := cl.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "build-robot"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tokenSecret := func(name, account string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{corev1.ServiceAccountNameKey: account}},
			Type: corev1.SecretTypeServiceAccountToken}
	}
	if _, err := cl.CoreV1().Secrets("default").Create(ctx, tokenSecret("build-robot-secret", "build-robot"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var token string
	controllertest.Eventually(t, 20*time.Second, func() error {
		s, err := cl.CoreV1().Secrets("default").Get(ctx, "build-robot-secret", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(s.Data["token"]) == 0 || string(s.Data["namespace"]) != "default" || string(s.Data["ca.crt"]) != string(rootCA) ||
			s.Annotations[corev1.ServiceAccountUIDKey] != string(sa.UID) {
			return fmt.Errorf("secret not filled in: %v %v", s.Annotations, s.Data)
		}
		token = string(s.Data["token"])
		return nil
	})
	u, _, ok, err := authn.AuthenticateToken(ctx, token, nil)
	if !ok || u.Name != "system:serviceaccount:default:build-robot" {
		t.Fatalf("secret's token: %v %v", u, err)
	}

	// A secret naming a missing account is deleted.
	if _, err := cl.CoreV1().Secrets("default").Create(ctx, tokenSecret("orphan", "nobody"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	gone := func(name string) func() error {
		return func() error {
			_, err := cl.CoreV1().Secrets("default").Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return errors.Join(errors.New("secret "+name+" still there"), err)
		}
	}
	controllertest.Eventually(t, 20*time.Second, gone("orphan"))

	// Deleting the account deletes its token secret and revokes the token.
	if err := cl.CoreV1().ServiceAccounts("default").Delete(ctx, "build-robot", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, 20*time.Second, gone("build-robot-secret"))
	if _, _, ok, err := authn.AuthenticateToken(ctx, token, nil); ok || err == nil {
		t.Fatalf("token of a deleted secret accepted")
	}
}
