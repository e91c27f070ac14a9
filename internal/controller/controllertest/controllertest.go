// Package controllertest is the fixture for controller tests: Skiff's
// real API server in-process (internal/testserver), a client-go shared
// informer factory and event recorders on it, and helpers to play the
// parts of the components that do not exist in such a test (a kubelet
// reporting pods ready).
package controllertest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"

	"skiff.dev/skiff/internal/testserver"
)

// Env is a running API server with a controller-side client.
type Env struct {
	Server  *testserver.Server
	Client  kubernetes.Interface
	Factory informers.SharedInformerFactory
	Log     *slog.Logger
	Ctx     context.Context

	broadcaster record.EventBroadcaster
}

// Start starts a server and a factory (not yet started: controllers add
// their handlers first, then the test calls Env.StartInformers).
func Start(t testing.TB) *Env {
	t.Helper()
	s := testserver.Start(t)
	cfg := s.Config(t, "system:kube-controller-manager", "system:masters")
	client := kubernetes.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	b := record.NewBroadcaster(record.WithContext(ctx))
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	t.Cleanup(b.Shutdown)
	level := slog.LevelWarn
	if os.Getenv("SKIFF_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return &Env{
		Server: s, Client: client, Ctx: ctx, broadcaster: b,
		Factory: informers.NewSharedInformerFactory(client, 0),
		Log:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	}
}

// Recorder is an event recorder for component.
func (e *Env) Recorder(component string) record.EventRecorder {
	return e.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
}

// StartInformers starts the factory and waits for its caches.
func (e *Env) StartInformers(t testing.TB) {
	t.Helper()
	e.Factory.Start(e.Ctx.Done())
	e.Factory.WaitForCacheSync(e.Ctx.Done())
}

// Eventually polls cond every 10 ms until it returns nil, failing the
// test with cond's last error after timeout.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// SetPodReady plays the scheduler and the kubelet: the pod is bound to
// node and Running, with Ready=ready since readySince.
func SetPodReady(ctx context.Context, c kubernetes.Interface, p *corev1.Pod, node string, ready bool, readySince time.Time) error {
	for attempt := 0; ; attempt++ {
		cur, err := c.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.Spec.NodeName == "" && node != "" {
			b := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: cur.Name, Namespace: cur.Namespace}, Target: corev1.ObjectReference{Kind: "Node", Name: node}}
			if err := c.CoreV1().Pods(cur.Namespace).Bind(ctx, b, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("bind %s: %w", cur.Name, err)
			}
			if cur, err = c.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{}); err != nil {
				return err
			}
		}
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		cur.Status.Phase = corev1.PodRunning
		cur.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st, LastTransitionTime: metav1.NewTime(readySince)}}
		_, err = c.CoreV1().Pods(cur.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		if err == nil || attempt > 5 || !apierrors.IsConflict(err) {
			return err
		}
	}
}

// EventMessages lists the messages of the events about the object named
// name in ns, oldest first.
func EventMessages(ctx context.Context, c kubernetes.Interface, ns, name string) ([]string, error) {
	l, err := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range l.Items {
		out = append(out, e.Reason+": "+e.Message)
	}
	return out, nil
}
