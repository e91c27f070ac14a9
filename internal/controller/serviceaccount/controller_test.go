package serviceaccount_test

import (
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/controller/controllertest"
	"skiff.dev/skiff/internal/controller/serviceaccount"
)

func TestDefaultServiceAccount(t *testing.T) {
	env := controllertest.Start(t)
	c, err := serviceaccount.New(env.Client, env.Factory, env.Log)
	if err != nil {
		t.Fatal(err)
	}
	env.StartInformers(t)
	go c.Run(env.Ctx, 1)
	ctx, cl := env.Ctx, env.Client
	exists := func(ns string) func() error {
		return func() error {
			_, err := cl.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
			return err
		}
	}
	// The namespaces the server starts with, and a new one.
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		controllertest.Eventually(t, 20*time.Second, exists(ns))
	}
	if _, err := cl.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, 20*time.Second, exists("team-a"))

	// Deleted: recreated, with a new UID.
	old, err := cl.CoreV1().ServiceAccounts("team-a").Get(ctx, "default", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.CoreV1().ServiceAccounts("team-a").Delete(ctx, "default", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, 20*time.Second, func() error {
		sa, err := cl.CoreV1().ServiceAccounts("team-a").Get(ctx, "default", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if sa.UID == old.UID {
			return errSame
		}
		return nil
	})
}

var errSame = errors.New("still the old service account")
