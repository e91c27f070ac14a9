package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/skiff/internal/auth/pki"
	"skiff.dev/skiff/internal/scheduler"
)

// runScheduler starts the scheduler inside the server, as
// system:kube-scheduler, scheduling only while this server holds the
// kube-system/kube-scheduler Lease. Its pod informer is a view of pods
// (nil: its own). It returns at once; the scheduler stops when ctx ends.
func runScheduler(ctx context.Context, p *pki.ServerPKI, pods *sharedPods) error {
	// Upstream's identity, bound to the system:kube-scheduler and
	// system:volume-scheduler roles.
	cfg, err := identityConfig(p, "system:kube-scheduler")
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("scheduler client: %w", err)
	}
	host, _ := os.Hostname()
	identity := host + "_" + string(uuid.NewUUID())
	log := slog.Default().With("component", "scheduler")
	go scheduler.RunElected(ctx, client, identity, func(ctx context.Context) {
		log.Info("leading", "identity", identity)
		// A fresh informer factory per term: a lost lease stops both.
		factory := newInformerFactory(client)
		pods.attach(factory)
		s := scheduler.New(client, factory, scheduler.Options{Log: log})
		factory.Start(ctx.Done())
		s.Run(ctx)
		factory.Shutdown()
	})
	return nil
}
