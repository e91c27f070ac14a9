package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"

	"skiff.dev/skiff/internal/controller/deployment"
	"skiff.dev/skiff/internal/controller/garbagecollector"
	"skiff.dev/skiff/internal/controller/replicaset"
)

// Upstream kube-controller-manager's lease and timings.
const (
	controllerManagerLease = "kube-controller-manager"
	cmLeaseDuration        = 15 * time.Second
	cmRenewDeadline        = 10 * time.Second
	cmRetryPeriod          = 2 * time.Second
)

// Worker counts: upstream's --concurrent-replicaset-syncs,
// --concurrent-deployment-syncs and --concurrent-gc-syncs defaults.
const (
	replicaSetWorkers = 5
	deploymentWorkers = 5
	gcWorkers         = 20
)

// runWorkloadControllers runs the ReplicaSet, Deployment and garbage
// collector controllers as cfg's user while this server holds the
// kube-system/kube-controller-manager Lease, so that several servers never
// run them twice. Each term gets fresh informers and queues; a lost lease
// stops them. It returns at once.
func runWorkloadControllers(ctx context.Context, cfg *rest.Config, log *slog.Logger) error {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("controller manager client: %w", err)
	}
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("controller manager metadata client: %w", err)
	}
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	recorder := func(component string) record.EventRecorder {
		return broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
	}
	host, _ := os.Hostname()
	identity := host + "_" + string(uuid.NewUUID())
	lock := &resourcelock.LeaseLock{
		LeaseMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceSystem, Name: controllerManagerLease},
		Client:    client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{
			Identity: identity, EventRecorder: recorder("kube-controller-manager"),
		},
	}
	lead := func(ctx context.Context) {
		log.Info("leading", "identity", identity)
		if err := startWorkloadControllers(ctx, client, meta, recorder, log); err != nil {
			log.Error("controllers not started", "err", err)
		}
		<-ctx.Done()
	}
	go func() {
		defer broadcaster.Shutdown()
		for ctx.Err() == nil {
			leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
				Lock: lock, Name: controllerManagerLease, ReleaseOnCancel: true,
				LeaseDuration: cmLeaseDuration, RenewDeadline: cmRenewDeadline, RetryPeriod: cmRetryPeriod,
				Callbacks: leaderelection.LeaderCallbacks{OnStartedLeading: lead, OnStoppedLeading: func() {}},
			})
		}
	}()
	return nil
}

// startWorkloadControllers builds the controllers on a fresh informer
// factory and runs them until ctx ends.
func startWorkloadControllers(ctx context.Context, client kubernetes.Interface, meta metadata.Interface, recorder func(string) record.EventRecorder, log *slog.Logger) error {
	factory := informers.NewSharedInformerFactory(client, 10*time.Minute)
	rs, err := replicaset.New(client, factory, recorder("replicaset-controller"), log.With("controller", "replicaset"))
	if err != nil {
		return fmt.Errorf("replicaset controller: %w", err)
	}
	dc, err := deployment.New(client, factory, recorder("deployment-controller"), log.With("controller", "deployment"))
	if err != nil {
		return fmt.Errorf("deployment controller: %w", err)
	}
	gc := garbagecollector.New(meta, client.Discovery(), log.With("controller", "garbagecollector"))
	factory.Start(ctx.Done())
	go func() { _ = rs.Run(ctx, replicaSetWorkers) }()
	go func() { _ = dc.Run(ctx, deploymentWorkers) }()
	go func() { _ = gc.Run(ctx, gcWorkers) }()
	go func() { <-ctx.Done(); factory.Shutdown() }()
	return nil
}
