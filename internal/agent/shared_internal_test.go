package agent

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"

	"skiff.dev/skiff/internal/testserver"
)

// A burst of events from many nodes of one process all reaches the API
// server. client-go's broadcaster drops what its 1,000-event queue cannot
// hold, so 2,500 events recorded at once through a single shared
// broadcaster lose most of themselves; spread over several, none is lost.
func TestSharedEventsOfManyNodesAllArrive(t *testing.T) {
	s := testserver.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := NewClient(s.Config(t, "system:node:sim", "system:nodes", "system:masters"))
	if err != nil {
		t.Fatal(err)
	}
	shared := NewShared(c)
	done := make(chan struct{})
	go func() { defer close(done); shared.Run(ctx) }()
	defer func() { cancel(); <-done }()
	// Run starts sending before it runs the informers: once they have
	// synced, recorded events have somewhere to go.
	for deadline := time.Now().Add(30 * time.Second); !shared.pods.HasSynced(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("shared informers never synced")
		}
	}

	const nodes, perNode = 100, 25
	for n := range nodes {
		node := fmt.Sprintf("sim-%d", n)
		rec := shared.eventBroadcaster(node).NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: node})
		for i := range perNode {
			name := fmt.Sprintf("%s-p%d", node, i)
			ref := &corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: "default", Name: name, UID: types.UID(name)}
			rec.Event(ref, corev1.EventTypeNormal, "Started", "Started container c")
		}
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		evs, err := s.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
		if err == nil && len(evs.Items) == nodes*perNode {
			return
		}
		if time.Now().After(deadline) {
			n := 0
			if evs != nil {
				n = len(evs.Items)
			}
			t.Fatalf("%d of %d events arrived (err %v)", n, nodes*perNode, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
