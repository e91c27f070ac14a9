package csr

import (
	"testing"

	"k8s.io/client-go/kubernetes"

	"skiff.dev/skiff/internal/controller/controllertest"
)

func clientFor(t *testing.T, env *controllertest.Env, user string, groups ...string) kubernetes.Interface {
	return kubernetes.NewForConfigOrDie(env.Server.Config(t, user, groups...))
}
