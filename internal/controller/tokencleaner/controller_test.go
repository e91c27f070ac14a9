package tokencleaner

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/auth/bootstrap"
	"skiff.dev/skiff/internal/controller/controllertest"
)

func TestDeletesExpiredTokens(t *testing.T) {
	env := controllertest.Start(t)
	start := time.Now()
	var offset atomic.Int64
	now := func() time.Time { return start.Add(time.Duration(offset.Load())) }
	c, err := New(env.Client, env.Factory, env.Log, now)
	if err != nil {
		t.Fatal(err)
	}
	env.StartInformers(t)
	go func() { _ = c.Run(env.Ctx, 1) }()
	mk := func(id string, ttl time.Duration) {
		s, err := bootstrap.NewSecret(bootstrap.Token{ID: id, Secret: "0123456789abcdef"}, bootstrap.SecretOptions{}, start)
		if err != nil {
			t.Fatal(err)
		}
		if ttl != 0 {
			s.Data[bootstrap.KeyExpiration] = []byte(start.Add(ttl).Format(time.RFC3339))
		}
		if _, err := env.Client.CoreV1().Secrets(bootstrap.Namespace).Create(env.Ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mk("expird", -time.Minute)
	mk("future", time.Hour)
	mk("foreva", 0)
	gone := func(name string) error {
		_, err := env.Client.CoreV1().Secrets(bootstrap.Namespace).Get(env.Ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return errors.New(name + " still there")
	}
	controllertest.Eventually(t, 10*time.Second, func() error { return gone("bootstrap-token-expird") })
	for _, name := range []string{"bootstrap-token-future", "bootstrap-token-foreva"} {
		if gone(name) == nil {
			t.Fatalf("%s deleted before its time", name)
		}
	}
	// An hour later the second one goes too (touched, so it is looked at again now).
	offset.Store(int64(time.Hour + time.Second))
	s, err := env.Client.CoreV1().Secrets(bootstrap.Namespace).Get(env.Ctx, "bootstrap-token-future", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Labels = map[string]string{"touched": "yes"}
	if _, err := env.Client.CoreV1().Secrets(bootstrap.Namespace).Update(env.Ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, 10*time.Second, func() error { return gone("bootstrap-token-future") })
	if gone("bootstrap-token-foreva") == nil {
		t.Fatal("a token without expiration was deleted")
	}
}
