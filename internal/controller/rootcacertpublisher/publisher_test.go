package rootcacertpublisher_test

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/controller/controllertest"
	"skiff.dev/skiff/internal/controller/rootcacertpublisher"
)

const ca = "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n"

func TestPublisher(t *testing.T) {
	env := controllertest.Start(t)
	p, err := rootcacertpublisher.New(env.Client, env.Factory, []byte(ca), env.Log)
	if err != nil {
		t.Fatal(err)
	}
	env.StartInformers(t)
	go p.Run(env.Ctx, 1)
	ctx, cl := env.Ctx, env.Client
	published := func(ns string) func() error {
		return func() error {
			cm, err := cl.CoreV1().ConfigMaps(ns).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if len(cm.Data) != 1 || cm.Data["ca.crt"] != ca {
				return fmt.Errorf("data %v", cm.Data)
			}
			if cm.Annotations["kubernetes.io/description"] != rootcacertpublisher.Description {
				return fmt.Errorf("annotations %v", cm.Annotations)
			}
			return nil
		}
	}
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		controllertest.Eventually(t, 20*time.Second, published(ns))
	}
	if _, err := cl.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, 20*time.Second, published("team-a"))

	// Changed: put back, extra keys dropped.
	cm, err := cl.CoreV1().ConfigMaps("team-a").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data = map[string]string{"ca.crt": "forged", "extra": "x"}
	if _, err := cl.CoreV1().ConfigMaps("team-a").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, 20*time.Second, published("team-a"))

	// Deleted: recreated.
	if err := cl.CoreV1().ConfigMaps("team-a").Delete(ctx, "kube-root-ca.crt", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, 20*time.Second, func() error {
		got, err := cl.CoreV1().ConfigMaps("team-a").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if got.UID == cm.UID {
			return fmt.Errorf("still the old config map")
		}
		return published("team-a")()
	})
}
