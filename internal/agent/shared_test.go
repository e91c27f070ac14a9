package agent_test

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/agent"
	"skiff.dev/skiff/internal/agent/runtime/fake"
	"skiff.dev/skiff/internal/testserver"
)

// Nodes sharing one pod informer, service informer and event broadcaster
// each run exactly their own pods, including those bound before the node
// started, write their events as themselves, and see their pods deleted.
func TestSharedInformersRunEachNodesOwnPods(t *testing.T) {
	s := testserver.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The nodes' clients are NewClient's, of just the groups they call.
	client := func(user string) agent.Client {
		c, err := agent.NewClient(s.Config(t, user, "system:nodes", "system:masters"))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	shared := agent.NewShared(client("system:node:sim"))
	done := make(chan struct{})
	go func() { defer close(done); shared.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// Bound before its node starts: the node finds it in the shared
	// cache, not from an event.
	createPod(t, s.Client, "s1", "early", corev1.RestartPolicyAlways, "c")
	a1, _ := runAgent(t, s, agent.Config{NodeName: "s1", Client: client("system:node:s1"), Runtime: fake.New(fake.Options{}), Shared: shared, DisableProbes: true})
	a2, _ := runAgent(t, s, agent.Config{NodeName: "s2", Client: client("system:node:s2"), Runtime: fake.New(fake.Options{}), Shared: shared, DisableProbes: true})
	createPod(t, s.Client, "s2", "late", corev1.RestartPolicyAlways, "c")
	for _, name := range []string{"early", "late"} {
		eventually(t, name+" Running and Ready", func() (bool, string) {
			pod := getPod(t, s.Client, name)
			return pod.Status.Phase == corev1.PodRunning && condition(pod, corev1.PodReady) == corev1.ConditionTrue, fmt.Sprintf("%+v", pod.Status)
		})
	}
	for _, tc := range []struct {
		a    *agent.Agent
		pod  string
		want bool
	}{{a1, "early", true}, {a1, "late", false}, {a2, "late", true}, {a2, "early", false}} {
		if _, ok := tc.a.Pod("default", tc.pod); ok != tc.want {
			t.Errorf("node's Pod(%s) = %v, want %v", tc.pod, ok, tc.want)
		}
	}
	eventually(t, "Started events from each pod's node", func() (bool, string) {
		evs, err := s.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "reason=Started"})
		if err != nil {
			return false, err.Error()
		}
		host := map[string]string{}
		for _, e := range evs.Items {
			host[e.InvolvedObject.Name] = e.Source.Host
		}
		return host["early"] == "s1" && host["late"] == "s2", fmt.Sprint(host)
	})

	if err := s.Client.CoreV1().Pods("default").Delete(ctx, "late", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "late stopped and removed by s2", func() (bool, string) {
		_, err := s.Client.CoreV1().Pods("default").Get(ctx, "late", metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	if pod := getPod(t, s.Client, "early"); pod.DeletionTimestamp != nil || pod.Status.Phase != corev1.PodRunning {
		t.Errorf("early: %+v", pod.Status)
	}
}
