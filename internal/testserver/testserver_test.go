package testserver

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestStartServesBuiltinResources(t *testing.T) {
	s := Start(t)
	ctx := context.Background()
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		if _, err := s.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
			t.Errorf("namespace %s: %v", ns, err)
		}
	}
	if _, err := s.Client.AppsV1().Deployments("default").List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("list deployments: %v", err)
	}
}
